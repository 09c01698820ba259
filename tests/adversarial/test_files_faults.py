"""S3 faults during POST /api/delete-image-url answer in the envelope, naming the service.

moto serves the bucket in-process; the fault is injected with botocore's own event hooks on the
product's S3 client (`before-call`), so the product code runs unchanged up to the S3 call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from dataapi.settings import get_settings
from dataapi.storage import files as filesmod
from dataapi.storage.files import Files
from tests.adversarial.support import World, call
from tests.handler import support

BUCKET = "files-bucket"
REGION = "eu-north-1"
KEY = "PurchaseAppReact/2511-001/broken.jpg"


@pytest.fixture
def s3(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    support.offline_aws(monkeypatch, BUCKET, REGION)
    get_settings.cache_clear()
    filesmod._s3.cache_clear()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_object(Bucket=BUCKET, Key=KEY, Body=b"jpeg", ContentType="image/jpeg")
        yield client
    get_settings.cache_clear()
    filesmod._s3.cache_clear()


def _fail_deletes_with(error: Exception) -> Any:
    """Make the product's S3 client raise `error` on DeleteObjects (botocore's before-call hook)."""

    def hook(**_: Any) -> None:
        raise error

    Files(get_settings()).client.meta.events.register("before-call.s3.DeleteObjects", hook)
    return hook


def _still_there(s3: Any) -> bool:
    return s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 1


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "x"}}, "DeleteObjects"),
            502,
            "S3 AccessDenied",
        ),
        (ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "DeleteObjects"), 503, "S3 SlowDown"),
        (
            EndpointConnectionError(endpoint_url="https://s3.eu-north-1.amazonaws.com"),
            503,
            "S3 EndpointConnectionError",
        ),
    ],
)
def test_s3_faults_during_deletion_are_answered_in_the_envelope(
    s3: Any, error: Exception, status: int, detail: str
) -> None:
    hook = _fail_deletes_with(error)
    reply = call("delete_files", {"urls": [KEY]})
    assert reply.status == status, reply.envelope
    assert "S3" in reply.message
    assert detail in reply.server_message
    assert _still_there(s3)
    Files(get_settings()).client.meta.events.unregister("before-call.s3.DeleteObjects", hook)
    reply = call("delete_files", {"urls": [KEY]})
    assert reply.status == 200, reply.envelope
    assert reply.body == [KEY]
    assert not _still_there(s3)


UPLOAD = {"fileName": "snapshot_1.webp", "filePath": "PurchaseAppReact", "fileType": "image/webp"}
UNSAFE_PATHS = {
    "CR LF": "PurchaseAppReact/a\r\nX-Injected: 1",
    "NUL": "PurchaseAppReact/a\x00b",
    "percent-encoded dot segment": "PurchaseAppReact/%2e%2e/profiles_pictures",
    "full-width dot segment": "PurchaseAppReact/\uff0e\uff0e/profiles_pictures",
    "backslash": "PurchaseAppReact\\..\\profiles_pictures",
    "over S3's 1,024 bytes": "PurchaseAppReact/" + "x" * 1000,
}


@pytest.mark.parametrize("case", list(UNSAFE_PATHS))
def test_an_upload_path_s3_or_a_reader_would_take_for_another_is_refused(s3: Any, case: str) -> None:
    """GIVEN an upload entry whose filePath holds control characters, an escaped or full-width dot
    segment, a backslash, or makes a key over S3's limit WHEN presigned THEN 400 naming the entry's
    filePath, and nothing signed."""
    reply = call("presign", [UPLOAD, {**UPLOAD, "fileName": "b.webp", "filePath": UNSAFE_PATHS[case]}])

    assert reply.status == 400, reply.envelope
    assert "/1/filePath" in reply.message
    assert "/0/" not in reply.message


def test_presigning_without_credentials_is_a_503_naming_s3(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a function whose credentials cannot be found (none in the environment, no instance
    metadata) WHEN it signs an upload THEN 503 naming S3 in the envelope, not a 500."""
    support.offline_aws(
        monkeypatch, BUCKET, REGION, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"
    )
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    get_settings.cache_clear()
    filesmod._s3.cache_clear()
    try:
        reply = call("presign", [UPLOAD])
    finally:
        get_settings.cache_clear()
        filesmod._s3.cache_clear()

    assert reply.status == 503, reply.envelope
    assert reply.server_message == "Unavailable S3 NoCredentialsError"


@pytest.mark.parametrize(
    "url", ["PurchaseAppReact/a\x00.jpg", f"https://{BUCKET}.s3.amazonaws.com/PurchaseAppReact/a%00.jpg"]
)
def test_a_url_with_a_nul_character_is_refused_before_any_sql(s3: Any, url: str) -> None:
    """GIVEN a URL or key holding NUL (PostgreSQL text cannot) WHEN deleted by URL THEN 400 naming
    its entry, and the bucket untouched."""
    reply = call("delete_files", {"urls": [KEY, url]})

    assert reply.status == 400, reply.envelope
    assert "/urls/1" in reply.message and "/urls/0" not in reply.message
    assert _still_there(s3)
