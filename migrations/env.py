"""Alembic environment: the layer's models are the target, the URL comes from the caller.

URL order: `config.attributes["url"]` (set by devtools.migrate and the tests), else the layer's
settings (DATABASE_URL). A caller may instead hand over an open `config.attributes["connection"]`
(for example one from dataapi.db.engine's engine, which knows how to reach RDS Proxy with IAM auth).
"""

from __future__ import annotations

import sys
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import Connection, create_engine, pool

# The models live in the Lambda layer, which is not an installed package.
_ENGINE_LAYER = Path(__file__).resolve().parent.parent / "layers" / "engine"
if str(_ENGINE_LAYER) not in sys.path:
    sys.path.insert(0, str(_ENGINE_LAYER))

from dataapi.models import Base  # noqa: E402
from dataapi.settings import get_settings  # noqa: E402

config = context.config

# Programmatic callers (tests, devtools.migrate) keep their own logging set-up.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

COMPARE = {
    "compare_type": True,
    # PostgreSQL reflects defaults as text (`now()`, `0`), which compares exactly with the models'
    # server_default=text(...): no false positives with this model set (test_schema checks it).
    "compare_server_default": True,
}


def database_url() -> str:
    return config.attributes.get("url") or get_settings().database_url


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: emit the SQL instead of running it."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **COMPARE,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, **COMPARE)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
