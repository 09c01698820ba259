"""Writes: a 1,000-row create against one hand-written multi-row INSERT, and the statements of a
1,500-row all_matches update (set-based: a constant handful whatever the row count).
"""

from __future__ import annotations

from typing import Any

from bench.harness import Statements, invoke, paired_medians, request
from bench.reads import load_handler

COLUMNS = ("article_number", "state", "category", "purchased_price", "properties")


def _items(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "article_number": f"{tag}-{i:05d}",
            "state": "In-Stock",
            "category": "Chair",
            "purchased_price": i,
            "properties": {"set_of": i % 8},
        }
        for i in range(n)
    ]


def run(runs: int) -> list[tuple[str, str, str]]:
    from dataapi.db.engine import get_engine

    engine = get_engine()
    create = load_handler("create_items")
    update = load_handler("update_items")
    rows = _items(1000, "bench")
    body = {"model_name": "Item", "object_values": rows, "reference": "Bench"}
    with Statements() as counted:
        invoke(create, "/api/schemes/create_items", body)

    placeholders = ",".join(f"(:a{i}, :s{i}, :c{i}, :p{i}, CAST(:j{i} AS jsonb))" for i in range(len(rows)))
    sql = f'INSERT INTO "Item" ({", ".join(COLUMNS)}) VALUES {placeholders} RETURNING id'

    def baseline() -> None:
        import json

        from sqlalchemy import text

        params: dict[str, Any] = {}
        for i, r in enumerate(rows):
            params.update(
                {
                    f"a{i}": r["article_number"],
                    f"s{i}": r["state"],
                    f"c{i}": r["category"],
                    f"p{i}": r["purchased_price"],
                    f"j{i}": json.dumps(r["properties"]),
                }
            )
        with engine.begin() as conn:
            conn.execute(text(sql), params).all()

    ours, base = paired_medians(
        request(create, "/api/schemes/create_items", body), baseline, max(5, runs // 2)
    )
    out = [
        (
            "create_items 1,000 items, one request",
            f"statements: {counted.data} data + {counted.overhead} overhead",
            f"median {ours:.1f} ms vs one hand-written multi-row INSERT {base:.1f} ms = {ours / base:.2f}x"
            " (target <= 1.1x; issue 21: 1.31x)",
        )
    ]

    invoke(create, "/api/schemes/create_items", {"model_name": "Item", "object_values": _items(1500, "upd")})
    change = {
        "model_name": "Item",
        "object_values": {"state": "Sold", "location": "Bench"},
        "query_filters": {"article_number": {"operation": "like", "value": "upd-%"}},
        "update_type": "all_matches",
    }
    with Statements() as counted:
        invoke(update, "/api/schemes/update_items", change)
    out.append(
        (
            "update_items all_matches of 1,500 rows",
            f"statements: {counted.data} data + {counted.overhead} overhead (target: constant, a handful)",
            "",
        )
    )
    return out
