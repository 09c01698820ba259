"""Today's schema, converted from the Flask backend's (24091ad94d4c): the purchase-app domain.

Revision ID: 0001
Revises: 24091ad94d4c
Create Date: 2026-11-26

An adopted database (the Flask backend's, with its data) and an empty one (built as 24091ad94d4c
just before) take the same steps, so both end with the same catalog. The conversion, in the one
transaction the upgrade runs in (migrations/env.py):

- pre-flight first: values longer than the new column lengths, e-mails equal but for case, and
  roles the access policy does not know are refused with a report naming table, column and row
  ids, before anything changes (`make adopt-check` runs the same checks without upgrading);
- `User.password` (clear text, or werkzeug hashes) moves to `legacy.user_password`, read only by
  the Cognito migration trigger; `Item_Stats_Current`, which nothing reads, moves to schema
  `legacy`. Nothing that holds data is dropped; the engine never sees schema `legacy`;
- strings get today's lengths (varchar(n) or text); timestamps become timestamptz, their naive
  values read as UTC; counters default to 0 and event times to now() on the server;
- JSON `null` documents become SQL NULL (the models write Python None as NULL);
- constraints take the names of dataapi.models.base's convention (pk_/uq_/fk_/ix_); every foreign
  key states the ON DELETE its ORM cascade implies: CASCADE under a delete-orphan one-to-many
  (Item_History, Dealer_Notes, Dealer_History) and in the association tables (user_roles,
  Items_Notes); SET NULL for the other nullable references (Item.dealer_id, Item_Note.subject_id);
- indexes become today's: btree on the filtered columns, GIN on each of Item's JSON documents;
- `User` gains `cognito_sub` and `tokens_valid_after`.

A database already at "0001" (deployed before this history knew the Flask root) holds the same
public schema; only schema `legacy` is absent there, which the trigger tolerates.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alembic import context, op
from sqlalchemy import text

revision: str = "0001"
down_revision: str | Sequence[str] | None = "24091ad94d4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT = "text"
TZ = "timestamptz"
NOW = "now()"
ZERO = "0"

# table -> column -> (today's type, server default); every other column keeps its legacy type.
COLUMNS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "User": {
        "username": ("120", None),
        "email": ("254", None),
        "phone": ("40", None),
        "profile_picture": (TEXT, None),
    },
    "Role": {"role": ("80", None), "key": ("80", None)},
    "Dealer": {
        "dealer_type": ("80", None),
        "dealer_name": ("200", None),
        "phone": ("40", None),
        "email": ("254", None),
        "raw_address": (TEXT, None),
        "gender": ("40", None),
        "purchased_count": (None, ZERO),
        "item_count": (None, ZERO),
        "created_at": (TZ, NOW),
    },
    "Dealer_History": {"column_name": ("120", None), "recorder_time": (TZ, NOW)},
    "Dealer_Notes": {"subject": ("200", None), "content": (TEXT, None), "created_at": (TZ, NOW)},
    "Item_Notes_Subject": {"subject": ("200", None), "notes_counter": (None, ZERO)},
    "Item_Note": {"note_content": (TEXT, None), "creation_time": (TZ, NOW)},
    "Item": {
        "article_number": ("120", None),
        "reference_number": ("120", None),
        "category": ("120", None),
        "type": ("120", None),
        "state": ("80", None),
        "location": ("200", None),
        "created_at": (TZ, NOW),
        "created_by": ("120", None),
    },
    "Item_History": {
        "column_name": ("120", None),
        "recorded_time": (TZ, NOW),
        "type": ("80", None),
        "user_name": ("120", None),
    },
}

JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "User": ("metafields",),
    "Role": ("metafields",),
    "Dealer": ("coordinates",),
    "Dealer_History": ("from_value", "to_value"),
    "Item": ("properties", "dimensions", "issues", "parts", "missing_parts", "metafields", "images"),
    "Item_History": ("from_value", "to_value"),
}

# Tables with their primary keys as the Flask schema names them.
PRIMARY_KEYS = {
    "User": "User_pkey",
    "Role": "Role_pkey",
    "user_roles": "user_roles_pkey",
    "Dealer": "Dealer_pkey",
    "Dealer_History": "Dealer_History_pkey",
    "Dealer_Notes": "Dealer_Notes_pkey",
    "Item_Notes_Subject": "Item_Notes_Subject_pkey",
    "Item_Note": "Item_Note_pkey",
    "Item": "Item_pkey",
    "Items_Notes": "Items_Notes_pkey",
    "Item_History": "Item_History_pkey",
}


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str
    target: str
    legacy_rule: str
    rule: str

    @property
    def legacy_name(self) -> str:
        return f"{self.table}_{self.column}_fkey"

    @property
    def name(self) -> str:
        return f"fk_{self.table}_{self.column}_{self.target}"

    def sql(self, name: str, rule: str) -> str:
        on_delete = "" if rule == "NO ACTION" else f" ON DELETE {rule}"
        return (
            f'ALTER TABLE "{self.table}" ADD CONSTRAINT "{name}" FOREIGN KEY ({self.column})'
            f' REFERENCES "{self.target}"(id){on_delete}'
        )


FOREIGN_KEYS = (
    ForeignKey("user_roles", "user_id", "User", "NO ACTION", "CASCADE"),
    ForeignKey("user_roles", "role_id", "Role", "NO ACTION", "CASCADE"),
    ForeignKey("Dealer_History", "dealer_id", "Dealer", "NO ACTION", "CASCADE"),
    ForeignKey("Dealer_Notes", "dealer_id", "Dealer", "NO ACTION", "CASCADE"),
    ForeignKey("Item_Note", "subject_id", "Item_Notes_Subject", "NO ACTION", "SET NULL"),
    ForeignKey("Item", "dealer_id", "Dealer", "SET NULL", "SET NULL"),
    ForeignKey("Items_Notes", "item_id", "Item", "NO ACTION", "CASCADE"),
    ForeignKey("Items_Notes", "note_id", "Item_Note", "NO ACTION", "CASCADE"),
    ForeignKey("Item_History", "item_id", "Item", "CASCADE", "CASCADE"),
)

GIN = "USING gin"
# Indexes (name -> definition after ON), the Flask schema's and today's; unique ones are constraints.
LEGACY_INDEXES = {
    "idx_dimensions_path_ops": '"Item" USING gin (dimensions jsonb_path_ops)',
    "idx_issues_path_ops": '"Item" USING gin (issues jsonb_path_ops)',
    "idx_metafields_ops": '"Item" USING gin (metafields)',
    "idx_metafields_path_ops": '"Item" USING gin (metafields jsonb_path_ops)',
    "idx_missing_parts_path_ops": '"Item" USING gin (missing_parts jsonb_path_ops)',
    "idx_properties_ops": '"Item" USING gin (properties)',
    "idx_properties_path_ops": '"Item" USING gin (properties jsonb_path_ops)',
    **{f"ix_Dealer_{c}": f'"Dealer" ({c})' for c in ("dealer_name", "dealer_type", "email", "item_count")},
    **{f"ix_Dealer_{c}": f'"Dealer" ({c})' for c in ("purchased_count", "raw_address")},
    **{f"ix_Item_History_{c}": f'"Item_History" ({c})' for c in ("column_name", "item_id", "type")},
    "ix_Item_Notes_Subject_subject": '"Item_Notes_Subject" (subject)',
    **{
        f"ix_Item_{c}": f'"Item" ({c})'
        for c in (
            "article_number",
            "category",
            "location",
            "purchased_price",
            "reference_number",
            "sold_price",
            "state",
            "type",
            "valuation",
        )
    },
}
ITEM_GIN_COLUMNS = ("properties", "dimensions", "issues", "parts", "missing_parts", "images", "metafields")
INDEXES = {
    "ix_User_lower_email": '"User" (lower(email::text))',
    "ix_user_roles_role_id": "user_roles (role_id)",
    "ix_Dealer_dealer_type": '"Dealer" (dealer_type)',
    "ix_Dealer_dealer_name": '"Dealer" (dealer_name)',
    "ix_Dealer_History_dealer_id": '"Dealer_History" (dealer_id)',
    "ix_Dealer_Notes_dealer_id": '"Dealer_Notes" (dealer_id)',
    "ix_Item_Notes_Subject_subject": '"Item_Notes_Subject" (subject)',
    "ix_Item_Note_subject_id": '"Item_Note" (subject_id)',
    **{
        f"ix_Item_{c}": f'"Item" ({c})'
        for c in (
            "article_number",
            "reference_number",
            "category",
            "type",
            "state",
            "location",
            "created_at",
            "dealer_id",
        )
    },
    **{f"ix_Item_{c}_gin": f'"Item" USING gin ({c})' for c in ITEM_GIN_COLUMNS},
    "ix_Items_Notes_note_id": '"Items_Notes" (note_id)',
    "ix_Item_History_item_id": '"Item_History" (item_id)',
}


# --- pre-flight ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    table: str
    column: str
    ids: tuple[Any, ...]
    reason: str

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.ids[:20])) + (
            f" and {len(self.ids) - 20} more" if len(self.ids) > 20 else ""
        )
        return f'"{self.table}".{self.column}: {self.reason} (ids {shown})'


class AdoptionRefused(RuntimeError):
    """The database holds values the conversion would fail on (or silently change): nothing changed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            "the conversion to revision 0001 was refused, nothing changed:\n"
            + "\n".join(f"- {p}" for p in problems)
        )


