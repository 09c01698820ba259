"""`if_match` through the handlers (docs/contract.md §4.7): the 409 RowChanged envelope, and a
batch holding one stale member refused whole, against the seed committed to a fresh database (each
request its own transaction, as in production)."""

from __future__ import annotations

from typing import Any

from tests.adversarial.support import ANNA, World, call


def _version(world: World, table: str, row_id: int) -> int:
    return world.scalar(f'SELECT row_version FROM "{table}" WHERE id = :i', i=row_id)


def _update(item: int, expected: int, location: str, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": "Item",
        "query_filters": {"id": item},
        "update_type": "first_match",
        "object_values": {"location": location},
        "if_match": {"row_version": expected},
        **extra,
    }


def test_a_stale_update_answers_409_row_changed_with_the_row_in_the_envelope(world: World) -> None:
    """GIVEN item 2 read at version N WHEN someone else updates it, and then the first client
    sends its update with if_match N THEN 409 RowChanged, `body` holds the row's requested data as
    it is now, and the other write stands."""
    seen = _version(world, "Item", 2)
    first = call("update_items", _update(2, seen, "Theirs"), ANNA)
    assert first.status == 201, first.envelope
    late = call(
        "update_items", _update(2, seen, "Mine", requested_data=["id", "location", "row_version"]), ANNA
    )
    assert late.status == 409, late.envelope
    assert late.server_message.startswith("RowChanged") and "at /if_match" in late.server_message
    assert late.body == [{"id": 2, "location": "Theirs", "row_version": seen + 1}]
    assert world.scalar('SELECT location FROM "Item" WHERE id = 2') == "Theirs"
    again = call(
        "update_items", _update(2, seen + 1, "Mine", requested_data=["location", "row_version"]), ANNA
    )
    assert (again.status, again.body) == (201, [{"location": "Mine", "row_version": seen + 2}])


def test_a_stale_delete_answers_409_with_id_and_row_version(world: World) -> None:
    seen = _version(world, "Item_Note", 2)
    body = {
        "model_name": "Item_Note",
        "if_match": {"row_version": seen + 3},
        "object_values": {"query_filters": {"id": 2}, "deletion_type": "delete_first"},
    }
    reply = call("delete_items", body, ANNA)
    assert reply.status == 409, reply.envelope
    assert reply.body == [{"id": 2, "row_version": seen}]
    assert world.scalar('SELECT count(*) FROM "Item_Note" WHERE id = 2') == 1


def test_a_batch_with_one_stale_member_writes_nothing(world: World) -> None:
    """GIVEN items 1, 3 and 5 at their versions WHEN a batch updates 1 (unguarded), 3 (current
    if_match) and then 5 (stale if_match) THEN 409 naming /2/if_match, and nothing of the batch
    was written: not the members before it either, and no version moved."""
    versions = {i: _version(world, "Item", i) for i in (1, 3, 5)}
    snapshot = world.snapshot()
    batch = [
        {
            "model_name": "Item",
            "query_filters": {"id": 1},
            "update_type": "first_match",
            "object_values": {"location": "B0"},
        },
        _update(3, versions[3], "B1"),
        _update(5, versions[5] - 1 if versions[5] > 1 else versions[5] + 1, "B2"),
    ]
    reply = call("update_items", batch, ANNA)
    assert reply.status == 409, reply.envelope
    assert "at /2/if_match" in reply.server_message
    assert world.snapshot() == snapshot
    assert {i: _version(world, "Item", i) for i in (1, 3, 5)} == versions


def test_a_delete_batch_with_one_stale_member_deletes_nothing(world: World) -> None:
    items = world.scalar('SELECT count(*) FROM "Item"')
    batch = [
        {
            "model_name": "Item",
            "object_values": {"query_filters": {"id": 11}, "deletion_type": "delete_first"},
        },
        {
            "model_name": "Item",
            "if_match": {"row_version": _version(world, "Item", 12) + 1},
            "object_values": {"query_filters": {"id": 12}, "deletion_type": "delete_first"},
        },
    ]
    reply = call("delete_items", batch, ANNA)
    assert reply.status == 409 and "at /1/if_match" in reply.server_message, reply.envelope
    assert world.scalar('SELECT count(*) FROM "Item"') == items


def test_a_front_end_request_without_if_match_is_unchanged(world: World) -> None:
    """No if_match: a stale client overwrites as before (the existing front end sends none)."""
    reply = call("update_items", _update(8, 1, "x") | {"if_match": None}, ANNA)
    assert reply.status == 201, reply.envelope
    plain = {k: v for k, v in _update(8, 1, "y").items() if k != "if_match"}
    assert call("update_items", plain, ANNA).status == 201


def test_whoever_reads_a_row_may_read_its_row_version(world: World) -> None:
    """A Buyer reads row_version of every model it reads, its own account included (POST /api)."""
    for model in ("Item", "Item_Note", "Item_History", "Item_Notes_Subject", "Dealer", "User", "Role"):
        reply = call("get_items", {"model_name": model, "requested_data": ["id", "row_version"]}, ANNA)
        assert reply.status == 200, reply.envelope
        assert reply.body and all(isinstance(row["row_version"], int) for row in reply.body), reply.envelope
    me = call("me", {"requested_data": ["id", "row_version", {"roles": ["role", "row_version"]}]}, ANNA)
    assert me.status == 200, me.envelope
    assert me.body[0]["row_version"] >= 1 and me.body[0]["roles"][0]["row_version"] >= 1
