"""`make dev`'s demo data is data the existing front end can show.

Its screens know a fixed vocabulary (a value outside it can blank a screen), expect every note to
have a subject, and load every image a row references. The demo data is loaded into a fresh
database; its images are uploaded to a moto bucket in-process, as `make dev` uploads them to
moto_server.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from devtools.demo_data import demo_images, load_demo_data, upload_demo_images

pytestmark = pytest.mark.db

# The front end's lists (the legacy deployment's notes on its habits).
STATES = {"In-Standby", "In-Progress", "In-Transit", "Completed"}
LOCATIONS = {"In-Dealer", "In-Transport", "In-Warehouse", "In-Shop", "In-Client"}
TYPES = {
    "Seating": {"Dining Chair", "Easy Chair", "Armchair", "Sofa", "Stool", "Other Seating"},
    "Tables": {"Writing Desk", "Dining Table", "Nest of Tables", "Bedside Table", "Coffee Table", "Hall Table",
               "Side Table", "Other Table"},
    "Storages": {"Sideboard", "Highboard", "Bookshelf", "Chest of Drawers", "Bar Cabinet", "Wardrobe",
                 "Other Storage"},
    "Lamps": {"Floor Lamp", "Table Lamp", "Ceiling Lamp", "Wall Lamp", "Other Lamp"},
    "Decorations": {"Poster", "Porcelain", "Picture", "Other Decoration"},
}  # fmt: skip
DEALER_TYPES = {"Market", "Auction", "Private"}
BUCKET = "dataapi-local-files"
REGION = "eu-north-1"


@pytest.fixture
def demo(fresh_db: str) -> Iterator[Engine]:
    engine = create_engine(fresh_db, poolclass=NullPool)
    with Session(engine) as session, session.begin():
        load_demo_data(session, now=datetime(2025, 12, 5, 12, 0, tzinfo=UTC))
    yield engine
    engine.dispose()


def values(engine: Engine, query: str) -> list[Any]:
    with engine.connect() as conn:
        return [tuple(r) if len(r) > 1 else r[0] for r in conn.execute(text(query))]


def test_items_dealers_and_history_use_the_front_ends_vocabulary(demo: Engine) -> None:
    """GIVEN the demo data THEN every state, location, category/type pair and dealer type is one
    the front end lists, in the rows and in the item history; every list value occurs."""
    assert set(values(demo, 'SELECT DISTINCT state FROM "Item"')) == STATES
    assert set(values(demo, 'SELECT DISTINCT location FROM "Item"')) == LOCATIONS
    pairs = values(demo, 'SELECT DISTINCT category, type FROM "Item"')
    assert {c for c, _ in pairs} == set(TYPES)
    assert [(c, t) for c, t in pairs if t not in TYPES[c]] == []
    assert set(values(demo, 'SELECT DISTINCT dealer_type FROM "Dealer"')) == DEALER_TYPES
    history = values(
        demo,
        """SELECT DISTINCT column_name, to_value #>> '{}' FROM "Item_History"
            WHERE column_name IN ('state', 'location')""",
    )
    assert [h for h in history if h[1] not in (STATES if h[0] == "state" else LOCATIONS)] == []


def test_every_note_has_a_subject_and_the_counters_are_the_databases(demo: Engine) -> None:
    assert values(demo, 'SELECT count(*) FROM "Item_Note" WHERE subject_id IS NULL') == [0]
    assert values(
        demo,
        """SELECT count(*) FROM "Item_Notes_Subject" s WHERE notes_counter <> (SELECT count(*)
             FROM "Items_Notes" l JOIN "Item_Note" n ON n.id = l.note_id WHERE n.subject_id = s.id)""",
    ) == [0]
    assert values(
        demo,
        'SELECT (SELECT sum(item_count) FROM "Dealer") >= (SELECT count(*) FROM "Item" WHERE dealer_id IS NOT NULL)',
    ) == [True]


def _is_png(data: bytes) -> tuple[int, int]:
    """Parse a PNG fully (signature, chunk CRCs, IHDR, inflated rows); its size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
    assert b"IEND" in chunks
    return width, height


def test_every_referenced_image_exists_in_the_bucket_as_a_real_image(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the demo data WHEN its images are uploaded as `make dev` does THEN every key an item
    or a user references is an object of the bucket, under the front end's folders, stored as
    image/png whose bytes are a valid PNG."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    referenced = set(
        values(
            demo,
            """SELECT key FROM "Item", jsonb_array_elements_text(images) AS key
               UNION SELECT profile_picture FROM "User" WHERE profile_picture IS NOT NULL""",
        )
    )
    assert any(k.startswith("PurchaseAppReact/") for k in referenced)
    assert any(k.startswith("profiles_pictures/") for k in referenced)
    assert all(k.startswith(("PurchaseAppReact/", "profiles_pictures/")) for k in referenced)

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        with Session(demo) as session:
            uploaded = upload_demo_images(session, s3, BUCKET)
        stored = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                  for o in page.get("Contents", [])}  # fmt: skip
        assert uploaded == len(referenced) and stored == referenced
        sample = sorted(referenced)[:: max(1, len(referenced) // 20)]
        for key in sample:
            got = s3.get_object(Bucket=BUCKET, Key=key)
            assert got["ContentType"] == "image/png"
            assert _is_png(got["Body"].read()) == (48, 48)
    with Session(demo) as session:
        assert all(_is_png(data) for data in demo_images(session).values())


def test_item_issues_have_the_shape_the_front_end_writes(demo: Engine) -> None:
    """GIVEN the demo data THEN every Item.issues entry is {"location", "issue"}, as the front end
    writes and filters them (not {"part", "issue", "severity"}), and some items have issues."""
    shapes = values(demo, """SELECT DISTINCT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e) AS k)
                             FROM "Item", jsonb_array_elements(issues) AS e""")  # fmt: skip
    assert shapes == [["issue", "location"]]
