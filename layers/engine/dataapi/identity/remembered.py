"""Callers a function container remembers between requests, checked again at every request.

Loading the caller is a statement of its own in front of a read's data statement: a round trip,
and a join of User, user_roles and Role planned and run every time. A container serves the same
few users over and over, so it remembers each caller together with the identity generation (a
token that changes with every change to "User", "Role" or user_roles, migration 0003) read in the
transaction that loaded it. A read then runs as the remembered caller, and the query that begins
its transaction (sent with the data statement, in the same round trip) reads the generation
again: when it differs, someone's account, roles or sign-out changed since, the page is dropped
unread and the request runs again with the caller loaded. Changes take effect at the next
request, exactly as when every request loaded its caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataapi.identity.caller import Caller, check_token
from dataapi.recent import Recent

GENERATION = "(SELECT token::text FROM dataapi.identity_generation)"
"""The identity generation, selected by the query that begins a transaction (`transaction(also=)`)."""

Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Remembered:
    caller: Caller
    generation: str


class Callers:
    """The `size` callers used last, by the claims that found them (subject, and the e-mail address
    when the token says it is verified: load_caller matches on both)."""

    def __init__(self, size: int = 64) -> None:
        self._known: Recent[Key, Remembered] = Recent(size)

    @staticmethod
    def key(claims: dict[str, str]) -> Key:
        verified = str(claims.get("email_verified", "")).lower() == "true"
        email = claims.get("email")
        return claims.get("sub", ""), email.lower() if verified and email else None

    def get(self, claims: dict[str, str]) -> Remembered | None:
        """The remembered caller (who held a role when loaded), if this token was not signed out
        as far as the container knows; the generation check confirms the rest."""
        found = self._known.get(self.key(claims))
        if found is not None:
            check_token(found.caller, claims)
        return found

    def remember(self, claims: dict[str, str], caller: Caller, generation: str) -> None:
        self._known.put(self.key(claims), Remembered(caller, generation))

    def forget(self, claims: dict[str, str]) -> None:
        self._known.pop(self.key(claims))

    def clear(self) -> None:
        """Forget every caller (a container restored from a SnapStart snapshot starts with none)."""
        self._known.clear()

    def __len__(self) -> int:
        return len(self._known)


CALLERS = Callers()
