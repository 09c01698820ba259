"""Request shape limits on names, checked before any SQL is built (settings name each one).

A request that would make the database (or the driver) do unbounded work is refused with a 400
naming the request part. The body's nesting and text are checked at the boundary
(dataapi.boundary), the size of a filter tree where it is parsed (query.parse.check_filters), the
depth and fan-out of `requested_data` where it is validated (query.validate.check_fields); here
are the limits on single names: dotted path length and `order_by` length.
"""

from __future__ import annotations

from dataapi.errors import LimitExceeded
from dataapi.settings import Settings, get_settings


def check_path(key: str, at: str, settings: Settings | None = None) -> None:
    limit = (settings or get_settings()).max_path_parts
    if key.count(".") >= limit:
        raise LimitExceeded.of(f"The path '{key[:60]}…' has too many parts", limit, at, "path_parts")


def check_order_by(order_by: list[str] | None, settings: Settings | None = None) -> None:
    limit = (settings or get_settings()).max_order_by
    if order_by and len(order_by) > limit:
        raise LimitExceeded.of(f"'order_by' has {len(order_by)} entries", limit, "/order_by", "order_by")
