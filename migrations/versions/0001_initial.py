"""Initial schema: the purchase-app domain (docs/contract.md §5).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Table and column names, types and nullability are those of the original Flask backend, so its
database can be adopted. Every foreign key states its ON DELETE to match the ORM cascades:
CASCADE under a delete-orphan one-to-many (Item_History, Dealer_Notes, Dealer_History) and in the
association tables (user_roles, Items_Notes); SET NULL for the other nullable references
(Item.dealer_id, Item_Note.subject_id). Timestamps are timestamptz defaulting to now() on the
server; JSON columns are jsonb, with GIN indexes on Item's queried documents.

Constraint and index names follow the naming convention of dataapi.models.base (pk_/uq_/fk_/ix_).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB = postgresql.JSONB(astext_type=sa.Text())
TIMESTAMPTZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")
ZERO = sa.text("0")

ITEM_GIN_COLUMNS = ("properties", "dimensions", "issues", "parts", "missing_parts", "images", "metafields")


def upgrade() -> None:
    # --- identity -------------------------------------------------------------------------------
    op.create_table(
        "User",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("profile_picture", sa.Text(), nullable=True),
        sa.Column("metafields", JSONB, nullable=True),
        sa.Column("cognito_sub", sa.String(length=64), nullable=True),
        sa.Column("tokens_valid_after", TIMESTAMPTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_User"),
        sa.UniqueConstraint("username", name="uq_User_username"),
        sa.UniqueConstraint("email", name="uq_User_email"),
        sa.UniqueConstraint("cognito_sub", name="uq_User_cognito_sub"),
    )
    op.create_index("ix_User_lower_email", "User", [sa.text("lower(email)")], unique=True)

    op.create_table(
        "Role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("metafields", JSONB, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Role"),
        sa.UniqueConstraint("role", name="uq_Role_role"),
    )

    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "role_id", name="pk_user_roles"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["User.id"], name="fk_user_roles_user_id_User", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["Role.id"], name="fk_user_roles_role_id_Role", ondelete="CASCADE"
        ),
    )
    # user_id leads the primary key; role_id needs its own index for "users of a role".
    op.create_index("ix_user_roles_role_id", "user_roles", ["role_id"], unique=False)

    # --- dealers --------------------------------------------------------------------------------
    op.create_table(
        "Dealer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_type", sa.String(length=80), nullable=True),
        sa.Column("dealer_name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("raw_address", sa.Text(), nullable=True),
        sa.Column("coordinates", JSONB, nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("gender", sa.String(length=40), nullable=True),
        sa.Column("purchased_count", sa.Integer(), server_default=ZERO, nullable=True),
        sa.Column("item_count", sa.Integer(), server_default=ZERO, nullable=True),
        sa.Column("created_at", TIMESTAMPTZ, server_default=NOW, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Dealer"),
    )
    op.create_index("ix_Dealer_dealer_type", "Dealer", ["dealer_type"], unique=False)
    op.create_index("ix_Dealer_dealer_name", "Dealer", ["dealer_name"], unique=False)

    op.create_table(
        "Dealer_History",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.String(length=120), nullable=True),
        sa.Column("from_value", JSONB, nullable=True),
        sa.Column("to_value", JSONB, nullable=True),
        sa.Column("recorder_time", TIMESTAMPTZ, server_default=NOW, nullable=True),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Dealer_History"),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["Dealer.id"], name="fk_Dealer_History_dealer_id_Dealer", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_Dealer_History_dealer_id", "Dealer_History", ["dealer_id"], unique=False)

    op.create_table(
        "Dealer_Notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMPTZ, server_default=NOW, nullable=True),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Dealer_Notes"),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["Dealer.id"], name="fk_Dealer_Notes_dealer_id_Dealer", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_Dealer_Notes_dealer_id", "Dealer_Notes", ["dealer_id"], unique=False)

    # --- item notes -----------------------------------------------------------------------------
    op.create_table(
        "Item_Notes_Subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("notes_counter", sa.Integer(), server_default=ZERO, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Item_Notes_Subject"),
    )
    op.create_index("ix_Item_Notes_Subject_subject", "Item_Notes_Subject", ["subject"], unique=False)

    op.create_table(
        "Item_Note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_content", sa.Text(), nullable=True),
        sa.Column("creation_time", TIMESTAMPTZ, server_default=NOW, nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Item_Note"),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["Item_Notes_Subject.id"],
            name="fk_Item_Note_subject_id_Item_Notes_Subject",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_Item_Note_subject_id", "Item_Note", ["subject_id"], unique=False)

    # --- items ----------------------------------------------------------------------------------
    op.create_table(
        "Item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_number", sa.String(length=120), nullable=True),
        sa.Column("reference_number", sa.String(length=120), nullable=True),
        sa.Column("category", sa.String(length=120), nullable=True),
        sa.Column("type", sa.String(length=120), nullable=True),
        sa.Column("properties", JSONB, nullable=True),
        sa.Column("dimensions", JSONB, nullable=True),
        sa.Column("issues", JSONB, nullable=True),
        sa.Column("parts", JSONB, nullable=True),
        sa.Column("missing_parts", JSONB, nullable=True),
        sa.Column("purchased_price", sa.Integer(), nullable=True),
        sa.Column("valuation", sa.Integer(), nullable=True),
        sa.Column("sold_price", sa.Integer(), nullable=True),
        sa.Column("metafields", JSONB, nullable=True),
        sa.Column("state", sa.String(length=80), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("images", JSONB, nullable=True),
        sa.Column("created_at", TIMESTAMPTZ, server_default=NOW, nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Item"),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["Dealer.id"], name="fk_Item_dealer_id_Dealer", ondelete="SET NULL"
        ),
    )
    for column in (
        "article_number",
        "reference_number",
        "category",
        "type",
        "state",
        "location",
        "created_at",
        "dealer_id",
    ):
        op.create_index(f"ix_Item_{column}", "Item", [column], unique=False)
    for column in ITEM_GIN_COLUMNS:
        op.create_index(f"ix_Item_{column}_gin", "Item", [column], unique=False, postgresql_using="gin")

    op.create_table(
        "Items_Notes",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "note_id", name="pk_Items_Notes"),
        sa.ForeignKeyConstraint(
            ["item_id"], ["Item.id"], name="fk_Items_Notes_item_id_Item", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["note_id"], ["Item_Note.id"], name="fk_Items_Notes_note_id_Item_Note", ondelete="CASCADE"
        ),
    )
    # item_id leads the primary key; note_id needs its own index for "items of a note".
    op.create_index("ix_Items_Notes_note_id", "Items_Notes", ["note_id"], unique=False)

    op.create_table(
        "Item_History",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.String(length=120), nullable=True),
        sa.Column("from_value", JSONB, nullable=True),
        sa.Column("to_value", JSONB, nullable=True),
        sa.Column("recorded_time", TIMESTAMPTZ, server_default=NOW, nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=80), nullable=True),
        sa.Column("user_name", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_Item_History"),
        sa.ForeignKeyConstraint(
            ["item_id"], ["Item.id"], name="fk_Item_History_item_id_Item", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_Item_History_item_id", "Item_History", ["item_id"], unique=False)


def downgrade() -> None:
    # Dependants first; dropping a table drops its indexes and constraints with it.
    for table in (
        "Item_History",
        "Items_Notes",
        "Item",
        "Item_Note",
        "Item_Notes_Subject",
        "Dealer_Notes",
        "Dealer_History",
        "Dealer",
        "user_roles",
        "Role",
        "User",
    ):
        op.drop_table(table)
