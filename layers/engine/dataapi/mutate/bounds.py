"""The rows-touched budget of a request, the bounded count that refuses a request over it before
rows are loaded (LIMIT n+1), never after loading every match, and the count of the rows a request
asks to create, taken from its raw JSON before any row is validated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataapi.errors import LimitExceeded, pointer
from dataapi.registry import ModelInfo


class Budget:
    """Counts rows a request touches, against the configured limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, rows: int, at: str) -> None:
        self.used += rows
        if self.used > self.limit:
            raise LimitExceeded(
                f"The request touches more than {self.limit} rows; split it or narrow its filters.",
                at=at or "/",
                detail=f"limit=rows_touched max={self.limit}",
            )


def precount(session: Session, ids_query: Any, budget: Budget, at: str) -> None:
    """Refuse (LimitExceeded) when more rows match than the budget has left; counts at most one more."""
    left = _left(budget)
    bounded = ids_query.order_by(None).limit(left + 1).subquery()
    found = session.scalar(select(func.count()).select_from(bounded)) or 0
    if found > left:
        budget.spend(found, at)  # raises: the limit names the request part


def check_new_rows(
    model: ModelInfo, values: Any, at: str, tally: Budget, *, rows_per_list: int, depth: int
) -> None:
    """Count, in the raw JSON, the rows `values` asks to create (a dict is one row, a list many)
    and those of its nested `create` actions, before any is validated: a list over
    MAX_ROWS_PER_LIST, or more new rows than the request's budget, is refused with the pointer,
    and in the order, the validation and the Writer would refuse it. Anything malformed is left to
    the validation."""
    rows = _rows(values, at, rows_per_list)
    if rows:
        tally.spend(len(rows), rows[0][1])
    for row, row_at in rows:
        check_actions(model, row, row_at, tally, rows_per_list=rows_per_list, depth=depth)


def check_actions(
    model: ModelInfo, row: Any, at: str, tally: Budget, *, rows_per_list: int, depth: int
) -> None:
    """The rows the `create` actions of one row's raw values would make (once each: an update's
    may make them for every match), counted as above."""
    if depth <= 0 or not isinstance(row, dict):
        return
    for key, value in row.items():
        rel = model.relationships.get(key)
        if rel is None or not isinstance(value, dict) or value.get("action") != "create":
            continue
        key_at = at + pointer(key)
        for child, child_at in _counted(value.get("values"), key_at, tally, rows_per_list):
            check_actions(rel.target, child, child_at, tally, rows_per_list=rows_per_list, depth=depth - 1)


def _counted(
    values: Any, action_at: str, tally: Budget, rows_per_list: int
) -> list[tuple[dict[str, Any], str]]:
    rows = _rows(values, action_at + "/values", rows_per_list)
    tally.spend(len(rows), action_at)  # the Writer spends a create action's rows at the action
    return rows


def _rows(values: Any, at: str, rows_per_list: int) -> list[tuple[dict[str, Any], str]]:
    """The row dicts of `values` with their pointers (a dict at `at`, a list's at `at/i`)."""
    if isinstance(values, dict):
        return [(values, at)]
    if not isinstance(values, list):
        return []
    if len(values) > rows_per_list:
        raise LimitExceeded(
            f"At most {rows_per_list} rows per list; this one has {len(values)}.",
            at=at,
            detail=f"limit=rows_per_list max={rows_per_list}",
        )
    return [(row, f"{at}/{i}") for i, row in enumerate(values) if isinstance(row, dict)]


def guarded(ids_query: Any, budget: Budget, *, first: bool) -> tuple[Any, list[Any]]:
    """The WHERE of a set-based UPDATE or DELETE of the rows `ids_query` matches: the ids (at
    most one more than the budget has left) and the condition that they are not more than that,
    evaluated once before any row is touched. Over it, the statement changes and locks nothing,
    returns no row, and `refuse_if_over` tells a refusal from nothing matched. One statement
    either way: an accepted request pays no count of its own."""
    if first:
        return ids_query, []
    ids = ids_query.order_by(None).limit(_left(budget) + 1).cte("matched")
    fits = select(func.count()).select_from(ids).scalar_subquery() <= _left(budget)
    return select(ids.c[0]), [fits]


def refuse_if_over(session: Session, ids_query: Any, budget: Budget, at: str, *, first: bool) -> None:
    """After a guarded statement changed nothing: refuse if that was the guard (a count, only on
    this path; first-match statements touch at most one row and need none)."""
    if not first:
        precount(session, ids_query, budget, at)


def bounded(ids_query: Any, budget: Budget, *, first: bool) -> Any:
    """`ids_query` reading at most one more id than the budget has left: whoever spends them refuses."""
    return ids_query if first else ids_query.limit(_left(budget) + 1)


def _left(budget: Budget) -> int:
    return max(budget.limit - budget.used, 0)
