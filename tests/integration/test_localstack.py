"""`make dev` on a copy of the Flask database (docs/adoption.md, the dry run), as an operator runs it:
a data folder where `make dev` never ran, FILES_BUCKET naming the old bucket, the copy's users,
an Admin made with `make dev-admin`, and a restart.

The whole stack runs (moto_server, the gateway with a worker process per function) against a Flask
database of tests/fixtures/legacy.py; requests go over HTTP to 127.0.0.1, as the front end's would.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from dataapi.db import engine as dbmod
from dataapi.identity import cognito
from dataapi.settings import get_settings
from dataapi.storage import files as filesmod
from devtools import localstack
from devtools.pgcluster import free_port
from tests.fixtures.legacy import GLOBAL, create_flask_database

pytestmark = pytest.mark.db

BUCKET = "beyoappv5"  # the Flask deployment's (legacy README)


@pytest.fixture
def dev_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A dev data folder that does not exist yet, a free port, and the process environment given
    back afterwards (the stack sets the layer's environment in-process, as `make dev` does)."""
    home = tmp_path / "dataapi-dev"
    for name, path in {"HOME": home, "PGDATA": home / "pgdata", "STATE": home / "state.json",
                       "MOTO_LOG": home / "moto_server.log",
                       "PASSWORD_BOOK": home / "pool-passwords.json"}.items():  # fmt: skip
        monkeypatch.setattr(localstack, name, path)
    monkeypatch.setattr(localstack, "GATEWAY_PORT", free_port())
    monkeypatch.setattr(localstack, "MOTO_PORT", free_port())
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the stack hooks and credentials it, in-process
    saved = dict(os.environ)
    yield home
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
    dbmod.dispose_engine()
    filesmod._s3.cache_clear()
    cognito.client.cache_clear()


def test_moto_server_starts_in_a_data_folder_that_does_not_exist_yet(dev_home: Path) -> None:
    """GIVEN a machine where `make dev` never ran WHEN moto_server starts THEN the folder is made
    and the log is there (it used to be a FileNotFoundError in DATABASE_URL mode)."""
    assert not dev_home.exists()
    process, _port = localstack.start_moto()
    try:
        assert localstack.MOTO_LOG.exists()
    finally:
        process.terminate()
        process.wait(10)


