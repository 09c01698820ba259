"""Adopting the Flask backend's database (docs/adoption.md): one migration history for new and
adopted databases.

- the root revision builds exactly the Flask backend's schema (its pg_dump, tests/fixtures);
- a database at that revision, holding rows in every legacy form (tests/fixtures/legacy.py),
  upgrades to head with the catalog of a freshly migrated database, which is also the catalog the
  models create; row counts per table are equal before and after; `alembic check` stays clean;
- the pre-flight refuses what the conversion would fail on, naming table, column and row ids, and
  nothing changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from dataapi.models import Base
from devtools.migrate import alembic_config, upgrade
from tests.fixtures.catalog import catalog, differences, row_counts
from tests.fixtures.legacy import PBKDF2, create_flask_database
from tests.support.schema import schema_diff

pytestmark = pytest.mark.db

_names = itertools.count()
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def engine_for(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def version(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT version_num FROM alembic_version")))


@pytest.fixture
def legacy(pg) -> Iterator[Engine]:
    """A fresh copy of the Flask backend's database, with legacy rows, at 24091ad94d4c."""
    engine = engine_for(create_flask_database(pg, f"flask{next(_names)}"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def adopted(pg) -> Iterator[tuple[Engine, dict[str, int]]]:
    """The legacy database upgraded to head, with its row counts from before."""
    engine = engine_for(create_flask_database(pg, "adopted"))
    before = row_counts(engine)
    upgrade(engine.url.render_as_string(hide_password=False))
    yield engine, before
    engine.dispose()


@pytest.fixture(scope="module")
def fresh(pg, migrated_db) -> Iterator[Engine]:
    engine = engine_for(migrated_db)
    yield engine
    engine.dispose()


def test_the_root_revision_builds_exactly_the_flask_backends_schema(pg):
    dumped = engine_for(create_flask_database(pg, "flask_dump", rows=False))
    pg.sql("CREATE DATABASE flask_root")
    built = engine_for(pg.url("flask_root"))
    upgrade(built.url.render_as_string(hide_password=False), "24091ad94d4c")

    assert differences(catalog(dumped), catalog(built)) == []
    assert version(dumped) == version(built) == ["24091ad94d4c"]
    dumped.dispose()
    built.dispose()


def test_an_adopted_database_has_the_catalog_of_a_fresh_one(adopted, fresh):
    engine, _ = adopted
    assert version(engine) == version(fresh) == [HEAD]
    assert differences(catalog(engine), catalog(fresh)) == []


def test_the_migrated_public_schema_is_the_one_the_models_create(pg, fresh):
    """An independent reference: the models' own DDL (create_all) on an empty database."""
    pg.sql("CREATE DATABASE from_models")
    models = engine_for(pg.url("from_models"))
    Base.metadata.create_all(models)
    found = differences(catalog(models, ("public",)), catalog(fresh, ("public",)))
    models.dispose()
    # Later revisions may add database objects the models do not declare (triggers, functions):
    # tables, columns, constraints and indexes must still agree.
    assert found == []


def test_an_adopted_database_does_not_drift_from_the_models(adopted):
    engine, _ = adopted
    assert schema_diff(engine) == []
    command.check(alembic_config(engine.url.render_as_string(hide_password=False)))


def test_row_counts_are_equal_before_and_after_and_nothing_holding_data_was_dropped(adopted):
    engine, before = adopted
    after = row_counts(engine)
    moved = {"public.Item_Stats_Current": "legacy.Item_Stats_Current"}
    assert {moved.get(table, table): n for table, n in before.items()} == {
        table: n for table, n in after.items() if table != "legacy.user_password"
    }
    assert after["legacy.user_password"] == before["public.User"] == 3
    assert min(before.values()) >= 1  # every table held rows


def test_legacy_values_are_converted_as_documented(adopted):
    engine, _ = adopted
    with engine.connect() as conn:
        created = dict(conn.execute(text('SELECT id, created_at FROM "Dealer" ORDER BY id')).all())
        passwords = dict(conn.execute(text("SELECT user_id, password FROM legacy.user_password")).all())
        nulls = conn.execute(
            text(
                """SELECT (SELECT count(*) FROM "Item" WHERE issues IS NULL AND id = 1),"""
                """ (SELECT count(*) FROM "Dealer" WHERE coordinates IS NULL AND id = 2),"""
                """ (SELECT count(*) FROM "Role" WHERE metafields IS NULL),"""
                """ (SELECT count(*) FROM "Item" WHERE images = 'null'::jsonb OR metafields = 'null'::jsonb)"""
            )
        ).one()
        images = conn.scalar(text('SELECT images FROM "Item" WHERE id = 1'))
        new_id = conn.scalar(text("""INSERT INTO "Item" (article_number) VALUES ('A-004') RETURNING id"""))
        defaults = conn.execute(
            text("""INSERT INTO "Dealer" (dealer_name) VALUES ('D') RETURNING item_count, purchased_count""")
        ).one()
        conn.rollback()
    # Naive values were UTC: the same wall-clock time, now an absolute instant.
    assert created == {
        1: datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        2: datetime(2024, 6, 30, 23, 30, tzinfo=UTC),
    }
    assert passwords == {1: "abcdefg", 2: PBKDF2, 3: passwords[3]} and passwords[3].startswith("scrypt:")
    assert tuple(nulls) == (1, 1, 2, 0)
    assert images[0].startswith("https://beyoappv5.s3.amazonaws.com/") and len(images) == 2
    assert new_id == 4  # the sequences go on where the Flask backend left them
    assert tuple(defaults) == (0, 0)


def test_adopted_rows_start_at_row_version_1_and_count_their_updates(adopted):
    """Migration 0004 on the Flask backend's rows: every model's row holds version 1 (the
    counters' backfill of 0002 ran before the column existed), and the trigger counts from there."""
    engine, _ = adopted
    tables = (
        "User",
        "Role",
        "Dealer",
        "Dealer_History",
        "Dealer_Notes",
        "Item",
        "Item_History",
        "Item_Note",
        "Item_Notes_Subject",
    )
    with engine.connect() as conn:
        found = {t: conn.scalar(text(f'SELECT array_agg(DISTINCT row_version) FROM "{t}"')) for t in tables}
        bumped = conn.scalar(text('UPDATE "Item" SET location = location WHERE id = 1 RETURNING row_version'))
        conn.rollback()
    assert found == {table: [1] for table in tables}
    assert bumped == 2


# --- pre-flight ------------------------------------------------------------------------------------

REFUSALS = {
    "too long": (
        """UPDATE "Item" SET article_number = repeat('x', 121) WHERE id IN (1, 3)""",
        '"Item".article_number: longer than 120 characters (ids 1, 3)',
    ),
    "case duplicates": (
        """INSERT INTO "User" (id, username, email, phone, password)"""
        """ VALUES (4, 'admin2', 'ADMIN@example.com', '-', 'x')""",
        '"User".email: e-mails equal but for case (ids 1, 4)',
    ),
    "unknown role": (
        """INSERT INTO "Role" (id, role, key) VALUES (3, 'Intern', 'intern')""",
        '"Role".role: no grant in the access policy for Intern',
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_the_preflight_refuses_what_would_fail_and_nothing_changes(legacy, case):
    statement, expected = REFUSALS[case]
    with legacy.begin() as conn:
        conn.execute(text(statement))
    before_catalog, before_counts = catalog(legacy), row_counts(legacy)

    with pytest.raises(Exception, match="nothing changed") as refused:
        upgrade(legacy.url.render_as_string(hide_password=False))

    assert expected in str(refused.value)
    assert type(refused.value).__name__ == "AdoptionRefused"
    assert version(legacy) == ["24091ad94d4c"]
    assert differences(before_catalog, catalog(legacy)) == []
    assert row_counts(legacy) == before_counts


def test_the_preflight_reports_every_problem_at_once(legacy):
    with legacy.begin() as conn:
        for statement, _ in REFUSALS.values():
            conn.execute(text(statement))
    with pytest.raises(Exception, match="nothing changed") as refused:
        upgrade(legacy.url.render_as_string(hide_password=False))
    assert all(expected in str(refused.value) for _, expected in REFUSALS.values())


def test_adopted_counters_count_nothing_for_dealers_without_items_and_subjects_without_notes(legacy):
    """GIVEN a Flask database holding a dealer without items and a subject without notes (their
    counters as the Flask backend left them) WHEN it is upgraded to head THEN both count 0, and the
    dealers and subjects with rows keep their recounted values."""
    with legacy.begin() as conn:
        conn.execute(
            text("""INSERT INTO "Dealer" (id, dealer_name, item_count, purchased_count)
                             VALUES (3, 'Dealer C', NULL, NULL), (4, 'Dealer D', 7, 700)""")
        )
        conn.execute(
            text("""INSERT INTO "Item_Notes_Subject" (id, subject, notes_counter)
                             VALUES (3, 'Unused', 4)""")
        )
    upgrade(legacy.url.render_as_string(hide_password=False))

    with legacy.connect() as conn:
        dealers = conn.execute(text('SELECT id, item_count, purchased_count FROM "Dealer" ORDER BY id')).all()
        subjects = conn.execute(text('SELECT id, notes_counter FROM "Item_Notes_Subject" ORDER BY id')).all()
    assert [tuple(d) for d in dealers] == [(1, 4, 4800), (2, 2, 1000), (3, 0, 0), (4, 0, 0)]
    assert [tuple(s) for s in subjects] == [(1, 1), (2, 2), (3, 0)]
