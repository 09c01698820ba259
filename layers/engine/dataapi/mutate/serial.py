"""Serialise link-or-create on its filter: concurrent requests that would each create the missing
row take a transaction-scoped advisory lock keyed on the model and the filter, so the second one
waits, then finds (and links) the row the first created."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataapi.query.validate import BoolOp, Pred
from dataapi.registry import ModelInfo


def _plain(node: BoolOp | Pred | None) -> Any:
    if node is None:
        return None
    if isinstance(node, Pred):
        path = node.path
        return [
            [h.key for h in path.hops],
            path.column.key if path.column is not None else None,
            list(path.json_path),
            node.op,
            node.value,
        ]
    return [node.kind, [_plain(child) for child in node.children]]


def lock_key(model: ModelInfo, filters: BoolOp | None) -> int:
    """A stable 64-bit key (the same in every process) for `model` and `filters`."""
    text = json.dumps([model.name, _plain(filters)], default=str, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def lock_link(session: Session, model: ModelInfo, filters: BoolOp | None) -> None:
    session.execute(select(func.pg_advisory_xact_lock(lock_key(model, filters))))
