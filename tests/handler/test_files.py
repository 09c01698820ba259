"""File routes and file fields (docs/contract.md §6) through the Lambda handlers, in-process, with moto's S3.

`POST /api/generate-presigned-url` and `POST /api/delete-image-url` (functions/files), and the
file fields through create_items, update_items and get_items, are invoked as Lambda would with API
Gateway REST events built by `support.event`, on a fresh migrated database and a moto bucket
(`mock_aws` intercepts botocore and `requests`). moto checks neither the signature nor the expiry of
a presigned URL: what each URL signs is tested in tests/unit/test_files.py; here the URLs are used
(PUT the bytes, GET them back) and their key read from the URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws
from sqlalchemy import text

from dataapi.db import wire
from dataapi.models import Item, Role, User
from dataapi.settings import get_settings
from dataapi.storage import files as filesmod
from dataapi.storage.files import Files, object_key
from tests.handler import support
from tests.handler.files_support import ADMIN, Person, invoke, load_event
from tests.handler.support import CALLER_EMAIL, CALLER_SUB, Db, Reply

PRESIGN = "/api/generate-presigned-url"
DELETE = "/api/delete-image-url"

BUCKET = "files-bucket"
REGION = "eu-north-1"
JPEG = b"\xff\xd8\xff\xe0 a small jpeg \xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n a small png"


# ---- people ------------------------------------------------------------------------------------


@dataclass
class People:
    admin: Person
    buyer: Person
    other_buyer: Person
    viewer: Person
    roleless: Person


@pytest.fixture
def people(db: Db) -> People:
    """Beside the base event's Admin: two Buyers (the other with a profile picture), a user whose
    only role has no grants (Viewer), and one without roles."""
    buyer_role, viewer_role = Role(role="Buyer", key="buyer"), Role(role="Viewer", key="viewer")
    rows = db.add(
        User(username="bo", email="bo@example.com", phone="1", cognito_sub="sub-bo", roles=[buyer_role]),
        User(
            username="cia",
            email="cia@example.com",
            phone="2",
            cognito_sub="sub-cia",
            roles=[buyer_role],
            profile_picture="profiles_pictures/cia/me-000000000001.png",
        ),
        User(
            username="vera", email="vera@example.com", phone="3", cognito_sub="sub-vera", roles=[viewer_role]
        ),
        User(username="nils", email="nils@example.com", phone="4", cognito_sub="sub-nils"),
    )
    bo, cia, vera, nils = (Person(u.cognito_sub, u.email, u.id) for u in rows)
    with db.engine.connect() as conn:
        admin_id = conn.execute(
            text('SELECT id FROM "User" WHERE cognito_sub = :s'), {"s": CALLER_SUB}
        ).scalar()
    return People(Person(CALLER_SUB, CALLER_EMAIL, admin_id), bo, cia, vera, nils)


# ---- the bucket ----------------------------------------------------------------------------------


def _reset_caches() -> None:
    get_settings.cache_clear()
    filesmod._s3.cache_clear()


@pytest.fixture
def s3(db: Db, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto bucket named by FILES_BUCKET, dummy credentials, no endpoint (AWS URL forms); the
    test's own S3 client (its calls are not the product's)."""
    support.offline_aws(monkeypatch, BUCKET, REGION, "GET_URL_SECONDS", "PUT_URL_SECONDS")
    _reset_caches()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client
    _reset_caches()


def put(s3: Any, key: str, body: bytes = JPEG, content_type: str = "image/jpeg") -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)
    return key


