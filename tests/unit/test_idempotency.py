"""dataapi.idempotency without a database: the key's shape, the body's canonical hash, the claim's
SQL (a key never reaches it as SQL text), and the in-progress SQLSTATE mapped by its code."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from dataapi.db.sqlstate import KEY_IN_PROGRESS, translate
from dataapi.errors import IdempotencyKeyInProgress, MalformedRequest
from dataapi.idempotency import Claim, Keyed, body_hash, check_key
from dataapi.settings import Settings


@pytest.mark.parametrize("key", ["a", "~" * 255, "order-1/2?x=%20", '\');DROP"x";--', "\\"])
def test_visible_ascii_keys_of_1_to_255_characters_are_kept(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 256, "é", "a\tb", "a\nb", "\x7f"])
def test_other_keys_are_a_400_naming_the_header(key: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        check_key(key)
    assert "Idempotency-Key" in refused.value.message
    assert refused.value.server_message == "MalformedRequest field=Idempotency-Key"


def test_the_body_hash_is_of_the_canonical_json() -> None:
    assert body_hash({"a": 1, "b": [1, 2]}) == body_hash({"b": [1, 2], "a": 1})
    assert body_hash({"a": 1}) != body_hash({"a": 2})
    assert body_hash({"a": "ä"}) != body_hash({"a": "a"})


def test_the_claim_sends_values_hex_encoded_and_the_ttl_as_an_integer() -> None:
    key = '\'); DELETE FROM "Item"; --'
    keyed = Keyed.of("sub-1", "create_items", key, {"x": 1})
    assert keyed is not None
    sql = Claim.of(keyed, Settings(idempotency_ttl_hours=6)).sql()
    assert key not in sql and "DELETE" not in sql
    assert key.encode().hex() in sql
    assert sql.endswith(f"'{keyed.body_hash}', 6)")
    assert Keyed.of("sub-1", "create_items", None, {}) is None


def test_the_in_progress_sqlstate_is_a_409_by_its_code() -> None:
    class DriverError(Exception):
        pass

    exc = OperationalError("SELECT 1", {}, DriverError({"S": "ERROR", "C": KEY_IN_PROGRESS, "M": "any text"}))
    mapped = translate(exc, {})
    assert isinstance(mapped, IdempotencyKeyInProgress)
    assert mapped.status == 409
    assert mapped.server_message.startswith("IdempotencyKeyInProgress")
    assert "any text" not in mapped.message + mapped.server_message
