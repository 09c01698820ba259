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


def test_anyone_may_read_the_default_who_am_i_shape_of_their_own_account() -> None:
    """GIVEN the shipped policy WHEN a caller with no role reads its own account in the shape POST /api
    answers by default THEN the policy's own-account grants cover it, and nothing more of User."""
    from dataapi.errors import PolicyRefusal
    from dataapi.identity.authorize import Authorizer
    from dataapi.identity.caller import Caller
    from dataapi.ops.session import OWN_SHAPE
    from dataapi.query.parse import parse_requested
    from dataapi.query.validate import validate_fields

    model = default_registry().model("User")
    nobody = Authorizer(default_policy(), Caller(7, "nobody"))
    nobody.read_own(validate_fields(model, parse_requested(OWN_SHAPE, "/requested_data")), "/requested_data")
    for beyond in (["metafields"], [{"roles": ["key"]}]):
        with pytest.raises(PolicyRefusal):
            nobody.read_own(
                validate_fields(model, parse_requested(beyond, "/requested_data")), "/requested_data"
            )


def test_the_own_account_grants_name_known_fields() -> None:
    raw = default_policy().spec.model_dump(by_alias=True)
    raw["own_account"]["User"]["fields"].append("shoe_size")
    with pytest.raises(ValueError, match=r"own_account\.User names unknown fields"):
        Policy(PolicySpec.model_validate(raw)).check(default_registry())
