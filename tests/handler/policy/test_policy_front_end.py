"""The access policy (docs/contract.md §7): the front end's calls, per role.

Through the real handlers, in-process, on committed seed data; the callers, the `world` fixture
(conftest.py) and the request helpers are described in harness.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.handler import support
from tests.handler.policy.harness import (
    ADMIN,
    ANNA,
    ERIK,
    NORA,
    OLLE,
    USER_COUNT,
    Who,
    World,
    create,
    delete,
    read,
    succeeds,
    through,
    update,
)
from tests.handler.support import Reply
from tests.support.requests import create_rel, front_end_note, history_entry, link

pytestmark = pytest.mark.db


# ---- 6. the front end's calls, per role -------------------------------------------------------------


def fe_item_list(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_item_list")


def fe_search(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_search_or")


def fe_filter_page(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_filter_page")


def fe_filter_page_matching(who: Who) -> tuple[str, Any]:
    request = support.body("get_items_filter_page")
    request["query_filters"] = {
        "state": "In-Transit",
        "properties": {"operation": "contains", "value": {"set_of": 6}},
        "notes.subject.subject": "Condition",
        "dealer.id": 1,
    }
    return "get_items", request


def fe_single_item(who: Who) -> tuple[str, Any]:
    return "get_items", support.body("get_items_single_item")


def fe_dealers(who: Who) -> tuple[str, Any]:
    fields = ["id", "dealer_name", "dealer_type", "phone", "email", "raw_address", "coordinates", "age",
              "gender", "purchased_count", "item_count", "created_at"]  # fmt: skip
    return "get_items", read("Dealer", fields, per_page=60, cursor=None)


def fe_users(who: Who) -> tuple[str, Any]:
    fields = ["id", "username", "email", "phone", "profile_picture", "roles.role", "roles.id"]
    return "get_items", read("User", fields)


def fe_roles(who: Who) -> tuple[str, Any]:
    return "get_items", read("Role", ["id", "role"])


def fe_create_item(who: Who) -> tuple[str, Any]:
    return "create_items", create(
        "Item",
        {
            "article_number": "2512-008",
            "category": "Chair",
            "state": "In-Transit",
            "purchased_price": 700,
            "properties": {"set_of": 2, "color": "oak"},
            "images": ["PurchaseAppReact/2512-008/1.jpg"],
            "dealer": link("Dealer", {"id": 2}),
            "item_history": create_rel(
                {**history_entry("state", None, "In-Transit"), "type": "create"},
                sub_model_name="Item_History",
            ),
        },
        [
            "id",
            "article_number",
            "created_by",
            {"dealer": ["id", "dealer_name"]},
            {"item_history": ["user_name"]},
        ],
        reference="Item 2512-008",
    )


def fe_update_items(who: Who) -> tuple[str, Any]:
    return "update_items", update(
        "Item",
        {"article_number": {"operation": "in", "value": "2511-001"}},
        {
            "id": 1,
            "state": "In-Stock",
            "location": "Lager Västberga",
            "item_history": create_rel(
                [
                    history_entry("state", "In-Transit", "In-Stock"),
                    history_entry("location", None, "Lager Västberga"),
                ],
                sub_model_name="Item_History",
            ),
        },
        ["id", "state", "location", {"item_history": ["column_name", "to_value"]}],
        "all_matches",
        reference="Item 2511-001",
    )


def fe_create_notes(who: Who) -> tuple[str, Any]:
    def note(content: str, subject: str, items: list[int]) -> dict[str, Any]:
        return front_end_note(
            content, subject, items, history=create_rel(history_entry("notes", None, content))
        )

    return "create_items", [
        note("Cords need replacing.", "Condition", [9, 12]),
        note("Ship to Malmö.", "Shipping", [12]),
    ]


def fe_update_note(who: Who) -> tuple[str, Any]:
    return "update_items", update(
        "Item_Note",
        {"id": 2},
        {
            "id": 2,
            "note_content": "Re-upholstered, ready for sale.",
            "subject": link("Item_Notes_Subject", {"subject": "Condition"}),
            "items": through({"state": "In-Stock", "item_history": create_rel(history_entry("state", "In-Transit", "In-Stock"))}),
        },
        ["id", "note_content", "subject_id"],
        reference="Note",
    )  # fmt: skip


def fe_delete_note(who: Who) -> tuple[str, Any]:
    return "delete_items", {
        "model_name": "Item_Note",
        "reference": "Note",
        "object_values": {"query_filters": {"id": 6}, "delition_type": "delete_first"},
    }


def fe_own_profile(who: Who) -> tuple[str, Any]:
    return "update_items", update(
        "User",
        {"id": who.id},
        {"id": who.id, "username": f"{who.name}.x", "phone": "+46 70 321 00 00",
         "profile_picture": f"profiles_pictures/{who.name}/avatar-2.jpg"},
        ["id", "username", "email", "phone", "profile_picture", {"roles": ["role", "id"]}],
        reference="Profile",
    )  # fmt: skip


def fe_me(who: Who) -> tuple[str, Any]:
    return "session_me", {}


def fe_me_shaped(who: Who) -> tuple[str, Any]:
    return "session_me", {"requested_data": ["id", "username", {"roles": ["role", "id"]}]}


FRONT_END: dict[str, Callable[[Who], tuple[str, Any]]] = {
    "item list": fe_item_list,
    "search with or- groups": fe_search,
    "filter page": fe_filter_page,
    "filter page, matching": fe_filter_page_matching,
    "single item with notes, subjects, history": fe_single_item,
    "dealers list": fe_dealers,
    "users list with roles": fe_users,
    "roles list": fe_roles,
    "create an item linked to a dealer": fe_create_item,
    "update items appending history": fe_update_items,
    "create notes linking subjects and items": fe_create_notes,
    "update a note and its items": fe_update_note,
    "delete a note": fe_delete_note,
    "update own profile": fe_own_profile,
    "who am I": fe_me,
    "who am I, shaped": fe_me_shaped,
}
FRONT_END_EXPECTED: dict[str, Callable[[Who, World, Reply], None]] = {}


def _expects(
    name: str,
) -> Callable[[Callable[[Who, World, Reply], None]], Callable[[Who, World, Reply], None]]:
    def register(check: Callable[[Who, World, Reply], None]) -> Callable[[Who, World, Reply], None]:
        FRONT_END_EXPECTED[name] = check
        return check

    return register


@_expects("item list")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == list(range(12, 0, -1))
    assert reply.body[-1]["dealer"] == {"dealer_name": "Gamla Stans Antik", "id": 1}


@_expects("search with or- groups")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [12, 11, 10, 9, 8, 7, 6, 3]


@_expects("filter page")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == []


@_expects("filter page, matching")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [1]
    assert reply.body[0]["notes"] == [
        {"subject": {"subject": "Condition"}},
        {"subject": {"subject": "Restoration"}},
    ]


@_expects("single item with notes, subjects, history")
def _(who: Who, world: World, reply: Reply) -> None:
    [item] = reply.body
    assert item["id"] == 1 and item["dealer"]["dealer_name"] == "Gamla Stans Antik"
    assert [n["subject"] for n in item["notes"]] == [
        {"id": 1, "subject": "Condition"},
        {"id": 2, "subject": "Restoration"},
    ]
    assert len(item["item_history"]) == 3


@_expects("dealers list")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [5, 4, 3, 2, 1]


@_expects("users list with roles")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.ids == [6, 5, 4, 3, 2, 1]
    rows = {row["id"]: row for row in reply.body}
    assert rows[3]["roles"] == [{"role": "Buyer", "id": 2}, {"role": "Viewer", "id": 3}]
    assert rows[4]["roles"] == []
    assert set(rows[1]) == {"id", "username", "email", "phone", "profile_picture", "roles"}


@_expects("roles list")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == [{"id": 3, "role": "Viewer"}, {"id": 2, "role": "Buyer"}, {"id": 1, "role": "Admin"}]


@_expects("create an item linked to a dealer")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.message == "Item 2512-008 created!"
    [item] = reply.body
    assert item["created_by"] == who.name
    assert item["dealer"] == {"id": 2, "dealer_name": "Karin Lund"}
    assert item["item_history"] == [{"user_name": who.name}]


@_expects("update items appending history")
def _(who: Who, world: World, reply: Reply) -> None:
    [item] = reply.body
    assert (item["id"], item["state"], item["location"]) == (1, "In-Stock", "Lager Västberga")
    assert len(item["item_history"]) == 5
    assert world.rows('SELECT user_name FROM "Item_History" WHERE item_id = 1 ORDER BY id DESC LIMIT 2') == [
        (who.name,),
        (who.name,),
    ]


@_expects("create notes linking subjects and items")
def _(who: Who, world: World, reply: Reply) -> None:
    first, second = (member[0] for member in reply.body)
    assert first["subject"] == {"id": 1, "subject": "Condition"}
    assert sorted(i["id"] for i in first["items"]) == [9, 12]
    assert second["subject"]["subject"] == "Shipping"
    assert world.scalar('SELECT count(*) FROM "Item_History" WHERE item_id = 12') == 2


@_expects("update a note and its items")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == [{"id": 2, "note_content": "Re-upholstered, ready for sale.", "subject_id": 1}]
    assert world.rows('SELECT id, state FROM "Item" WHERE id IN (1, 2, 5) ORDER BY id') == [
        (1, "In-Stock"),
        (2, "In-Stock"),
        (5, "In-Stock"),
    ]


@_expects("delete a note")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.message == "Note deleted!"
    assert world.scalar('SELECT count(*) FROM "Item_Note" WHERE id = 6') == 0


@_expects("update own profile")
def _(who: Who, world: World, reply: Reply) -> None:
    [row] = reply.body
    assert (row["id"], row["username"], row["phone"]) == (who.id, f"{who.name}.x", "+46 70 321 00 00")
    assert row["roles"] == [{"role": r, "id": {"Admin": 1, "Buyer": 2, "Viewer": 3}[r]} for r in who.roles]
    assert world.user(who.id)["profile_picture"] == f"profiles_pictures/{who.name}/avatar-2.jpg"


@_expects("who am I")
def _(who: Who, world: World, reply: Reply) -> None:
    [row] = reply.body
    assert row["id"] == who.id and row["username"] == who.name
    assert [r["role"] for r in row["roles"]] == list(who.roles)


@_expects("who am I, shaped")
def _(who: Who, world: World, reply: Reply) -> None:
    assert reply.body == [
        {"id": who.id, "username": who.name, "roles": [{"role": r, "id": {"Admin": 1, "Buyer": 2, "Viewer": 3}[r]} for r in who.roles]}
    ]  # fmt: skip


@pytest.mark.parametrize("who", [ANNA, ERIK, ADMIN], ids=["Buyer", "Buyer+Viewer", "Admin"])
@pytest.mark.parametrize("name", FRONT_END, ids=FRONT_END.keys())
def test_front_end_call_succeeds_for_every_role(world: World, who: Who, name: str) -> None:
    """GIVEN a user of a role the front end serves WHEN the front end makes one of its calls
    THEN it succeeds (a 403 would log the user out) with the expected data."""
    route, request_body = FRONT_END[name](who)

    reply = succeeds(route, request_body, who)

    FRONT_END_EXPECTED[name](who, world, reply)


ADMIN_USER_MANAGEMENT: dict[str, tuple[str, dict[str, Any], Callable[[World, Reply], None]]] = {
    "create a user (default role)": (
        "create_items",
        create("User", {"username": "pia", "email": "pia@example.com", "phone": "+46 70 7"},
               ["id", "username", {"roles": ["role"]}], reference="User pia"),
        lambda w, r: r.body == [{"id": 7, "username": "pia", "roles": [{"role": "Buyer"}]}],
    ),
    "edit another user": (
        "update_items",
        update("User", {"id": ANNA.id}, {"username": "anna.l", "phone": "+46 70 8", "profile_picture": "profiles_pictures/anna/x.jpg"},
               ["id", "username", "phone"]),
        lambda w, r: r.body == [{"id": 2, "username": "anna.l", "phone": "+46 70 8"}],
    ),
    "read every user field": (
        "get_items",
        read("User", ["id", "metafields", "cognito_sub", "tokens_valid_after", "roles.key"], query_filters={"id": 2}),
        lambda w, r: r.body == [{"id": 2, "metafields": None, "cognito_sub": ANNA.sub, "tokens_valid_after": None,
                                 "roles": [{"key": "buyer"}]}],
    ),
    "grant a role": (
        "update_items",
        update("User", {"id": NORA.id}, {"roles": link("Role", {"role": "Buyer"})}),
        lambda w, r: w.roles_of(NORA.id) == ["Buyer"],
    ),
    "revoke a role": (
        "update_items",
        update("User", {"id": ERIK.id}, {"roles": {"action": "unlink", "values": {
            "unlink_type": "unlink_matches", "query_filters": {"role": "Viewer"}}}}),
        lambda w, r: w.roles_of(ERIK.id) == ["Buyer"],
    ),
    "delete a user without a sign-in account": (
        "delete_items",
        delete("User", {"id": OLLE.id}),
        lambda w, r: w.user(OLLE.id) == {} and w.count("User") == USER_COUNT - 1,
    ),
    "create a role": (
        "create_items",
        create("Role", {"role": "Auditor", "key": "auditor"}, ["id", "role", "key"]),
        lambda w, r: r.body == [{"id": 4, "role": "Auditor", "key": "auditor"}],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_body", "check"), ADMIN_USER_MANAGEMENT.values(), ids=ADMIN_USER_MANAGEMENT.keys()
)
def test_admin_manages_users_without_passwords(
    world: World, route: str, request_body: dict[str, Any], check: Callable[[World, Reply], bool]
) -> None:
    """GIVEN Admin and no user pool WHEN it manages users without passwords or email changes
    THEN each call succeeds with the expected effect (no Cognito call is needed)."""
    reply = succeeds(route, request_body, ADMIN)

    assert check(world, reply), reply.envelope
