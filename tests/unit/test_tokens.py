"""dataapi.identity.tokens verifies Cognito ID tokens as API Gateway's Cognito authorizer does.

Real RS256 tokens come from moto's Cognito (in-process `mock_aws`); the JWKS fetch (urllib, which
`mock_aws` does not intercept) is answered with moto's public key set.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dataapi.errors import Unauthenticated
from dataapi.identity import tokens
from dataapi.identity.tokens import KeysUnavailable, TokenRejected, verify_id_token
from tests.support.cognito import (
    EMAIL,
    REGION,
    CognitoTokens,
    make_cognito_tokens,
    moto_signed,
    serve_moto_jwks,
)


@pytest.fixture(scope="module")
def cognito() -> CognitoTokens:
    return make_cognito_tokens()


@pytest.fixture
def jwks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    yield serve_moto_jwks(monkeypatch)


def verify(token: str, c: CognitoTokens, **overrides: Any) -> dict[str, str]:
    args = {"issuer": c.issuer, "jwks_url": c.jwks_url, "audience": c.client_id, **overrides}
    return verify_id_token(token, **args)


def test_valid_id_token_gives_string_claims(cognito: CognitoTokens, jwks: list[str]) -> None:
    claims = verify(cognito.id_token, cognito)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in claims.items())
    assert claims["sub"] == cognito.sub
    assert claims["email"] == EMAIL
    assert claims["token_use"] == "id"
    assert claims["aud"] == cognito.client_id
    assert claims["iss"] == cognito.issuer
    assert claims["cognito:username"]
    # As API Gateway (REST) renders them: dates for exp and iat, epoch seconds for auth_time.
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d UTC \d{4}", claims["exp"])
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d UTC \d{4}", claims["iat"])
    assert claims["auth_time"].isdigit()
    assert jwks == [cognito.jwks_url]


@pytest.mark.parametrize("form", ["Bearer {t}", "bearer {t}", "  Bearer   {t} ", "{t}"])
def test_bearer_and_bare_forms(cognito: CognitoTokens, jwks: list[str], form: str) -> None:
    assert verify(form.format(t=cognito.id_token), cognito)["sub"] == cognito.sub


def test_audience_is_optional(cognito: CognitoTokens, jwks: list[str]) -> None:
    assert verify(cognito.id_token, cognito, audience=None)["sub"] == cognito.sub


def test_jwks_is_fetched_once_per_url(cognito: CognitoTokens, jwks: list[str]) -> None:
    for _ in range(3):
        verify(cognito.id_token, cognito)
    assert jwks == [cognito.jwks_url]


def test_expired_token_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 60)
    expired = moto_signed(claims)
    with pytest.raises(TokenRejected) as caught:
        verify(expired, cognito)
    assert "ExpiredSignature" in caught.value.server_message
    # the same claims, unexpired and signed the same way, pass: the rejection is the expiry
    claims.update(exp=int(time.time()) + 600)
    assert verify(moto_signed(claims), cognito)["sub"] == cognito.sub


def test_wrong_issuer_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    with pytest.raises(TokenRejected):
        verify(cognito.id_token, cognito, issuer=f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_other")


def test_wrong_audience_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    with pytest.raises(TokenRejected):
        verify(cognito.id_token, cognito, audience="another-client")


def test_access_token_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    assert jwt.decode(cognito.access_token, options={"verify_signature": False})["token_use"] == "access"
    with pytest.raises(TokenRejected):
        verify(cognito.access_token, cognito, audience=None)


def test_token_use_access_with_id_shape_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    claims["token_use"] = "access"
    with pytest.raises(TokenRejected):
        verify(moto_signed(claims), cognito)


@pytest.mark.parametrize("garbage", ["", "Bearer ", "Bearer", "not-a-token", "a.b.c", "Basic dXNlcjpwYXNz"])
def test_garbage_is_rejected(cognito: CognitoTokens, jwks: list[str], garbage: str) -> None:
    with pytest.raises(TokenRejected):
        verify(garbage, cognito)


def test_tampered_payload_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    header, _payload, signature = cognito.id_token.split(".")
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    claims["email"] = "mallory@example.com"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRejected):
        verify(f"{header}.{forged_payload}.{signature}", cognito)


def test_token_signed_by_another_key_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "dummy"})
    with pytest.raises(TokenRejected):
        verify(forged, cognito)


def test_unknown_key_id_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    with pytest.raises(TokenRejected):
        verify(moto_signed(claims, kid="rotated-away"), cognito)


def test_hs256_token_is_rejected(cognito: CognitoTokens, jwks: list[str]) -> None:
    claims = jwt.decode(cognito.id_token, options={"verify_signature": False})
    forged = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": "dummy"})
    with pytest.raises(TokenRejected):
        verify(forged, cognito)


def test_unreachable_jwks_is_a_rejection(cognito: CognitoTokens, jwks: list[str]) -> None:
    with pytest.raises(KeysUnavailable):
        verify(cognito.id_token, cognito, jwks_url="http://unreachable.test/keys.json")


def test_rejections_are_unauthenticated() -> None:
    assert issubclass(TokenRejected, Unauthenticated)
    assert issubclass(KeysUnavailable, TokenRejected)
    assert TokenRejected.status == 401


def test_jwt_is_imported_lazily() -> None:
    source = Path(tokens.__file__).read_text(encoding="utf-8")
    module_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in module_level if "jwt" in line]
