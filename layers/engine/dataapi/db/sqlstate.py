"""Database failures -> domain errors, chosen by SQLSTATE (never by message text).

The driver's message, SQL and parameters stay in the log; the response names only the class,
the constraint and the field.
"""

import re
from functools import lru_cache
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


# PostgreSQL's structured DETAIL field of a key violation: Key (col, ...)=(value, ...) ...
_KEY = re.compile(r"^Key \((?P<cols>.+?)\)=\((?P<value>.*)\) ")


@lru_cache(maxsize=1)
def _constraint_columns() -> dict[str, tuple[str, list[str], str | None]]:
    """constraint name -> (table, columns, referred table) over every registered model."""
    from dataapi.registry import default_registry

    found: dict[str, tuple[str, list[str], str | None]] = {}
    for model in default_registry().models.values():
        tables = [model.table] + [
            rel.secondary for rel in model.relationships.values() if rel.secondary is not None
        ]
        for table in tables:
            for constraint in table.constraints:
                name = constraint.name
                if isinstance(name, str):
                    referred = getattr(constraint, "referred_table", None)
                    found[name] = (
                        table.name,
                        [c.name for c in getattr(constraint, "columns", ())],
                        referred.name if referred is not None else None,
                    )
            for index in table.indexes:
                if index.unique and isinstance(index.name, str):
                    # An expression index (lower(email)) lists no columns: name those it mentions.
                    names = [c.name for c in index.columns] or [
                        c.name
                        for c in table.columns
                        if any(re.search(rf"\b{re.escape(c.name)}\b", str(e)) for e in index.expressions)
                    ]
                    found[index.name] = (table.name, names, None)
    return found


def _key_violation(info: dict[str, Any]) -> tuple[str, str | None]:
    """(field names, offending value) of a unique or foreign-key violation."""
    known = _constraint_columns().get(info.get("n", ""))
    match = _KEY.match(info.get("D", ""))
    fields = ", ".join(known[1]) if known else (match.group("cols") if match else "")
    return fields, match.group("value") if match else None


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
        fields, value = _key_violation(info)
        message = (
            f"The value '{value}' for field '{fields}' already exists."
            if value is not None
            else f"That '{fields}' already exists."
        )
        return Conflict(message, detail=f"UniqueViolation field={fields} constraint={constraint}")
    if code == "23503":
        fields, value = _key_violation(info)
        known = _constraint_columns().get(constraint)
        other = (known[2] if known else None) or "row"
        return Conflict(
            f"'{fields}' = '{value}' does not match an existing {other}, or rows still refer to it.",
            detail=f"ForeignKeyViolation field={fields} constraint={constraint}",
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
