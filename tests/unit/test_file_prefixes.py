"""File prefixes are declared once: the models hold the React client's folders as defaults, a
deployment moves them (FILE_PREFIXES, from the template's ItemImagesPrefix and ProfilePicturesPrefix),
and the functions' S3 rights follow whatever is declared, on the stack's bucket or an adopted one."""

from __future__ import annotations

from typing import Any

import pytest

from dataapi.identity.policy import default_policy
from dataapi.models import Base
from dataapi.registry import Registry
from dataapi.settings import load_settings
from dataapi.storage.files import declared_prefixes
from devtools.template import TEMPLATE, load_template, parameter_values, resolve

FILE_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}


def _conditions(template: dict[str, Any], params: dict[str, str]) -> dict[str, bool]:
    return {"CreateFilesBucket": params.get("ExistingBucketName", "") == ""}


def _pick(value: Any, conditions: dict[str, bool]) -> Any:
    """Fn::If on the conditions given (others left as they are), recursively."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"} and value["Fn::If"][0] in conditions:
            cond, yes, no = value["Fn::If"]
            return _pick(yes if conditions[cond] else no, conditions)
        return {k: _pick(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [_pick(v, conditions) for v in value]
    return value


def rendered(overrides: dict[str, str]) -> dict[str, Any]:
    template = load_template(TEMPLATE)
    params = parameter_values(template, overrides)
    params["FilesBucket"] = "dataapi-dev-filesbucket-abc"  # the stack's own bucket, when it makes one
    return resolve(_pick(template, _conditions(template, params)), params)


def s3_rights(template: dict[str, Any]) -> dict[str, set[str]]:
    """Resource ARN -> S3 object actions granted on it, over every function and managed policy."""
    statements: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            statements += props["PolicyDocument"]["Statement"]
        for policy in props.get("Policies") or [] if resource["Type"] == "AWS::Serverless::Function" else []:
            if isinstance(policy, dict) and "Statement" in policy:
                statements += policy["Statement"]
    rights: dict[str, set[str]] = {}
    for statement in statements:
        actions = statement.get("Action") or []
        actions = actions if isinstance(actions, list) else [actions]
        resources = statement.get("Resource") or []
        for action in set(actions) & FILE_ACTIONS:
            for arn in resources if isinstance(resources, list) else [resources]:
                rights.setdefault(arn, set()).add(action)
    return rights


def registry_of(template: dict[str, Any]) -> Registry:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    return Registry(Base, load_settings({"FILE_PREFIXES": env["FILE_PREFIXES"]}).file_prefixes)


def test_the_models_declare_the_clients_folders_and_the_template_defaults_agree() -> None:
    """GIVEN no FILE_PREFIXES WHEN the registry is built THEN Item.images is under
    PurchaseAppReact/ and User.profile_picture under profiles_pictures/, and the template's
    defaults render exactly those."""
    plain = Registry(Base)
    assert plain.model("Item").columns["images"].file.prefixes == ("PurchaseAppReact/",)  # type: ignore[union-attr]
    assert plain.model("User").columns["profile_picture"].file.prefixes == ("profiles_pictures/",)  # type: ignore[union-attr]
    assert declared_prefixes(registry_of(rendered({}))) == declared_prefixes(plain)
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "/items/" not in text and "/users/" not in text


@pytest.mark.parametrize(
    ("overrides", "bucket"),
    [
        ({}, "dataapi-dev-filesbucket-abc"),
        ({"ExistingBucketName": "beyoappv5"}, "beyoappv5"),
        ({"ExistingBucketName": "beyoappv5", "ItemImagesPrefix": "photos/items"}, "beyoappv5"),
        ({"ProfilePicturesPrefix": "avatars"}, "dataapi-dev-filesbucket-abc"),
    ],
    ids=["own bucket", "adopted bucket", "adopted, moved photos", "moved avatars"],
)
def test_s3_rights_are_exactly_the_declared_prefixes(overrides: dict[str, str], bucket: str) -> None:
    """GIVEN template parameters WHEN the template is rendered THEN the functions may get, put and
    delete objects under exactly the prefixes the functions declare (FILE_PREFIXES), on the bucket
    they use (FILES_BUCKET), and nowhere else."""
    template = rendered(overrides)
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["FILES_BUCKET"] == bucket
    declared = declared_prefixes(registry_of(template))

    rights = s3_rights(template)

    assert rights == {f"arn:aws:s3:::{bucket}/{p}*": FILE_ACTIONS for p in declared}
    if "ItemImagesPrefix" in overrides:
        assert f"{overrides['ItemImagesPrefix']}/" in declared


def test_the_policy_grants_file_fields_so_it_follows_a_move() -> None:
    """GIVEN the shipped policy WHEN a deployment moves Item.images THEN a Buyer's upload grant
    covers the new folder (the policy names fields, not folders)."""
    moved = Registry(Base, {"Item.images": ("photos/items/",)})
    granted = default_policy().file_prefixes(("Buyer",), "presign", moved)
    assert sorted(granted) == ["photos/items/", "profiles_pictures/"]


@pytest.mark.parametrize(
    "value", ["Item.images", "Item.images=", "Item.images=../x", "images=photos/", "Item.images=a//b"]
)
def test_malformed_file_prefixes_are_refused_at_cold_start(value: str) -> None:
    with pytest.raises(ValueError, match="FILE_PREFIXES"):
        load_settings({"FILE_PREFIXES": value})


def test_file_prefixes_naming_a_field_without_files_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Item\.article_number"):
        Registry(Base, load_settings({"FILE_PREFIXES": "Item.article_number=x/"}).file_prefixes)
