"""Database failures -> domain errors, chosen by SQLSTATE (never by message text).

The driver's message, SQL and parameters stay in the log; the response names only the class,
the constraint and the field.
"""

from typing import Any

from sqlalchemy.exc import DBAPIError

from dataapi.errors import ApiError, BadRequest, Conflict, Unavailable

RETRYABLE = frozenset(("40001", "40P01"))  # serialization failure, deadlock


def sqlstate(exc: DBAPIError) -> str | None:
    info = _info(exc)
    code = info.get("C")
    return code if isinstance(code, str) else None


def _info(exc: DBAPIError) -> dict[str, Any]:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], dict) else {}


def translate(exc: DBAPIError) -> ApiError:
    info = _info(exc)
    code = sqlstate(exc) or ""
    constraint = info.get("n", "")
    column = info.get("c", "")
    if exc.connection_invalidated or not code or (code[:2] in ("08", "53", "57") and code != "57014"):
        return Unavailable(
            "The database is not available right now; try again shortly.", detail="DatabaseUnavailable"
        )
    if code == "57014":
        return Unavailable(
            "The database took too long to answer; try a narrower request.", detail="StatementTimeout"
        )
    if code in RETRYABLE:
        return Unavailable(
            "The database was busy with conflicting work; try again.", detail=f"sqlstate={code}"
        )
    if code == "23505":
        return Conflict("A value you sent already exists.", detail=f"UniqueViolation constraint={constraint}")
    if code == "23503":
        return Conflict(
            "The row refers to, or is referred to by, another row.",
            detail=f"ForeignKeyViolation constraint={constraint}",
        )
    if code == "23502":
        return BadRequest(f"'{column}' cannot be empty.", detail=f"NotNullViolation field={column}")
    if code.startswith("23"):
        return BadRequest(
            "A value you sent breaks a rule of the data.", detail=f"IntegrityError constraint={constraint}"
        )
    if code.startswith("22"):
        return BadRequest(
            "A value you sent is out of range or malformed for its field.",
            detail=f"DataError sqlstate={code}",
        )
    return ApiError("Something went wrong on our side.", detail="InternalError")
