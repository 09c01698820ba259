"""File fields without a database or a network (docs/contract.md §6): every URL form of the project's bucket
canonicalized to its object key, what is refused, and what each presigned URL signs.

Signing is local to botocore: with dummy credentials from the environment no request is sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest

from dataapi.errors import WrongValueType
from dataapi.registry import default_registry
from dataapi.settings import Settings, load_settings
from dataapi.storage import files as filesmod
from dataapi.storage.files import Files, object_key

BUCKET = "files-bucket"
REGION = "eu-north-1"
LOCAL = "http://127.0.0.1:5001"
KEY = "PurchaseAppReact/2512-001/chair-0a1b2c3d4e5f.jpg"

IMAGES = default_registry().models["Item"].columns["images"]
PICTURE = default_registry().models["User"].columns["profile_picture"]
SIGNED_QUERY = (
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20251205%2Feu-north-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20251205T134510Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=0f1e2d3c"
)


@pytest.fixture(autouse=True)
def dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials from the environment only (no profile, no instance metadata), and a
    fresh S3 client per test so none built with other settings is reused."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEUNITTEST",
        "AWS_SECRET_ACCESS_KEY": "unit-test-secret",
        "AWS_SESSION_TOKEN": "unit-test-token",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    # boto3's default session keeps the credentials it resolved first (another test's, when the
    # local stack's helpers made it): a session of this test's own.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    filesmod._s3.cache_clear()
    yield
    filesmod._s3.cache_clear()


def files(**changes: Any) -> Files:
    values: dict[str, Any] = {"files_bucket": BUCKET, "aws_region": REGION}
    values.update(changes)
    return Files(Settings(**values))


# ---- canonicalization: every accepted form ----------------------------------------------------

ACCEPTED = {
    "bare key": KEY,
    "leading slash": "/" + KEY,
    "s3 URI": f"s3://{BUCKET}/{KEY}",
    "virtual-hosted global": f"https://{BUCKET}.s3.amazonaws.com/{KEY}",
    "virtual-hosted regional": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{KEY}",
    "virtual-hosted legacy dash": f"https://{BUCKET}.s3-{REGION}.amazonaws.com/{KEY}",
    "virtual-hosted dual-stack": f"https://{BUCKET}.s3.dualstack.{REGION}.amazonaws.com/{KEY}",
    "virtual-hosted plain http": f"http://{BUCKET}.s3.{REGION}.amazonaws.com/{KEY}",
    "virtual-hosted upper-case host": f"https://{BUCKET.upper()}.S3.AMAZONAWS.COM/{KEY}",
    "path-style global": f"https://s3.amazonaws.com/{BUCKET}/{KEY}",
    "path-style regional": f"https://s3.{REGION}.amazonaws.com/{BUCKET}/{KEY}",
    "path-style legacy dash": f"https://s3-{REGION}.amazonaws.com/{BUCKET}/{KEY}",
    "path-style dual-stack": f"https://s3.dualstack.{REGION}.amazonaws.com/{BUCKET}/{KEY}",
    "local endpoint path-style": f"{LOCAL}/{BUCKET}/{KEY}",
    "signed virtual-hosted": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{KEY}{SIGNED_QUERY}",
    "signed path-style": f"https://s3.{REGION}.amazonaws.com/{BUCKET}/{KEY}{SIGNED_QUERY}",
    "signed local endpoint": f"{LOCAL}/{BUCKET}/{KEY}{SIGNED_QUERY}",
    "fragment": f"https://{BUCKET}.s3.amazonaws.com/{KEY}#top",
}


@pytest.mark.parametrize("value", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_every_form_of_the_bucket_names_the_key(value: str) -> None:
    """GIVEN a key or a URL of the project's bucket in any form WHEN canonicalized THEN the key."""
    assert object_key(value, BUCKET, LOCAL) == KEY


@pytest.mark.parametrize(
    "value",
    [v for name, v in ACCEPTED.items() if "local" not in name],
    ids=[name for name in ACCEPTED if "local" not in name],
)
def test_aws_forms_need_no_local_endpoint(value: str) -> None:
    """GIVEN no local endpoint (in AWS) WHEN an AWS form is canonicalized THEN still the key."""
    assert object_key(value, BUCKET, None) == KEY


