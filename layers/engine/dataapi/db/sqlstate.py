"""Database failures -> domain errors, chosen by SQLSTATE (never by message text).

The driver's message, SQL and parameters stay in the log; the response names only the class,
the constraint and the field.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from dataapi.errors import ApiError, BadRequest, Conflict, IdempotencyKeyInProgress, Unavailable
from dataapi.registry import Constraint

RETRYABLE = frozenset(("40001", "40P01"))  # serialization failure, deadlock
KEY_IN_PROGRESS = "IK409"
"""Raised by dataapi.claim_idempotency_key (migration 0005) when the wait for a request holding the
same idempotency key ran out of time."""


def sqlstate(exc: DBAPIError) -> str | None:
    info = _info(exc)
    code = info.get("C")
    return code if isinstance(code, str) else None


def _info(exc: DBAPIError) -> dict[str, Any]:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], dict) else {}


# PostgreSQL's structured DETAIL field of a key violation: Key (col, ...)=(value, ...) ...
_KEY = re.compile(r"^Key \((?P<cols>.+?)\)=\((?P<value>.*)\) ")


@dataclass(frozen=True, slots=True)
class KeyViolation:
    fields: str  # the constraint's columns, comma-separated
    value: str | None  # the offending value, as PostgreSQL's DETAIL shows it


def _key_violation(info: dict[str, Any], constraints: Mapping[str, Constraint]) -> KeyViolation:
    """The fields and offending value of a unique or foreign-key violation."""
    known = constraints.get(info.get("n", ""))
    match = _KEY.match(info.get("D", ""))
    fields = ", ".join(known.columns) if known else (match.group("cols") if match else "")
    return KeyViolation(fields, match.group("value") if match else None)


def translate(exc: DBAPIError, constraints: Mapping[str, Constraint]) -> ApiError:
    """The domain error of a database failure; `constraints` (the registry's, by name) name the
    fields of a key violation."""
    info = _info(exc)
    code = sqlstate(exc) or ""
    constraint = info.get("n", "")
    column = info.get("c", "")
    if exc.connection_invalidated or not code or (code[:2] in ("08", "53", "57") and code != "57014"):
        return Unavailable(
            "The database is not available right now; try again shortly.", detail="DatabaseUnavailable"
        )
    if code == KEY_IN_PROGRESS:
        return IdempotencyKeyInProgress(
            "A request with this Idempotency-Key is still running; try again shortly.",
            detail="header=Idempotency-Key",
        )
    if code == "25006":  # read_only_sql_transaction: a failover under way, or a replica
        return Unavailable(
            "The database accepts no changes right now; try again shortly.", detail="DatabaseReadOnly"
        )
    if code == "55P03":  # lock_not_available: lock_timeout
        return Unavailable("The rows are busy with other work; try again.", detail="LockTimeout")
    if code == "57014":
        return Unavailable(
            "The database took too long to answer; try a narrower request.", detail="StatementTimeout"
        )
    if code in RETRYABLE:
        return Unavailable(
            "The database was busy with conflicting work; try again.", detail=f"sqlstate={code}"
        )
    if code == "23505":
        key = _key_violation(info, constraints)
        message = (
            f"The value '{key.value}' for field '{key.fields}' already exists."
            if key.value is not None
            else f"That '{key.fields}' already exists."
        )
        return Conflict(message, detail=f"UniqueViolation field={key.fields} constraint={constraint}")
    if code == "23503":
        key = _key_violation(info, constraints)
        known = constraints.get(constraint)
        other = (known.referred_table if known else None) or "row"
        return Conflict(
            f"'{key.fields}' = '{key.value}' does not match an existing {other}, or rows still refer to it.",
            detail=f"ForeignKeyViolation field={key.fields} constraint={constraint}",
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
