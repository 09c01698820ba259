"""Writes safe to retry (docs/contract.md §4.6): idempotency keys, and run ids of scheduled runs.

A keyed request claims its key in the transaction of its writes, and stores its answer in that
same transaction, right before the commit: the claim, the writes and the answer commit together,
or none of them does. Powertools' idempotency utility has the same semantics, but its persistence
layers (DynamoDB, Redis) cannot commit with the database's writes, so the record lives in
PostgreSQL (`dataapi.idempotency`, migration 0005).

Round trips: the claim travels in the query that begins the transaction (sent with its first
statement, the caller's load), and the answer's store carries the COMMIT with it: a keyed write
costs no trip more than an unkeyed one. The claim answers before anything else runs, so a replay
calls neither Cognito nor S3 again.

A second request with a key whose first request is still running waits for it (the claim's
unique index): it replays the committed answer, or claims the key itself when the first rolled
back (answers that are not 2xx are never stored). A wait longer than the statement timeout is
409 IdempotencyKeyInProgress (SQLSTATE IK409, dataapi.db.sqlstate).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dataapi.db.engine import begin_also_with, begun_row, commit_with_next
from dataapi.errors import IdempotencyKeyReused, MalformedRequest
from dataapi.result import Result
from dataapi.settings import Settings
from dataapi.telemetry import count

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
"""The response header of a stored answer replayed."""

_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # 1-255 visible ASCII characters

_STORE = text(
    "UPDATE dataapi.idempotency SET status = :status, message = :message, body = :body,"
    " server_message = :server_message"
    " WHERE principal = :principal AND route = :route AND key = :key"
)


def check_key(value: str, *, name: str = HEADER, at: str = "") -> str:
    """The key as sent, when it is 1-255 visible ASCII characters; else a 400 naming it."""
    if not _KEY.fullmatch(value):
        raise MalformedRequest(
            f"'{name}' must be 1 to 255 visible ASCII characters (no spaces).",
            at=at,
            detail=f"field={name}",
        )
    return value


def body_hash(raw: Any) -> str:
    """SHA-256 of the canonical JSON of the request body (keys sorted, no spaces)."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Keyed:
    """A request sent with a key: whose (the token's subject, or `scheduler`), on which route, and
    the hash of its body."""

    principal: str
    route: str
    key: str
    body_hash: str

    @classmethod
    def of(cls, principal: str, route: str, key: str | None, raw: Any) -> Keyed | None:
        return None if key is None else cls(principal, route, key, body_hash(raw))


def _literal(value: str) -> str:
    """A text value as SQL, whatever it holds: hex-decoded by the server (the claim travels in a
    simple query, which binds no parameters)."""
    return f"convert_from(decode('{value.encode('utf-8', 'surrogatepass').hex()}', 'hex'), 'UTF8')"


@dataclass(frozen=True, slots=True)
class Claim:
    keyed: Keyed
    ttl_hours: int

    @classmethod
    def of(cls, keyed: Keyed, settings: Settings) -> Claim:
        return cls(keyed, settings.idempotency_ttl_hours)

    def sql(self) -> str:
        k = self.keyed
        return (
            "SELECT claimed, body_hash, status, message, body, server_message"
            f" FROM dataapi.claim_idempotency_key({_literal(k.principal)}, {_literal(k.route)},"
            f" {_literal(k.key)}, '{k.body_hash}', {int(self.ttl_hours)})"
        )

    # ---- the claim ------------------------------------------------------------------------

    def at_begin(self, session: Session) -> None:
        """Claim the key in the query that begins the transaction: call before its first
        statement, then `replay` after it."""
        begin_also_with(session, self.sql())

    def replay(self, session: Session) -> Result | None:
        """The stored answer of an earlier request with this key (after `at_begin` and the first
        statement), or None when this request holds the key now and must run."""
        return self._answer(begun_row(session))

    def now(self, session: Session) -> Result | None:
        """`at_begin` and `replay` as a statement of its own (scheduled runs: no caller to load)."""
        return self._answer(session.execute(text(self.sql())).one())

    def _answer(self, row: Any) -> Result | None:
        claimed, stored_hash, status, message, body, server_message = row
        if claimed:
            return None
        if stored_hash != self.keyed.body_hash:
            raise IdempotencyKeyReused(
                f"This {HEADER} was used with a different request body; send a new key.",
                detail=f"field={HEADER}",
            )
        count("IdempotentReplay")
        return Result(status, message, body, server_message=server_message or "", replayed=True)

    # ---- the answer -----------------------------------------------------------------------

    def store(self, session: Session, result: Result) -> None:
        """Store a 2xx answer in the claim's row, in the statement that carries the COMMIT: the
        last of the transaction (pending ORM changes are flushed first)."""
        session.flush()
        commit_with_next(session)
        k = self.keyed
        session.execute(
            _STORE,
            {
                "status": result.status,
                "message": result.message,
                "body": result.body,
                "server_message": result.server_message,
                "principal": k.principal,
                "route": k.route,
                "key": k.key,
            },
        )


def expired_removed(session: Session, *, limit: int) -> int:
    """Remove at most `limit` expired keys (and run ids): the number removed. Expired keys are
    never replayed (the claim takes them over); this only keeps the table small."""
    removed = session.execute(
        text(
            "DELETE FROM dataapi.idempotency WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM dataapi.idempotency WHERE expires_at <= clock_timestamp()"
            " LIMIT :limit FOR UPDATE SKIP LOCKED))"
        ),
        {"limit": limit},
    )
    return int(getattr(removed, "rowcount", 0) or 0)