PERCENT_ENCODED = {
    "space": ("PurchaseAppReact/2512-001/soffa%20gr%C3%B6n.jpg", "PurchaseAppReact/2512-001/soffa grön.jpg"),
    "å ä ö": ("PurchaseAppReact/%C3%A5%C3%A4%C3%B6/b%C3%A5t.png", "PurchaseAppReact/åäö/båt.png"),
    "upper-case Å Ä Ö": ("profiles_pictures/%C3%85SA-%C3%84-%C3%96.webp", "profiles_pictures/ÅSA-Ä-Ö.webp"),
    "literal plus": ("PurchaseAppReact/a+b.jpg", "PurchaseAppReact/a+b.jpg"),
}


@pytest.mark.parametrize(("encoded", "key"), PERCENT_ENCODED.values(), ids=PERCENT_ENCODED.keys())
@pytest.mark.parametrize(
    "template",
    [
        "https://{bucket}.s3.{region}.amazonaws.com/{path}",
        "https://{bucket}.s3.amazonaws.com/{path}" + SIGNED_QUERY,
        "https://s3.{region}.amazonaws.com/{bucket}/{path}",
        "s3://{bucket}/{path}",
        LOCAL + "/{bucket}/{path}" + SIGNED_QUERY,
    ],
    ids=["virtual-hosted", "signed-global", "path-style", "s3-uri", "local-signed"],
)
def test_percent_encoded_keys_are_decoded_in_urls(template: str, encoded: str, key: str) -> None:
    """GIVEN a URL whose path is percent-encoded (spaces, å/ä/ö) WHEN canonicalized
    THEN the decoded key, as S3 stores it (a `+` in a path is a plus, not a space)."""
    url = template.format(bucket=BUCKET, region=REGION, path=encoded)

    assert object_key(url, BUCKET, LOCAL) == key


def test_a_bare_key_is_taken_literally() -> None:
    """GIVEN a bare key with characters that look encoded WHEN canonicalized THEN kept as sent
    (only URLs are percent-decoded)."""
    assert object_key("PurchaseAppReact/100%20off.jpg", BUCKET, None) == "PurchaseAppReact/100%20off.jpg"
    assert object_key("PurchaseAppReact/soffa grön.jpg", BUCKET, None) == "PurchaseAppReact/soffa grön.jpg"


REFUSED = {
    "other host": f"https://images.example.com/{KEY}",
    "other host with the bucket as path": f"https://evil.example/{BUCKET}/{KEY}",
    "bucket host as a prefix of another domain": f"https://{BUCKET}.s3.amazonaws.com.evil.example/{KEY}",
    "other bucket virtual-hosted": f"https://other-bucket.s3.{REGION}.amazonaws.com/{KEY}",
    "other bucket path-style": f"https://s3.amazonaws.com/other-bucket/{KEY}",
    "other bucket s3 URI": f"s3://other-bucket/{KEY}",
    "bucket name as a prefix": f"https://{BUCKET}-2.s3.amazonaws.com/{KEY}",
    "sub-domain of the bucket": f"https://x.{BUCKET}x.s3.amazonaws.com/{KEY}",
    "local endpoint other port": f"http://127.0.0.1:9999/{BUCKET}/{KEY}",
    "local endpoint other bucket": f"{LOCAL}/other-bucket/{KEY}",
    "ftp scheme": f"ftp://{BUCKET}.s3.amazonaws.com/{KEY}",
    "file scheme": f"file:///{BUCKET}/{KEY}",
    "javascript scheme": f"javascript://{BUCKET}.s3.amazonaws.com/{KEY}",
    "dot-dot in a key": "PurchaseAppReact/../profiles_pictures/someone.jpg",
    "dot-dot in a URL": f"https://{BUCKET}.s3.amazonaws.com/PurchaseAppReact/../profiles_pictures/someone.jpg",
    "encoded dot-dot in a URL": f"https://{BUCKET}.s3.amazonaws.com/PurchaseAppReact/%2E%2E/profiles_pictures/someone.jpg",
    "dot segment": "PurchaseAppReact/./chair.jpg",
    "empty segment": "PurchaseAppReact//chair.jpg",
    "empty string": "",
    "only a slash": "/",
    "folder only": "PurchaseAppReact/",
    "bucket root virtual-hosted": f"https://{BUCKET}.s3.amazonaws.com/",
    "bucket only path-style": f"https://s3.amazonaws.com/{BUCKET}",
    "bucket root s3 URI": f"s3://{BUCKET}/",
}


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_anything_else_names_no_key(value: str) -> None:
    """GIVEN other hosts, buckets or schemes, `..`/`.`/empty segments, or no key
    WHEN canonicalized THEN None (the caller refuses it)."""
    assert object_key(value, BUCKET, LOCAL) is None


