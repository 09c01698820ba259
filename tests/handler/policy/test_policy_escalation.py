"""The access policy (docs/contract.md §7): escalation attempts.

Through the real handlers, in-process, on committed seed data; the callers, the `world` fixture
(conftest.py) and the request helpers are described in harness.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.handler.policy.harness import (
    ADMIN,
    ANNA,
    ERIK,
    NORA,
    Who,
    World,
    call,
    create,
    delete,
    forbidden,
    no_role,
    read,
    refused_field,
    refused_model,
    refused_reaching,
    succeeds,
    through,
    update,
)
from tests.handler.support import Reply
from tests.support.requests import create_rel, history_entry, link

pytestmark = pytest.mark.db


# ---- 4. escalation attempts -------------------------------------------------------------------------

BUYER_ESCALATIONS: dict[str, tuple[str, dict[str, Any], Callable[[Reply], None]]] = {
    "link Admin to its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": link("Role", {"role": "Admin"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "link every role to its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": link("Role", {"id": {"operation": ">", "value": 0}}, "all_link")}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "create a role on its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": create_rel({"role": "Boss", "key": "boss"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "unlink its own roles": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "rename its own roles through the relationship": (
        "update_items",
        update("User", {"id": ANNA.id}, {"roles": through({"role": "Admin2"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "roles with allow_all": (
        "update_items",
        update("User", {}, {"roles": link("Role", {"role": "Admin"})}, update_type="all_matches", allow_all=True),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "roles next to a password": (
        "update_items",
        update("User", {"id": ANNA.id}, {"password": "Secret-pass-123", "roles": link("Role", {"role": "Admin"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "roles of another user": (
        "update_items",
        update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}),
        lambda r: refused_field(r, "roles", "/object_values/roles"),
    ),
    "create a Role": (
        "create_items",
        create("Role", {"role": "Boss", "key": "boss"}),
        lambda r: refused_model(r, "Role", "create"),
    ),
    "create a Role linked to itself": (
        "create_items",
        create("Role", {"role": "Boss", "key": "boss", "users": link("User", {"id": ANNA.id})}),
        lambda r: refused_model(r, "Role", "create"),
    ),
    "link itself to Admin through Role.users": (
        "update_items",
        update("Role", {"role": "Admin"}, {"users": link("User", {"id": ANNA.id})}),
        lambda r: refused_model(r, "Role", "update"),
    ),
    "rename the Admin role": (
        "update_items",
        update("Role", {"role": "Admin"}, {"role": "Buyer-old"}),
        lambda r: refused_model(r, "Role", "update"),
    ),
    "delete the Admin role": (
        "delete_items",
        delete("Role", {"role": "Admin"}),
        lambda r: refused_model(r, "Role", "delete"),
    ),
    "create a User with the Admin role": (
        "create_items",
        create("User", {"username": "evil", "email": "evil@example.com", "phone": "+46 70 1",
                        "roles": link("Role", {"role": "Admin"})}),
        lambda r: refused_model(r, "User", "create"),
    ),
    "create a User": (
        "create_items",
        create("User", {"username": "evil", "email": "evil@example.com", "phone": "+46 70 1"}),
        lambda r: refused_model(r, "User", "create"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("who", [ANNA, ERIK], ids=["Buyer", "Buyer+Viewer"])
@pytest.mark.parametrize(
    ("route", "request_body", "check"), BUYER_ESCALATIONS.values(), ids=BUYER_ESCALATIONS.keys()
)
def test_buyer_escalation_attempts_are_403_and_write_nothing(
    world: World, who: Who, route: str, request_body: dict[str, Any], check: Callable[[Reply], None]
) -> None:
    """GIVEN a Buyer WHEN it tries to gain a role by any path (roles of its User by link, create,
    unlink or through; Role create/update/delete; Role.users; a new User) THEN 403 naming what is
    refused, and no table changed."""
    before = world.snapshot()

    reply = call(route, request_body, who)

    check(reply)
    assert world.snapshot() == before
    assert world.roles_of(who.id) == list(who.roles)


ADMIN_SELF_GRANTS: dict[str, tuple[str, dict[str, Any], str]] = {
    # (route, request, pointer of the refused relationship)
    "link a role to its own User.roles": (
        "update_items",
        update("User", {"id": ADMIN.id}, {"roles": link("Role", {"role": "Viewer"})}),
        "/object_values/roles",
    ),
    "link itself through Role.users": (
        "update_items",
        update("Role", {"role": "Viewer"}, {"users": link("User", {"id": ADMIN.id})}),
        "/object_values/users",
    ),
    "link itself by email through Role.users": (
        "update_items",
        update("Role", {"role": "Buyer"}, {"users": link("User", {"email": "admin@example.com"})}),
        "/object_values/users",
    ),
    "create a role on its own User.roles": (
        "update_items",
        update("User", {"id": ADMIN.id}, {"roles": create_rel({"role": "Owner", "key": "owner"})}),
        "/object_values/roles",
    ),
    "create a Role linked to itself": (
        "create_items",
        create("Role", {"role": "Owner", "key": "owner", "users": link("User", {"id": ADMIN.id})}),
        "/object_values/users",
    ),
    "unlink its own roles": (
        "update_items",
        update("User", {"id": ADMIN.id}, {"roles": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}),
        "/object_values/roles",
    ),
    "itself among several users": (
        "update_items",
        update("User", {"id": {"operation": "in", "value": [ADMIN.id, NORA.id]}},
               {"roles": link("Role", {"role": "Viewer"})}, update_type="all_matches"),
        "/object_values/roles",
    ),
    "nested: Admin role's users given a role": (
        "update_items",
        update("Role", {"role": "Admin"}, {"users": through({"roles": link("Role", {"role": "Viewer"})})}),
        "/object_values/users/values/roles",
    ),
    "delete also_do links itself to the role": (
        "delete_items",
        delete("Role", {"role": "Viewer"}, also_do={"users": link("User", {"id": ADMIN.id})}),
        "/object_values/also_do/users",
    ),
    "batch: another user first, then itself": (
        "update_items",
        [
            update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}),
            update("User", {"id": ADMIN.id}, {"roles": link("Role", {"role": "Viewer"})}),
        ],
        "/1/object_values/roles",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "at"), ADMIN_SELF_GRANTS.values(), ids=ADMIN_SELF_GRANTS.keys()
)
def test_admin_changing_its_own_roles_is_403_and_writes_nothing(
    world: World, route: str, request_body: Any, at: str
) -> None:
    """GIVEN Admin (who may write User.roles and Role.users) WHEN a change of those relationships
    touches its own User row, by any path THEN 403 (no one grants themselves a role) naming the
    relationship at its pointer, and nothing written, the other users of the request included."""
    before = world.snapshot()

    reply = call(route, request_body, ADMIN)

    forbidden(reply, "self-grant", at=at)
    assert world.snapshot() == before


ADMIN_GRANTS_TO_OTHERS: dict[str, tuple[str, dict[str, Any], int, list[str]]] = {
    # (route, request, user, that user's roles afterwards)
    "User.roles link on nora": (
        "update_items", update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}), NORA.id, ["Buyer"],
    ),
    "Role.users link of nora": (
        "update_items", update("Role", {"role": "Viewer"}, {"users": link("User", {"id": NORA.id})}), NORA.id, ["Viewer"],
    ),
    "User.roles unlink on erik": (
        "update_items",
        update("User", {"id": ERIK.id}, {"roles": {"action": "unlink", "values": {"unlink_type": "unlink_matches",
                                                                                 "query_filters": {"role": "Viewer"}}}}),
        ERIK.id,
        ["Buyer"],
    ),
    "Admin role to anna": (
        "update_items", update("User", {"id": ANNA.id}, {"roles": link("Role", {"role": "Admin"})}), ANNA.id, ["Admin", "Buyer"],
    ),
    "a new user with a role": (
        "create_items",
        create("User", {"username": "pia", "email": "pia@example.com", "phone": "+46 70 7",
                        "roles": link("Role", {"role": "Viewer"})}),
        7,
        ["Viewer"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "user_id", "roles"),
    ADMIN_GRANTS_TO_OTHERS.values(),
    ids=ADMIN_GRANTS_TO_OTHERS.keys(),
)
def test_admin_changes_the_roles_of_another_user(
    world: World, route: str, request_body: dict[str, Any], user_id: int, roles: list[str]
) -> None:
    """GIVEN Admin WHEN it grants or revokes a role of another (or a new) user THEN 201 and the user
    holds exactly the expected roles; Admin's own roles are unchanged."""
    reply = call(route, request_body, ADMIN)

    assert reply.status == 201, reply.envelope
    assert world.roles_of(user_id) == roles
    assert world.roles_of(ADMIN.id) == ["Admin"]


