"""Serialise link-or-create on what its filter means: concurrent requests that would each create
the missing row take a transaction-scoped advisory lock keyed on the model and the filter, so the
second one waits, then finds (and links) the row the first created.

The key is taken from the filter's canonical form, not from its spelling: `"Twins"`,
`{"operation": "==", "value": "Twins"}`, `["Twins"]`, `in` of one value and any of these inside
`$and` all mean "subject = Twins", and must wait for each other. Keying on the row to be created
instead would miss requests that find the same row but create it with other values (a client
sending more columns), and a model such as `Item_Notes_Subject` has no unique column to key on;
what two requests look up is what decides whether one may create the other's row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataapi.query.validate import BoolOp, Pred
from dataapi.registry import ModelInfo


def _text(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True, separators=(",", ":"))


def _pred(node: Pred) -> Any:
    """A condition with an `in` of one value as `==`, and an `in`'s values as a set."""
    op, value = node.op, node.value
    if op == "in" and isinstance(value, list):
        values = sorted({_text(v): v for v in value}.items())
        if len(values) == 1:
            op, value = "==", values[0][1]
        else:
            value = [v for _, v in values]
    path = node.path
    column = path.column.key if path.column is not None else None
    return ["pred", [h.key for h in path.hops], column, list(path.json_path), op, value]


def canonical(node: BoolOp | Pred | None) -> Any:
    """The filter as plain data, spelling removed: nested groups of one kind flattened (`and` in
    `and`), a group of one condition as that condition, conditions of a group deduplicated and
    sorted, `in` of one value as `==`."""
    if node is None:
        return None
    if isinstance(node, Pred):
        return _pred(node)
    children: dict[str, Any] = {}
    for child in node.children:
        plain = canonical(child)
        same_kind = isinstance(plain, list) and plain[0] == node.kind and node.kind != "not"
        for part in plain[1] if same_kind else [plain]:
            children[_text(part)] = part
    parts = [children[k] for k in sorted(children)]
    if node.kind != "not" and len(parts) == 1:
        return parts[0]
    return [node.kind, parts]


def lock_key(model: ModelInfo, filters: BoolOp | None) -> int:
    """A stable 64-bit key (the same in every process) for `model` and what `filters` mean."""
    text = _text([model.name, canonical(filters)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def lock_link(session: Session, model: ModelInfo, filters: BoolOp | None) -> None:
    session.execute(select(func.pg_advisory_xact_lock(lock_key(model, filters))))
