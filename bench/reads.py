"""get_items: statements per request at several page sizes, and time against hand-written SQL.

The baseline is one hand-written query that builds the same JSON in PostgreSQL, run on the same
engine, with the rows joined into one JSON array: what a careful person would write by hand.
Pages of `dataapi.reads.ONE_ROW_FROM` rows or more are fetched as one row; those pages are also
timed as rows (the form before), and both forms of the page statement on one connection.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import text

from bench.harness import Statements, invoke, paired_medians, request

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/schemes/get_items"
FIELDS = [
    "id",
    "article_number",
    "state",
    "created_at",
    {"dealer": ["dealer_name", "id"]},
    {"notes": ["note_content", {"subject": ["subject"]}]},
]
PLAIN = ["id", "article_number", "state", "created_at"]

DATA = """
INSERT INTO "Dealer"(dealer_name, dealer_type) SELECT 'Dealer ' || g, 'Shop' FROM generate_series(1, 100) g;
INSERT INTO "Item_Notes_Subject"(subject) SELECT 'Subject ' || g FROM generate_series(1, 20) g;
INSERT INTO "Item"(article_number, state, category, purchased_price, properties, created_at, dealer_id)
  SELECT '25-' || lpad(g::text, 6, '0'), (ARRAY['In-Stock', 'In-Transit', 'Sold'])[1 + g % 3], 'Chair',
         g % 5000, jsonb_build_object('set_of', g % 12), now() - make_interval(mins => g),
         CASE WHEN g % 10 = 0 THEN NULL ELSE 1 + g % 100 END
  FROM generate_series(1, 3000) g;
INSERT INTO "Item_Note"(note_content, subject_id)
  SELECT 'Note ' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 1 + g % 20 END FROM generate_series(1, 4500) g;
