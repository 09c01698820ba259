"""Opaque keyset cursors: the order they belong to and the last row's sort values."""

import base64
import binascii
import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from dataapi.errors import MalformedRequest

MAX_LENGTH = 4096
"""Longer than any cursor this API returns (sort values come from bounded columns)."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode(order: list[str], values: list[Any]) -> str:
    raw = json.dumps({"o": order, "v": [_plain(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode(token: str, order: list[str]) -> list[Any]:
    """The raw values of a cursor made for `order`; the caller converts them to column types."""
    try:
        if len(token) > MAX_LENGTH:
            raise ValueError("too long")
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values = data["v"]
        ok = data["o"] == order and isinstance(values, list) and len(values) == len(order)
        ok = ok and all(v is None or isinstance(v, str | int | float) for v in values)
    except (ValueError, TypeError, KeyError, RecursionError, binascii.Error):
        ok = False
    if not ok:
        raise MalformedRequest(
            "'cursor' is not a cursor this query returned (pass next_cursor back with the same order_by).",
            at="/cursor",
            detail="field=cursor",
        )
    return values