def _too_long(conn: Any) -> list[Problem]:
    problems = []
    for table, columns in COLUMNS.items():
        for column, (new_type, _default) in columns.items():
            if new_type is None or not new_type.isdigit():
                continue
            ids = conn.execute(
                text(f'SELECT id FROM "{table}" WHERE char_length({column}) > :n ORDER BY id'),
                {"n": int(new_type)},
            ).scalars()
            found = tuple(ids)
            if found:
                problems.append(Problem(table, column, found, f"longer than {new_type} characters"))
    return problems


def _case_duplicates(conn: Any) -> list[Problem]:
    groups = conn.execute(
        text(
            'SELECT array_agg(id ORDER BY id) FROM "User" GROUP BY lower(email)'
            " HAVING count(*) > 1 ORDER BY min(id)"
        )
    ).scalars()
    return [Problem("User", "email", tuple(ids), "e-mails equal but for case") for ids in groups]


def _unknown_roles(conn: Any) -> list[Problem]:
    from dataapi.identity.policy import default_policy

    known = default_policy().roles()
    rows = conn.execute(text('SELECT id, role FROM "Role" ORDER BY id')).all()
    unknown = [(role_id, role) for role_id, role in rows if role not in known]
    if not unknown:
        return []
    names = ", ".join(sorted({role for _, role in unknown}))
    return [
        Problem(
            "Role",
            "role",
            tuple(role_id for role_id, _ in unknown),
            f"no grant in the access policy for {names} (state one in policy.json, e.g. as another role)",
        )
    ]