def test_a_role_granted_by_admin_opens_the_data_routes(world: World) -> None:
    """GIVEN nora without roles (403 on data routes) WHEN Admin grants her Buyer
    THEN her next read succeeds with her same token."""
    no_role(call("get_items", read("Item", query_filters={"id": 1}), NORA))

    granted = call(
        "update_items", update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}), ADMIN
    )

    assert granted.status == 201, granted.envelope
    assert succeeds("get_items", read("Item", query_filters={"id": 1}), NORA).body == [{"id": 1}]


NESTED_REFUSALS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    # (route, request, refused model, refused operation)
    "Item.dealer through creates Dealer_Notes": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": through({"dealer_notes": create_rel({"subject": "Sneaky"})})}),
        "Dealer_Notes", "create",
    ),
    "Item.dealer through changes Dealer_Notes": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": through({"dealer_notes": through({"content": "Overwritten."})})}),
        "Dealer_Notes", "update",
    ),
    "Item.dealer link also_do creates Dealer_History": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": link("Dealer", {"id": 2}, also_do={
            "phone": "+46 70 1", "dealer_history": create_rel({"column_name": "phone"})})}),
        "Dealer_History", "create",
    ),
    "Item.dealer link filtered through Dealer_Notes": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": link("Dealer", {"dealer_notes.subject": "Opening"})}),
        "Dealer_Notes", "get",
    ),
    "Item.notes unlink filtered through Dealer_History": (
        "update_items",
        update("Item", {"id": 1}, {"notes": {"action": "unlink", "values": {
            "unlink_type": "unlink_matches", "query_filters": {"items.dealer.dealer_history.id": 1}}}}),
        "Dealer_History", "get",
    ),
    "update filtered through Dealer_History": (
        "update_items",
        update("Item", {"dealer.dealer_history.column_name": "phone"}, {"state": "Sold"}, update_type="all_matches"),
        "Dealer_History", "get",
    ),
    "delete filtered through Dealer_Notes": (
        "delete_items",
        delete("Item", {"dealer.dealer_notes.subject": "Opening"}),
        "Dealer_Notes", "get",
    ),
    "Item_Note subject link also_do changes the subject": (
        "create_items",
        create("Item_Note", {"note_content": "x", "subject": link("Item_Notes_Subject", {"subject": "Condition"},
                                                                     also_do={"subject": "Wear"})}),
        "Item_Notes_Subject", "update",
    ),
    "Item_Note subject through changes the subject": (
        "update_items",
        update("Item_Note", {"id": 1}, {"subject": through({"subject": "Renamed"})}),
        "Item_Notes_Subject", "update",
    ),
    "delete Item also_do renames subjects of its notes": (
        "delete_items",
        delete("Item", {"id": 1}, also_do={"notes": through({"subject": through({"subject": "Renamed"})})}),
        "Item_Notes_Subject", "update",
    ),
    "delete Item_Note also_do reaches Dealer_Notes": (
        "delete_items",
        delete("Item_Note", {"id": 1}, also_do={"items": through({"dealer": through({
            "dealer_notes": create_rel({"subject": "Sneaky"})})})}),
        "Dealer_Notes", "create",
    ),
    "create Item with a new dealer carrying notes": (
        "create_items",
        create("Item", {"article_number": "2601-002", "dealer": create_rel({
            "dealer_name": "Ny", "dealer_notes": create_rel({"subject": "Sneaky"})})}),
        "Dealer_Notes", "create",
    ),
    "delete a Dealer": (
        "delete_items", delete("Dealer", {"id": 5}), "Dealer", "delete",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "model", "op"), NESTED_REFUSALS.values(), ids=NESTED_REFUSALS.keys()
)
def test_buyer_nested_action_reaching_a_model_it_may_not_touch_is_403(
    world: World, route: str, request_body: dict[str, Any], model: str, op: str
) -> None:
    """GIVEN a Buyer WHEN a nested action, also_do, a link or unlink filter, or an update/delete
    filter reaches a model/operation its grants do not cover THEN 403 naming that model and
    operation, and nothing written (not even the parts it may do)."""
    before = world.snapshot()

    reply = call(route, request_body, ANNA)

    refused_reaching(reply, model, op)
    assert world.snapshot() == before


