"""The React client's file habits, end to end through the handlers, with moto's S3 in-process.

The client presigns with `"filePath": "PurchaseAppReact"` (item photos) or `"profiles_pictures"`
(profile pictures) and a name `snapshot_<ms>.webp`, PUTs the bytes with that Content-Type, stores
`url.split('?')[0]` on the row, reads the row back (a presigned GET), and removes files with
`POST /api/delete-image-url` and the URLs it holds. The same path runs on an adopted bucket
(`ExistingBucketName`, here `beyoappv5` in eu-north-1) whose rows hold the old backend's absolute
URLs in the global and the regional form.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws
from sqlalchemy import text

from dataapi.models import Item, Role, User
from dataapi.registry import default_registry
from dataapi.settings import get_settings
from dataapi.storage import files as filesmod
from dataapi.storage.files import object_key
from tests.handler import support
from tests.handler.files_support import ADMIN, Person, invoke, load_event
from tests.handler.support import Db, Reply

REGION = "eu-north-1"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
BO = Person("sub-bo", "bo@example.com")
CIA = Person("sub-cia", "cia@example.com")


def _reset() -> None:
    get_settings.cache_clear()
    default_registry.cache_clear()
    filesmod._s3.cache_clear()


@pytest.fixture(params=["files-bucket", "beyoappv5"])
def bucket(request: pytest.FixtureRequest, db: Db, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto bucket named by FILES_BUCKET (a stack's own, or the old backend's as
    ExistingBucketName names it), the default prefixes, AWS URL forms (no endpoint)."""
    name: str = request.param
    support.offline_aws(monkeypatch, name, REGION, "FILE_PREFIXES")
    _reset()
    buyer = Role(role="Buyer", key="buyer")
    db.add(
        User(username="bo", email=BO.email, phone="1", cognito_sub=BO.sub, roles=[buyer]),
        User(username="cia", email=CIA.email, phone="2", cognito_sub=CIA.sub, roles=[buyer]),
    )
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield name
    _reset()


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def exists(bucket: str, key: str) -> bool:
    try:
        s3().head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


PATHS = {
    "files_create_items": "/api/schemes/create_items",
    "files_get_items": "/api/schemes/get_items",
    "files_update_items": "/api/schemes/update_items",
    "files_delete_image_url": "/api/delete-image-url",
    "files_presign": "/api/generate-presigned-url",
}


def call(function: str, route: str, body: Any, caller: Person = ADMIN) -> Reply:
    return invoke(load_event(PATHS[route], body=body, caller=caller), function)


def presign(folder: str, caller: Person = ADMIN) -> tuple[str, str]:
    """The client's presign call for one snapshot; (the URL, the name sent)."""
    name = f"snapshot_{int(time.time() * 1000)}.webp"
    reply = call(
        "files", "files_presign", [{"fileName": name, "filePath": folder, "fileType": "image/webp"}], caller
    )
    assert reply.status == 200, reply.envelope
    assert reply.body[0]["fileName"] == name
    return reply.body[0]["url"], name


def upload(url: str) -> str:
    """The client's PUT with the Content-Type it presigned; then the URL it stores."""
    put = requests.put(url, data=WEBP, headers={"Content-Type": "image/webp"}, timeout=10)
    assert put.status_code == 200, put.text
    return url.split("?")[0]


def fetch(url: str) -> bytes:
    got = requests.get(url, timeout=10)
    assert got.status_code == 200, got.text
    return got.content


def stored(db: Db, query: str, **params: Any) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(text(query), params).scalar_one()


def test_item_photo_the_way_the_client_does_it(bucket: str, db: Db) -> None:
    """GIVEN the default prefixes WHEN the client presigns under "PurchaseAppReact", PUTs a webp,
    creates an item with the unsigned URL, reads it back and deletes the file by that URL
    THEN each step succeeds: the key is under PurchaseAppReact/, the row holds the key, the read
    is a presigned GET serving the bytes, and the object is gone afterwards."""
    url, name = presign("PurchaseAppReact")
    key = object_key(url, bucket, None)
    assert key is not None and key.startswith(f"PurchaseAppReact/{name.removesuffix('.webp')}-")
    assert key.endswith(".webp")
    saved = upload(url)

    created = call("create_items", "files_create_items",
                   {"model_name": "Item", "object_values": {"article_number": "2512-900", "images": [saved]},
                    "requested_data": ["id", "images"]})  # fmt: skip
    assert created.status == 201, created.envelope
    item_id = created.body[0]["id"]
    assert stored(db, 'SELECT images FROM "Item" WHERE id = :i', i=item_id) == [key]

    read = call("get_items", "files_get_items",
                {"model_name": "Item", "requested_data": ["images"], "query_filters": {"id": item_id}})  # fmt: skip
    (signed,) = read.body[0]["images"]
    assert "X-Amz-Signature=" in signed and object_key(signed, bucket, None) == key
    assert fetch(signed) == WEBP

    deleted = call("files", "files_delete_image_url", {"urls": [saved]})
    assert deleted.status == 200, deleted.envelope
    assert deleted.body == [key]
    assert not exists(bucket, key)


