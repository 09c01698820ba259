"""A role may take the grants of another (`{"as": "Buyer"}`), validated when the policy loads."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dataapi.identity.policy import Policy, PolicySpec, default_policy
from dataapi.registry import default_registry

BUYER = {"models": {"Item": {"get": "*"}}, "files": {"presign": ["Item.images"]}}


def policy(**principals: Any) -> Policy:
    return Policy(PolicySpec.model_validate({"caller_model": "User", "principals": principals}))


def test_a_role_as_another_gets_exactly_its_grants_and_file_prefixes() -> None:
    p = policy(Buyer=BUYER, Worker={"as": "Buyer"}, scheduler={"models": {"Item": {"update": "*"}}})
    assert p.grant(("Worker",), "Item", "get") == p.grant(("Buyer",), "Item", "get") is not None
    assert p.grant(("Worker",), "Item", "update") is None
    assert p.file_prefixes(("Worker",), "presign", default_registry()) == ["PurchaseAppReact/"]
    assert p.roles() == {"Buyer", "Worker"}


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        ({"as": "Nobody"}, "which is not a role"),
        ({"as": "scheduler"}, "which is not a role"),
        ({"as": "Helper"}, "which takes another's"),
        ({"as": "Buyer", "models": {"Item": {"get": "*"}}}, "states none of its own"),
        ({"as": "Buyer", "files": {"delete": ["items/"]}}, "states none of its own"),
    ],
)
def test_an_alias_must_name_a_role_with_grants_of_its_own(worker: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(Buyer=BUYER, Helper={"as": "Buyer"}, Worker=worker, scheduler={})


def test_the_shipped_policy_covers_the_flask_backends_roles() -> None:
    shipped = default_policy()
    assert {"Admin", "Worker", "Photographer"} <= shipped.roles()
    for op in ("get", "create", "update", "delete"):
        assert shipped.grant(("Worker",), "Item", op) == shipped.grant(("Buyer",), "Item", op)
    assert shipped.grant(("Photographer",), "Dealer", "update") == shipped.grant(
        ("Buyer",), "Dealer", "update"
    )
