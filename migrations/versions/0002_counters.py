"""Counters maintained by PostgreSQL: Dealer.item_count, Dealer.purchased_count and
Item_Notes_Subject.notes_counter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Definitions (those of the old backend, whose triggers were never enabled):
- a set count per item: `properties.set_of`, else `properties."Set Of"` (a JSON number or a
  numeric string), else 1;
- `Dealer.item_count`: the sum of the set counts of the dealer's items;
- `Dealer.purchased_count`: the sum of `purchased_price` (NULL counts 0) times the set count;
- `Item_Notes_Subject.notes_counter`: the Items_Notes links whose note has that subject.

How:
- AFTER ... FOR EACH STATEMENT triggers with transition tables on Item, Items_Notes and Item_Note
  turn whatever a statement changed (one row or a set-based UPDATE/DELETE) into one delta per
  counter row, and apply it atomically (`x = x + delta`, rows locked in id order), so concurrent
  writers add up instead of overwriting each other and never deadlock on each other's counters.
- Deleting a note deletes its links by cascade after the note is gone, so a link delete cannot
  find the note's subject any more: a BEFORE DELETE row trigger on Item_Note takes the note's
  links off its subject while they are still there, and the link trigger ignores links whose note
  no longer exists.
- Counters belong to the database: an inserted Dealer or subject starts at 0 (nothing can refer
  to a row not yet inserted), and an UPDATE that is not made by these triggers keeps the stored
  counters (clients cannot overwrite them; the API also treats them as server-managed).
- Existing rows are recounted (backfill) with the tables locked against writes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("Dealer", "Item", "Item_Note", "Items_Notes", "Item_Notes_Subject")

SET_COUNT = r"""
CREATE FUNCTION dataapi_set_count(properties jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(
        (SELECT floor((v #>> '{}')::numeric)::bigint
           FROM (VALUES (properties -> 'set_of'), (properties -> 'Set Of')) AS c(v)
          WHERE jsonb_typeof(v) = 'number'
             OR (jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\s*[0-9]{1,9}(\.[0-9]+)?\s*$')
          LIMIT 1),
        1)
$$;
"""

# Apply deltas: rows locked in id order, then one atomic increment each.
ADD_TO_DEALERS = """
CREATE FUNCTION dataapi_add_to_dealers(p_ids integer[], p_items bigint[], p_prices bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_ids IS NULL THEN RETURN; END IF;
    PERFORM 1 FROM "Dealer" WHERE id = ANY (p_ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE "Dealer" AS d
       SET item_count = COALESCE(d.item_count, 0) + u.items,
           purchased_count = COALESCE(d.purchased_count, 0) + u.price
      FROM unnest(p_ids, p_items, p_prices) AS u(id, items, price)
     WHERE d.id = u.id;
END $$;
"""

ADD_TO_SUBJECTS = """
CREATE FUNCTION dataapi_add_to_subjects(p_ids integer[], p_deltas bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_ids IS NULL THEN RETURN; END IF;
    PERFORM 1 FROM "Item_Notes_Subject" WHERE id = ANY (p_ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE "Item_Notes_Subject" AS s
       SET notes_counter = COALESCE(s.notes_counter, 0) + u.delta
      FROM unnest(p_ids, p_deltas) AS u(id, delta)
     WHERE s.id = u.id;
END $$;
"""

# Per statement on Item: + the new rows, - the old rows, summed per dealer.
_ITEM_ROWS = (
    "SELECT dealer_id, {sign} dataapi_set_count(properties) AS items,"
    " {sign} COALESCE(purchased_price, 0)::bigint * dataapi_set_count(properties) AS price"
    " FROM {table} WHERE dealer_id IS NOT NULL"
)
_ITEM_DELTA = """
    SELECT array_agg(dealer_id ORDER BY dealer_id), array_agg(items ORDER BY dealer_id),
           array_agg(price ORDER BY dealer_id)
      INTO v_ids, v_items, v_prices
      FROM (SELECT dealer_id, sum(items) AS items, sum(price) AS price
              FROM ({rows}) AS changed
             GROUP BY dealer_id
            HAVING sum(items) <> 0 OR sum(price) <> 0) AS delta;
"""


def _statement_function(name: str, declare: str, delta: str, rows: str, apply: str) -> str:
    """A trigger function for AFTER INSERT, UPDATE and DELETE statement triggers: `rows` (with
    {sign} and {table}) over the transition tables, summed by `delta`, handed to `apply`."""
    new, old = rows.format(sign="", table="new_rows"), rows.format(sign="-", table="old_rows")
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
{declare}
BEGIN
    IF TG_OP = 'INSERT' THEN
        {delta.format(rows=new)}
    ELSIF TG_OP = 'DELETE' THEN
        {delta.format(rows=old)}
    ELSE
        {delta.format(rows=new + " UNION ALL " + old)}
    END IF;
    {apply}
    RETURN NULL;
END $$;
"""


ITEM_COUNTERS = _statement_function(
    "dataapi_item_counters",
    "    v_ids integer[];\n    v_items bigint[];\n    v_prices bigint[];",
    _ITEM_DELTA,
    _ITEM_ROWS,
    "PERFORM dataapi_add_to_dealers(v_ids, v_items, v_prices);",
)

# Per statement on Items_Notes: + new links, - old links, per subject of the (existing) note.
_LINK_ROWS = (
    'SELECT n.subject_id, {sign}1 AS delta FROM {table} AS l JOIN "Item_Note" AS n ON n.id = l.note_id'
    " WHERE n.subject_id IS NOT NULL"
)
_SUBJECT_DELTA = """
    SELECT array_agg(subject_id ORDER BY subject_id), array_agg(delta ORDER BY subject_id)
      INTO v_ids, v_deltas
      FROM (SELECT subject_id, sum(delta) AS delta FROM ({rows}) AS changed
             GROUP BY subject_id HAVING sum(delta) <> 0) AS per_subject;
"""
SUBJECT_DECLARE = "    v_ids integer[];\n    v_deltas bigint[];"
LINK_COUNTERS = _statement_function(
    "dataapi_link_counters",
    SUBJECT_DECLARE,
    _SUBJECT_DELTA,
    _LINK_ROWS,
    "PERFORM dataapi_add_to_subjects(v_ids, v_deltas);",
)

# Per statement on Item_Note: a note whose subject changed moves its links to the new subject.
_MOVED = (
    'SELECT {side}.subject_id, {sign}(SELECT count(*) FROM "Items_Notes" AS l WHERE l.note_id = o.id) AS delta'
    " FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id"
    " WHERE o.subject_id IS DISTINCT FROM n.subject_id AND {side}.subject_id IS NOT NULL"
)
NOTE_SUBJECT_COUNTERS = f"""
CREATE FUNCTION dataapi_note_subject_counters() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_ids integer[];
    v_deltas bigint[];
BEGIN
    {_SUBJECT_DELTA.format(rows=_MOVED.format(side="n", sign="") + " UNION ALL " + _MOVED.format(side="o", sign="-"))}
    PERFORM dataapi_add_to_subjects(v_ids, v_deltas);
    RETURN NULL;
END $$;
"""

NOTE_BEFORE_DELETE = """
CREATE FUNCTION dataapi_note_before_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    links bigint;
BEGIN
    IF OLD.subject_id IS NOT NULL THEN
        SELECT count(*) INTO links FROM "Items_Notes" WHERE note_id = OLD.id;
        IF links > 0 THEN
            PERFORM dataapi_add_to_subjects(ARRAY[OLD.subject_id], ARRAY[-links]);
        END IF;
    END IF;
    RETURN OLD;
END $$;
"""

# Counters belong to the database: new rows start at 0, and only these triggers change them.
ZERO_DEALER = """
CREATE FUNCTION dataapi_dealer_counters_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.item_count := 0;
        NEW.purchased_count := 0;
    ELSIF pg_trigger_depth() = 1 THEN
        NEW.item_count := OLD.item_count;
        NEW.purchased_count := OLD.purchased_count;
    END IF;
    RETURN NEW;
END $$;
"""
ZERO_SUBJECT = """
CREATE FUNCTION dataapi_subject_counter_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.notes_counter := 0;
    ELSIF pg_trigger_depth() = 1 THEN
        NEW.notes_counter := OLD.notes_counter;
    END IF;
    RETURN NEW;
END $$;
"""

BACKFILL = [
    """
    UPDATE "Dealer" AS d
       SET item_count = COALESCE(c.items, 0), purchased_count = COALESCE(c.price, 0)
      FROM (SELECT d2.id,
                   -- A dealer without items joins one row of NULLs: it counts no set.
                   sum(dataapi_set_count(i.properties)) FILTER (WHERE i.id IS NOT NULL) AS items,
                   sum(COALESCE(i.purchased_price, 0)::bigint * dataapi_set_count(i.properties))
                       FILTER (WHERE i.id IS NOT NULL) AS price
              FROM "Dealer" AS d2 LEFT JOIN "Item" AS i ON i.dealer_id = d2.id
             GROUP BY d2.id) AS c
     WHERE c.id = d.id
    """,
    """
    UPDATE "Item_Notes_Subject" AS s
       SET notes_counter = (SELECT count(*) FROM "Items_Notes" AS l JOIN "Item_Note" AS n ON n.id = l.note_id
                             WHERE n.subject_id = s.id)
    """,
]

FUNCTIONS = (
    ("dataapi_set_count(jsonb)", SET_COUNT),
    ("dataapi_add_to_dealers(integer[], bigint[], bigint[])", ADD_TO_DEALERS),
    ("dataapi_add_to_subjects(integer[], bigint[])", ADD_TO_SUBJECTS),
    ("dataapi_item_counters()", ITEM_COUNTERS),
    ("dataapi_link_counters()", LINK_COUNTERS),
    ("dataapi_note_subject_counters()", NOTE_SUBJECT_COUNTERS),
    ("dataapi_note_before_delete()", NOTE_BEFORE_DELETE),
    ("dataapi_dealer_counters_guard()", ZERO_DEALER),
    ("dataapi_subject_counter_guard()", ZERO_SUBJECT),
)


def _statement_triggers(table: str, function: str, events: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """One trigger per event: PostgreSQL allows transition tables only on single-event triggers."""
    referencing = {
        "INSERT": "REFERENCING NEW TABLE AS new_rows",
        "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "DELETE": "REFERENCING OLD TABLE AS old_rows",
    }
    return [
        (
            f"{table}_counters_{event.lower()}",
            table,
            f'AFTER {event} ON "{table}" {referencing[event]} FOR EACH STATEMENT EXECUTE FUNCTION {function}()',
        )
        for event in events
    ]


TRIGGERS = [
    *_statement_triggers("Item", "dataapi_item_counters", ("INSERT", "UPDATE", "DELETE")),
    *_statement_triggers("Items_Notes", "dataapi_link_counters", ("INSERT", "UPDATE", "DELETE")),
    *_statement_triggers("Item_Note", "dataapi_note_subject_counters", ("UPDATE",)),
    (
        "Item_Note_counters_before_delete",
        "Item_Note",
        'BEFORE DELETE ON "Item_Note" FOR EACH ROW EXECUTE FUNCTION dataapi_note_before_delete()',
    ),
    (
        "Dealer_counters_guard",
        "Dealer",
        'BEFORE INSERT OR UPDATE ON "Dealer" FOR EACH ROW EXECUTE FUNCTION dataapi_dealer_counters_guard()',
    ),
    (
        "Item_Notes_Subject_counter_guard",
        "Item_Notes_Subject",
        'BEFORE INSERT OR UPDATE ON "Item_Notes_Subject" FOR EACH ROW'
        " EXECUTE FUNCTION dataapi_subject_counter_guard()",
    ),
]


def upgrade() -> None:
    # No writes while the counters are recounted and the triggers are put in place.
    op.execute("LOCK TABLE " + ", ".join(f'"{t}"' for t in TABLES) + " IN SHARE ROW EXCLUSIVE MODE")
    for _name, sql in FUNCTIONS:
        op.execute(sql)
    for sql in BACKFILL:
        op.execute(sql)
    for name, _table, spec in TRIGGERS:
        op.execute(f'CREATE TRIGGER "{name}" {spec}')


def downgrade() -> None:
    for name, table, _spec in TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
    for signature, _sql in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
