"""get_items: statements per request at several page sizes, and time against hand-written SQL.

The baseline is one hand-written query that builds the same JSON in PostgreSQL, run on the same
engine, with the rows joined into one JSON array: what a careful person would write by hand.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

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


def run(runs: int) -> list[tuple[str, str, str]]:
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
        ours, base = paired_medians(request(handler, PATH, body), baseline, runs)
        rows.append(
            (
                f"get_items page {per_page} (to-one + nested to-many)",
                f"data statements {counted.data} (limit 1 + 3 paths), overhead {counted.overhead} (limit 2)",
                f"median {ours:.1f} ms vs hand-written SQL {base:.1f} ms = {ours / base:.2f}x (target <= 2.0x)",
            )
        )
    return rows
