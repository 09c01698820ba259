"""Values from JSON checked and converted to a column's type before any SQL is built."""

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from dataapi.errors import WrongValueType
from dataapi.registry import ColumnInfo

_RELATIVE = re.compile(r"^\$now(?:([+-])(\d+)([smhd]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_INT = re.compile(r"^[+-]?\d+$")
_INT_BITS = {"SmallInteger": 16, "Integer": 32, "BigInteger": 64}


def _fail(col: ColumnInfo, value: Any, at: str, expected: str) -> WrongValueType:
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return WrongValueType(
        f"Field '{col.key}' expects {expected}, got {shown}.",
        at=at,
        detail=f"field={col.key} type={col.kind}",
    )


def parse_datetime(value: Any, now: datetime) -> datetime | None:
    """ISO 8601 (offset converted to UTC, none taken as UTC) or a relative `$now-7d`."""
    if not isinstance(value, str):
        return None
    rel = _RELATIVE.match(value.strip())
    if rel:
        sign, amount, unit = rel.groups()
        if not sign:
            return now
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return now + delta if sign == "+" else now - delta
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def coerce(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    """Return `value` as the column's Python type, or raise WrongValueType naming the field."""
    if value is None:
        return None
    kind = col.kind
    if kind == "json":
        return value
    if kind == "str":
        if isinstance(value, str):
            if "\x00" in value:  # PostgreSQL text cannot hold NUL
                raise _fail(col, "\\0", at, "text without NUL characters")
            length = getattr(col.column.type, "length", None)
            if length is not None and len(value) > length:
                raise _fail(col, value[:20] + "…", at, f"at most {length} characters")
            return value
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return str(value)
        raise _fail(col, value, at, "a string")
    if kind == "int":
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and _INT.match(value.strip())
        ):
            number = int(value)
        bits = _INT_BITS.get(type(col.column.type).__name__, 32)
        if number is None or not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
            raise _fail(col, value, at, f"an integer ({bits}-bit)")
        return number
    if kind in ("float", "decimal"):
        if isinstance(value, bool):
            raise _fail(col, value, at, "a number")
        try:
            if isinstance(value, int | float | str):
                number = Decimal(str(value).strip())
                if number.is_finite():
                    return number if kind == "decimal" else float(number)
        except InvalidOperation:
            pass
        raise _fail(col, value, at, "a number")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _fail(col, value, at, "true or false")
    if kind == "datetime":
        parsed = parse_datetime(value, now)
        if parsed is None:
            raise _fail(col, value, at, "an ISO 8601 timestamp or $now[+-]N[smhd]")
        return parsed if col.aware else parsed.replace(tzinfo=None)
    if kind == "date":
        try:
            if isinstance(value, str):
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise _fail(col, value, at, "a date (YYYY-MM-DD)")
    if kind == "time":
        try:
            if isinstance(value, str):
                return time.fromisoformat(value)
        except ValueError:
            pass
        raise _fail(col, value, at, "a time (HH:MM[:SS])")
    if kind == "uuid":
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise _fail(col, value, at, "a UUID") from None
    return value
