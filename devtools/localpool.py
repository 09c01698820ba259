"""The local user pool kept in step with the database across `make dev` runs.

moto keeps no state: every `make dev` makes a new, empty user pool, while the database keeps its
User rows, each linked to its Cognito subject (`User.cognito_sub`). Without help, a user created
through the API in one run keeps a row linked to a subject that no longer exists: it cannot sign
in after a restart, and creating it again answers 409.

So the local stack remembers every password the pool is given (by the API's User writes, by the
sign-in trigger migrating a Flask-era user, by `make dev-admin`, and for the demo users), keyed by
the user's subject, in a password book in the dev data folder (`PasswordBook`, mode 0600). At the
next start, `restore` re-creates in the new pool every user whose row is linked and whose
password the book holds, with the row's e-mail and that password, and re-links the row to the new
subject. A linked row the book cannot restore (the book was deleted, or the password was set
somewhere the book does not see) is unlinked: the user signs in again after an Admin sets a new
password (update_items on User with `{"password": ...}`), and the banner names it.

The passwords are kept in clear text, as moto itself keeps them: delete the book to forget them
(the next start then unlinks those rows). They are those of a local stack only; a copy of the
Flask database already holds its users' Flask-era passwords (`legacy.user_password`).

`install()` registers the recording on boto3's default session, as devtools/cognito_triggers.py
registers the trigger: in the stack's process and in every function's worker process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOK_ENV = "DATAAPI_LOCAL_PASSWORD_BOOK"
"""Set by the local stack: where the functions' worker processes record the pool's passwords."""

SERVICE = "cognito-identity-provider"


class PasswordBook:
    """{Cognito subject: password} in a JSON file; every change under an exclusive lock, written
    whole and renamed into place, so the functions' processes may record at the same time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            before = dict(entries)
            yield entries
            if entries != before:
                temporary = self.path.with_name(self.path.name + ".tmp")
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    json.dump(entries, out, indent=1, sort_keys=True)
                os.replace(temporary, self.path)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def entries(self) -> dict[str, str]:
        with self._locked() as entries:
            return dict(entries)

    def remember(self, sub: str, password: str) -> None:
        with self._locked() as entries:
            entries[sub] = password

    def forget(self, sub: str) -> None:
        with self._locked() as entries:
            entries.pop(sub, None)

    def replace(self, old: list[str], new: dict[str, str]) -> None:
        """Forget the subjects `old`, remember `new` ({subject: password}), in one change."""
        with self._locked() as entries:
            for sub in old:
                entries.pop(sub, None)
            entries.update(new)


# -- recording: what the pool is told --------------------------------------------------------------
class Recorder:
    """botocore hooks: a successful AdminSetUserPassword is remembered under the user's subject,
    a successful AdminDeleteUser forgets it."""

    def __init__(self, book: PasswordBook) -> None:
        self.book = book

    def install(self) -> Recorder:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        for operation in ("AdminSetUserPassword", "AdminDeleteUser"):
            events.register(f"before-parameter-build.{SERVICE}.{operation}", self.keep_params)
            events.register(f"after-call.{SERVICE}.{operation}", self.after_call)
        return self

    def uninstall(self) -> None:
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            events = boto3.DEFAULT_SESSION.events
            for operation in ("AdminSetUserPassword", "AdminDeleteUser"):
                events.unregister(f"before-parameter-build.{SERVICE}.{operation}", self.keep_params)
                events.unregister(f"after-call.{SERVICE}.{operation}", self.after_call)

    def keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["dataapi_local_pool"] = dict(params)
        if params.get("Username") and params.get("UserPoolId") and "Password" not in params:
            # AdminDeleteUser: the subject must be known before the user is gone.
            context["dataapi_local_sub"] = _subject(params["UserPoolId"], params["Username"])

    def after_call(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        params = context.get("dataapi_local_pool")
        if not params or getattr(http_response, "status_code", 500) >= 300:
            return
        if model.name == "AdminSetUserPassword":
            sub = _subject(params["UserPoolId"], params["Username"])
            if sub:
                self.book.remember(sub, params["Password"])
        elif context.get("dataapi_local_sub"):
            self.book.forget(context["dataapi_local_sub"])


def _subject(pool_id: str, username: str) -> str | None:
    import boto3

    idp = boto3.client("cognito-idp", region_name=os.environ.get("AWS_REGION", "eu-north-1"))
    try:
        user = idp.admin_get_user(UserPoolId=pool_id, Username=username)
    except Exception:  # not there (any more): nothing to record
        return None
    return next((a["Value"] for a in user.get("UserAttributes", []) if a["Name"] == "sub"), None)


def install(path: Path | str | None = None) -> Recorder | None:
    """Record the pool's passwords in the book at `path` (default: $DATAAPI_LOCAL_PASSWORD_BOOK)."""
    where = path or os.environ.get(BOOK_ENV)
    return Recorder(PasswordBook(Path(where))).install() if where else None


# -- restoring: a new pool like the last one ---------------------------------------------------------
@dataclass
class Restored:
    restored: list[str] = field(default_factory=list)  # e-mails signed in as before
    created: list[str] = field(default_factory=list)  # seeded users new to the pool (demo users)
    unlinked: list[str] = field(default_factory=list)  # linked rows the book could not restore
    missing: list[str] = field(default_factory=list)  # seeded users without a row


def create_user(idp: Any, pool_id: str, email: str, password: str) -> str:
    """A confirmed user with a verified e-mail and this password; its subject."""
    user = idp.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )["User"]
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    return next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")


