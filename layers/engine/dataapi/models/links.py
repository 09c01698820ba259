"""Link tables (a many-to-many relationship's `secondary`) whose inserts skip pairs already there.

Two requests linking the same pair at once both see "not linked yet" and both insert; the second
must be "already linked", not a 409 on the link table's key. The ORM writes a link table's rows
with the table's own `insert()` (its many-to-many dependency processor calls
`relationship.secondary.insert()`); a `LinkTable` answers it with a `LinkInsert`, which PostgreSQL
gets as `INSERT ... ON CONFLICT DO NOTHING`. No other statement changes: an INSERT built with
`sqlalchemy.insert(table)`, Alembic's, or one into any other table is compiled as written.

The clause is added to the compiled text rather than built with `on_conflict_do_nothing()`:
SQLAlchemy sends an executemany INSERT as multi-row INSERTs only when the statement has no
ON CONFLICT clause of its own, and a batch that links many rows should stay one statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.ext.compiler import compiles


class LinkInsert(Insert):
    inherit_cache = True  # cached as the Insert it is; the class is part of the cache key


@compiles(LinkInsert, "postgresql")
def _skip_existing_pairs(insert: LinkInsert, compiler: Any, **kw: Any) -> str:
    return compiler.visit_insert(insert, **kw) + " ON CONFLICT DO NOTHING"


class LinkTable(Table):
    inherit_cache = True  # compiles and caches as a Table does

    def insert(self) -> LinkInsert:
        return LinkInsert(self)
