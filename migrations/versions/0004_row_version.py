"""Row versions: every model's row carries `row_version`, 1 when inserted and one more at every update.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Lost-update protection (docs/contract.md §4.7): a client that read a row at version N may say
`"if_match": {"row_version": N}` on update_items or delete_items, and the write is refused (409
RowChanged) when the row changed since.

How:
- `row_version integer NOT NULL DEFAULT 1` on every model's table (link tables are not models);
  existing rows start at 1 (a constant default: no table rewrite).
- A BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger per table sets it: 1 on insert, the old
  value + 1 on update, whatever the statement sent. So a value sent by a client is overwritten,
  and a set-based UPDATE, an UPDATE the ORM flushes and the counter triggers' own UPDATEs of
  "Dealer" and "Item_Notes_Subject" (migration 0002) all count.
- The function issues no statement, so it fires no trigger: no recursion, and its order among the
  other BEFORE row triggers (0002's counter guards, which set other columns) does not matter.
- Its function lives in the schema `dataapi` (migration 0003): not a model, never served.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The models' tables at this revision (dataapi.models), frozen here as migrations are.
TABLES = (
    "User",
    "Role",
    "Dealer",
    "Dealer_History",
    "Dealer_Notes",
    "Item_Notes_Subject",
    "Item_Note",
    "Item",
    "Item_History",
)

NEXT_ROW_VERSION = """
CREATE FUNCTION dataapi.next_row_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.row_version := 1;
    ELSE
        NEW.row_version := OLD.row_version + 1;
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(NEXT_ROW_VERSION)
    for table in TABLES:
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN row_version integer DEFAULT 1 NOT NULL')
        op.execute(
            f'CREATE TRIGGER "{table}_row_version" BEFORE INSERT OR UPDATE ON "{table}"'
            " FOR EACH ROW EXECUTE FUNCTION dataapi.next_row_version()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f'DROP TRIGGER IF EXISTS "{table}_row_version" ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS row_version')
    op.execute("DROP FUNCTION IF EXISTS dataapi.next_row_version()")
