"""Declarative base shared by every model, with constraint names Alembic can diff reliably."""

from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import DateTime, FetchedValue, MetaData, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


@dataclass(frozen=True, slots=True)
class FileField:
    """A column of S3 object keys: one key (a string) or a list of keys (JSON), under these prefixes.

    The prefixes declared on a model are the defaults; the FILE_PREFIXES setting (template
    parameters ItemImagesPrefix, ProfilePicturesPrefix) replaces them per deployment."""

    many: bool
    prefixes: tuple[str, ...]


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Server-side UTC default: the instant is absolute (timestamptz), so no client clock is trusted.
UTC_NOW = text("now()")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    # Engine-facing declarations, read by dataapi.registry; every model states its own.
    __server_managed__: ClassVar[tuple[str, ...]] = ("id", "row_version")
    """Columns the server owns: values sent by clients are ignored on create and update."""
    __caller_stamped__: ClassVar[tuple[str, ...]] = ()
    """Columns stamped with the caller's username on create, whatever the client sent."""
    __write_only__: ClassVar[tuple[str, ...]] = ()
    """Names accepted on writes but never stored, read or filtered (User.password goes to Cognito)."""
    __file_fields__: ClassVar[dict[str, FileField]] = {}
    """Columns holding S3 object keys: stored canonical, read back as presigned GET URLs."""

    # Every model's row version (migration 0004): 1 on insert, +1 on every update, kept by a
    # trigger whatever a statement sends. The ORM never writes it (server_onupdate) and reads it
    # back with the INSERT's RETURNING; after an UPDATE it is expired, loaded only if read.
    # Mapped after each model's own columns, as the migration appends it.
    row_version: Mapped[int] = mapped_column(server_default=text("1"), server_onupdate=FetchedValue())


TIMESTAMP = DateTime(timezone=True)
# Python None is SQL NULL (not the JSON literal null), so IS NULL filters mean what they say.
JSON_DOC = JSONB(none_as_null=True)