NESTED_ALLOWED: dict[str, tuple[str, dict[str, Any], Callable[[World, Reply], None]]] = {
    "Item.dealer link with also_do on the Dealer": (
        "update_items",
        update("Item", {"id": 1}, {"dealer": link("Dealer", {"id": 2}, also_do={"phone": "+46 70 1"})}),
        lambda w, r: (
            w.scalar('SELECT dealer_id FROM "Item" WHERE id = 1') == 2
            and w.scalar('SELECT phone FROM "Dealer" WHERE id = 2') == "+46 70 1"
        ),
    ),
    "Item_History created through Item": (
        "update_items",
        update("Item", {"id": 9}, {"item_history": create_rel(history_entry("state", "In-Transit", "Sold"),
                                                              sub_model_name="Item_History")}),
        lambda w, r: w.rows('SELECT column_name, to_value, user_name FROM "Item_History" WHERE item_id = 9')
        == [("state", "Sold", "anna")],
    ),
    "Item_Notes_Subject linked or created by a note": (
        "create_items",
        create("Item_Note", {"note_content": "Ship it.", "subject": link(
            "Item_Notes_Subject", {"subject": "Shipping"}, action_if_none="create_entry",
            values_for_none_action={"subject": "Shipping"})}, ["id", {"subject": ["subject"]}]),
        lambda w, r: r.body[0]["subject"] == {"subject": "Shipping"}
        and w.scalar("SELECT count(*) FROM \"Item_Notes_Subject\" WHERE subject = 'Shipping'") == 1,
    ),
    "Item_Notes_Subject created by a note": (
        "create_items",
        create("Item_Note", {"note_content": "Crate it.", "subject": create_rel({"subject": "Packing"})}),
        lambda w, r: w.scalar("SELECT count(*) FROM \"Item_Notes_Subject\" WHERE subject = 'Packing'") == 1,
    ),
    "subject created with item_notes linked": (
        "create_items",
        create("Item_Note", {"note_content": "x", "subject": link(
            "Item_Notes_Subject", {"subject": "Nope"}, action_if_none="create_entry",
            values_for_none_action={"subject": "Nope", "item_notes": link("Item_Note", {"id": 1})})}),
        lambda w, r: w.scalar("SELECT s.subject FROM \"Item_Note\" n JOIN \"Item_Notes_Subject\" s "
                              "ON s.id = n.subject_id WHERE n.id = 1") == "Nope",
    ),
    "Item with a new Dealer": (
        "create_items",
        create("Item", {"article_number": "2601-003", "dealer": create_rel({"dealer_name": "Ny Handlare"})},
               ["id", {"dealer": ["dealer_name"]}]),
        lambda w, r: r.body[0]["dealer"] == {"dealer_name": "Ny Handlare"},
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "check"), NESTED_ALLOWED.values(), ids=NESTED_ALLOWED.keys()
)
def test_buyer_nested_actions_within_its_grants_succeed(
    world: World, route: str, request_body: dict[str, Any], check: Callable[[World, Reply], bool]
) -> None:
    """GIVEN a Buyer WHEN nested actions stay within its grants (Dealer updated through a link's
    also_do, Item_History created through Item, a subject linked or created) THEN 201 and the rows
    are written."""
    reply = call(route, request_body, ANNA)

    assert reply.status == 201, reply.envelope
    assert check(world, reply)