def restore(
    url: str, idp: Any, pool_id: str, book: PasswordBook, seed: dict[str, str] | None = None
) -> Restored:
    """Put into the new pool every user the database links to a subject the book knows, re-linked
    to its new subject; unlink the rows it cannot restore; then create the `seed` users
    ({email: password}) that are not in the pool yet and link their rows by e-mail."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    report = Restored()
    known = book.entries()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            rows = conn.execute(
                text('SELECT id, email, cognito_sub FROM "User" WHERE cognito_sub IS NOT NULL ORDER BY id')
            ).all()
            links: dict[int, str | None] = {}  # row id -> its new subject (None: unlinked)
            added: dict[str, str] = {}
            for user_id, email, sub in rows:
                password = known.get(sub)
                if password is None:
                    links[user_id] = None
                    report.unlinked.append(email)
                    continue
                new = create_user(idp, pool_id, email, password)
                links[user_id], added[new] = new, password
                report.restored.append(email)
            in_pool = {e.lower() for e in report.restored}
            for email, password in (seed or {}).items():
                if email.lower() in in_pool:
                    continue
                user_id = conn.scalar(
                    text('SELECT id FROM "User" WHERE lower(email) = lower(:email)'), {"email": email}
                )
                if user_id is None:
                    report.missing.append(email)
                    continue
                new = create_user(idp, pool_id, email, password)
                links[user_id], added[new] = new, password
                report.created.append(email)
            # The unique column takes the new subjects only once every old one is gone.
            if links:
                conn.execute(
                    text('UPDATE "User" SET cognito_sub = NULL WHERE id = ANY(:ids)'), {"ids": list(links)}
                )
            for user_id, new_sub in links.items():
                if new_sub is not None:
                    conn.execute(
                        text('UPDATE "User" SET cognito_sub = :sub WHERE id = :id'),
                        {"sub": new_sub, "id": user_id},
                    )
        book.replace([sub for _, _, sub in rows], added)
    finally:
        engine.dispose()
    return report


# -- an Admin for the dry run ------------------------------------------------------------------------
def make_admin(email: str, password: str) -> str:
    """An Admin who can sign in on the local stack, written as the API writes (the layer's
    environment must point at the stack: DATABASE_URL, the pool, AWS_ENDPOINT_URL).

    A new e-mail: `make bootstrap-admin`'s write path (dataapi.ops.bootstrap.bootstrap_admin), with
    a username free in the database. An existing User (a Flask-era Admin whose password the pool
    refuses, say): the User update an Admin makes, a new password and the Admin role linked (the
    Cognito user is created or its password set, as dataapi.ops.directory does). Returns what it did.
    """
    from sqlalchemy import func, select

    from dataapi import writes
    from dataapi.db.engine import transaction
    from dataapi.identity.policy import default_policy
    from dataapi.models import Role, User
    from dataapi.ops.bootstrap import bootstrap_admin
    from dataapi.ops.directory import with_directory
    from dataapi.registry import default_registry
    from dataapi.settings import get_settings

    with transaction() as session:
        found = session.execute(select(User.id).where(func.lower(User.email) == email.lower())).first()
        taken = set(session.scalars(select(User.username)))
    if found is None:
        base = email.split("@", 1)[0] or "admin"
        username = next(n for n in (base, *(f"{base}-{i}" for i in range(2, 1000))) if n not in taken)
        result = bootstrap_admin(email, password, username, "-")
        if result["status"] >= 300:
            raise RuntimeError(result["message"])
        return f"created Admin {username} ({email})"
    request = {
        "model_name": "User",
        "reference": "Admin",
        "query_filters": {"id": found[0]},
        "update_type": "first_match",
        "object_values": {
            "password": password,
            "roles": {
                "action": "link",
                "values": {"Role": {"query_filters": {"role": "Admin"}, "link_type": "first_link"}},
            },
        },
    }
    plan = writes.plan_update(request, default_registry(), get_settings())
    policy = default_policy()

    def update(session: Any, users: Any) -> Any:
        if session.scalar(select(Role.id).where(Role.role == "Admin")) is None:
            session.add(Role(role="Admin", key="admin"))
            session.flush()
        return plan.run(session, actor="dev-admin", auth=None, hooks={"User": users})

    with_directory(update, policy.spec.default_roles)
    return f"set a new password for {email} and linked the Admin role"
