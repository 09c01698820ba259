"""Limits before the work, within the function's memory: every refused request is refused before
rows are loaded, and every request of the largest allowed size, refused or not, peaks under 256 MB
(the functions have 512 MB).

Each request runs in a fresh interpreter (a spawned child) that imports the handler and invokes it
once: its peak RSS (VmHWM; it only grows) is then this request's and the imports'. The
child also counts the ORM rows loaded, by model, and the statements sent. Tens of thousands of
items are inserted set-based; on the code before these limits the refused requests below loaded
every match (a link of 60,000 items peaked far over 256 MB).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import pytest
from sqlalchemy import text

from tests.adversarial.support import ADMIN, ROUTES, World, event_for, refused
from tests.support.callers import claims_of

BULK = 60_000  # items added to the seed's 12; the dealer below holds them all
DEALER = 5
LIMIT_MB = 256
_CONNECTING = (
    "select pg_catalog.version()",
    "select current_schema()",
    "show ",
)  # a new process's first connection


@dataclass(frozen=True)
class Served:
    status: int
    server_message: str
    peak_mb: float
    loaded: dict[str, int]  # ORM rows loaded, by model
    statements: list[str]


def _serve(env: dict[str, str], function: str, event: dict[str, Any]) -> Served:
    """In the child: invoke `function` once with `event`; what it answered and what it cost."""
    os.environ.clear()
    os.environ.update(env)
    from sqlalchemy import event as orm_event

    from dataapi.db import wire
    from dataapi.models.base import Base
    from tests.handler import support

    loaded: Counter[str] = Counter()

    def on_load(target: Any, _context: Any) -> None:
        loaded[type(target).__name__] += 1

    for mapper in Base.registry.mappers:
        orm_event.listen(mapper.class_, "load", on_load)
    with wire.watched() as seen:
        reply = support.invoke(function, event)
    peak = _peak_mb()
    return Served(reply.status, reply.server_message, peak, dict(loaded), [s[:300] for s in seen])


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM, of its own address space): `ru_maxrss` is carried across
    fork and exec, so a child started by a big parent would report the parent's."""
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def served(route: str, body: Any, *, raw: bool = False) -> Served:
    """`body` sent to `route` as the Admin, in a fresh interpreter."""
    event = event_for(route, body, claims_of(ADMIN), raw=raw)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result = pool.submit(_serve, dict(os.environ), ROUTES[route][0], event).result(timeout=300)
    print(
        f"peak RSS {result.peak_mb:.0f} MB, {sum(result.loaded.values())} rows loaded: {route} {result.status}"
    )
    assert result.peak_mb < LIMIT_MB, result
    return result


@pytest.fixture
def bulk(world: World) -> World:
    """BULK more items, all of dealer DEALER, each with a photo key."""
    with world.engine.begin() as conn:
        conn.execute(
            text(
                'INSERT INTO "Item" (article_number, state, dealer_id, images) '
                "SELECT 'B-' || g, 'Bulk', :dealer, jsonb_build_array('PurchaseAppReact/b/' || g || '.jpg') "
                "FROM generate_series(1, :n) g"
            ),
            {"dealer": DEALER, "n": BULK},
        )
    return world


def _untouched(world: World) -> bool:
    """No bulk row was updated, deleted or locked, even by the refused request's rolled-back
    transaction: a row version a transaction changed or locked keeps its xid in `xmax`."""
    return world.scalar("SELECT count(*) FROM \"Item\" WHERE state = 'Bulk' AND xmax::text <> '0'") == 0


def _over(reply: Served, at: str) -> None:
    assert reply.status == 400, reply
    assert "limit=rows_touched max=10000" in reply.server_message, reply
    assert reply.server_message.endswith(f"at {at}"), reply
    assert reply.loaded.get("Item", 0) == 0, reply.loaded  # refused before any match was loaded


def test_linking_every_item_is_refused_before_loading(bulk: World) -> None:
    body = {
        "model_name": "Dealer",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {
            "items": {
                "action": "link",
                "values": {
                    "Item": {"query_filters": {"id": {"operation": ">", "value": 0}}, "link_type": "all_link"}
                },
            }
        },
    }
    _over(served("update_items", body), "/object_values/items")
    assert _untouched(bulk)


