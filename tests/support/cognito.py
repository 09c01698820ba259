"""moto's Cognito for the tests: a user pool the layer is pointed at, tokens, and its key set.

- `start_directory`: moto's Cognito in-process (a pool and app client like the template's), the
  layer configured for it (env, caches) and its client spied on (`Directory`: every call recorded,
  failures injected with `client_error`/`network_error`);
- `make_cognito_tokens`: a pool with one signed-in user, its ID and access tokens (`CognitoTokens`);
- `moto_signed`: a token signed with moto's key; `serve_moto_jwks`: urllib's JWKS fetches answered
  with moto's public keys (`mock_aws` does not intercept urllib).
"""

from __future__ import annotations

import copy
import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws
from moto.utilities.utils import load_resource

from dataapi.identity import cognito, tokens
from dataapi.identity.tokens import verify_id_token
from dataapi.settings import get_settings

REGION = "eu-north-1"
JWKS_HOST = "http://jwks.test"
EMAIL = "anna@example.com"
POLICY_TEXT = "at least 10 characters, upper and lower case, a digit and a symbol (test pool)"
PASSWORD_POLICY = {
    "MinimumLength": 10,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
}


# ---- tokens and keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CognitoTokens:
    pool_id: str
    client_id: str
    sub: str
    id_token: str
    access_token: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{JWKS_HOST}/{self.pool_id}/.well-known/jwks.json"


def make_cognito_tokens() -> CognitoTokens:
    """A moto user pool with one user, signed in with USER_PASSWORD_AUTH."""
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name=REGION)
        pool = idp.create_user_pool(PoolName="test", UsernameAttributes=["email"])["UserPool"]["Id"]
        client = idp.create_user_pool_client(
            UserPoolId=pool,
            ClientName="web",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        user = idp.admin_create_user(
            UserPoolId=pool,
            Username=EMAIL,
            UserAttributes=[{"Name": "email", "Value": EMAIL}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )["User"]
        idp.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password="Secret-pass-1", Permanent=True)
        auth = idp.initiate_auth(
            ClientId=client,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": EMAIL, "PASSWORD": "Secret-pass-1"},
        )["AuthenticationResult"]
    sub = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    return CognitoTokens(pool, client, sub, auth["IdToken"], auth["AccessToken"])


def moto_signed(claims: dict[str, Any], kid: str = "dummy") -> str:
    """A token signed with moto's Cognito key (the one its JWKS publishes)."""
    private = jwt.PyJWK.from_dict(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode(claims, private.key, algorithm="RS256", headers={"kid": kid})


def serve_moto_jwks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer urllib's JWKS fetches with moto's public keys; returns the URLs fetched."""
    fetched: list[str] = []
    document = json.dumps(load_resource("cognitoidp/resources/jwks-public.json")).encode()

    def urlopen(url: str, *args: Any, **kwargs: Any) -> io.BytesIO:
        fetched.append(url)
        if not url.startswith(JWKS_HOST + "/"):
            raise urllib.error.URLError(f"unexpected fetch of {url}")
        return io.BytesIO(document)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(tokens, "_JWKS", {})
    return fetched


# ---- a user pool the layer uses -----------------------------------------------------------


class Directory:
    """A moto user pool and app client like the template's, and a record of the layer's calls.

    `calls` holds (operation, parameters) of every call the layer's Cognito client makes, in
    order, including calls that fail. `failures[operation]` makes that operation raise (every
    time) before it reaches moto; `probes[operation]` runs just before it is sent.
    """

    def __init__(self, idp: Any, pool_id: str, client_id: str) -> None:
        self.idp = idp  # the test's own client: its calls are not recorded
        self.pool_id = pool_id
        self.client_id = client_id
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, Exception] = {}
        self.probes: dict[str, Callable[[dict[str, Any]], None]] = {}

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{JWKS_HOST}/{self.pool_id}/.well-known/jwks.json"

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))
        probe = self.probes.get(model.name)
        if probe is not None:
            probe(params)
        failure = self.failures.get(model.name)
        if failure is not None:
            raise failure

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    # -- the pool as the test sees it --------------------------------------------------------

    def add_user(self, email: str, password: str) -> str:
        """A confirmed user with a permanent password; returns its sub."""
        user = self.idp.admin_create_user(
            UserPoolId=self.pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )["User"]
        self.idp.admin_set_user_password(
            UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True
        )
        return next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")

    def user(self, username: str) -> dict[str, Any] | None:
        """The user (by email or sub) with its attributes as a dict, or None."""
        try:
            found = self.idp.admin_get_user(UserPoolId=self.pool_id, Username=username)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "UserNotFoundException":
                return None
            raise
        found["attributes"] = {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])}
        return found

    def emails(self) -> list[str]:
        users = self.idp.list_users(UserPoolId=self.pool_id)["Users"]
        return sorted(next(a["Value"] for a in u["Attributes"] if a["Name"] == "email") for u in users)

    def id_token(self, email: str, password: str) -> str:
        return self.idp.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )["AuthenticationResult"]["IdToken"]

    def claims(self, token: str) -> dict[str, str]:
        """The claims of an ID token as API Gateway's Cognito authorizer passes them."""
        return verify_id_token(token, issuer=self.issuer, jwks_url=self.jwks_url, audience=self.client_id)


def reset_layer() -> None:
    get_settings.cache_clear()
    cognito.client.cache_clear()


@contextmanager
def start_directory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Directory]:
    """moto's Cognito in-process, the layer configured for it (env, caches) and spied on."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "PASSWORD_POLICY": POLICY_TEXT,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name=REGION)
        pool_id = idp.create_user_pool(
            PoolName="dataapi-test-users",
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": PASSWORD_POLICY},
        )["UserPool"]["Id"]
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="web",
            GenerateSecret=False,
            ReadAttributes=["email", "email_verified"],  # as Cognito's ID tokens carry them
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        monkeypatch.setenv("COGNITO_USER_POOL_ID", pool_id)
        monkeypatch.setenv("COGNITO_APP_CLIENT_ID", client_id)
        reset_layer()
        directory = Directory(idp, pool_id, client_id)
        cognito.client().meta.events.register(
            "before-parameter-build.cognito-identity-provider", directory._before
        )
        serve_moto_jwks(monkeypatch)
        try:
            yield directory
        finally:
            reset_layer()


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (simulated)"}}, operation)


def network_error() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url=f"https://cognito-idp.{REGION}.amazonaws.com/")
