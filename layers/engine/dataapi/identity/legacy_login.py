"""Sign-in with the passwords of the Flask backend: the Cognito "Migrate user" trigger.

When someone Cognito does not know signs in (`UserMigration_Authentication`), Cognito hands the
e-mail and the password to this trigger. The password is compared with the Flask backend's, kept
in `legacy.user_password` by the adoption (migrations 0001): clear text compared in constant time,
or a werkzeug hash (`pbkdf2:sha256:<n>$salt$hex`, `scrypt:<n>:<r>:<p>$salt$hex`) recomputed with
hashlib. A match answers the user's attributes with `finalUserStatus: CONFIRMED` and no message,
and Cognito creates the user with that password; anything else raises, and Cognito refuses the
sign-in.

A matching password the pool's policy would refuse is refused too, with PASSWORD_RENEWAL in the
message: POST /api/login then tells the user to ask an administrator, who sets a new password
through the User update (dataapi.ops.directory), which creates the Cognito user.

The legacy password is erased once the user exists in Cognito: when the first authenticated
request links the row to its Cognito subject (dataapi.identity.caller), or when an administrator sets a new
password. A database without schema `legacy` (migrated before the Flask root was known) has no
legacy users.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dataapi.settings import get_settings

SOURCE = "UserMigration_Authentication"
PASSWORD_RENEWAL = "PASSWORD_RENEWAL"
# What Cognito counts as a symbol in a password.
SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
_DUMMY = "pbkdf2:sha256:1000$dummy$" + "0" * 64  # compared when the e-mail is unknown

_table_exists: bool | None = None


class MigrationRefused(Exception):
    """Cognito turns this into a refused sign-in; the message reaches the client."""


def migrate_user(event: dict[str, Any]) -> dict[str, Any]:
    """The trigger: the event with its `response` filled in, or MigrationRefused."""
    from dataapi.db.engine import transaction

    if event.get("triggerSource") != SOURCE:
        raise MigrationRefused("Only sign-in migrates users.")
    email = str(event.get("userName") or "")
    password = str((event.get("request") or {}).get("password") or "")
    with transaction() as session:
        row = _legacy_row(session, email)
    stored = row.password if row is not None else _DUMMY
    if not (verify(password, stored) and row is not None and password):
        raise MigrationRefused("Incorrect username or password.")
    if not meets_policy(password, get_settings().password_minimum_length):
        raise MigrationRefused(
            f"{PASSWORD_RENEWAL}: your password does not meet the new password rules"
            f" ({get_settings().password_policy}); ask an administrator to set a new one."
        )
    event["response"] = {
        "userAttributes": {"email": row.email, "email_verified": "true"},
        "finalUserStatus": "CONFIRMED",
        "messageAction": "SUPPRESS",
    }
    return event


@dataclass(frozen=True, slots=True)
class LegacyUser:
    """A User row not yet in Cognito, with the password the Flask backend stored for it."""

    id: int
    email: str
    password: str


def _legacy_row(session: Session, email: str) -> LegacyUser | None:
    if not email or not has_legacy_passwords(session):
        return None
    row = session.execute(
        text(
            'SELECT u.id, u.email, p.password FROM "User" u JOIN legacy.user_password p ON p.user_id = u.id'
            " WHERE lower(u.email) = lower(:email) AND u.cognito_sub IS NULL"
        ),
        {"email": email},
    ).first()
    return None if row is None else LegacyUser(row[0], row[1], row[2])


def has_legacy_passwords(session: Session) -> bool:
    """Whether the database has the legacy password table (asked once per container)."""
    global _table_exists
    if _table_exists is None:
        _table_exists = bool(session.scalar(text("SELECT to_regclass('legacy.user_password') IS NOT NULL")))
    return _table_exists


def forget_password(session: Session, user_id: int) -> None:
    """Erase a user's legacy password: Cognito holds the user now."""
    if has_legacy_passwords(session):
        session.execute(text("DELETE FROM legacy.user_password WHERE user_id = :id"), {"id": user_id})


# --- passwords -------------------------------------------------------------------------------------


def verify(password: str, stored: str) -> bool:
    """`password` against a stored werkzeug hash, else against clear text; constant time.

    A stored value shaped like a werkzeug hash is only ever a hash: sending the hash itself fails.
    """
    clear = hmac.compare_digest(password.encode(), stored.encode())
    if _is_hash(stored):
        return _werkzeug(password, stored)
    return clear


def _is_hash(stored: str) -> bool:
    method, _, rest = stored.partition("$")
    return method.split(":")[0] in ("pbkdf2", "scrypt") and rest.count("$") == 1


def _werkzeug(password: str, stored: str) -> bool:
    """A werkzeug `method$salt$hex` hash recomputed; False when it cannot be."""
    method, _, rest = stored.partition("$")
    salt, _, expected = rest.partition("$")
    parts = method.split(":")
    secret, salt_bytes = password.encode(), salt.encode()
    try:
        if parts[0] == "pbkdf2" and len(parts) == 3:
            digest = hashlib.pbkdf2_hmac(parts[1], secret, salt_bytes, int(parts[2])).hex()
        elif parts[0] == "scrypt" and len(parts) == 4:
            n, r, p = (int(x) for x in parts[1:])
            digest = hashlib.scrypt(secret, salt=salt_bytes, n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
        else:
            return False
    except ValueError:  # an unknown hash name or parameters hashlib refuses
        return False
    return hmac.compare_digest(digest, expected)


def meets_policy(password: str, minimum_length: int) -> bool:
    """The pool's password policy (template.yaml): length, upper, lower, a number, a symbol."""
    return (
        len(password) >= minimum_length
        and any(c.isupper() for c in password)
        and any(c.islower() for c in password)
        and any(c.isdigit() for c in password)
        and any(c in SYMBOLS for c in password)
    )
