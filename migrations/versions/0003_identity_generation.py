"""The identity generation: a token that changes with every change to who a caller is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

A function container remembers the callers it loaded, each with the token read in the same
transaction (dataapi.identity.remembered). A read runs as the remembered caller and reads the
token in the query that begins its transaction; a different token means a user, a role or a
role assignment changed since, and the caller is loaded again. So changes to roles and to
`tokens_valid_after` take effect at the next request, as they did when every request loaded
its caller.

How:
- `dataapi.identity_generation` holds one row; a BEFORE ... FOR EACH STATEMENT trigger on
  "User", "Role" and user_roles (INSERT, UPDATE, DELETE, TRUNCATE) gives it a new random token.
- Random rather than a counter: a rolled-back change restores the old token with the old rows,
  and two databases (a restored copy, a clone of a template) never reach equal tokens through
  different changes.
- BEFORE the statement: the token's row lock is taken before any row of those tables, so two
  transactions that change users wait for each other instead of deadlocking.
- Its own schema: not a model, never served by the API.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("User", "Role", "user_roles")

BUMP = """
CREATE FUNCTION dataapi.new_identity_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dataapi.identity_generation SET token = gen_random_uuid();
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA dataapi")
    op.execute(
        "CREATE TABLE dataapi.identity_generation ("
        " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
        " token uuid NOT NULL DEFAULT gen_random_uuid())"
    )
    op.execute("INSERT INTO dataapi.identity_generation DEFAULT VALUES")
    op.execute(BUMP)
    for table in TABLES:
        op.execute(
            f'CREATE TRIGGER "{table}_identity_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE'
            f' ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION dataapi.new_identity_generation()'
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f'DROP TRIGGER IF EXISTS "{table}_identity_generation" ON "{table}"')
    op.execute("DROP SCHEMA dataapi CASCADE")