def test_the_local_endpoint_form_is_refused_when_no_endpoint_is_configured() -> None:
    """GIVEN no local endpoint (in AWS) WHEN a 127.0.0.1 URL arrives THEN it is not ours."""
    assert object_key(f"{LOCAL}/{BUCKET}/{KEY}", BUCKET, None) is None


def test_files_key_strips_whitespace_and_refuses_non_strings() -> None:
    f = files(s3_endpoint_url=LOCAL)

    assert f.key(f"  https://{BUCKET}.s3.amazonaws.com/{KEY}\n") == KEY
    assert f.key(12) is None
    assert f.key(None) is None
    assert f.key({"key": KEY}) is None


# ---- Files.canonical: what a write stores --------------------------------------------------------


def test_a_list_field_stores_the_keys_in_order() -> None:
    """GIVEN Item.images as a mix of forms WHEN canonicalized THEN the keys, in the order sent."""
    sent = [
        f"https://{BUCKET}.s3.{REGION}.amazonaws.com/PurchaseAppReact/1/a.jpg{SIGNED_QUERY}",
        "PurchaseAppReact/1/b.jpg",
        f"s3://{BUCKET}/PurchaseAppReact/1/c%20d.jpg",
        f"https://s3.amazonaws.com/{BUCKET}/PurchaseAppReact/1/%C3%A5.jpg",
    ]

    stored = files().canonical(IMAGES, sent, "/object_values/images")

    assert stored == [
        "PurchaseAppReact/1/a.jpg",
        "PurchaseAppReact/1/b.jpg",
        "PurchaseAppReact/1/c d.jpg",
        "PurchaseAppReact/1/å.jpg",
    ]


def test_a_single_field_stores_its_key() -> None:
    url = f"{LOCAL}/{BUCKET}/profiles_pictures/7/me.png{SIGNED_QUERY}"

    stored = files(s3_endpoint_url=LOCAL).canonical(PICTURE, url, "/object_values/profile_picture")

    assert stored == "profiles_pictures/7/me.png"


@pytest.mark.parametrize("column", [IMAGES, PICTURE], ids=["images", "profile_picture"])
def test_null_and_empty_list_pass_through(column: Any) -> None:
    assert files().canonical(column, None, "/object_values/x") is None
    if column is IMAGES:
        assert files().canonical(column, [], "/object_values/images") == []


def test_a_non_file_column_is_untouched() -> None:
    state = default_registry().models["Item"].columns["state"]

    assert files().canonical(state, "https://images.example.com/x.jpg", "/object_values/state") == (
        "https://images.example.com/x.jpg"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "profiles_pictures/7/me.png",  # a key of another field's prefix
        "other/x.jpg",  # no declared prefix at all
        "itemsx/x.jpg",  # a prefix only as a string prefix of the folder name
        f"https://images.example.com/PurchaseAppReact/{KEY}",
        f"https://other-bucket.s3.amazonaws.com/{KEY}",
        "PurchaseAppReact/../profiles_pictures/7/me.png",
        "",
        17,
        None,
        {"key": KEY},
    ],
    ids=[
        "other-prefix",
        "no-prefix",
        "prefix-lookalike",
        "other-host",
        "other-bucket",
        "dot-dot",
        "empty",
        "number",
        "null-element",
        "object",
    ],
)
def test_a_bad_list_element_is_400_naming_the_field_and_its_pointer(bad: Any) -> None:
    """GIVEN images whose second element is not a key under PurchaseAppReact/ of our bucket
    WHEN canonicalized THEN 400 naming `images`, pointing at /object_values/images/1."""
    with pytest.raises(WrongValueType) as caught:
        files().canonical(
            IMAGES, ["PurchaseAppReact/1/a.jpg", bad, "PurchaseAppReact/1/c.jpg"], "/object_values/images"
        )

    exc = caught.value
    assert exc.status == 400
    assert exc.at == "/object_values/images/1"
    assert "'images'" in exc.message
    assert "PurchaseAppReact/" in exc.message
    assert "field=images" in exc.server_message
    assert exc.server_message.endswith("at /object_values/images/1")


