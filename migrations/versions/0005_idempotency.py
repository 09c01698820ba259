"""Idempotency keys and scheduled run ids: answers recorded in the write's own transaction.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-07

A write sent with an `Idempotency-Key` header, and a scheduled run whose input carries a `run_id`,
claims a row of `dataapi.idempotency` in the transaction of its writes, and stores its answer in
that row before the commit (dataapi.idempotency). The claim and the writes commit or roll back
together, which no store outside the database (Powertools' DynamoDB or Redis persistence layers)
can offer.

How:
- Keyed by (principal, route, key): the caller's token subject (or `scheduler`), the route (or
  `scheduled:update_items`), the key (or the run id). `body_hash` is the SHA-256 of the
  canonical request body; `expires_at` ends replays (IDEMPOTENCY_TTL_HOURS) and lets the
  housekeeping run remove the row.
- `dataapi.claim_idempotency_key` inserts the claim, or answers the stored row. A claim held by a
  transaction still running is waited for (the unique index's insertion wait): committed, its
  answer is replayed; rolled back (a refused or failed first request), the waiter claims the key
  itself. A wait cut short by the statement or lock timeout raises SQLSTATE `IK409`, which the
  API maps to 409 IdempotencyKeyInProgress (never a message read). An expired row is claimed
  anew, never replayed.
- Its own table in the `dataapi` schema (migration 0003): not a model, never served by the API.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIM = """
CREATE FUNCTION dataapi.claim_idempotency_key(
    p_principal text, p_route text, p_key text, p_body_hash text, p_ttl_hours integer
) RETURNS TABLE (claimed boolean, body_hash text, status integer, message text, body text,
                 server_message text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO dataapi.idempotency AS held (principal, route, key, body_hash, expires_at)
    VALUES (p_principal, p_route, p_key, p_body_hash, clock_timestamp() + make_interval(hours => p_ttl_hours))
    ON CONFLICT (principal, route, key) DO UPDATE
        SET body_hash = EXCLUDED.body_hash, expires_at = EXCLUDED.expires_at, created_at = now(),
            status = NULL, message = NULL, body = NULL, server_message = NULL
        WHERE held.expires_at <= clock_timestamp() OR held.status IS NULL;
    IF FOUND THEN  -- a new claim, or an expired one taken over
        RETURN QUERY SELECT true, p_body_hash, NULL::integer, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    -- A statement of its own: its snapshot sees the row the waited-for transaction committed.
    RETURN QUERY SELECT false, i.body_hash, i.status, i.message, i.body, i.server_message
        FROM dataapi.idempotency i
        WHERE i.principal = p_principal AND i.route = p_route AND i.key = p_key;
EXCEPTION WHEN lock_not_available OR query_canceled THEN
    RAISE EXCEPTION 'idempotency key % is in use by a request still running', p_key
        USING ERRCODE = 'IK409';
END $$;
"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE dataapi.idempotency ("
        " principal text NOT NULL,"
        " route text NOT NULL,"
        " key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),"
        " body_hash text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " expires_at timestamptz NOT NULL,"
        " status integer,"
        " message text,"
        " body text,"
        " server_message text,"
        " PRIMARY KEY (principal, route, key))"
    )
    op.execute("CREATE INDEX idempotency_expires_at ON dataapi.idempotency (expires_at)")
    op.execute(CLAIM)


def downgrade() -> None:
    op.execute("DROP FUNCTION dataapi.claim_idempotency_key(text, text, text, text, integer)")
    op.execute("DROP TABLE dataapi.idempotency")