def exists(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404, exc.response
        return False
    return True


def keys_in(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture
def signed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the product signs a PUT for, in order (to show that nothing was signed)."""
    calls: list[str] = []
    original = Files.sign_put

    def spy(self: Files, key: str, content_type: str) -> str:
        calls.append(key)
        return original(self, key, content_type)

    monkeypatch.setattr(Files, "sign_put", spy)
    return calls


# ---- events and invoking --------------------------------------------------------------------------


def presign(entries: Any, caller: Person | None = ADMIN) -> Reply:
    return invoke(load_event(PRESIGN, entries, caller))


def delete(urls: list[Any], caller: Person | None = ADMIN) -> Reply:
    return delete_raw({"urls": urls}, caller)


def delete_raw(body: Any, caller: Person | None = ADMIN) -> Reply:
    return invoke(load_event(DELETE, body, caller))


def create(object_values: Any, caller: Person = ADMIN, model: str = "Item") -> Reply:
    requested = ["id", "images"] if model == "Item" else ["id", "profile_picture"]
    request = {"model_name": model, "object_values": object_values, "requested_data": requested}
    return invoke(load_event("/api/schemes/create_items", request, caller), "create_items")


def update_user(user_id: int, object_values: Any, caller: Person) -> Reply:
    request = {
        "model_name": "User",
        "object_values": object_values,
        "query_filters": {"id": user_id},
        "update_type": "first_match",
        "requested_data": ["id", "profile_picture"],
    }
    return invoke(load_event("/api/schemes/update_items", request, caller), "update_items")


def get_items(model: str, requested: list[Any], filters: dict[str, Any], caller: Person = ADMIN) -> Reply:
    request = {"model_name": model, "requested_data": requested, "query_filters": filters}
    return invoke(load_event("/api/schemes/get_items", request, caller), "get_items")


def entry(name: str, path: str = "PurchaseAppReact/2512-001", kind: str = "image/jpeg") -> dict[str, str]:
    return {"fileName": name, "filePath": path, "fileType": kind}


def url_key(url: str) -> str:
    key = object_key(url, BUCKET, None)
    assert key is not None, url
    return key


def unsigned(url: str) -> str:
    return url.split("?", 1)[0]


def sql(db: Db, query: str, **params: Any) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(text(query), params).scalar_one()


def forms(key: str) -> dict[str, str]:
    """Every form of the bucket's URL for `key` (docs/contract.md §6), the key percent-encoded in URLs."""
    path = quote(key)
    return {
        "bare key": key,
        "leading slash": "/" + key,
        "s3 URI": f"s3://{BUCKET}/{path}",
        "virtual-hosted global": f"https://{BUCKET}.s3.amazonaws.com/{path}",
        "virtual-hosted regional": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{path}",
        "legacy dash": f"https://{BUCKET}.s3-{REGION}.amazonaws.com/{path}",
        "dual-stack": f"https://{BUCKET}.s3.dualstack.{REGION}.amazonaws.com/{path}",
        "path-style global": f"https://s3.amazonaws.com/{BUCKET}/{path}",
        "path-style regional": f"https://s3.{REGION}.amazonaws.com/{BUCKET}/{path}",
        "signed": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=00ff",
    }


# ---- presign: uploads ------------------------------------------------------------------------------

NAME = re.compile(r"^(?P<stem>[A-Za-z0-9._-]+)-(?P<suffix>[A-Za-z0-9]+)\.(?P<ext>[a-z]+)$")


@pytest.mark.parametrize("role", ["admin", "buyer"])
def test_presign_put_create_and_read_back_round_trip(s3: Any, people: People, db: Db, role: str) -> None:
    """GIVEN an Admin or a Buyer
    WHEN two images are presigned, their bytes PUT to the URLs, items created with the unsigned URL,
    the bare key and a virtual-hosted URL, and read back
    THEN 200 in request order with each fileName as sent and keys `<filePath>/<name>-<suffix>.<ext>`;
    the column holds keys; the read gives presigned GETs of those keys that fetch the bytes."""
    caller: Person = getattr(people, role)
    sent = [
        entry("Bild på soffan.JPG", "PurchaseAppReact/2512-001"),
        entry("IMG_0002.png", "/PurchaseAppReact/2512-001/", "image/png"),
    ]

    reply = presign(sent, caller)

    assert reply.status == 200, reply.envelope
    assert [b["fileName"] for b in reply.body] == ["Bild på soffan.JPG", "IMG_0002.png"]
    assert all(set(b) == {"fileName", "url"} for b in reply.body)
    urls = [b["url"] for b in reply.body]
    keys = [url_key(u) for u in urls]
    for key, ext, stem in zip(keys, ["jpg", "png"], ["Bild", "IMG_0002"], strict=True):
        folder, _, name = key.rpartition("/")
        assert folder == "PurchaseAppReact/2512-001", key
        match = NAME.match(name)
        assert match is not None, key
        assert match["ext"] == ext
        assert match["stem"].startswith(stem)
    assert NAME.match(keys[0].rpartition("/")[2])["stem"].endswith("soffan")  # type: ignore[index]
    for url in urls:
        assert urlsplit(url).hostname == f"{BUCKET}.s3.{REGION}.amazonaws.com"
        query = parse_qs(urlsplit(url).query)
        assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
        assert query["X-Amz-Expires"] == [str(get_settings().put_url_seconds)]

    for url, data, kind in zip(urls, [JPEG, PNG], ["image/jpeg", "image/png"], strict=True):
        assert requests.put(url, data=data, headers={"Content-Type": kind}, timeout=10).status_code == 200
    head = s3.head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ContentType"] == "image/jpeg"
    assert s3.get_object(Bucket=BUCKET, Key=keys[1])["Body"].read() == PNG

    virtual_global = f"https://{BUCKET}.s3.amazonaws.com/{quote(keys[1])}"
    created = [
        create({"article_number": "unsigned-url", "images": [unsigned(urls[0])]}, caller),
        create({"article_number": "bare-key", "images": [keys[1]]}, caller),
        create({"article_number": "forms", "images": [urls[0], virtual_global]}, caller),
    ]

    assert [r.status for r in created] == [201, 201, 201], [r.envelope for r in created]
    ids = [r.body[0]["id"] for r in created]
    stored = [sql(db, 'SELECT images FROM "Item" WHERE id = :id', id=i) for i in ids]
    assert stored == [[keys[0]], [keys[1]], [keys[0], keys[1]]]
    assert [[url_key(u) for u in r.body[0]["images"]] for r in created] == stored  # signed in the reply too

    read = get_items(
        "Item", ["id", "article_number", "images"], {"id": {"operation": "in", "value": ids}}, caller
    )

    assert read.status == 200, read.envelope
    rows = {row["id"]: row for row in read.body}
    for item_id, keys_stored in zip(ids, stored, strict=True):
        images = rows[item_id]["images"]
        assert [url_key(u) for u in images] == keys_stored
        for url in images:
            query = parse_qs(urlsplit(url).query)
            assert query["X-Amz-SignedHeaders"] == ["host"]
            assert query["X-Amz-Expires"] == [str(get_settings().get_url_seconds)]
    fetched = [requests.get(u, timeout=10) for u in rows[ids[2]]["images"]]
    assert [f.status_code for f in fetched] == [200, 200]
    assert [f.content for f in fetched] == [JPEG, PNG]


def test_presign_keys_are_unique_per_request(s3: Any, people: People) -> None:
    """GIVEN the same file presigned twice WHEN signed THEN two different keys (nothing overwritten)."""
    first = presign([entry("chair.jpg")])
    second = presign([entry("chair.jpg")])

    assert first.status == second.status == 200
    assert url_key(first.body[0]["url"]) != url_key(second.body[0]["url"])


def test_presign_expiry_follows_put_url_seconds(
    s3: Any, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUT_URL_SECONDS", "120")
    _reset_caches()

    reply = presign([entry("chair.jpg")])

    assert reply.status == 200
    assert parse_qs(urlsplit(reply.body[0]["url"]).query)["X-Amz-Expires"] == ["120"]


def test_presign_profile_picture_and_set_it_on_the_own_row(s3: Any, people: People, db: Db) -> None:
    """GIVEN a Buyer WHEN it presigns under profiles_pictures/, uploads, and sets its own profile_picture to the
    signed PUT URL THEN the row holds the key and a read returns a GET of it that fetches the bytes."""
    bo = people.buyer
    reply = presign([entry("me.webp", "profiles_pictures/bo", "image/webp")], bo)
    assert reply.status == 200, reply.envelope
    url = reply.body[0]["url"]
    key = url_key(url)
    assert key.startswith("profiles_pictures/bo/me-") and key.endswith(".webp")
    assert requests.put(url, data=PNG, headers={"Content-Type": "image/webp"}, timeout=10).status_code == 200

    updated = update_user(bo.user_id, {"profile_picture": url}, bo)

    assert updated.status == 201, updated.envelope
    assert sql(db, 'SELECT profile_picture FROM "User" WHERE id = :id', id=bo.user_id) == key
    read = get_items("User", ["id", "profile_picture"], {"id": bo.user_id}, bo)
    assert read.status == 200
    picture = read.body[0]["profile_picture"]
    assert url_key(picture) == key
    assert requests.get(picture, timeout=10).content == PNG


@pytest.mark.parametrize(
    ("entries", "listed"),
    [
        ([entry("a.jpg"), entry("b.svg", kind="image/svg+xml")], ["/1/fileType", "image/svg+xml"]),
        ([entry("a.pdf", kind="application/pdf"), entry("b.jpg")], ["/0/fileType", "application/pdf"]),
        ([entry("a.jpg"), entry("b.jpg", "other/2512")], ["/1/filePath", "other/2512"]),
        ([entry("a.jpg", "itemsx/2512")], ["/0/filePath", "itemsx/2512"]),
        (
            [entry("a.jpg", "PurchaseAppReact/../profiles_pictures/cia")],
            ["/0/filePath", "PurchaseAppReact/../profiles_pictures/cia"],
        ),
        ([entry("a.jpg", "")], ["/0/filePath"]),
        ([entry("a.jpg"), entry("b.jpg"), entry("a.jpg", "profiles_pictures/x")], ["/2/fileName", "'a.jpg'"]),
        ([entry("åäö.jpg")], ["/0/fileName"]),
        (
            [entry("a.jpg", kind="text/html"), entry("b.jpg", "secret/"), entry("c.jpg")],
            ["/0/fileType", "/1/filePath"],
        ),
    ],
    ids=[
        "bad-type",
        "pdf",
        "other-prefix",
        "prefix-lookalike",
        "dot-dot",
        "empty-path",
        "same-fileName-twice",
        "no-usable-name",
        "two-bad-entries",
    ],
)
def test_one_bad_entry_refuses_all_and_signs_nothing(
    s3: Any, people: People, signed: list[str], entries: list[dict[str, str]], listed: list[str]
) -> None:
    """GIVEN a batch with a bad type, a filePath outside the prefixes, or a fileName sent twice
    WHEN presigned THEN 400 listing the bad entries, and nothing is signed."""
    reply = presign(entries)

    assert reply.status == 400, reply.envelope
    for part in listed:
        assert part in reply.message, reply.message
    assert signed == []


@pytest.mark.parametrize(
    "body",
    [
        {"fileName": "a.jpg", "filePath": "PurchaseAppReact/", "fileType": "image/jpeg"},
        [],
        [{"fileName": "a.jpg", "filePath": "PurchaseAppReact/"}],
        [{"fileName": 5, "filePath": "PurchaseAppReact/", "fileType": "image/jpeg"}],
        ["a.jpg"],
        "not json",
    ],
    ids=["object-not-list", "empty-list", "missing-fileType", "number-name", "string-entry", "not-json"],
)
def test_malformed_presign_bodies_are_400(s3: Any, people: People, signed: list[str], body: Any) -> None:
    reply = presign(body)

    assert reply.status == 400, reply.envelope
    assert signed == []


@pytest.mark.parametrize("who", ["roleless", "viewer"])
def test_presign_without_a_grant_is_403(s3: Any, people: People, signed: list[str], who: str) -> None:
    """GIVEN a user without roles, or whose only role grants no upload prefix
    WHEN it presigns under PurchaseAppReact/ THEN 403, nothing signed."""
    reply = presign([entry("a.jpg")], getattr(people, who))

    assert reply.status == 403, reply.envelope
    assert signed == []


def test_presign_by_an_unknown_user_is_403(s3: Any, people: People, signed: list[str]) -> None:
    reply = presign([entry("a.jpg")], Person("sub-nobody", "nobody@example.com"))

    assert reply.status == 403
    assert signed == []


@pytest.fixture
def buyer_items_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default policy, except that Buyer's file grants cover PurchaseAppReact/ only (profiles_pictures/ is declared
    but not granted): a prefix the caller's role has no grant for."""
    import dataapi.identity.authorize
    from dataapi.identity.policy import Policy, PolicySpec, default_policy

    raw = default_policy().spec.model_dump()
    raw["principals"]["Buyer"]["files"] = {"presign": ["PurchaseAppReact/"], "delete": ["PurchaseAppReact/"]}
    narrowed = Policy(PolicySpec.model_validate(raw))
    monkeypatch.setattr(dataapi.identity.authorize, "default_policy", lambda: narrowed)


def test_presign_under_a_prefix_the_role_has_no_grant_for_is_403(
    s3: Any, people: People, signed: list[str], buyer_items_only: None
) -> None:
    """GIVEN a Buyer granted PurchaseAppReact/ only WHEN it presigns under PurchaseAppReact/ and profiles_pictures/ together
    THEN 403 naming profiles_pictures/, nothing signed; under PurchaseAppReact/ alone it is 200."""
    reply = presign(
        [entry("a.jpg", "PurchaseAppReact/1"), entry("me.png", "profiles_pictures/bo", "image/png")],
        people.buyer,
    )

    assert reply.status == 403, reply.envelope
    assert "profiles_pictures/bo" in reply.message
    assert "/1/filePath" in reply.server_message
    assert signed == []
    assert presign([entry("a.jpg", "PurchaseAppReact/1")], people.buyer).status == 200


def test_delete_under_a_prefix_the_role_has_no_grant_for_deletes_nothing(
    s3: Any, people: People, buyer_items_only: None
) -> None:
    """GIVEN a Buyer granted PurchaseAppReact/ only WHEN it deletes an PurchaseAppReact/ and a profiles_pictures/ key together
    THEN 400 listing the profiles_pictures/ entry (docs/contract.md §6: "not permitted → 400 listing them"), nothing deleted."""
    item_key, user_key = put(s3, "PurchaseAppReact/loose/a.jpg"), put(s3, "profiles_pictures/bo/draft.png")

    reply = delete([item_key, user_key], people.buyer)

    assert reply.status == 400, reply.envelope
    assert "/urls/1" in reply.message and "/urls/0" not in reply.message
    assert exists(s3, item_key) and exists(s3, user_key)


# ---- writes of file fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "pointer"),
    [
        (
            ["PurchaseAppReact/1/a.jpg", "https://images.example.com/PurchaseAppReact/1/b.jpg"],
            "/object_values/images/1",
        ),
        (
            [f"https://other-bucket.s3.{REGION}.amazonaws.com/PurchaseAppReact/1/b.jpg"],
            "/object_values/images/0",
        ),
        (
            ["PurchaseAppReact/1/a.jpg", "profiles_pictures/cia/me-000000000001.png"],
            "/object_values/images/1",
        ),
        (["PurchaseAppReact/1/../../profiles_pictures/x.png"], "/object_values/images/0"),
        ("PurchaseAppReact/1/a.jpg", "/object_values/images"),
    ],
    ids=["foreign-host", "other-bucket", "other-prefix", "dot-dot", "string-not-list"],
)
def test_create_refuses_values_that_are_not_keys_of_the_field(
    s3: Any, people: People, db: Db, images: Any, pointer: str
) -> None:
    """GIVEN images with a foreign host, another bucket, a key outside PurchaseAppReact/, or a string
    WHEN an Item is created THEN 400 naming images at its pointer, and no row is written."""
    reply = create({"article_number": "refused", "images": images})

    assert reply.status == 400, reply.envelope
    assert "images" in reply.message
    assert reply.server_message.endswith(f"at {pointer}"), reply.server_message
    assert sql(db, 'SELECT count(*) FROM "Item"') == 0


def test_a_buyer_cannot_set_its_picture_to_an_items_key(s3: Any, people: People, db: Db) -> None:
    reply = update_user(
        people.buyer.user_id, {"profile_picture": f"s3://{BUCKET}/PurchaseAppReact/1/a.jpg"}, people.buyer
    )

    assert reply.status == 400, reply.envelope
    assert "profile_picture" in reply.message
    assert sql(db, 'SELECT profile_picture FROM "User" WHERE id = :id', id=people.buyer.user_id) is None


def test_without_a_bucket_file_values_are_stored_and_read_as_sent(
    people: People, db: Db, monkeypatch
) -> None:
    """GIVEN no FILES_BUCKET WHEN items are created with any value and read back
    THEN the values are stored and returned as sent (the feature degrades, docs/contract.md §2)."""
    monkeypatch.delenv("FILES_BUCKET", raising=False)
    _reset_caches()
    images = ["https://images.example.com/x.jpg", "PurchaseAppReact/1/a.jpg"]

    created = create({"article_number": "no-bucket", "images": images})
    assert created.status == 201, created.envelope
    read = get_items("Item", ["id", "images"], {"id": created.body[0]["id"]})

    assert read.body[0]["images"] == images
    assert sql(db, 'SELECT images FROM "Item" WHERE id = :id', id=created.body[0]["id"]) == images


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_the_local_endpoint_form_is_accepted_when_configured(
    people: People, db: Db, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """GIVEN FILES_BUCKET and a local endpoint (moto_server) WHEN an Item is created with a
    path-style URL of that endpoint THEN the key is stored; another port is a foreign host."""
    monkeypatch.setenv("FILES_BUCKET", BUCKET)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:5001")
    _reset_caches()
    local = f"http://127.0.0.1:5001/{BUCKET}/PurchaseAppReact/local/b%C3%A5t.jpg?X-Amz-Signature=00ff"

    request = {"model_name": "Item", "object_values": {"images": [local]}, "requested_data": ["id"]}
    created = invoke(load_event("/api/schemes/create_items", request), "create_items")
    request["object_values"] = {"images": [local.replace(":5001", ":5002")]}
    refused = invoke(load_event("/api/schemes/create_items", request), "create_items")

    assert created.status == 201, created.envelope
    assert sql(db, 'SELECT images FROM "Item" WHERE id = :id', id=created.body[0]["id"]) == [
        "PurchaseAppReact/local/båt.jpg"
    ]
    assert refused.status == 400
    assert refused.server_message.endswith("at /object_values/images/0")
    _reset_caches()


# ---- delete ------------------------------------------------------------------------------------------


def test_every_accepted_form_deletes_its_object(s3: Any, people: People) -> None:
    """GIVEN one object per URL form (one key with a space and å/ä/ö, percent-encoded in URLs)
    WHEN all are deleted in one request, one of them twice and one already gone
    THEN 200 with body = the canonical keys, in request order, each once; every object is gone."""
    names = forms("x")
    keys = {
        form: put(s3, f"PurchaseAppReact/del/{i}-ö ä å.jpg" if i == 0 else f"PurchaseAppReact/del/{i}.jpg")
        for i, form in enumerate(names)
    }
    gone = "PurchaseAppReact/del/never-uploaded.jpg"
    urls = [forms(key)[form] for form, key in keys.items()]
    first = next(iter(keys.values()))
    urls += [forms(first)["path-style global"], forms(gone)["virtual-hosted regional"]]

    reply = delete(urls)

    assert reply.status == 200, reply.envelope
    assert reply.body == [*keys.values(), gone]
    assert not any(exists(s3, key) for key in keys.values())
    assert keys_in(s3) == []


def test_deleting_an_already_deleted_key_again_is_200(s3: Any, people: People) -> None:
    key = put(s3, "PurchaseAppReact/twice/a.jpg")

    assert delete([key]).body == [key]
    again = delete([forms(key)["s3 URI"]])

    assert again.status == 200
    assert again.body == [key]


@pytest.mark.parametrize(
    ("bad", "listed"),
    [
        ("https://images.example.com/PurchaseAppReact/keep/b.jpg", "/urls/1"),
        (f"https://other-bucket.s3.{REGION}.amazonaws.com/PurchaseAppReact/keep/b.jpg", "/urls/1"),
        ("ftp://files-bucket.s3.amazonaws.com/PurchaseAppReact/keep/b.jpg", "/urls/1"),
        ("other/keep/b.jpg", "/urls/1"),
        ("PurchaseAppReact/../other/b.jpg", "/urls/1"),
        ("", "/urls/1"),
        ("PurchaseAppReact/", "/urls/1"),
    ],
    ids=["foreign-host", "other-bucket", "ftp", "outside-prefixes", "dot-dot", "empty", "folder"],
)
def test_one_bad_url_refuses_all_and_deletes_nothing(s3: Any, people: People, bad: str, listed: str) -> None:
    """GIVEN a valid key and one entry outside the bucket or the prefixes
    WHEN deleted together THEN 400 listing the bad entry, and nothing is deleted."""
    keep = put(s3, "PurchaseAppReact/keep/a.jpg")
    put(s3, "other/keep/b.jpg")

    reply = delete([keep, bad])

    assert reply.status == 400, reply.envelope
    assert listed in reply.message
    assert "/urls/0" not in reply.message
    assert keys_in(s3) == ["PurchaseAppReact/keep/a.jpg", "other/keep/b.jpg"]


@pytest.mark.parametrize(
    "body",
    [
        {"urls": []},
        {"urls": "PurchaseAppReact/a.jpg"},
        {"urls": [5]},
        {"keys": ["PurchaseAppReact/a.jpg"]},
        ["PurchaseAppReact/a.jpg"],
        "nope",
    ],
    ids=["empty", "string", "number", "wrong-key", "list-body", "not-json"],
)
def test_malformed_delete_bodies_are_400(s3: Any, people: People, body: Any) -> None:
    keep = put(s3, "PurchaseAppReact/a.jpg")

    reply = delete_raw(body)

    assert reply.status == 400, reply.envelope
    assert exists(s3, keep)


def test_a_buyer_may_not_delete_another_users_picture(s3: Any, people: People, db: Db) -> None:
    """GIVEN another user's profile_picture key and an unreferenced key
    WHEN a Buyer deletes both THEN 400 listing the referenced one, nothing deleted."""
    theirs = put(s3, "profiles_pictures/cia/me-000000000001.png")
    loose = put(s3, "profiles_pictures/bo/draft.png")

    reply = delete(
        [forms(loose)["path-style regional"], forms(theirs)["virtual-hosted global"]], people.buyer
    )

    assert reply.status == 400, reply.envelope
    assert "/urls/1" in reply.message
    assert "/urls/0" not in reply.message
    assert exists(s3, theirs) and exists(s3, loose)


def test_a_buyer_may_delete_unreferenced_own_and_item_keys(s3: Any, people: People, db: Db) -> None:
    """GIVEN a key no row references, the Buyer's own picture, and an item's image
    WHEN the Buyer deletes them THEN 200 (it may update those rows), all gone."""
    loose = put(s3, "PurchaseAppReact/loose/a.jpg")
    mine = put(s3, "profiles_pictures/bo/me.png")
    image = put(s3, "PurchaseAppReact/2512-009/front.jpg")
    with db.engine.begin() as conn:
        conn.execute(
            text('UPDATE "User" SET profile_picture = :k WHERE id = :id'),
            {"k": mine, "id": people.buyer.user_id},
        )
    db.add(Item(article_number="2512-009", images=[image, "PurchaseAppReact/2512-009/back.jpg"]))

    reply = delete([loose, mine, forms(image)["s3 URI"]], people.buyer)

    assert reply.status == 200, reply.envelope
    assert reply.body == [loose, mine, image]
    assert keys_in(s3) == []


def test_an_admin_may_delete_another_users_picture(s3: Any, people: People) -> None:
    theirs = put(s3, "profiles_pictures/cia/me-000000000001.png")

    reply = delete([theirs])

    assert reply.status == 200
    assert reply.body == [theirs]
    assert not exists(s3, theirs)


def test_a_user_whose_role_grants_no_prefix_deletes_nothing(s3: Any, people: People) -> None:
    """GIVEN a Viewer (a role without file grants) WHEN it deletes an unreferenced key
    THEN refused (docs/contract.md §6: "not permitted → 400 listing them"; a policy denial is 403), nothing deleted."""
    key = put(s3, "PurchaseAppReact/loose/a.jpg")

    reply = delete([key], people.viewer)

    assert reply.status in (400, 403), reply.envelope
    assert exists(s3, key)


@pytest.mark.parametrize("who", ["roleless", "unknown"])
def test_delete_by_a_user_without_roles_or_unknown_is_403(s3: Any, people: People, who: str) -> None:
    key = put(s3, "PurchaseAppReact/loose/a.jpg")
    caller = people.roleless if who == "roleless" else Person("sub-nobody", "nobody@example.com")

    reply = delete([key], caller)

    assert reply.status == 403, reply.envelope
    assert exists(s3, key)


# ---- token and configuration --------------------------------------------------------------------------


def test_no_claims_is_401_on_both_routes(s3: Any, people: People, signed: list[str]) -> None:
    key = put(s3, "PurchaseAppReact/loose/a.jpg")

    presigned = invoke(load_event(PRESIGN, support.body("files_presign"), caller=None))
    deleted = delete([key], caller=None)

    assert presigned.status == deleted.status == 401
    assert signed == []
    assert exists(s3, key)


def test_without_a_bucket_both_routes_are_503(people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN no FILES_BUCKET WHEN either route is called THEN 503 in the envelope."""
    monkeypatch.delenv("FILES_BUCKET", raising=False)
    _reset_caches()

    presigned = presign([entry("a.jpg")])
    deleted = delete(["PurchaseAppReact/a.jpg"])

    assert presigned.status == deleted.status == 503
    assert "configured" in presigned.message and "configured" in deleted.message


def test_the_routes_answer_cors_for_the_browser(s3: Any, people: People) -> None:
    response = support.raw_invoke("files", load_event(PRESIGN, [entry("a.jpg")]))
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v})

    assert response["statusCode"] == 200
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-allow-credentials"] == "true"


# ---- product bugs (strict xfail: the test passes once the bug is fixed) -------------------------------


@pytest.mark.parametrize(
    "path", ["PurchaseAppReact/./2512", "PurchaseAppReact//2512"], ids=["dot-segment", "empty-segment"]
)
def test_presign_signs_only_keys_the_write_path_accepts(s3: Any, people: People, path: str) -> None:
    """GIVEN a filePath with a `.` or an empty segment WHEN presigned THEN either 400, or a key
    that an Item may then store (docs/contract.md §6: the client learns the key from the URL and sends it back)."""
    reply = presign([entry("a.jpg", path)])

    if reply.status == 200:
        assert object_key(reply.body[0]["url"], BUCKET, None) is not None, reply.body[0]["url"]
    else:
        assert reply.status == 400


def test_a_key_s3_refuses_to_delete_is_not_reported_deleted(s3: Any, people: People) -> None:
    """GIVEN a bucket policy denying s3:DeleteObject under PurchaseAppReact/locked/
    WHEN a locked and a free key are deleted THEN the answer does not say the locked one was deleted."""
    locked, free = put(s3, "PurchaseAppReact/locked/a.jpg"), put(s3, "PurchaseAppReact/free/b.jpg")
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:DeleteObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/PurchaseAppReact/locked/*",
                    }
                ],
            }
        ),
    )

    reply = delete([free, locked])

    assert exists(s3, locked)  # S3 kept it
    assert not (reply.status == 200 and locked in reply.body), reply.envelope


def test_a_picture_stored_as_a_url_still_protects_its_object(s3: Any, people: People, db: Db) -> None:
    """GIVEN another user's row holding its picture as a URL of the bucket (an adopted old row)
    WHEN a Buyer deletes that key THEN 400 and the object stays, as for a row holding the key."""
    key = put(s3, "profiles_pictures/cia/legacy.png")
    with db.engine.begin() as conn:
        conn.execute(
            text('UPDATE "User" SET profile_picture = :u WHERE id = :id'),
            {"u": forms(key)["virtual-hosted regional"], "id": people.other_buyer.user_id},
        )

    reply = delete([key], people.buyer)

    assert reply.status == 400, reply.envelope
    assert exists(s3, key)


def test_the_rows_using_many_keys_are_found_by_one_statement_per_file_column(
    s3: Any, people: People, db: Db
) -> None:
    """GIVEN 300 keys, one used by another user's picture stored as a URL and one by an item
    WHEN a Buyer deletes them all THEN that picture's key is refused (400 naming its entry), found
    with the rest by one statement per file column, the same count as for one key."""
    keys = [put(s3, f"PurchaseAppReact/many/{i}.jpg") for i in range(298)]
    theirs = put(s3, "profiles_pictures/cia/many.png")
    image = put(s3, "PurchaseAppReact/many/item.jpg")
    with db.engine.begin() as conn:
        conn.execute(
            text('UPDATE "User" SET profile_picture = :u WHERE id = :id'),
            {"u": forms(theirs)["virtual-hosted regional"], "id": people.other_buyer.user_id},
        )
    db.add(Item(article_number="2512-300", images=[image]))

    _CONNECTING = ("select pg_catalog.version()", "select current_schema()", "show ")  # a new connection's

    def owner_lookups(urls: list[str]) -> tuple[Reply, int]:
        with wire.watched() as seen:
            reply = delete(urls, people.buyer)
        return reply, len([s for s in seen if not s.lower().startswith(_CONNECTING)])

    many, statements = owner_lookups([*keys, image, theirs])
    assert many.status == 400, many.envelope
    assert "/urls/299: a row you may not change still uses it" in many.message
    assert "/urls/298" not in many.message
    one, once = owner_lookups([keys[0]])
    assert one.status == 200, one.envelope
    assert statements == once == 3, (statements, once)  # the caller, then one per file column
