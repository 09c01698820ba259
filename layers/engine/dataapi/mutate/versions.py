"""Lost-update protection (docs/contract.md §4.7): `"if_match": {"row_version": N}` on a
first_match update or a delete_first.

The row the write would touch is locked FOR UPDATE and its version compared before anything is
written. Under READ COMMITTED a lock that waited for another writer returns the row as that
writer left it, so of two writes sent with the same version the second finds the row changed.
The write that follows is pinned to the locked row (its id joins the filters): a row inserted
meanwhile that the filters would now match first is not written unchecked. Only requests that
send `if_match` pay the lock's round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataapi.errors import RowChanged
from dataapi.mutate.matching import matching_ids
from dataapi.query.validate import BoolOp, Path, Pred
from dataapi.registry import ModelInfo

VERSION = "row_version"
"""The column every model carries (dataapi.models.base.Base, migration 0004)."""


@dataclass(frozen=True, slots=True)
class LockedRow:
    """The matched row, locked for this transaction, at the version it has now."""

    id: Any
    row_version: int


def expect_version(
    session: Session,
    model: ModelInfo,
    filters: BoolOp | None,
    expected: int,
    *,
    at: str,
    current: Callable[[LockedRow], str],
) -> BoolOp | None:
    """The filters pinned to the first matched row, locked, when it is at version `expected`.

    Nothing matched: the filters as given (the write answers its 404 as without `if_match`).
    Another version: RowChanged (409), whose body is `current(row)`; nothing has been written."""
    session.flush()  # pending ORM changes of earlier batch members are part of what is compared
    pk = model.table.c[model.pk.key]
    found = session.execute(
        select(pk, model.table.c[VERSION])
        .where(pk.in_(matching_ids(model, filters, first=True)))
        .with_for_update(of=model.table)
    ).first()
    if found is None:
        return filters
    row = LockedRow(found[0], found[1])
    if row.row_version != expected:
        raise RowChanged(
            f"{model.name} {row.id} changed since row_version {expected} (it is at {row.row_version}):"
            " nothing was written.",
            current=current(row),
            at=at,
            detail=f"model={model.name} row_version={row.row_version} expected={expected}",
        )
    same_row = Pred(Path((), model.pk, (), model), "==", row.id, at)
    return BoolOp("and", (same_row,) if filters is None else (same_row, filters))