def test_a_single_field_outside_its_prefix_is_400_at_its_pointer() -> None:
    """GIVEN profile_picture set to an PurchaseAppReact/ key WHEN canonicalized THEN 400 at the field."""
    with pytest.raises(WrongValueType) as caught:
        files().canonical(
            PICTURE, f"s3://{BUCKET}/PurchaseAppReact/1/a.jpg", "/object_values/profile_picture"
        )

    assert caught.value.status == 400
    assert caught.value.at == "/object_values/profile_picture"
    assert "'profile_picture'" in caught.value.message
    assert "profiles_pictures/" in caught.value.message


def test_a_pointer_into_a_batch_is_kept() -> None:
    with pytest.raises(WrongValueType) as caught:
        files().canonical(IMAGES, ["https://images.example.com/a.jpg"], "/2/object_values/0/images")

    assert caught.value.at == "/2/object_values/0/images/0"


@pytest.mark.parametrize(
    "value",
    ["PurchaseAppReact/1/a.jpg", {"0": "PurchaseAppReact/1/a.jpg"}, 5],
    ids=["string", "object", "int"],
)
def test_a_list_field_given_no_list_is_400(value: Any) -> None:
    """GIVEN Item.images (a list) given a single string WHEN canonicalized THEN 400 at the field."""
    with pytest.raises(WrongValueType) as caught:
        files().canonical(IMAGES, value, "/object_values/images")

    assert caught.value.status == 400
    assert caught.value.at == "/object_values/images"
    assert "'images'" in caught.value.message
    assert "list" in caught.value.message


def test_without_a_bucket_values_pass_through_as_stored_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN no FILES_BUCKET WHEN file values are canonicalized THEN stored as sent (even foreign
    URLs: nothing can tell ours apart) and a warning is logged; reads leave values as stored."""
    warnings: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        filesmod.logger, "warning", lambda msg, *a, **kw: warnings.append((msg, kw.get("extra") or {}))
    )
    f = Files(Settings(files_bucket=None))
    sent = ["https://images.example.com/a.jpg", "PurchaseAppReact/1/b.jpg", "whatever"]

    assert not f.configured
    assert f.canonical(IMAGES, sent, "/object_values/images") == sent
    assert f.canonical(PICTURE, "not even a key", "/object_values/profile_picture") == "not even a key"
    assert f.key(f"s3://{BUCKET}/{KEY}") is None
    assert f.sign_value(["PurchaseAppReact/1/b.jpg"]) == ["PurchaseAppReact/1/b.jpg"]
    assert len(warnings) == 2
    assert all("bucket" in msg for msg, _ in warnings)
    assert [extra.get("field") for _, extra in warnings] == ["images", "profile_picture"]


# ---- settings ------------------------------------------------------------------------------------


def test_file_settings_come_from_the_environment() -> None:
    settings = load_settings(
        {
            "FILES_BUCKET": BUCKET,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_S3": LOCAL,
            "GET_URL_SECONDS": "900",
            "PUT_URL_SECONDS": "120",
            "UPLOAD_TYPES": "image/png, image/jpeg",
        }
    )

    assert settings.files_bucket == BUCKET
    assert settings.aws_region == "eu-west-1"
    assert settings.s3_endpoint_url == LOCAL
    assert settings.get_url_seconds == 900
    assert settings.put_url_seconds == 120
    assert settings.upload_types == ("image/png", "image/jpeg")


def test_local_defaults_leave_files_unconfigured() -> None:
    settings = load_settings({})

    assert settings.files_bucket is None
    assert not Files(settings).configured
    assert settings.put_url_seconds <= 3600  # "expires in minutes"


# ---- what the presigned URLs sign ---------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values()), parsed
    return {k: v[0] for k, v in parsed.items()}


def signed_headers(url: str) -> list[str]:
    return query_of(url)["X-Amz-SignedHeaders"].split(";")


@pytest.mark.parametrize("seconds", [60, 300, 900])
def test_a_put_url_signs_the_content_type_and_expires_in_put_url_seconds(seconds: int) -> None:
    """GIVEN PUT_URL_SECONDS WHEN a PUT is signed THEN SigV4 query auth with that expiry, the
    Content-Type among the signed headers, for the bucket's virtual-hosted regional host and the key."""
    url = files(put_url_seconds=seconds).sign_put(KEY, "image/jpeg")
    parts = urlsplit(url)
    query = query_of(url)

    assert parts.scheme == "https"
    assert parts.hostname == f"{BUCKET}.s3.{REGION}.amazonaws.com"
    assert unquote(parts.path) == "/" + KEY
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == str(seconds)
    assert "content-type" in signed_headers(url)
    assert "host" in signed_headers(url)
    assert query["X-Amz-Credential"].split("/")[0] == "AKIAEXAMPLEUNITTEST"
    assert query["X-Amz-Credential"].split("/")[2:] == [REGION, "s3", "aws4_request"]
    assert query["X-Amz-Security-Token"] == "unit-test-token"
    assert query["X-Amz-Signature"]
    assert object_key(url, BUCKET, None) == KEY


