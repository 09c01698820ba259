"""Write limits answer before the expensive part: rows are counted (LIMIT n+1) before any is loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dataapi.db import engine as dbmod
from dataapi.db import wire
from dataapi.settings import get_settings
from tests.adversarial.support import ALL_ITEMS, World, call, read_ids


@pytest.fixture
def five_rows(monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[list[str]]:
    """MAX_ROWS_TOUCHED=5 (the seed has 12 items); yields the statements the engine runs."""
    monkeypatch.setenv("MAX_ROWS_TOUCHED", "5")
    get_settings.cache_clear()
    dbmod.dispose_engine()
    with wire.watched() as seen:  # every statement the driver sends, reads included
        yield seen
    get_settings.cache_clear()
    dbmod.dispose_engine()


def _loads_items(statements: list[str]) -> bool:
    """A statement that loads whole Item rows (the ORM's column list)."""
    return any('"Item".article_number' in s and s.lstrip().upper().startswith("SELECT") for s in statements)


def test_all_matches_update_with_actions_over_the_limit_is_refused_before_loading(
    world: World, five_rows: list[str]
) -> None:
    before = world.snapshot()
    body = {
        "model_name": "Item",
        "query_filters": {"id": {"operation": ">", "value": 0}},
        "update_type": "all_matches",
        "object_values": {"item_history": {"action": "create", "values": [{"column_name": "state"}]}},
    }
    reply = call("update_items", body)
    assert reply.status == 400, reply.envelope
    assert "limit=rows_touched max=5" in reply.server_message
    assert not _loads_items(five_rows)
    assert world.snapshot() == before
    assert read_ids() == ALL_ITEMS


def test_delete_all_with_also_do_over_the_limit_is_refused_before_loading(
    world: World, five_rows: list[str]
) -> None:
    before = world.snapshot()
    body = {
        "model_name": "Item",
        "object_values": {
            "query_filters": {"id": {"operation": ">", "value": 0}},
            "deletion_type": "delete_all",
            "also_do": {"state": "Gone"},
        },
    }
    reply = call("delete_items", body)
    assert reply.status == 400, reply.envelope
    assert "limit=rows_touched max=5" in reply.server_message
    assert not _loads_items(five_rows)
    assert world.snapshot() == before


def test_under_the_limit_the_same_requests_run(world: World, five_rows: list[str]) -> None:
    body = {
        "model_name": "Item",
        "query_filters": {"id": {"operation": "<=", "value": 2}},
        "update_type": "all_matches",
        "object_values": {"item_history": {"action": "create", "values": [{"column_name": "state"}]}},
    }
    assert call("update_items", body).status == 201
    assert (
        world.scalar("SELECT count(*) FROM \"Item_History\" WHERE item_id <= 2 AND column_name = 'state'")
        >= 2
    )
    delete = {
        "model_name": "Item",
        "object_values": {
            "query_filters": {"id": [1, 2]},
            "deletion_type": "delete_all",
            "also_do": {"state": "x"},
        },
    }
    assert call("delete_items", delete).status == 201
    assert read_ids() == list(range(12, 2, -1))
