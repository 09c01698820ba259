"""Cognito's "Migrate user" trigger on the local stack (moto does not invoke Lambda triggers).

Where Cognito would call the trigger, this runs the same function: the one template.yaml names in
the user pool's `LambdaConfig.UserMigration`, loaded from its CodeUri. Installed on boto3's default
session, so every Cognito client made afterwards (the layer's included) gets it: before each
password sign-in (InitiateAuth with USER_PASSWORD_AUTH) of a user the pool does not know (e-mails
compared ignoring case, as the template's pool compares them and moto does not), the
trigger gets a `UserMigration_Authentication` event; on success the user is created in moto with
the answered attributes and the password, CONFIRMED, and the sign-in goes on; a refusal becomes the
error Cognito would answer (NotAuthorizedException, or UserLambdaValidationException carrying the
trigger's message when the password must be renewed).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools.template import TEMPLATE, load_template

EVENT = "before-parameter-build.cognito-identity-provider.InitiateAuth"
PASSWORD_FLOWS = ("USER_PASSWORD_AUTH", "ADMIN_USER_PASSWORD_AUTH")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def trigger_handler(template_path: Path | str = TEMPLATE) -> tuple[str, Handler]:
    """(function name, handler) of the pool's UserMigration trigger in the template."""
    template = load_template(template_path)
    resources = template["Resources"]
    target = resources["UserPool"]["Properties"]["LambdaConfig"]["UserMigration"]
    name = (
        target["Fn::GetAtt"][0]
        if isinstance(target["Fn::GetAtt"], list)
        else target["Fn::GetAtt"].split(".")[0]
    )
    props = resources[name]["Properties"]
    module_name, _, func = props["Handler"].rpartition(".")
    source = Path(template_path).resolve().parent / props["CodeUri"] / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"_dataapi_trigger_{name}", source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return name, getattr(module, func)


def _refusal(message: str) -> Exception:
    from botocore.exceptions import ClientError

    if "PASSWORD_RENEWAL" in message:
        code, text = "UserLambdaValidationException", f"UserMigration failed with error {message}."
    else:
        code, text = "NotAuthorizedException", "Incorrect username or password."
    return ClientError({"Error": {"Code": code, "Message": text}}, "InitiateAuth")


class UserMigration:
    """The hook; `install()` registers it, `uninstall()` removes it (clients made meanwhile keep it)."""

    def __init__(self, template_path: Path | str = TEMPLATE) -> None:
        self.function_name, self.handler = trigger_handler(template_path)
        self.migrated: list[str] = []

    def install(self) -> UserMigration:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register(EVENT, self)  # type: ignore[union-attr]
        return self

    def uninstall(self) -> None:
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.unregister(EVENT, self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        auth = params.get("AuthParameters") or {}
        username, password = auth.get("USERNAME"), auth.get("PASSWORD")
        pool_id = os.environ.get("COGNITO_USER_POOL_ID")
        if params.get("AuthFlow") not in PASSWORD_FLOWS or not (username and password and pool_id):
            return
        idp = _admin_client()
        known = _username_ignoring_case(idp, pool_id, username)
        if known is not None:
            auth["USERNAME"] = known  # the pool's e-mails are not case-sensitive (template.yaml); moto's are
            return
        event = {
            "version": "1",
            "triggerSource": "UserMigration_Authentication",
            "region": os.environ.get("AWS_REGION", "eu-north-1"),
            "userPoolId": pool_id,
            "userName": username,
            "callerContext": {"awsSdkVersion": "local", "clientId": params.get("ClientId", "")},
            "request": {"password": password, "validationData": None, "userAttributes": None},
            "response": {},
        }
        from devtools.gateway import LambdaContext

        context = LambdaContext(self.function_name, 1024, 5, event["region"])
        try:
            answer = self.handler(event, context)
        except Exception as exc:  # the trigger refused: Cognito answers the sign-in with an error
            raise _refusal(str(exc)) from None
        attributes = answer["response"]["userAttributes"]
        idp.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        self.migrated.append(username)


def _admin_client() -> Any:
    import boto3

    return boto3.client("cognito-idp", region_name=os.environ.get("AWS_REGION", "eu-north-1"))


def _username_ignoring_case(idp: Any, pool_id: str, username: str) -> str | None:
    """The e-mail a user of the pool signs in with, matched as Cognito matches it with
    `UsernameConfiguration.CaseSensitive: false` (moto compares exactly); None when unknown."""
    try:
        idp.admin_get_user(UserPoolId=pool_id, Username=username)
        return username
    except idp.exceptions.UserNotFoundException:
        pass
    wanted = username.lower()
    for page in idp.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for user in page.get("Users", []):
            email = next((a["Value"] for a in user.get("Attributes", []) if a["Name"] == "email"), None)
            if email is not None and email.lower() == wanted:
                return str(email)
    return None


def install(template_path: Path | str = TEMPLATE) -> UserMigration:
    """Run the template's user-migration trigger for every Cognito client made from now on."""
    return UserMigration(template_path).install()
