"""Limits checked before rows are loaded: a request over the rows-touched budget is refused by a
bounded count (LIMIT n+1), never after loading every match."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from dataapi.mutate.apply import Budget


def precount(session: Session, ids_query: Any, budget: Budget, at: str) -> None:
    """Refuse (LimitExceeded) when more rows match than the budget has left; counts at most one more."""
    left = max(budget.limit - budget.used, 0)
    bounded = ids_query.order_by(None).limit(left + 1).subquery()
    found = session.scalar(select(func.count()).select_from(bounded)) or 0
    if found > left:
        budget.spend(found, at)  # raises: the limit names the request part
