"""An Idempotency-Key on `delete-image-url` (docs/contract.md §4.6), with moto's S3: a replay
answers the first answer and calls S3 no more, so a file uploaded again under the same key after
the first deletion survives the retry; a deletion S3 refused is not stored, and its retry runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.handler.files_support import ADMIN, invoke
from tests.handler.support import Db, event
from tests.handler.test_files import BUCKET, DELETE, _reset_caches, exists, put, s3  # noqa: F401 (the fixture)

KEY = "delete-front-image-1"
OBJECT = "PurchaseAppReact/2512-0042/front.jpg"


def send(urls: list[str], key: str = KEY) -> Any:
    return invoke(event(DELETE, {"urls": urls}, claims=ADMIN.claims, headers={"Idempotency-Key": key}))


def test_given_a_keyed_deletion_when_sent_again_then_replayed_without_calling_s3(s3: Any, db: Db) -> None:  # noqa: F811
    put(s3, OBJECT)
    first = send([OBJECT])
    assert first.status == 200 and first.body == [OBJECT]
    assert not exists(s3, OBJECT)
    put(s3, OBJECT)  # uploaded again since: a second deletion would remove it
    again = send([OBJECT])
    assert again.status == 200 and again.headers["idempotent-replayed"] == "true"
    assert {k: v for k, v in again.envelope.items() if k != "request_id"} == {
        k: v for k, v in first.envelope.items() if k != "request_id"
    }
    assert exists(s3, OBJECT)


def test_given_a_keyed_deletion_s3_refused_when_retried_then_it_runs(
    s3: Any,  # noqa: F811
    db: Db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(s3, OBJECT)
    monkeypatch.setenv("FILES_BUCKET", "no-such-bucket")  # S3 answers NoSuchBucket: 502
    _reset_caches()
    refused = send([OBJECT])
    assert refused.status == 502 and exists(s3, OBJECT)
    monkeypatch.setenv("FILES_BUCKET", BUCKET)
    _reset_caches()
    ran = send([OBJECT])
    assert ran.status == 200 and "idempotent-replayed" not in ran.headers
    assert not exists(s3, OBJECT)
