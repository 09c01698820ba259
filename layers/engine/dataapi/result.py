"""What every operation answers: the envelope's status, message and body, before HTTP shapes it."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    message: str
    body: str  # JSON text of the envelope's `body` array
    extra: dict[str, Any] = field(default_factory=dict)
    rows: int = 0  # rows written (for logs, metrics and scheduled-run summaries; not in the envelope)
    server_message: str = ""  # a stored answer's, replayed (dataapi.idempotency)
    replayed: bool = False  # the stored answer of an earlier request with the same idempotency key
