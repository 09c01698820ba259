"""dataapi.db.rdsauth against botocore's own generate_db_auth_token, with the same clock."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from dataapi.db import rdsauth

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
HOST = "dataapi-proxy.proxy-c0ffee.eu-north-1.rds.amazonaws.com"


def botocore_token(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], port: int, user: str, region: str
) -> str:
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda remove_tzinfo=True: NOW.replace(tzinfo=None)
    )
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    return session.client("rds").generate_db_auth_token(
        DBHostname=HOST, Port=port, DBUsername=user, Region=region
    )


@pytest.mark.parametrize(
    ("env", "port", "user", "region"),
    [
        (
            {
                "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
                "AWS_SECRET_ACCESS_KEY": "wJalr/K7MDENG+bPxRfiCY",
                "AWS_SESSION_TOKEN": "IQoJb3Jp+Z2luX2Vj/EHca==",
            },
            5432,
            "app",
            "eu-north-1",
        ),
        (
            {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
            6543,
            "app user@x",
            "us-east-1",
        ),
        ({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}, 443, "app", "eu-west-1"),
    ],
)
def test_the_token_is_botocores(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], port: int, user: str, region: str
) -> None:
    """GIVEN credentials (with and without a session token), a port, a user name needing escapes
    WHEN a token is made at a fixed time by both
    THEN it is exactly botocore's."""
    ours = rdsauth.token(HOST, port, user, region, now=NOW, environ=env)
    assert ours == botocore_token(monkeypatch, env, port, user, region)


def test_without_credentials_in_the_environment_there_is_no_token() -> None:
    assert rdsauth.token(HOST, 5432, "app", "eu-north-1", now=NOW, environ={}) is None
