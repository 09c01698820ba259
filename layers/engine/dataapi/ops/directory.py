"""User rows mirror Cognito users (docs/contract.md §7): the write hook for `User`, and its compensation.

Order per row: the database work is flushed first (constraint errors surface before anything
leaves the database), then Cognito, then the commit; deleted users are removed from Cognito only
after the commit. If the transaction fails after Cognito was called, `compensate` undoes what it
can: created users are deleted, disabled ones re-enabled, changed emails restored. A changed
password cannot be restored. Each undo is recorded as soon as Cognito answered (before the answer
is read: an answer that cannot be read still leaves a created user behind), or when a call failed
in a way that does not say Cognito did nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataapi.db.engine import EXTERNAL_CALL, run_in_transaction
from dataapi.identity import cognito
from dataapi.identity.legacy_login import forget_password
from dataapi.models import Role
from dataapi.mutate.values import RowValues
from dataapi.telemetry import logger


@dataclass(frozen=True, slots=True)
class Undo:
    """A Cognito call that reverses one already made."""

    operation: str
    arguments: dict[str, Any]


class CognitoUsers:
    """A RowHook (dataapi.mutate.interfaces) for `User`, one per request."""

    def __init__(self, session: Session, default_roles: list[str]) -> None:
        self.session = session
        self.default_roles = default_roles
        self._undo: list[Undo] = []  # in the order the calls were made
        self._after_commit: list[str] = []  # usernames to delete once the commit holds

    def _call(
        self, operation: str, field: str = "email", *, undo: Undo | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Call Cognito; `undo` (the call reversing this one) is recorded as soon as Cognito has
        answered, before its answer is read, or when it may have acted without an answer."""
        self.session.info[EXTERNAL_CALL] = True  # from here on, never retried automatically
        pool = cognito.pool_id()  # not configured: 503 before anything else
        try:
            answer = getattr(cognito.client(), operation)(UserPoolId=pool, **kwargs)
        except Exception as exc:  # boto errors become domain errors; anything else propagates
            if undo is not None and _may_have_acted(exc):
                self._undo.append(undo)
            raise cognito.translate(exc, field) from None
        if undo is not None:
            self._undo.append(undo)
        return answer

    # ---- RowHook --------------------------------------------------------------------------

    def created(self, obj: Any, row: RowValues) -> None:
        if not any(action.rel.key == "roles" for action in row.actions) and self.default_roles:
            obj.roles.extend(self.session.scalars(select(Role).where(Role.role.in_(self.default_roles))))
        password = row.write_only.get("password")
        if password is not None:
            self._create_account(obj, password)

    def _create_account(self, obj: Any, password: str) -> None:
        """A Cognito user for the row, with this password; the row takes its subject."""
        answer = self._call(
            "admin_create_user",
            undo=Undo("admin_delete_user", {"Username": obj.email}),  # the name it was created by
            Username=obj.email,
            UserAttributes=[
                {"Name": "email", "Value": obj.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
        username = answer["User"]["Username"]
        attributes = {a["Name"]: a["Value"] for a in answer["User"].get("Attributes", [])}
        obj.cognito_sub = attributes.get("sub", username)
        self._call(
            "admin_set_user_password", "password", Username=username, Password=password, Permanent=True
        )

    def updated(self, obj: Any, row: RowValues, before: dict[str, Any]) -> None:
        password = row.write_only.get("password")
        old_email = before.get("email")
        changed = "email" in row.columns and old_email is not None and old_email.lower() != obj.email.lower()
        if not obj.cognito_sub:
            if password is not None:  # e.g. a Flask-era user whose password the pool refuses
                self._create_account(obj, password)
                forget_password(self.session, obj.id)
            return
        if changed:
            restore = Undo(
                "admin_update_user_attributes",
                {
                    "Username": obj.cognito_sub,
                    "UserAttributes": [
                        {"Name": "email", "Value": old_email},
                        {"Name": "email_verified", "Value": "true"},
                    ],
                },
            )
            self._call(
                "admin_update_user_attributes",
                undo=restore,
                Username=obj.cognito_sub,
                UserAttributes=[
                    {"Name": "email", "Value": obj.email},
                    {"Name": "email_verified", "Value": "true"},
                ],
            )
        if password is not None:  # last: it cannot be undone
            self._call(
                "admin_set_user_password",
                "password",
                Username=obj.cognito_sub,
                Password=password,
                Permanent=True,
            )

    def deleting(self, obj: Any) -> None:
        if obj.cognito_sub:
            undo = Undo("admin_enable_user", {"Username": obj.cognito_sub})
            self._call("admin_disable_user", undo=undo, Username=obj.cognito_sub)
            self._after_commit.append(obj.cognito_sub)

    # ---- after the transaction ------------------------------------------------------------

    def committed(self) -> None:
        for username in self._after_commit:
            for attempt in (1, 2, 3):
                try:
                    cognito.client().admin_delete_user(UserPoolId=cognito.pool_id(), Username=username)
                    break
                except Exception:
                    logger.exception("cognito delete after commit failed", extra={"attempt": attempt})

    def compensate(self) -> None:
        for undo in reversed(self._undo):
            try:
                getattr(cognito.client(), undo.operation)(UserPoolId=cognito.pool_id(), **undo.arguments)
            except Exception:
                logger.exception("cognito compensation failed", extra={"operation": undo.operation})


def _may_have_acted(exc: Exception) -> bool:
    """Whether a failed call may still have changed Cognito: not when Cognito answered with an
    error, nor when no connection was made; yes when the answer was lost or unreadable (a read
    timeout, a closed connection, a malformed answer)."""
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as NotConnected

    return not isinstance(exc, ClientError | NotConnected)


def with_directory[T](work: Callable[[Session, CognitoUsers], T], default_roles: list[str]) -> T:
    """Run `work` in one transaction with a fresh CognitoUsers hook; after it, delete what must be
    deleted, or, if the transaction did not hold, undo what Cognito was told."""
    hooks: list[CognitoUsers] = []

    def attempt(session: Session) -> T:
        users = CognitoUsers(session, default_roles)
        hooks.append(users)
        return work(session, users)

    try:
        result = run_in_transaction(attempt)
    except Exception:
        for users in hooks:
            users.compensate()
        raise
    for users in hooks:
        users.committed()
    return result
