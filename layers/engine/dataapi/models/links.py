"""Link tables (a many-to-many relationship's `secondary`) whose inserts skip pairs already there.

Two requests linking the same pair at once both see "not linked yet" and both insert; the second
must be "already linked", not a 409 on the link table's key. The ORM writes a link table's rows
with the table's own `insert()` (its many-to-many dependency processor calls
`relationship.secondary.insert()`); a `LinkTable` answers it with `INSERT ... ON CONFLICT DO
NOTHING`. No other statement changes: an INSERT built with `sqlalchemy.insert(table)`, Alembic's,
or one into any other table is compiled as written.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import Insert, insert


class LinkTable(Table):
    inherit_cache = True  # compiles and caches as a Table does

    def insert(self) -> Insert:  # type: ignore[override]
        return insert(self).on_conflict_do_nothing()