def test_linking_the_most_items_allowed_fits(bulk: World) -> None:
    """9,999 items linked in one request: with the dealer row itself, MAX_ROWS_TOUCHED."""
    last = bulk.scalar("SELECT min(id) + 9998 FROM \"Item\" WHERE state = 'Bulk'")
    matching = {"state": "Bulk", "id": {"operation": "<=", "value": last}}
    body = {
        "model_name": "Dealer",
        "query_filters": {"id": 1},
        "update_type": "first_match",
        "object_values": {
            "items": {
                "action": "link",
                "values": {"Item": {"query_filters": matching, "link_type": "all_link"}},
            }
        },
    }
    reply = served("update_items", body)
    assert reply.status == 201, reply
    assert bulk.scalar("SELECT count(*) FROM \"Item\" WHERE dealer_id = 1 AND state = 'Bulk'") == 9999


def test_create_through_rel_over_every_item_is_refused_before_loading(bulk: World) -> None:
    body = {
        "model_name": "Dealer",
        "query_filters": {"id": DEALER},
        "update_type": "first_match",
        "object_values": {"items": {"action": "create_through_rel", "values": {"state": "Seen"}}},
    }
    _over(served("update_items", body), "/object_values/items")
    assert _untouched(bulk)


def test_set_based_update_and_delete_over_the_limit_touch_nothing(bulk: World) -> None:
    every = {"state": "Bulk"}
    update = {"model_name": "Item", "query_filters": every, "update_type": "all_matches",
              "object_values": {"location": "Gone"}}  # fmt: skip
    reply = served("update_items", update)
    _over(reply, "/query_filters")
    assert [s for s in reply.statements if "UPDATE" in s.upper()], reply.statements  # the one guarded UPDATE
    assert _untouched(bulk)
    delete = {"model_name": "Item", "object_values": {"query_filters": every, "deletion_type": "delete_all"}}
    _over(served("delete_items", delete), "/object_values/query_filters")
    assert bulk.scalar("SELECT count(*) FROM \"Item\" WHERE state = 'Bulk'") == BULK
    assert _untouched(bulk)


def test_an_update_of_the_most_rows_allowed_fits(bulk: World) -> None:
    last = bulk.scalar("SELECT min(id) + 9999 FROM \"Item\" WHERE state = 'Bulk'")
    filters = {"state": "Bulk", "id": {"operation": "<=", "value": last}}
    body = {"model_name": "Item", "query_filters": filters, "update_type": "all_matches",
            "object_values": {"location": "Hall"}}  # fmt: skip
    reply = served("update_items", body)
    assert reply.status == 201, reply
    sent = [s for s in reply.statements if not s.lower().startswith(_CONNECTING)]
    assert len(sent) == 2, sent  # the caller, the guarded UPDATE (BEGIN and COMMIT ride along)


def _batch(members: int, rows: int) -> list[dict[str, Any]]:
    return [
        {"model_name": "Item_Notes_Subject", "object_values": [{"subject": f"s{m}-{i}"} for i in range(rows)]}
        for m in range(members)
    ]


def test_a_batch_over_the_body_size_is_refused_before_parsing(world: World) -> None:
    text = json.dumps(_batch(100, 5000))  # 8.5 MB
    reply = served("create_items", text, raw=True)
    assert reply.status == 400, reply
    assert reply.server_message == "LimitExceeded limit=body_bytes max=2097152 at /", reply
    assert reply.statements == []


def test_a_batch_of_the_largest_body_is_counted_before_any_row_is_built(world: World) -> None:
    """Just under MAX_BODY_BYTES of rows, refused by the count of the raw JSON."""
    text = json.dumps(_batch(18, 5000), separators=(",", ":"))
    assert 1_800_000 < len(text) < 2 * 1024 * 1024, len(text)
    reply = served("create_items", text, raw=True)
    assert reply.status == 400, reply
    assert reply.server_message == "LimitExceeded limit=rows_touched max=10000 at /2/object_values/0"
    assert reply.statements == []  # refused before the caller was even loaded


def test_a_create_of_the_most_rows_allowed_fits(world: World) -> None:
    reply = served("create_items", _batch(2, 5000))
    assert reply.status == 201, reply
    assert world.scalar('SELECT count(*) FROM "Item_Notes_Subject"') >= 10_000


# ---- the file routes: bounded lists (their owner lookups: tests/handler/test_files.py) ----------


def test_presign_over_max_upload_entries_is_refused(world: World) -> None:
    entries = [
        {"fileName": f"{i}.jpg", "filePath": "PurchaseAppReact", "fileType": "image/jpeg"} for i in range(101)
    ]
    reply = refused("presign", entries)
    assert reply.server_message == "LimitExceeded limit=upload_entries max=100 at /", reply.envelope


def test_delete_over_max_file_urls_is_refused(world: World) -> None:
    reply = refused("delete_files", {"urls": [f"PurchaseAppReact/{i}.jpg" for i in range(501)]})
    assert reply.server_message == "LimitExceeded limit=file_urls max=500 at /urls", reply.envelope
