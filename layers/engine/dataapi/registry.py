"""What the engine knows about the models: columns and relationships, read from the mappers once.

The engine itself knows nothing of the domain; everything it may touch is listed here, so no
identifier from a request reaches SQL without being found in this registry first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    Time,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapper, RelationshipProperty

from dataapi.errors import UnknownField, UnknownModel
from dataapi.models.base import FileField


def _kind(column: Column) -> str:
    t = column.type
    for cls, kind in (
        (Boolean, "bool"),
        (Integer, "int"),
        (Float, "float"),
        (Numeric, "decimal"),
        (DateTime, "datetime"),
        (Date, "date"),
        (Time, "time"),
        (JSON, "json"),
        (Uuid, "uuid"),
        (String, "str"),
    ):
        if isinstance(t, cls):
            return kind
    return "other"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    key: str
    column: Column
    kind: str
    nullable: bool
    has_default: bool
    server_managed: bool
    caller_stamped: bool
    file: FileField | None  # S3 keys: canonical on write, presigned on read

    @property
    def aware(self) -> bool:
        return self.kind == "datetime" and bool(getattr(self.column.type, "timezone", False))


@dataclass(slots=True)
class RelationshipInfo:
    key: str
    parent: ModelInfo
    target_name: str
    uselist: bool
    # (parent column, child-or-secondary column) pairs joining the parent to the next table.
    pairs: tuple[tuple[Column, Column], ...]
    secondary: Table | None
    # (target column, secondary column) pairs, for many-to-many.
    secondary_pairs: tuple[tuple[Column, Column], ...]
    prop: RelationshipProperty
    registry: Registry = field(repr=False)

    @property
    def target(self) -> ModelInfo:
        return self.registry.models[self.target_name]


@dataclass(slots=True)
class ModelInfo:
    name: str
    cls: type
    mapper: Mapper
    table: Table
    pk: ColumnInfo
    columns: dict[str, ColumnInfo]
    relationships: dict[str, RelationshipInfo] = field(default_factory=dict)
    write_only: frozenset[str] = frozenset()

    def column(self, name: str, at: str) -> ColumnInfo:
        info = self.columns.get(name)
        if info is None:
            raise UnknownField(f"'{name}' is not a field of {self.name}.", at=at, detail=f"field={name}")
        return info


@dataclass(frozen=True, slots=True)
class Constraint:
    """A named constraint or unique index, as a database error names it (dataapi.db.sqlstate)."""

    table: str
    columns: tuple[str, ...]
    referred_table: str | None  # a foreign key's


class Registry:
    def __init__(
        self, base: type[DeclarativeBase], file_prefixes: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        """`file_prefixes` ("Model.field" -> prefixes) overrides what the models declare."""
        self.models: dict[str, ModelInfo] = {}
        overrides = dict(file_prefixes or {})
        for mapper in base.registry.mappers:
            self.models[mapper.class_.__name__] = self._model(mapper, overrides)
        if overrides:
            raise ValueError(f"FILE_PREFIXES names fields that hold no files: {sorted(overrides)}")
        for model in self.models.values():
            for prop in model.mapper.relationships:
                model.relationships[prop.key] = self._relationship(model, prop)
        self.constraints = _constraints(self.models.values())

    def model(self, name: str, at: str = "/model_name") -> ModelInfo:
        info = self.models.get(name) if isinstance(name, str) else None
        if info is None:
            raise UnknownModel(f"Unknown model '{name}'.", at=at, detail=f"model={name}")
        return info

    @staticmethod
    def _model(mapper: Mapper, overrides: dict[str, tuple[str, ...]]) -> ModelInfo:
        cls = mapper.class_
        managed = set(getattr(cls, "__server_managed__", ("id",)))
        stamped = set(getattr(cls, "__caller_stamped__", ()))
        files = {
            name: replace(spec, prefixes=overrides.pop(f"{cls.__name__}.{name}", spec.prefixes))
            for name, spec in getattr(cls, "__file_fields__", {}).items()
        }
        columns: dict[str, ColumnInfo] = {}
        for attr in mapper.column_attrs:
            col = cast(Column, attr.columns[0])
            columns[attr.key] = ColumnInfo(
                key=attr.key,
                column=col,
                kind=_kind(col),
                nullable=bool(col.nullable),
                has_default=(
                    col.server_default is not None
                    or col.default is not None
                    or (col.primary_key and col.autoincrement in (True, "auto"))
                ),
                server_managed=attr.key in managed,
                caller_stamped=attr.key in stamped,
                file=files.get(attr.key),
            )
        pk_cols = mapper.primary_key
        if len(pk_cols) != 1:
            raise TypeError(f"{cls.__name__}: the engine needs a single-column primary key")
        pk = next(c for c in columns.values() if c.column is pk_cols[0])
        write_only = frozenset(getattr(cls, "__write_only__", ()))
        return ModelInfo(cls.__name__, cls, mapper, mapper.local_table, pk, columns, {}, write_only)  # type: ignore[arg-type]

    def _relationship(self, model: ModelInfo, prop: RelationshipProperty) -> RelationshipInfo:
        if prop.secondary is not None:
            pairs = tuple(prop.synchronize_pairs)
            secondary_pairs = tuple(prop.secondary_synchronize_pairs or ())
        else:
            pairs = tuple(prop.local_remote_pairs or ())
            secondary_pairs = ()
        return RelationshipInfo(
            key=prop.key,
            parent=model,
            target_name=prop.mapper.class_.__name__,
            uselist=bool(prop.uselist),
            pairs=pairs,  # type: ignore[arg-type]
            secondary=prop.secondary,  # type: ignore[arg-type]
            secondary_pairs=secondary_pairs,  # type: ignore[arg-type]
            prop=prop,
            registry=self,
        )


def _constraints(models: Iterable[ModelInfo]) -> dict[str, Constraint]:
    """Constraint and unique index names over every model's table and link tables."""
    found: dict[str, Constraint] = {}
    for model in models:
        tables = [model.table] + [
            rel.secondary for rel in model.relationships.values() if rel.secondary is not None
        ]
        for table in tables:
            for constraint in table.constraints:
                if isinstance(constraint.name, str):
                    referred = getattr(constraint, "referred_table", None)
                    columns = tuple(c.name for c in getattr(constraint, "columns", ()))
                    found[constraint.name] = Constraint(
                        table.name, columns, None if referred is None else referred.name
                    )
            for index in table.indexes:
                if index.unique and isinstance(index.name, str):
                    # An expression index (lower(email)) lists no columns: name those it mentions.
                    names = tuple(c.name for c in index.columns) or tuple(
                        c.name
                        for c in table.columns
                        if any(re.search(rf"\b{re.escape(c.name)}\b", str(e)) for e in index.expressions)
                    )
                    found[index.name] = Constraint(table.name, names, None)
    return found


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    from dataapi.models import Base
    from dataapi.settings import get_settings

    return Registry(Base, get_settings().file_prefixes)