INSERT INTO "Items_Notes"(item_id, note_id) SELECT 1 + (g % 3000), g FROM generate_series(1, 4500) g;
ANALYZE;
"""

BASELINE = """
SELECT json_build_object(
  'id', i.id, 'article_number', i.article_number, 'state', i.state,
  'created_at', to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'dealer', (SELECT json_build_object('dealer_name', d.dealer_name, 'id', d.id) FROM "Dealer" d WHERE d.id = i.dealer_id),
  'notes', coalesce((SELECT json_agg(json_build_object('note_content', n.note_content,
                       'subject', (SELECT json_build_object('subject', s.subject) FROM "Item_Notes_Subject" s
                                   WHERE s.id = n.subject_id)) ORDER BY n.id)
                     FROM "Item_Note" n JOIN "Items_Notes" l ON l.note_id = n.id WHERE l.item_id = i.id), '[]'::json)
)::text
FROM "Item" i ORDER BY i.id DESC LIMIT :n
"""


def load_handler(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_fn_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.lambda_handler


class Timed(NamedTuple):
    wall: float  # median ms
    cpu: float  # this process's CPU time, mean ms a call: what a Lambda function's share of a core pays


def interleaved(fns: list[Callable[[], object]], runs: int) -> list[Timed]:
    """Each function timed, run in turn so that machine noise hits all alike."""
    for _ in range(3):
        for fn in fns:
            fn()
    walls: list[list[float]] = [[] for _ in fns]
    cpus = [0.0 for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            walls[i].append(time.perf_counter() - start)
            cpus[i] += time.process_time() - cpu
    return [Timed(statistics.median(w) * 1000, c / runs * 1000) for w, c in zip(walls, cpus, strict=True)]


@contextmanager
def fetched_as_rows() -> Iterator[None]:
    """Every page fetched as rows, as before pages were fetched as one row (a statement shape of
    each form is kept apart: the form is part of the shape)."""
    from dataapi import reads

    saved = reads.ONE_ROW_FROM
    reads.ONE_ROW_FROM = sys.maxsize
    try:
        yield
    finally:
        reads.ONE_ROW_FROM = saved


def one_connection(runs: int) -> list[tuple[str, str, str]]:
    """The page statement sent as rows and as one row on one connection, in one transaction: what
    the form costs the database and the driver, without the handler around it."""
    from dataapi import reads
    from dataapi.db.engine import read_transaction
    from dataapi.query.execute import compile_for, fetch
    from dataapi.query.select import one_row
    from dataapi.registry import default_registry
    from dataapi.settings import get_settings

    out = []
    with read_transaction() as connection:
        for per_page in (10, 50, 100, 1000):
            figures = []
            for fields in (PLAIN, FIELDS):
                raw = {"model_name": "Item", "requested_data": fields, "per_page": per_page}
                valid = reads.validate(raw, default_registry(), get_settings(), datetime.now(UTC))
                query = reads.compile_read(valid, valid.filters, connection.dialect, reuse=False).query
                as_rows = compile_for(query.statement, connection.dialect)
                as_one = compile_for(one_row(query.statement, query.keys), connection.dialect)
                a, b = fetch(connection, as_rows), fetch(connection, as_one, one_row=True)
                assert (a.body, a.size, a.last_keys) == (b.body, b.size, b.last_keys), "both forms agree"
                figures.append(
                    interleaved(
                        [
                            lambda c=as_rows: fetch(connection, c),
                            lambda c=as_one: fetch(connection, c, one_row=True),
                        ],
                        runs,
                    )
                )
            (plain_rows, plain_one), (many_rows, many_one) = figures
            out.append(
                (
                    f"fetch a page of {per_page} on one connection: rows vs one row",
                    f"plain columns {plain_one.wall / plain_rows.wall:.2f}x "
                    f"({plain_rows.wall:.2f} vs {plain_one.wall:.2f} ms; "
                    f"client CPU {plain_rows.cpu:.2f} vs {plain_one.cpu:.2f} ms)",
                    f"to-one + nested to-many {many_one.wall / many_rows.wall:.2f}x "
                    f"({many_rows.wall:.2f} vs {many_one.wall:.2f} ms; "
                    f"client CPU {many_rows.cpu:.2f} vs {many_one.cpu:.2f} ms)",
                )
            )
    return out


def run(runs: int) -> list[tuple[str, str, str]]:
    from dataapi import reads
    from dataapi.db.engine import get_engine

    engine = get_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql(DATA)
    handler = load_handler("get_items")
    rows: list[tuple[str, str, str]] = []
    for per_page in (10, 100, 1000):
        body = {"model_name": "Item", "requested_data": FIELDS, "per_page": per_page}
        with Statements() as counted:
            response = invoke(handler, PATH, body)
        got = json.loads(response["body"])["body"]
        assert len(got) == per_page, "the bench data set is smaller than the page"

        def baseline(n: int = per_page) -> str:
            with engine.connect() as conn:
                result = conn.execute(text(BASELINE), {"n": n}).scalars().all()
            return "[" + ",".join(result) + "]"

        assert json.loads(baseline()) == got, "the baseline must build the same JSON"
        statements = (
            f"data statements {counted.data} (limit 1 + 3 paths), overhead {counted.overhead} (limit 2)"
        )
        if per_page < reads.ONE_ROW_FROM:
            ours, base = paired_medians(request(handler, PATH, body), baseline, runs)
            speed = f"median {ours:.1f} ms vs hand-written SQL {base:.1f} ms = {ours / base:.2f}x (target <= 2.0x)"
        else:
            with fetched_as_rows():
                before = json.loads(invoke(handler, PATH, body)["body"])
            after = json.loads(response["body"])
            del before["request_id"], after["request_id"]  # each request's own
            assert before == after, "both forms answer alike"
            send_as_rows = request(handler, PATH, body)

            def as_rows(send: Callable[[], object] = send_as_rows) -> None:
                with fetched_as_rows():
                    send()

            ours, old, base = (
                t.wall for t in interleaved([request(handler, PATH, body), as_rows, baseline], runs)
            )
            speed = (
                f"median {ours:.1f} ms (one row) vs hand-written SQL {base:.1f} ms = {ours / base:.2f}x "
                f"(target <= {'1.0' if per_page >= 1000 else '2.0'}x); as rows, before: {old:.1f} ms = {old / base:.2f}x"
            )
        rows.append((f"get_items page {per_page} (to-one + nested to-many)", statements, speed))
    return rows + one_connection(runs)
