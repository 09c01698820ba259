"""Rows of link tables (many-to-many) are inserted with ON CONFLICT DO NOTHING.

Two requests linking the same pair at once both see "not linked yet" and both insert; the second
must be "already linked", not a 409 on the link table's key. Every INSERT into a table that only
serves as a relationship's `secondary` gets the clause, whichever code path builds it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import Insert

from dataapi.models.base import Base


@lru_cache(maxsize=1)
def link_tables() -> frozenset[Table]:
    mapped = {mapper.local_table for mapper in Base.registry.mappers}
    return frozenset(
        rel.secondary
        for mapper in Base.registry.mappers
        for rel in mapper.relationships
        if isinstance(rel.secondary, Table) and rel.secondary not in mapped
    )


@compiles(Insert, "postgresql")
def _insert(insert: Insert, compiler: Any, **kw: Any) -> str:
    sql = compiler.visit_insert(insert, **kw)
    plain = insert._post_values_clause is None and not insert._returning
    if plain and insert.table in link_tables():
        sql += " ON CONFLICT DO NOTHING"
    return sql
