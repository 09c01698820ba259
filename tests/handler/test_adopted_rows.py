"""Every row of an adopted Flask database is readable and writable through the handlers.

The database is the Flask backend's with rows in every legacy form (tests/fixtures/legacy.py),
upgraded to head. The caller is its legacy Admin (mixed-case e-mail, no Cognito subject yet): found
by e-mail, linked, and its legacy password erased on the first request.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, text

from dataapi.models import Base
from tests.handler.session_support import admin_claims, load_event, write
from tests.support.lambda_context import FakeLambdaContext

pytestmark = pytest.mark.db

MODELS = (
    "User",
    "Role",
    "Dealer",
    "Dealer_History",
    "Dealer_Notes",
    "Item_Notes_Subject",
    "Item_Note",
    "Item",
    "Item_History",
)
# One column per model, written on every row.
WRITES: dict[str, dict[str, Any]] = {
    "User": {"phone": "+46 8 000 00 00"},
    "Role": {"key": "changed"},
    "Dealer": {"gender": "unknown"},
    "Dealer_History": {"column_name": "phone"},
    "Dealer_Notes": {"subject": "Call"},
    "Item_Notes_Subject": {"subject": "Renamed"},
    "Item_Note": {"note_content": "Seen again"},
    "Item": {"location": "In-Shop"},
    "Item_History": {"type": "update"},
}


def claims() -> dict[str, str]:
    return {**admin_claims(), "sub": "adopted-admin-sub", "email": "admin@example.com"}


def columns(model: str) -> list[str]:
    return [c.name for c in Base.metadata.tables[model].columns]


@dataclass
class Answer:
    status: int
    body: list[Any]
    envelope: dict[str, Any]


def get_items(request: dict[str, Any]) -> Answer:
    event = load_event("/api/schemes/get_items", body=request, claims=claims())
    handler = importlib.import_module("functions.get_items.app").lambda_handler
    envelope = json.loads(handler(event, FakeLambdaContext())["body"])
    return Answer(envelope["status"], envelope["body"], envelope)


def ids(engine: Engine, model: str) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(text(f'SELECT id FROM "{model}" ORDER BY id')))


@pytest.mark.parametrize("model", MODELS)
def test_every_row_of_every_model_reads_and_writes(legacy_db: Engine, model: str) -> None:
    expected = ids(legacy_db, model)

    read = get_items({"model_name": model, "requested_data": columns(model), "per_page": 1000})
    assert read.status == 200, read.envelope
    assert sorted(row["id"] for row in read.body) == expected
    assert all(set(row) == set(columns(model)) for row in read.body)

    update = {
        "model_name": model,
        "object_values": WRITES[model],
        "query_filters": {},
        "allow_all": True,
        "update_type": "all_matches",
        "requested_data": ["id", *WRITES[model]],
    }
    written = write("update_items", update, claims())
    assert written.status == 201, written.envelope
    assert sorted(row["id"] for row in written.body) == expected
    assert all(row[key] == value for row in written.body for key, value in WRITES[model].items())


def test_the_first_request_links_the_legacy_admin_and_erases_its_password(legacy_db: Engine) -> None:
    assert get_items({"model_name": "Role", "requested_data": ["id"]}).status == 200
    with legacy_db.connect() as conn:
        linked = conn.scalar(text('SELECT cognito_sub FROM "User" WHERE id = 1'))
        kept = list(conn.scalars(text("SELECT user_id FROM legacy.user_password ORDER BY 1")))
    assert linked == "adopted-admin-sub" and kept == [2, 3]


def test_creates_and_deletes_follow_todays_rules_on_legacy_rows(legacy_db: Engine) -> None:
    created = write(
        "create_items",
        {
            "model_name": "Item",
            "object_values": {
                "article_number": "A-004",
                "dealer": {
                    "action": "link",
                    "values": {"Dealer": {"query_filters": {"id": 1}, "link_type": "first_link"}},
                },
            },
            "requested_data": ["id", "created_by", "created_at", {"dealer": ["id"]}],
        },
        claims(),
    )
    assert created.status == 201, created.envelope
    assert created.body[0]["id"] == 4 and created.body[0]["created_by"] == "admin"
    assert created.body[0]["dealer"] == {"id": 1}

    deleted = write(
        "delete_items",
        {
            "model_name": "Item",
            "object_values": {"query_filters": {"id": 1}, "deletion_type": "delete_first"},
        },
        claims(),
    )
    assert deleted.status == 201, deleted.envelope
    with legacy_db.connect() as conn:
        left = conn.execute(
            text(
                """SELECT (SELECT count(*) FROM "Item_History" WHERE item_id = 1),"""
                """ (SELECT count(*) FROM "Items_Notes" WHERE item_id = 1),"""
                """ (SELECT count(*) FROM "Item_Note")"""
            )
        ).one()
    assert tuple(left) == (0, 0, 2)  # history and links went with the item (ON DELETE CASCADE)
