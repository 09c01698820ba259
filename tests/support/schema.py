"""What differs between a database's schema and the models (alembic's autogenerate comparison)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from dataapi.models import Base

COMPARE_OPTS = {"compare_type": True, "compare_server_default": True}


def schema_diff(engine: Engine, metadata=Base.metadata) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=COMPARE_OPTS)
        return compare_metadata(context, metadata)
