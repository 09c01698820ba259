"""The session routes' harness for the handler tests: a database with a Cognito directory, and calls.

`World` is the test's database (the handler conftest's Admin caller, plus a Buyer role) with moto's
Cognito (`tests.support.cognito.Directory`); the `directory` and `world` fixtures (conftest.py)
make one. `login`, `me`, `logout` and `write` invoke the routes as Lambda would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dataapi.models import Role, User
from tests.handler import support
from tests.handler.support import CALLER_SUB, KEEP, Db, Reply
from tests.support.cognito import Directory

ANNA, ANNA_PASSWORD = "anna@example.com", "Anna-pass-2025!"


# ---- the database ------------------------------------------------------------------------------


@dataclass
class World:
    """The test's database (the handler conftest's Admin caller, plus a Buyer role) and Cognito."""

    db: Db
    directory: Directory
    admin_role: Role
    buyer_role: Role
    admin: User
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def add_user(
        self, email: str, *, roles: list[Role] | None = None, password: str | None = None, linked: bool = True
    ) -> User:
        """A User row, and with a password a Cognito user too (its sub stored when `linked`)."""
        sub = self.directory.add_user(email, password) if password else None
        (user,) = self.db.add(
            User(
                username=email.split("@")[0],
                email=email,
                phone="+46 70 123 45 67",
                cognito_sub=sub if linked else None,
                roles=[self.session_role(r) for r in (roles or [])],
            )
        )
        if sub and not linked:
            self.extra[email] = sub
        return user

    def session_role(self, role: Role) -> Role:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Role, role.id)  # type: ignore[return-value]

    def row(self, user_id: int) -> User | None:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.get(User, user_id)
            if found is not None:
                _ = found.roles
            return found

    def row_by_email(self, email: str) -> User | None:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.scalars(select(User).where(User.email == email)).first()
            if found is not None:
                _ = found.roles
            return found


def make_world(db: Db, directory: Directory) -> World:
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        admin_role = session.scalars(select(Role).where(Role.role == "Admin")).one()
        buyer_role = Role(role="Buyer", key="buyer")
        session.add(buyer_role)
        admin = session.scalars(select(User).where(User.cognito_sub == CALLER_SUB)).one()
    return World(db, directory, admin_role, buyer_role, admin)


# ---- events and invoking -----------------------------------------------------------------------


LOGIN, ME, LOGOUT = "/api/login", "/api", "/api/logout"


def load_event(path: str, *, body: Any = None, claims: Any = KEEP, **changes: Any) -> dict[str, Any]:
    """An event for `path` sending `body` (see `support.encode`) with the base event's Admin claims
    or `claims` (None removes the authorizer)."""
    return support.event(path, body, claims=claims, **changes)


def login_event(body: Any, **changes: Any) -> dict[str, Any]:
    """POST /api/login as the browser sends it: no Authorization header, no authorizer."""
    return support.event(LOGIN, body, claims=None, headers={"Authorization": None}, **changes)


def invoke(function: str, event: dict[str, Any]) -> Reply:
    """Invoke `functions/<function>/app.py` and check the envelope every response must have."""
    return support.invoke(function, event, extras={"request_id"})


def login(email: str, password: str, **event: Any) -> Reply:
    return invoke("session", login_event({"email": email, "password": password}, **event))


def me(claims: dict[str, str] | None, body: Any = KEEP) -> Reply:
    return invoke("session", load_event(ME, body={} if body is KEEP else body, claims=claims))


def logout(claims: dict[str, str] | None) -> Reply:
    return invoke("session", load_event(LOGOUT, claims=claims))


def admin_claims() -> dict[str, str]:
    """The claims of the base event: the handler conftest's Admin caller."""
    return support.base_claims()


def write(function: str, request: Any, claims: dict[str, str] | None = None) -> Reply:
    """POST /api/schemes/<function> as the Admin caller (or `claims`)."""
    return invoke(
        function, load_event(f"/api/schemes/{function}", body=request, claims=claims or admin_claims())
    )
