"""`make adopt-check` (devtools.adopt): what the upgrade would do, and its refusals, changing nothing."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from devtools.adopt import check
from devtools.migrate import upgrade
from tests.fixtures.catalog import catalog, row_counts
from tests.fixtures.legacy import create_flask_database

pytestmark = pytest.mark.db

_names = itertools.count()


@pytest.fixture
def legacy(pg) -> Iterator[Engine]:
    engine = create_engine(create_flask_database(pg, f"adoptcheck{next(_names)}"), poolclass=NullPool)
    yield engine
    engine.dispose()


def url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run_check(engine: Engine, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    before = (catalog(engine), row_counts(engine))
    status = check(url(engine))
    assert (catalog(engine), row_counts(engine)) == before  # nothing changed, whatever it found
    return status, capsys.readouterr().out


def test_a_flask_database_gets_the_plan_the_row_counts_and_a_go(legacy, capsys):
    status, out = run_check(legacy, capsys)
    assert status == 0, out
    assert "database revision: 24091ad94d4c" in out
    assert "  - 0001: " in out and 'move "User".password to legacy.user_password' in out
    assert "  public.Item                               3" in out
    assert "pre-flight: no problems found" in out


def test_problems_are_reported_with_table_column_and_ids(legacy, capsys):
    with legacy.begin() as conn:
        conn.execute(text("""UPDATE "Dealer" SET phone = repeat('1', 41) WHERE id = 2"""))
        conn.execute(text("""INSERT INTO "Role" (id, role, key) VALUES (3, 'Intern', 'intern')"""))
    status, out = run_check(legacy, capsys)
    assert status == 1
    assert '"Dealer".phone: longer than 40 characters (ids 2)' in out
    assert '"Role".role: no grant in the access policy for Intern' in out and "(ids 3)" in out


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "UPDATE alembic_version SET version_num = 'feedfacecafe'",
            "'feedfacecafe', a revision this project",
        ),
        ("DROP TABLE alembic_version", "no alembic_version"),
    ],
)
def test_an_unknown_or_missing_revision_is_refused(legacy, capsys, statement, expected):
    with legacy.begin() as conn:
        conn.execute(text(statement))
    status, out = run_check(legacy, capsys)
    assert status == 1 and expected in out


def test_an_adopted_database_has_nothing_to_upgrade(legacy, capsys):
    upgrade(url(legacy))
    status, out = run_check(legacy, capsys)
    assert status == 0 and "nothing to upgrade" in out and "  legacy.user_password" in out


def test_each_step_is_described_by_its_whole_first_paragraph(legacy, capsys):
    """GIVEN a Flask database THEN each revision's line is its docstring's first paragraph, whole
    (0002's used to stop after "Dealer.purchased_count and")."""
    status, out = run_check(legacy, capsys)
    assert status == 0
    assert (
        "  - 0002: Counters maintained by PostgreSQL: Dealer.item_count, Dealer.purchased_count and"
        " Item_Notes_Subject.notes_counter.\n" in out
    )
    assert (
        "  - 0003: The identity generation: a token that changes with every change to who a caller is.\n"
        in out
    )


@pytest.mark.parametrize(
    ("statement", "expected"),
    [(None, 0), ("""UPDATE "Dealer" SET phone = repeat('1', 41) WHERE id = 2""", 1)],
    ids=["ready", "refused"],
)
def test_exit_status_as_documented(legacy, statement, expected):
    """`python -m devtools.adopt check`: 0 ready (or nothing to do), 1 refused, 2 usage
    (docs/adoption.md; `make adopt-check` reports any non-zero status as 2)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    if statement:
        with legacy.begin() as conn:
            conn.execute(text(statement))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'layers' / 'engine'}{os.pathsep}{root}"}

    def status(*args: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "devtools.adopt", *args], env=env, capture_output=True
        ).returncode

    assert status("check", url(legacy)) == expected
    assert status("nonsense") == 2