def test_profile_picture_the_way_the_client_does_it(bucket: str, db: Db) -> None:
    """GIVEN a Buyer WHEN it presigns under "profiles_pictures", PUTs a webp, saves the unsigned URL
    on its own User row, reads it back and deletes the file by URL
    THEN every step succeeds, as for item photos."""
    url, _name = presign("profiles_pictures", BO)
    key = object_key(url, bucket, None)
    assert key is not None and key.startswith("profiles_pictures/snapshot_")
    saved = upload(url)

    updated = call("update_items", "files_update_items",
                   {"model_name": "User", "object_values": {"profile_picture": saved},
                    "query_filters": {"email": BO.email}, "update_type": "first_match",
                    "requested_data": ["id", "profile_picture"]}, BO)  # fmt: skip
    assert updated.status == 201, updated.envelope
    assert stored(db, 'SELECT profile_picture FROM "User" WHERE email = :e', e=BO.email) == key
    assert fetch(updated.body[0]["profile_picture"]) == WEBP

    deleted = call("files", "files_delete_image_url", {"urls": [saved]}, BO)
    assert deleted.status == 200, deleted.envelope
    assert not exists(bucket, key)


@pytest.mark.parametrize("bucket", ["beyoappv5"], indirect=True)
def test_rows_of_the_old_backend_read_write_and_delete_in_place(bucket: str, db: Db) -> None:
    """GIVEN the old bucket (ExistingBucketName=beyoappv5) holding two photos, and an item row
    written by the old backend with their global and regional URLs
    WHEN the client reads the item, saves those URLs again, and deletes one file by its old URL
    THEN the read gives presigned GETs serving each photo, the save is accepted (keys stored),
    and the delete removes exactly that object."""
    old = {
        "PurchaseAppReact/snapshot_1764941412345.webp": f"https://{bucket}.s3.amazonaws.com/PurchaseAppReact/snapshot_1764941412345.webp",
        "PurchaseAppReact/IMG_2.webp": f"https://{bucket}.s3.{REGION}.amazonaws.com/PurchaseAppReact/IMG_2.webp",
    }
    for key in old:
        s3().put_object(Bucket=bucket, Key=key, Body=WEBP + key.encode(), ContentType="image/webp")
    (item,) = db.add(Item(article_number="2512-901", images=list(old.values())))

    read = call("get_items", "files_get_items",
                {"model_name": "Item", "requested_data": ["images"], "query_filters": {"id": item.id}})  # fmt: skip
    assert read.status == 200, read.envelope
    signed = read.body[0]["images"]
    assert [object_key(u, bucket, None) for u in signed] == list(old)
    assert [fetch(u) for u in signed] == [WEBP + k.encode() for k in old]

    saved = call("update_items", "files_update_items",
                 {"model_name": "Item", "object_values": {"images": list(old.values())},
                  "query_filters": {"id": item.id}, "update_type": "first_match"})  # fmt: skip
    assert saved.status == 201, saved.envelope
    assert stored(db, 'SELECT images FROM "Item" WHERE id = :i', i=item.id) == list(old)

    regional = old["PurchaseAppReact/IMG_2.webp"]
    deleted = call("files", "files_delete_image_url", {"urls": [regional]})
    assert deleted.status == 200, deleted.envelope
    assert [exists(bucket, k) for k in old] == [True, False]


@pytest.mark.parametrize("bucket", ["beyoappv5"], indirect=True)
@pytest.mark.parametrize(
    ("held", "sent"),
    [
        ("https://beyoappv5.s3.amazonaws.com/profiles_pictures/olle/m%65.png", "profiles_pictures/olle/me.png"),
        ("profiles_pictures/olle/me.png", "https://beyoappv5.s3.amazonaws.com/profiles_pictures/olle/m%65.png"),
        ("https://beyoappv5.s3.eu-north-1.amazonaws.com/profiles_pictures/olle/me.png",
         "https://beyoappv5.s3.amazonaws.com/profiles_pictures/olle/%6De.png"),
    ],
    ids=["held encoded", "sent encoded", "both URLs"],
)  # fmt: skip
def test_another_users_picture_is_protected_in_every_stored_form(
    bucket: str, db: Db, held: str, sent: str
) -> None:
    """GIVEN cia's profile picture stored in some form (key or URL, percent-encoded or not)
    WHEN bo, another Buyer, deletes the same object named in another form
    THEN 400 "a row you may not change still uses it", and the object stays; an Admin may."""
    s3().put_object(Bucket=bucket, Key="profiles_pictures/olle/me.png", Body=WEBP, ContentType="image/webp")
    with db.engine.begin() as conn:
        conn.execute(
            text('UPDATE "User" SET profile_picture = :p WHERE email = :e'), {"p": held, "e": CIA.email}
        )

    refused = call("files", "files_delete_image_url", {"urls": [sent]}, BO)

    assert refused.status == 400, refused.envelope
    assert "still uses it" in refused.message
    assert exists(bucket, "profiles_pictures/olle/me.png")
    allowed = call("files", "files_delete_image_url", {"urls": [sent]})
    assert allowed.status == 200, allowed.envelope
    assert not exists(bucket, "profiles_pictures/olle/me.png")


def test_a_deployment_moves_the_prefixes(bucket: str, db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN FILE_PREFIXES=Item.images=photos/items/ (the ItemImagesPrefix parameter)
    WHEN the client presigns under PurchaseAppReact and under photos/items
    THEN the old folder is refused (400 naming the declared ones) and the new one signs."""
    monkeypatch.setenv("FILE_PREFIXES", "Item.images=photos/items/")
    _reset()

    refused = call("files", "files_presign",
                   [{"fileName": "a.webp", "filePath": "PurchaseAppReact", "fileType": "image/webp"}])  # fmt: skip
    assert refused.status == 400, refused.envelope
    assert "photos/items/" in refused.message and "profiles_pictures/" in refused.message
    url, _name = presign("photos/items")
    assert (object_key(url, bucket, None) or "").startswith("photos/items/snapshot_")