def preflight(conn: Any) -> list[Problem]:
    """What the conversion would fail on or lose, on a database at 24091ad94d4c; empty: go."""
    return [*_too_long(conn), *_case_duplicates(conn), *_unknown_roles(conn)]


def describe() -> list[str]:
    """The conversion in words, for `make adopt-check`."""
    retyped = sum(1 for columns in COLUMNS.values() for new_type, _ in columns.values() if new_type)
    defaulted = sum(1 for columns in COLUMNS.values() for _, default in columns.values() if default)
    return [
        'move "User".password to legacy.user_password and "Item_Stats_Current" to schema legacy',
        f"retype {retyped} columns (lengths, text, timestamptz from UTC) and give {defaulted} server defaults",
        "turn JSON null documents into SQL NULL",
        f"rename {len(PRIMARY_KEYS) + 3} primary-key and unique constraints to today's names",
        f"replace {sum(fk.legacy_rule != fk.rule for fk in FOREIGN_KEYS)} foreign keys with today's ON DELETE"
        f" rules, rename the other {sum(fk.legacy_rule == fk.rule for fk in FOREIGN_KEYS)}",
        f"replace the {len(LEGACY_INDEXES)} Flask indexes with today's {len(INDEXES)}",
        'add "User".cognito_sub and "User".tokens_valid_after',
    ]


# --- the conversion -------------------------------------------------------------------------------


def _column_clauses(columns: dict[str, tuple[str | None, str | None]]) -> list[str]:
    clauses = []
    for column, (new_type, default) in columns.items():
        if new_type == TZ:
            clauses.append(f"ALTER COLUMN {column} TYPE timestamptz USING {column} AT TIME ZONE 'UTC'")
        elif new_type == TEXT:
            clauses.append(f"ALTER COLUMN {column} TYPE text")
        elif new_type is not None:
            clauses.append(f"ALTER COLUMN {column} TYPE varchar({new_type})")
        if default is not None:
            clauses.append(f"ALTER COLUMN {column} SET DEFAULT {default}")
    return clauses