def test_a_put_url_uses_the_default_expiry_from_settings() -> None:
    url = files().sign_put(KEY, "image/png")

    assert query_of(url)["X-Amz-Expires"] == str(Settings().put_url_seconds) == "300"


@pytest.mark.parametrize("seconds", [60, 3600, 43200])
def test_a_get_url_signs_only_the_host_and_expires_in_get_url_seconds(seconds: int) -> None:
    url = files(get_url_seconds=seconds).sign_get(KEY)
    parts = urlsplit(url)
    query = query_of(url)

    assert parts.hostname == f"{BUCKET}.s3.{REGION}.amazonaws.com"
    assert unquote(parts.path) == "/" + KEY
    assert query["X-Amz-Expires"] == str(seconds)
    assert signed_headers(url) == ["host"]
    assert "Content-Type" not in query and "response-content-type" not in query
    assert object_key(url, BUCKET, None) == KEY


def test_the_local_endpoint_signs_path_style_urls_that_canonicalize_back() -> None:
    """GIVEN AWS_ENDPOINT_URL (moto_server locally) WHEN URLs are signed THEN path-style on the
    endpoint, and each canonicalizes back to its key."""
    f = files(s3_endpoint_url=LOCAL, get_url_seconds=600, put_url_seconds=120)

    put, get = f.sign_put(KEY, "image/webp"), f.sign_get(KEY)

    for url in (put, get):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == LOCAL
        assert unquote(parts.path) == f"/{BUCKET}/{KEY}"
        assert f.key(url) == KEY
    assert query_of(put)["X-Amz-Expires"] == "120"
    assert "content-type" in signed_headers(put)
    assert query_of(get)["X-Amz-Expires"] == "600"
    assert signed_headers(get) == ["host"]


@pytest.mark.parametrize(
    "key",
    ["PurchaseAppReact/soffa grön/b å t.jpg", "profiles_pictures/ÅSA+Ö.png", "PurchaseAppReact/a%20b.jpg"],
)
def test_signed_urls_of_awkward_keys_canonicalize_back(key: str) -> None:
    """GIVEN keys with spaces, å/ä/ö, `+` and `%` WHEN signed THEN the URL's key decodes back exactly."""
    f = files()

    assert f.key(f.sign_put(key, "image/jpeg")) == key
    assert f.key(f.sign_get(key)) == key


def test_sign_value_signs_keys_and_leaves_foreign_values_as_stored() -> None:
    """GIVEN stored values (keys, an old row's URL of our bucket, a foreign URL)
    WHEN signed for a read THEN keys and our URLs become GETs of their key, others stay."""
    f = files(get_url_seconds=900)
    old = f"https://{BUCKET}.s3.amazonaws.com/PurchaseAppReact/old.jpg"
    foreign = "https://images.example.com/x.jpg"

    signed = f.sign_value(["PurchaseAppReact/1/a.jpg", old, foreign])

    assert [f.key(u) for u in signed[:2]] == ["PurchaseAppReact/1/a.jpg", "PurchaseAppReact/old.jpg"]
    assert all(query_of(u)["X-Amz-Expires"] == "900" for u in signed[:2])
    assert signed[2] == foreign
    assert f.key(f.sign_value("profiles_pictures/1/me.png")) == "profiles_pictures/1/me.png"
    assert f.sign_value(None) is None
