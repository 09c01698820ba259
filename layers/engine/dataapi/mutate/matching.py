"""The rows a write's filters match, as a subquery of ids in the writes' default order (highest id
first, so "first match" is the newest row)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, select

from dataapi.query.joins import Aliases
from dataapi.query.validate import BoolOp
from dataapi.query.where import compile_where
from dataapi.registry import ModelInfo


def where(model: ModelInfo, filters: BoolOp, root: FromClause | None = None) -> ColumnElement[bool]:
    return compile_where(filters, model.table if root is None else root, Aliases())


def matching_ids(model: ModelInfo, filters: BoolOp | None, *, first: bool) -> Any:
    """A subquery of the ids that match, in the default order (first match = highest id)."""
    pk = model.table.c[model.pk.key]
    query = select(pk)
    if filters is not None and filters.children:
        query = query.where(where(model, filters))
    query = query.order_by(pk.desc())
    return query.limit(1) if first else query
