"""Values from JSON checked and converted to a column's type before any SQL is built."""

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from dataapi.errors import WrongValueType, pointer
from dataapi.registry import ColumnInfo
from dataapi.text import printable

_RELATIVE = re.compile(r"^\$now(?:([+-])([0-9]{1,9})([smhd]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_INT = re.compile(r"^[+-]?[0-9]{1,20}$")
_INT_BITS = {"SmallInteger": 16, "Integer": 32, "BigInteger": 64}


def _fail(col: ColumnInfo, value: Any, at: str, expected: str) -> WrongValueType:
    shown = printable(repr(value)) if not isinstance(value, dict | list) else type(value).__name__
    if len(shown) > 80:
        shown = shown[:77] + "…"
    return WrongValueType(
        f"Field '{col.key}' expects {expected}, got {shown}.",
        at=at,
        detail=f"field={col.key} type={col.kind}",
    )


def parse_datetime(value: Any, now: datetime) -> datetime | None:
    """ISO 8601 (offset converted to UTC, none taken as UTC) or a relative `$now-7d`; None when the
    text is neither, or names a time outside the years 1-9999."""
    if not isinstance(value, str):
        return None
    try:
        return _relative(value.strip(), now) or _absolute(value.strip())
    except (ValueError, OverflowError):
        return None


def _relative(text: str, now: datetime) -> datetime | None:
    rel = _RELATIVE.match(text)
    if not rel:
        return None
    sign, amount, unit = rel.groups()
    if not sign:
        return now
    delta = timedelta(**{_UNITS[unit]: int(amount)})
    return now + delta if sign == "+" else now - delta


def _absolute(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


Coercer = Callable[[ColumnInfo, Any, str, datetime], Any]


def _json(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    """JSON PostgreSQL can store as jsonb: no NUL character in a string or a key, no NaN or
    infinite number (JSON has neither; Python's parser reads `NaN`, and 1e309 as infinity)."""
    stack: list[tuple[Any, str]] = [(value, at)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str) and "\x00" in node:
            raise _fail(col, "\\0", where, "JSON without NUL characters")
        if isinstance(node, float) and not math.isfinite(node):
            raise _fail(col, node, where, "JSON with finite numbers")
        if isinstance(node, dict):
            for key, item in node.items():
                if "\x00" in key:
                    raise _fail(col, "\\0", where, "JSON keys without NUL characters")
                stack.append((item, where + pointer(key)))
        elif isinstance(node, list):
            stack.extend((item, f"{where}/{i}") for i, item in enumerate(node))
    return value


def _str(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(col, value, at, "a string or a finite number")
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _fail(col, value, at, "a string")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise _fail(col, "\\0", at, "text without NUL characters")
    length = getattr(col.column.type, "length", None)
    if length is not None and len(value) > length:
        raise _fail(col, value[:20] + "…", at, f"at most {length} characters")
    return value


def _int(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _INT.match(value.strip())
    ):
        number = int(value)
    bits = _INT_BITS.get(type(col.column.type).__name__, 32)
    if number is None or not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        shown = value if not isinstance(value, int) or abs(value) < 10**30 else "a larger integer"
        raise _fail(col, shown, at, f"an integer ({bits}-bit)")
    return number


def _number(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    try:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            number = Decimal(str(value).strip())
            if number.is_finite():
                return number if col.kind == "decimal" else float(number)
    except (InvalidOperation, ValueError):
        pass
    raise _fail(col, value, at, "a number")


def _bool(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _fail(col, value, at, "true or false")


def _datetime(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    parsed = parse_datetime(value, now)
    if parsed is None:
        raise _fail(col, value, at, "an ISO 8601 timestamp or $now[+-]N[smhd] (years 1-9999)")
    return parsed if col.aware else parsed.replace(tzinfo=None)


def _iso(parse: Callable[[str], Any], expected: str) -> Coercer:
    def convert(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
        try:
            if isinstance(value, str):
                return parse(value)
        except ValueError:
            pass
        raise _fail(col, value, at, expected)

    return convert


def _uuid(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _fail(col, value, at, "a UUID") from None


_COERCERS: dict[str, Coercer] = {
    "json": _json,
    "str": _str,
    "int": _int,
    "float": _number,
    "decimal": _number,
    "bool": _bool,
    "datetime": _datetime,
    "date": _iso(date.fromisoformat, "a date (YYYY-MM-DD)"),
    "time": _iso(time.fromisoformat, "a time (HH:MM[:SS])"),
    "uuid": _uuid,
}
"""One converter per column kind; kinds not listed pass values through."""


def coerce(col: ColumnInfo, value: Any, at: str, now: datetime) -> Any:
    """Return `value` as the column's Python type, or raise WrongValueType naming the field."""
    if value is None:
        return None
    convert = _COERCERS.get(col.kind)
    return value if convert is None else convert(col, value, at, now)
