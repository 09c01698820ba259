"""The rows-touched budget of a request, and the bounded count that refuses a request over it
before rows are loaded (LIMIT n+1), never after loading every match."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataapi.errors import LimitExceeded


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
    left = max(budget.limit - budget.used, 0)
    bounded = ids_query.order_by(None).limit(left + 1).subquery()
    found = session.scalar(select(func.count()).select_from(bounded)) or 0
    if found > left:
        budget.spend(found, at)  # raises: the limit names the request part
