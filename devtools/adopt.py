"""`make adopt-check`: what `make migrate` would do to the database named by DATABASE_URL, and
whether the Flask backend's database can be adopted, changing nothing (docs/adoption.md).

    DATABASE_URL=postgresql+pg8000://user:pw@host/db python -m devtools.adopt check

Prints the database's revision, the revisions the upgrade would run (and, from the Flask revision
24091ad94d4c, the conversion's steps), the pre-flight problems (table, column, row ids) and the row
count of every table. Read-only transaction throughout. Exit status 0: nothing to upgrade, or the
upgrade may run; 1: it would be refused (REFUSED and the problems are printed) or the check could
not start (no connection: a traceback); 2: usage. `make adopt-check` itself exits 0, or 2 whenever
this exits non-zero (make's status for a failed command).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from devtools.migrate import alembic_config

FLASK_REVISION = "24091ad94d4c"
CONVERSION = "0001"


@dataclass
class Report:
    revision: str | None
    head: str
    steps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"database revision: {self.revision or '(none)'}; head: {self.head}"]
        steps = [f"  {s}" if s.startswith(" ") else f"  - {s}" for s in self.steps]
        out += ["the upgrade would:", *steps] if steps else ["nothing to upgrade"]
        out += ["row counts:"] + [f"  {table:<32} {n:>10}" for table, n in self.counts.items()]
        if self.problems:
            out += ["REFUSED: the upgrade would stop before changing anything:"]
            out += [f"  - {p}" for p in self.problems]
        else:
            out += ["pre-flight: no problems found"]
        return out


def row_counts(conn: Connection) -> dict[str, int]:
    tables = conn.execute(
        text(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('public', 'legacy') AND table_type = 'BASE TABLE'"
            " AND table_name <> 'alembic_version' ORDER BY 1, 2"
        )
    ).all()
    return {f"{s}.{t}": conn.scalar(text(f'SELECT count(*) FROM {s}."{t}"')) for s, t in tables}


def _revision(conn: Connection) -> tuple[str | None, bool]:
    """(the stamped revision, whether the database holds a User table)."""
    has_version = conn.scalar(text("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
    revision = conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1")) if has_version else None
    has_user = bool(conn.scalar(text("""SELECT to_regclass('public."User"') IS NOT NULL""")))
    return revision, has_user


def _steps(scripts: ScriptDirectory, revision: str | None) -> list[Any]:
    """The revisions an upgrade runs, oldest first."""
    return list(reversed(list(scripts.iterate_revisions("heads", revision or "base"))))


def summary(doc: str | None) -> str:
    """A revision's description: the first paragraph of its docstring, whole, on one line."""
    paragraph = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def inspect_database(conn: Connection) -> Report:
    scripts = ScriptDirectory.from_config(alembic_config())
    revision, has_user = _revision(conn)
    report = Report(revision, scripts.get_current_head() or "", counts=row_counts(conn))
    if revision is None and has_user:
        report.problems.append(
            "tables exist but no alembic_version: if this is the Flask backend's schema, stamp it first"
            f" (.venv/bin/alembic stamp {FLASK_REVISION}); see docs/adoption.md"
        )
        return report
    try:
        steps = _steps(scripts, revision)
    except (CommandError, RevisionError):
        report.problems.append(f"alembic_version holds {revision!r}, a revision this project does not know")
        return report
    for script in steps:
        report.steps.append(f"{script.revision}: {summary(script.doc)}")
        if script.revision == CONVERSION and revision == FLASK_REVISION:
            report.steps += [f"    {line}" for line in script.module.describe()]
            report.problems += [str(p) for p in script.module.preflight(conn)]
    return report


def check(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            report = inspect_database(conn)
            conn.rollback()
    finally:
        engine.dispose()
    print("\n".join(report.lines()))
    return 1 if report.problems else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["check"] or len(args) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    from dataapi.settings import get_settings

    return check(args[1] if len(args) == 2 else get_settings().database_url)


if __name__ == "__main__":
    sys.exit(main())