UNLINK_ALL_REFUSALS: dict[str, dict[str, Any]] = {
    "Dealer.dealer_notes unlink_all": update(
        "Dealer", {"id": 1}, {"dealer_notes": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}
    ),
    "Dealer.dealer_history unlink_all": update(
        "Dealer", {"id": 1}, {"dealer_history": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}}
    ),
    "Item.dealer through, dealer_notes unlink_all": update(
        "Item", {"id": 1}, {"dealer": through({"dealer_notes": {"action": "unlink", "values": {"unlink_type": "unlink_all"}}})}
    ),
}  # fmt: skip


@pytest.mark.parametrize("request_body", UNLINK_ALL_REFUSALS.values(), ids=UNLINK_ALL_REFUSALS.keys())
def test_buyer_unlinking_all_rows_of_a_model_it_has_no_grant_on_is_403(
    world: World, request_body: dict[str, Any]
) -> None:
    """GIVEN a Buyer, who may update Dealer but has no grant on Dealer_Notes or Dealer_History
    WHEN it unlinks all of a dealer's notes or history (delete-orphan relationships: unlinking
    deletes them) THEN 403 naming the model, and nothing written."""
    before = world.snapshot()

    reply = call("update_items", request_body, ANNA)

    assert world.snapshot() == before, f"written: {reply.status} {reply.message}"
    forbidden(reply, "Dealer_")


