"""What the Writer asks of the layers above it, as protocols: it never imports them.

The caller's Authorizer (dataapi.identity.authorize) checks what only loaded rows show; a model's
row hook (User rows mirror Cognito users, dataapi.ops.directory) adds side effects per row.
"""

from __future__ import annotations

from typing import Any, Protocol

from dataapi.mutate.values import RowValues
from dataapi.operation import Operation
from dataapi.query.validate import BoolOp
from dataapi.registry import ModelInfo, RelationshipInfo


class WriteAuthorizer(Protocol):
    """Policy checks that need loaded rows."""

    def restrict(self, model: ModelInfo, op: Operation, filters: BoolOp | None) -> BoolOp | None: ...
    def row(self, model: ModelInfo, op: Operation, obj: Any, at: str) -> None: ...
    def relationship(self, rel: RelationshipInfo, parent: Any, related: list[Any], at: str) -> None: ...


class RowHook(Protocol):
    """Per-row side effects of a model: its rows are written one by one, never set-based."""

    def created(self, obj: Any, row: RowValues) -> None: ...
    def updated(self, obj: Any, row: RowValues, before: dict[str, Any]) -> None: ...
    def deleting(self, obj: Any) -> None: ...
