"""Typed domain errors. Each class carries its HTTP status; dataapi.http maps them in one place."""

from __future__ import annotations

from typing import ClassVar


def pointer(*parts: object) -> str:
    """An RFC 6901 JSON pointer to a part of the request."""
    if len(parts) == 1 and type(parts[0]) is str and "~" not in parts[0] and "/" not in parts[0]:
        return "/" + parts[0]  # one plain key, as most are (written per key of every row validated)
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class ApiError(Exception):
    status: ClassVar[int] = 500
    body: str = "[]"
    """The envelope's `body` (JSON text) when this error answers: empty, unless a class says otherwise."""

    def __init__(self, message: str, *, at: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.at = at
        self.detail = detail

    @property
    def server_message(self) -> str:
        parts = [type(self).__name__]
        if self.detail:
            parts.append(self.detail)
        if self.at:
            parts.append(f"at {self.at}")
        return " ".join(parts)


class BadRequest(ApiError):
    status = 400


class MalformedRequest(BadRequest):
    pass


class UnknownModel(BadRequest):
    pass


class UnknownField(BadRequest):
    pass


class BadOperator(BadRequest):
    pass


class WrongValueType(BadRequest):
    pass


class LimitExceeded(BadRequest):
    @classmethod
    def of(cls, what: str, limit: int, at: str, name: str) -> LimitExceeded:
        """`what` is over the setting `name` (at most `limit`), at the request part `at`."""
        return cls(f"{what} (at most {limit}).", at=at or "/", detail=f"limit={name} max={limit}")


class ResponseTooLarge(BadRequest):
    pass


class Unauthenticated(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class PolicyRefusal(Forbidden):
    """The caller is known and signed in, but the access policy refuses this request (a grant, a
    field, a row rule, a self-grant, a file prefix, no role). Its HTTP status is a setting
    (POLICY_REFUSAL_STATUS, default 403), applied where dataapi.http maps errors."""


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class RowChanged(Conflict):
    """`if_match` named a row version the matched row no longer has (docs/contract.md §4.7): nothing
    was written, and the row as it is now (JSON text, a one-element list) answers in the body."""

    def __init__(self, message: str, *, current: str, at: str = "", detail: str = "") -> None:
        super().__init__(message, at=at, detail=detail)
        self.body = current


class IdempotencyKeyInProgress(Conflict):
    """A request with the same idempotency key is still running, past the statement timeout."""


class IdempotencyKeyReused(ApiError):
    """An idempotency key sent again with a different request body."""

    status = 422


class BadGateway(ApiError):
    """A service we call (S3) refused in a way a retry will not fix."""

    status = 502


class Unavailable(ApiError):
    status = 503


class NotConfigured(Unavailable):
    """A feature whose AWS part is not configured here (no user pool, no bucket)."""