WRITE_READ_REFUSALS: dict[str, tuple[str, dict[str, Any], Callable[[Reply], None]]] = {
    "update own User requesting metafields": (
        "update_items",
        update("User", {"id": ANNA.id}, {"phone": "+46 70 1"}, ["id", "metafields"]),
        lambda r: refused_field(r, "metafields", "/requested_data/1"),
    ),
    "update own User requesting roles.key": (
        "update_items",
        update("User", {"id": ANNA.id}, {"phone": "+46 70 1"}, ["id", {"roles": ["key"]}]),
        lambda r: refused_field(r, "key", "/requested_data/1/roles/0"),
    ),
    "create Item requesting its dealer's notes": (
        "create_items",
        create("Item", {"article_number": "2601-004", "dealer": link("Dealer", {"id": 1})},
               ["id", {"dealer": ["id", {"dealer_notes": ["content"]}]}]),
        lambda r: refused_model(r, "Dealer_Notes", "get"),
    ),
    "update Item requesting dealer history": (
        "update_items",
        update("Item", {"id": 1}, {"state": "Sold"}, ["id", "dealer.dealer_history.column_name"]),
        lambda r: refused_model(r, "Dealer_History", "get"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "check"), WRITE_READ_REFUSALS.values(), ids=WRITE_READ_REFUSALS.keys()
)
def test_buyer_write_whose_requested_data_names_a_forbidden_field_is_403_and_writes_nothing(
    world: World, route: str, request_body: dict[str, Any], check: Callable[[Reply], None]
) -> None:
    """GIVEN a Buyer WHEN a granted write asks back a field or model it may not read
    THEN 403 naming it, and the write itself did not happen."""
    before = world.snapshot()

    reply = call(route, request_body, ANNA)

    check(reply)
    assert world.snapshot() == before


BATCHES: dict[str, tuple[str, list[dict[str, Any]], str, str]] = {
    # (route, batch whose 2nd member is refused, what the refusal names, where)
    "create Item, then Role": (
        "create_items",
        [create("Item", {"article_number": "2601-005"}), create("Role", {"role": "Boss", "key": "boss"})],
        "model=Role operation=create",
        "/1/object_values",
    ),
    "create Item, then Dealer_Notes": (
        "create_items",
        [create("Item", {"article_number": "2601-005"}), create("Dealer_Notes", {"subject": "x"})],
        "model=Dealer_Notes operation=create",
        "/1/object_values",
    ),
    "update Item, then another user's row": (
        "update_items",
        [update("Item", {"id": 1}, {"state": "Sold"}), update("User", {"id": NORA.id}, {"phone": "+46 70 1"})],
        "rows=own",
        "/1/query_filters",
    ),
    "update own row, then own roles": (
        "update_items",
        [update("User", {"id": ANNA.id}, {"phone": "+46 70 1"}),
         update("User", {"id": ANNA.id}, {"roles": link("Role", {"role": "Admin"})})],
        "field=roles",
        "/1/object_values/roles",
    ),
    "update Item, then Dealer_Notes": (
        "update_items",
        [update("Item", {"id": 1}, {"state": "Sold"}), update("Dealer_Notes", {"id": 1}, {"content": "x"})],
        "model=Dealer_Notes operation=update",
        "/1",
    ),
    "delete a note, then a Dealer": (
        "delete_items",
        [delete("Item_Note", {"id": 6}), delete("Dealer", {"id": 5})],
        "model=Dealer operation=delete",
        "/1",
    ),
    "delete a note, then a subject": (
        "delete_items",
        [delete("Item_Note", {"id": 6}), delete("Item_Notes_Subject", {"id": 3})],
        "model=Item_Notes_Subject operation=delete",
        "/1",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("route", "batch", "named", "at"), BATCHES.values(), ids=BATCHES.keys())
def test_batch_whose_second_member_is_refused_writes_nothing(
    world: World, route: str, batch: list[dict[str, Any]], named: str, at: str
) -> None:
    """GIVEN a Buyer's batch whose first member is granted and second is not WHEN it is sent
    THEN 403 naming what is refused, and the first member was not written either."""
    before = world.snapshot()

    reply = call(route, batch, ANNA)

    forbidden(reply, named)
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("route", "batch", "named", "at"),
    [pytest.param(*case, id=name) for name, case in BATCHES.items()],
)
def test_batch_refusal_points_into_the_refused_member(
    world: World, route: str, batch: list[dict[str, Any]], named: str, at: str
) -> None:
    """GIVEN a Buyer's batch whose second member is refused WHEN it is sent THEN the server_message's
    JSON pointer starts at that member (/1...)."""
    reply = call(route, batch, ANNA)

    forbidden(reply, named)
    assert reply.server_message.endswith(f" at {at}"), reply.envelope
