"""The Cognito user directory: a client made at first use (never at import), and its errors as
domain errors. Locally AWS_ENDPOINT_URL points boto3 at moto_server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dataapi.errors import ApiError, BadRequest, Conflict, NotConfigured, Unavailable
from dataapi.settings import get_settings
from dataapi.telemetry import logger


class DirectoryNotConfigured(NotConfigured):
    pass


def pool_id() -> str:
    pool = get_settings().cognito_user_pool_id
    if not pool:
        raise DirectoryNotConfigured("The user directory is not configured.", detail="NoUserPool")
    return pool


@lru_cache(maxsize=1)
def client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "cognito-idp",
        region_name=get_settings().aws_region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=5),
    )


def translate(exc: Exception, field: str = "email") -> ApiError:
    """Cognito failures by error code: a bad password 400, an existing user 409, the rest 503."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "InvalidPasswordException" or (
            code == "InvalidParameterException" and field == "password"
        ):
            policy = get_settings().password_policy
            return BadRequest(
                f"'password' does not meet the password policy: {policy}.", detail=f"field=password {code}"
            )
        if code in ("UsernameExistsException", "AliasExistsException"):
            return Conflict("A user with this 'email' already exists.", detail=f"field=email {code}")
        if code in (
            "TooManyRequestsException",
            "ThrottlingException",
            "LimitExceededException",
            "InternalErrorException",
        ):
            return Unavailable("The user directory is busy; try again shortly.", detail=code)
        logger.error("cognito call failed", extra={"code": code})
        return Unavailable("The user directory could not complete the change.", detail=code or "CognitoError")
    if isinstance(exc, BotoCoreError):
        return Unavailable("The user directory cannot be reached right now.", detail=type(exc).__name__)
    raise exc
