"""Run the Alembic migrations from Python, for the tests, the local stack and `make migrate`.

Why not just the `alembic` CLI: the tests and the local stack start throwaway PostgreSQL clusters
and must migrate a URL they only know at run time, from any working directory, without touching
the environment. `upgrade(url)` loads the repository's alembic.ini and hands the URL to
migrations/env.py through `config.attributes`; `python -m devtools.migrate` upgrades DATABASE_URL.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = ROOT / "alembic.ini"


def alembic_config(url: str | None = None) -> Config:
    """The repository's Alembic config; `url` (if given) wins over DATABASE_URL in env.py."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["configure_logger"] = False  # the caller owns logging
    if url is not None:
        config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (default: the latest)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str] | None = None) -> None:
    """Upgrade the database named by DATABASE_URL (or the settings' default) to head."""
    args = sys.argv[1:] if argv is None else argv
    revision = args[0] if args else "head"
    logging.basicConfig(level=logging.INFO, format="%(levelname)-5.5s [%(name)s] %(message)s")
    sys.path.insert(0, str(ROOT / "layers" / "engine"))
    from dataapi.settings import get_settings

    upgrade(get_settings().database_url, revision)


if __name__ == "__main__":
    main()
