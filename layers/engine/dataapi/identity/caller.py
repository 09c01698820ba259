"""Who is calling: the User row behind the token's claims, with its roles, in one statement.

Found by `cognito_sub`. Only a user adopted from the Flask backend, signing in for the first time
(Cognito created it through the migrate-user trigger, dataapi.identity.legacy_login), has no row
with its subject yet: that row is found by e-mail (case-insensitive, and only when the token says
the address is verified), among rows with no subject that still hold a Flask-era password; the
row takes the subject, and the password is erased: Cognito holds the user now. A token never
binds to any other row: not to one created after the token's user was deleted, whatever its
e-mail. Claims come from API Gateway's Cognito authorizer, every value a string. The scheduler is
a principal of its own, with no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    bindparam,
    column,
    exists,
    func,
    literal_column,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from dataapi.errors import Forbidden, PolicyRefusal, Unauthenticated
from dataapi.identity.legacy_login import forget_password, has_legacy_passwords
from dataapi.identity.policy import SCHEDULER as SCHEDULER_PRINCIPAL
from dataapi.models import Role, User
from dataapi.models.purchase import user_roles


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int | None
    username: str
    email: str | None = None
    roles: tuple[dict[str, Any], ...] = ()
    scheduler: bool = False
    tokens_valid_after: datetime | None = None  # tokens issued before were signed out

    @property
    def principals(self) -> tuple[str, ...]:
        return (SCHEDULER_PRINCIPAL,) if self.scheduler else tuple(r["role"] for r in self.roles)


SCHEDULER = Caller(None, SCHEDULER_PRINCIPAL, scheduler=True)

USERNAME = "username"
"""The caller model's column that names a user (and is stamped on audit columns)."""

RESERVED_NAMES = frozenset((SCHEDULER.username,))
"""Usernames no user may take: audit columns stamped with them must mean that principal."""


def reserved(username: object) -> bool:
    return isinstance(username, str) and username.strip().casefold() in RESERVED_NAMES


_u, _r = User.__table__, Role.__table__
_ROLES = func.coalesce(
    func.json_agg(
        aggregate_order_by(func.json_build_object("id", _r.c.id, "role", _r.c.role), _r.c.id)
    ).filter(_r.c.id.is_not(None)),
    literal_column("'[]'::json"),
)


_legacy_password = table("user_password", column("user_id"), schema="legacy")


def load_caller(session: Session, claims: dict[str, str]) -> Caller:
    sub = claims.get("sub")
    if not sub:
        raise Unauthenticated("Authentication required.", detail="NoSubject")
    row = session.execute(BY_SUBJECT, {"sub": sub}).first() or _adopted(session, sub, claims)
    if row is None:
        raise Forbidden("Your account is not known to this application.", detail="UnknownUser")
    user_id, username, user_email, valid_after, roles = row
    caller = Caller(user_id, username, user_email, tuple(roles), tokens_valid_after=valid_after)
    check_token(caller, claims)
    return caller


def _with_roles(match: ColumnElement[bool]) -> Any:
    return (
        select(_u.c.id, _u.c.username, _u.c.email, _u.c.tokens_valid_after, _ROLES)
        .select_from(
            _u.outerjoin(user_roles, user_roles.c.user_id == _u.c.id).outerjoin(
                _r, _r.c.id == user_roles.c.role_id
            )
        )
        .where(match)
        .group_by(_u.c.id)
    )


BY_SUBJECT = _with_roles(_u.c.cognito_sub == bindparam("sub"))
"""The statement that loads a caller by the token's subject (bound as `sub`), with its roles.
Built once per process (in the snapshot, with SnapStart), not at each caller's load."""


def _adopted(session: Session, sub: str, claims: dict[str, str]) -> Row[Any] | None:
    """The adopted user's row at its first sign-in, linked to the token's subject; else None."""
    email = claims.get("email")
    verified = str(claims.get("email_verified", "")).lower() == "true"  # an unverified address proves nothing
    if not email or not verified or not has_legacy_passwords(session):
        return None
    flask_era = exists().where(_legacy_password.c.user_id == _u.c.id)
    match = (func.lower(_u.c.email) == email.lower()) & _u.c.cognito_sub.is_(None) & flask_era
    row = session.execute(_with_roles(match).limit(1)).first()
    if row is not None:
        session.execute(update(User).where(User.id == row[0]).values(cognito_sub=sub))
        forget_password(session, row[0])
    return row


def check_token(caller: Caller, claims: dict[str, str]) -> None:
    """A token issued before the caller signed out (or was signed out) is refused."""
    valid_after = caller.tokens_valid_after
    if valid_after is not None and _issued_at(claims) < int(valid_after.timestamp()):
        raise Forbidden("Your session has ended. Please log in again.", detail="TokenSignedOut")


def require_role(caller: Caller) -> None:
    """Data routes need a role; session routes do not."""
    if not caller.principals:
        raise PolicyRefusal(
            "No role is assigned to your account yet; ask an administrator.", detail="NoRoleAssigned"
        )


def _issued_at(claims: dict[str, str]) -> int:
    """When the token was issued, in epoch seconds (API Gateway passes `iat` as a date string)."""
    for key in ("auth_time", "iat"):
        value = claims.get(key, "")
        if value.isdigit():
            return int(value)
        try:
            return int(datetime.strptime(value, "%a %b %d %H:%M:%S %Z %Y").replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    return 0
