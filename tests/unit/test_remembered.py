"""The callers a container remembers (dataapi.identity.remembered), without a database.

That a remembered caller is checked against the identity generation at every read is tested
through the handlers (tests/handler/policy/test_policy_caller.py) and in round trips
(tests/integration/test_round_trips.py).
"""

from datetime import UTC, datetime

import pytest

from dataapi.errors import Forbidden
from dataapi.identity.caller import Caller
from dataapi.identity.remembered import Callers

ANNA = Caller(2, "anna", "anna@example.com", ({"id": 2, "role": "Buyer"},))


def claims(sub: str = "sub-anna", **more: str) -> dict[str, str]:
    return {"sub": sub, "email": "Anna@Example.com", "auth_time": "1764939900", **more}


def test_a_caller_is_found_again_by_the_claims_that_found_it() -> None:
    callers = Callers()
    callers.remember(claims(email_verified="true"), ANNA, "g1")

    found = callers.get(claims(email_verified="True", email="anna@EXAMPLE.com"))

    assert found is not None and (found.caller, found.generation) == (ANNA, "g1")
    assert callers.get(claims()) is None  # unverified: load_caller would not match on the e-mail
    assert callers.get(claims("sub-other", email_verified="true")) is None


def test_only_the_callers_used_last_are_kept() -> None:
    callers = Callers(size=2)
    for sub in ("a", "b"):
        callers.remember(claims(sub), ANNA, "g")
    assert callers.get(claims("a")) is not None  # used: "b" is now the oldest
    callers.remember(claims("c"), ANNA, "g")

    assert [callers.get(claims(s)) is not None for s in ("a", "b", "c")] == [True, False, True]


def test_a_token_older_than_a_known_sign_out_is_refused_without_the_database() -> None:
    callers = Callers()
    signed_out = Caller(2, "anna", tokens_valid_after=datetime(2025, 12, 5, 14, 0, tzinfo=UTC))
    callers.remember(claims(), signed_out, "g1")

    with pytest.raises(Forbidden, match="session has ended"):
        callers.get(claims())  # auth_time 13:05
    assert callers.get(claims(auth_time="1764946800")) is not None  # 15:00


def test_forget() -> None:
    callers = Callers()
    callers.remember(claims(), ANNA, "g1")
    callers.forget(claims())
    assert callers.get(claims()) is None
