"""Session routes for existing clients (docs/contract.md §7): log in, who am I, log out.

Every login failure is one 401 with one message: unknown email, wrong password, disabled user and
a missing User row look the same from outside (the pool also prevents user-existence errors).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr
from sqlalchemy import func, select, update

from dataapi import reads
from dataapi.boundary import parse_model
from dataapi.db.engine import EXTERNAL_CALL, transaction
from dataapi.errors import Unauthenticated
from dataapi.identity import cognito
from dataapi.identity.authorize import Authorizer
from dataapi.identity.caller import load_caller
from dataapi.identity.legacy_login import PASSWORD_RENEWAL
from dataapi.identity.policy import default_policy
from dataapi.models import User
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import get_settings
from dataapi.storage.files import Files
from dataapi.telemetry import logger

OWN_SHAPE: list[Any] = ["id", "username", "email", "phone", {"roles": ["role", "id"]}, "profile_picture"]
_LOGIN_FAILED = "Wrong email or password."
_RENEW_PASSWORD = (
    "Your password is from the previous system and does not meet the new password rules."
    " Ask an administrator to set a new password for you."
)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StrictStr
    password: StrictStr


class MeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requested_data: list[str | dict[str, Any]] | None = None


def login(raw: Any) -> Result:
    req = parse_model(LoginRequest, raw)
    settings = get_settings()
    if not settings.cognito_app_client_id:
        raise cognito.DirectoryNotConfigured("The user directory is not configured.", detail="NoAppClient")
    token = _id_token(req.email, req.password, settings.cognito_app_client_id)
    with transaction() as session:
        user = session.scalars(select(User).where(func.lower(User.email) == req.email.lower())).first()
        if user is None:
            logger.info("login refused", extra={"reason": "no User row"})
            raise Unauthenticated(_LOGIN_FAILED, detail="LoginFailed")
        payload = {
            "username": user.username,
            "roles": [{"role": r.role, "id": r.id} for r in sorted(user.roles, key=lambda r: r.id)],
            "profile_picture": _signed(user.profile_picture),
        }
    return Result(200, "Logged in.", json.dumps([{"token": token, "payload": payload}]))


def _signed(value: str | None) -> str | None:
    files = Files(get_settings())
    return files.sign_value(value) if value is not None and files.configured else value


def _id_token(email: str, password: str, client_id: str) -> str:
    from botocore.exceptions import ClientError

    try:
        answer = cognito.client().initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=client_id,
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "UserLambdaValidationException" and PASSWORD_RENEWAL in str(exc):
            # The Flask-era password was right, but the pool's policy refuses it (legacy_login).
            logger.info("login refused", extra={"code": code, "reason": "legacy password below policy"})
            raise Unauthenticated(_RENEW_PASSWORD, detail="PasswordRenewalRequired") from None
        if code in ("NotAuthorizedException", "UserLambdaValidationException", "UserNotFoundException", "UserNotConfirmedException",
                    "PasswordResetRequiredException", "InvalidParameterException"):  # fmt: skip
            logger.info("login refused", extra={"code": code})  # the response never says which
            raise Unauthenticated(_LOGIN_FAILED, detail="LoginFailed") from None
        raise cognito.translate(exc) from None
    except Exception as exc:  # network and other botocore failures: 503
        raise cognito.translate(exc) from None
    token = (answer.get("AuthenticationResult") or {}).get("IdToken")
    if not token:  # a challenge (e.g. a new password required) is not a session
        logger.info("login refused", extra={"challenge": answer.get("ChallengeName")})
        raise Unauthenticated(_LOGIN_FAILED, detail="LoginFailed")
    return token


def me(raw: Any, claims: dict[str, str]) -> Result:
    """The caller's own row, in the default shape or shaped by `requested_data`."""
    req = parse_model(MeRequest, raw if raw is not None else {})
    settings = get_settings()
    shaped = req.requested_data is not None
    request = {"model_name": "User", "requested_data": req.requested_data if shaped else OWN_SHAPE}
    valid = reads.validate(request, default_registry(), settings, datetime.now(UTC))
    with transaction() as session:
        caller = load_caller(session, claims)
        if shaped:  # the default shape is the policy's own-account view
            Authorizer(default_policy(), caller).read_own(valid.fields, "/requested_data")
        own = {**request, "query_filters": {"id": caller.user_id}}
        result = reads.plan(own, default_registry(), settings).run(session, auth=None, last=True)
    return Result(200, "Data acquired.", result.body)


def logout(claims: dict[str, str]) -> Result:
    with transaction() as session:
        caller = load_caller(session, claims)
        session.execute(update(User).where(User.id == caller.user_id).values(tokens_valid_after=func.now()))
        session.flush()
        session.info[EXTERNAL_CALL] = True
        pool = cognito.pool_id()
        try:
            cognito.client().admin_user_global_sign_out(UserPoolId=pool, Username=claims["sub"])
        except Exception as exc:  # boto failures become domain errors; domain errors pass through
            raise cognito.translate(exc) from None
    return Result(200, "Logged out.", "[]")