def call(api: str, path: str, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(api + path, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def login(api: str, email: str, password: str) -> str | None:
    status, body = call(api, "/api/login", {"email": email, "password": password})
    return body["body"][0]["token"] if status == 200 else None


def test_a_copy_served_with_its_bucket_signs_its_photos_takes_uploads_and_keeps_its_users(
    pg, dev_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = create_flask_database(pg, "dryruncopy")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FILES_BUCKET", BUCKET)

    # -- first run -------------------------------------------------------------------------------
    with localstack.running_stack() as state:
        api, endpoint = state["api_url"], state["moto_endpoint"]
        banner = localstack.banner(state)
        assert state["files_bucket"] == BUCKET and f"files bucket {BUCKET}" in banner
        for demo in localstack.DEMO_USERS:  # the copy has no demo users, nor does the pool
            assert demo not in banner
        assert "pgdata" not in banner and "make dev-admin" in banner
        assert login(api, "admin@example.com", localstack.DEMO_USERS["admin@example.com"]) is None

        # The only legacy Admin's password is below the pool's policy: make dev-admin gives one.
        assert login(api, "admin@example.com", "abcdefg") is None
        assert localstack.admin(["admin@example.com", "Dry-Run-Admin-1"]) == 0
        admin = login(api, "admin@example.com", "Dry-Run-Admin-1")  # the row says Admin@Example.com
        assert admin

        # Stored URLs of the old bucket are recognised and signed for the local bucket.
        status, body = call(api, "/api/schemes/get_items",
                            {"model_name": "Item", "requested_data": ["images"], "query_filters": {"id": 1}},
                            admin)  # fmt: skip
        assert status == 200, body
        images = body["body"][0]["images"]
        assert [i.split("?")[0] for i in images] == [
            f"{endpoint}/{BUCKET}/PurchaseAppReact/snapshot_1764941412345.webp",
            f"{endpoint}/{BUCKET}/PurchaseAppReact/IMG_2.webp",
        ]
        assert all("X-Amz-Signature=" in i for i in images)

        # An upload as the front end makes it, then added to the legacy item's photos.
        status, body = call(api, "/api/generate-presigned-url",
                            [{"fileName": "snapshot_1.webp", "filePath": "PurchaseAppReact", "fileType": "image/webp"}],
                            admin)  # fmt: skip
        assert status == 200, body
        put = urllib.request.Request(
            body["body"][0]["url"], b"webp", {"Content-Type": "image/webp"}, method="PUT"
        )
        with urllib.request.urlopen(put, timeout=30) as answer:
            assert answer.status == 200
        stored = body["body"][0]["url"].split("?")[0]
        update = {"model_name": "Item", "reference": "Item A-001", "query_filters": {"id": 1},
                  "update_type": "first_match", "requested_data": ["images"],
                  "object_values": {"images": [f"{GLOBAL}/PurchaseAppReact/snapshot_1764941412345.webp",
                                               stored]}}  # fmt: skip
        status, body = call(api, "/api/schemes/update_items", update, admin)
        assert status == 201, body
        with urllib.request.urlopen(body["body"][0]["images"][1], timeout=30) as answer:
            assert answer.read() == b"webp"

        # A Flask-era user signs in (migrated by the trigger; its first authenticated request links
        # the row and erases the Flask password), and an Admin creates a user.
        worker = login(api, "worker@example.com", "Worker-Pass-1")
        assert worker and call(api, "/api", {}, worker)[0] == 200
        new_user = {"model_name": "User", "reference": "user",
                    "object_values": {"username": "newbie", "email": "newbie@example.com", "phone": "-",
                                      "password": "Newbie-Pass-1"}}  # fmt: skip
        status, body = call(api, "/api/schemes/create_items", new_user, admin)
        assert status == 201, body
        assert login(api, "newbie@example.com", "Newbie-Pass-1")
    capsys.readouterr()

    # -- after a restart: a new pool, the same users ---------------------------------------------
    with localstack.running_stack() as state:
        api = state["api_url"]
        assert sorted(state["pool"]["restored"]) == [
            "Admin@Example.com",
            "newbie@example.com",
            "worker@example.com",
        ]
        assert state["pool"]["unlinked"] == []
        for email, password in [("newbie@example.com", "Newbie-Pass-1"), ("worker@example.com", "Worker-Pass-1"),
                                ("admin@example.com", "Dry-Run-Admin-1")]:  # fmt: skip
            token = login(api, email, password)
            assert token, email
            status, body = call(api, "/api", {}, token)  # an authenticated request: the row's subject matches
            assert status == 200 and body["body"][0]["email"].lower() == email, body
        assert localstack.PASSWORD_BOOK.stat().st_mode & 0o077 == 0


def test_a_linked_user_the_book_cannot_restore_is_unlinked_and_named(
    pg, dev_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a row linked to a subject of an earlier pool whose password is unknown (the book was
    deleted) WHEN the stack starts THEN the row is unlinked (an Admin can set a new password, which
    creates the account) and the banner names it, rather than a row that can neither sign in nor
    be created again."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    url = create_flask_database(pg, "dryrunstale")
    monkeypatch.setenv("DATABASE_URL", url)
    localstack.upgrade_only(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("""UPDATE "User" SET cognito_sub = 'gone-sub' WHERE id = 3"""))
    with localstack.running_stack() as state:
        assert state["pool"]["unlinked"] == ["photo@example.com"]
        assert "photo@example.com" in localstack.banner(state)
    with engine.connect() as conn:
        assert conn.scalar(text('SELECT cognito_sub FROM "User" WHERE id = 3')) is None
    engine.dispose()