def _json_nulls(table: str, columns: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = NULLIF({c}, 'null'::jsonb)" for c in columns)
    where = " OR ".join(f"{c} = 'null'::jsonb" for c in columns)
    return f'UPDATE "{table}" SET {sets} WHERE {where}'


def upgrade() -> None:
    if not context.is_offline_mode():  # `--sql` has no data to check
        problems = preflight(op.get_bind())
        if problems:
            raise AdoptionRefused(problems)

    op.execute("CREATE SCHEMA legacy")
    op.execute(
        "CREATE TABLE legacy.user_password (user_id integer NOT NULL, password varchar NOT NULL,"
        ' CONSTRAINT pk_user_password PRIMARY KEY (user_id), CONSTRAINT "fk_user_password_user_id_User"'
        ' FOREIGN KEY (user_id) REFERENCES public."User"(id) ON DELETE CASCADE)'
    )
    op.execute('INSERT INTO legacy.user_password (user_id, password) SELECT id, password FROM "User"')
    op.execute('ALTER TABLE "User" DROP COLUMN password')
    op.execute('ALTER TABLE "Item_Stats_Current" SET SCHEMA legacy')

    # Indexes go first, so that each table is rewritten once, and built once afterwards.
    for name in LEGACY_INDEXES:
        op.execute(f'DROP INDEX "{name}"')
    for fk in FOREIGN_KEYS:
        if fk.legacy_rule != fk.rule:
            op.execute(f'ALTER TABLE "{fk.table}" DROP CONSTRAINT "{fk.legacy_name}"')

    for table, columns in JSON_COLUMNS.items():
        op.execute(_json_nulls(table, columns))
    for table, columns in COLUMNS.items():
        op.execute(f'ALTER TABLE "{table}" ' + ", ".join(_column_clauses(columns)))
    op.execute(
        'ALTER TABLE "User" ADD COLUMN cognito_sub varchar(64), ADD COLUMN tokens_valid_after timestamptz'
    )

    for table, legacy_name in PRIMARY_KEYS.items():
        op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{legacy_name}" TO "pk_{table}"')
    op.execute('ALTER TABLE "Role" RENAME CONSTRAINT "Role_role_key" TO "uq_Role_role"')
    op.execute('ALTER TABLE "User" RENAME CONSTRAINT "User_username_key" TO "uq_User_username"')
    op.execute('ALTER TABLE "User" ADD CONSTRAINT "uq_User_email" UNIQUE USING INDEX "ix_User_email"')
    op.execute('ALTER TABLE "User" ADD CONSTRAINT "uq_User_cognito_sub" UNIQUE (cognito_sub)')
    for fk in FOREIGN_KEYS:
        if fk.legacy_rule == fk.rule:
            op.execute(f'ALTER TABLE "{fk.table}" RENAME CONSTRAINT "{fk.legacy_name}" TO "{fk.name}"')
        else:
            op.execute(fk.sql(fk.name, fk.rule))
    for name, definition in INDEXES.items():
        unique = "UNIQUE " if name == "ix_User_lower_email" else ""
        op.execute(f'CREATE {unique}INDEX "{name}" ON {definition}')


def downgrade() -> None:
    """Back to the Flask schema (timestamps as naive UTC); new users get an empty legacy password."""
    for name in INDEXES:
        op.execute(f'DROP INDEX "{name}"')
    for fk in FOREIGN_KEYS:
        if fk.legacy_rule == fk.rule:
            op.execute(f'ALTER TABLE "{fk.table}" RENAME CONSTRAINT "{fk.name}" TO "{fk.legacy_name}"')
        else:
            op.execute(f'ALTER TABLE "{fk.table}" DROP CONSTRAINT "{fk.name}"')
    op.execute('ALTER TABLE "User" DROP CONSTRAINT "uq_User_cognito_sub"')
    op.execute('ALTER TABLE "User" DROP CONSTRAINT "uq_User_email"')
    op.execute('CREATE UNIQUE INDEX "ix_User_email" ON "User" (email)')
    op.execute('ALTER TABLE "User" RENAME CONSTRAINT "uq_User_username" TO "User_username_key"')
    op.execute('ALTER TABLE "Role" RENAME CONSTRAINT "uq_Role_role" TO "Role_role_key"')
    for table, legacy_name in PRIMARY_KEYS.items():
        op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "pk_{table}" TO "{legacy_name}"')
    op.execute('ALTER TABLE "User" DROP COLUMN cognito_sub, DROP COLUMN tokens_valid_after')
    for table, columns in COLUMNS.items():
        clauses = []
        for column, (new_type, default) in columns.items():
            if new_type == TZ:
                clauses.append(f"ALTER COLUMN {column} TYPE timestamp USING {column} AT TIME ZONE 'UTC'")
            elif new_type is not None:
                clauses.append(f"ALTER COLUMN {column} TYPE varchar")
            if default is not None:
                clauses.append(f"ALTER COLUMN {column} DROP DEFAULT")
        op.execute(f'ALTER TABLE "{table}" ' + ", ".join(clauses))
    for fk in FOREIGN_KEYS:
        if fk.legacy_rule != fk.rule:
            op.execute(fk.sql(fk.legacy_name, fk.legacy_rule))
    for name, definition in LEGACY_INDEXES.items():
        op.execute(f'CREATE INDEX "{name}" ON {definition}')

    op.execute('ALTER TABLE legacy."Item_Stats_Current" SET SCHEMA public')
    op.execute('ALTER TABLE "User" ADD COLUMN password varchar')
    op.execute('UPDATE "User" u SET password = p.password FROM legacy.user_password p WHERE p.user_id = u.id')
    op.execute("UPDATE \"User\" SET password = '' WHERE password IS NULL")
    op.execute('ALTER TABLE "User" ALTER COLUMN password SET NOT NULL')
    op.execute("DROP TABLE legacy.user_password")
    op.execute("DROP SCHEMA legacy")
