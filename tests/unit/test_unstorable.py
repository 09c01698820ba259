"""Values PostgreSQL cannot store or compare are 400s before any SQL, naming the field at its pointer:
NUL characters (text, jsonb strings and keys, paths, key names) and numbers JSON has not (NaN,
infinities: Python's parser reads `NaN`, and 1e309 as infinity)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from dataapi.errors import ApiError, UnknownField, WrongValueType
from dataapi.mutate.values import Context, Limits, validate_values
from dataapi.registry import default_registry
from dataapi.settings import Settings
from dataapi.storage.files import Files
from tests.support.engine import prepare

NOW = datetime(2025, 12, 5, 13, 45, 10, tzinfo=UTC)
INF = math.inf

FILTERS: dict[str, tuple[dict[str, Any], type[ApiError], str]] = {
    "NaN compared with a JSON path": ({"properties.color": math.nan}, WrongValueType, "/query_filters/properties.color"),
    "infinity in a JSON containment": (
        {"properties": {"operation": "contains", "value": {"w": INF}}},
        WrongValueType,
        "/query_filters/properties/value/w",
    ),
    "NUL in a JSON value": ({"dimensions": {"operation": "contains", "value": ["a\x00"]}}, WrongValueType,
                            "/query_filters/dimensions/value/0"),
    "NUL in a JSON key": ({"properties": {"operation": "contains", "value": {"a\x00": 1}}}, WrongValueType,
                          "/query_filters/properties/value"),
    "NUL in a JSON path": ({"properties.co\x00lor": "red"}, UnknownField, "/query_filters/properties.co\x00lor"),
    "NUL in has_any": ({"properties": {"operation": "has_any", "value": ["ok", "n\x00"]}}, WrongValueType,
                       "/query_filters/properties/value"),
    "NaN as text": ({"state": math.nan}, WrongValueType, "/query_filters/state"),
    "infinity as a number": ({"purchased_price": -INF}, WrongValueType, "/query_filters/purchased_price"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FILTERS))
def test_a_filter_value_postgresql_cannot_hold_is_refused_at_its_pointer(case: str) -> None:
    filters, error, at = FILTERS[case]
    request = {"model_name": "Item", "requested_data": ["id"], "query_filters": filters}

    with pytest.raises(error) as raised:
        prepare(request, default_registry(), Settings(), NOW)

    assert raised.value.at == at


VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "NaN in a JSON document": ({"properties": {"weight": math.nan}}, "/properties/weight"),
    "infinity in a JSON list": ({"issues": [{"location": "top", "issue": INF}]}, "/issues/0/issue"),
    "NUL in a JSON string": ({"metafields": {"note": "x\x00y"}}, "/metafields/note"),
    "NaN for a text column": ({"location": math.nan}, "/location"),
}


@pytest.mark.parametrize("case", list(VALUES))
def test_a_written_value_postgresql_cannot_hold_is_refused_at_its_pointer(case: str) -> None:
    values, at = VALUES[case]
    ctx = Context(NOW, Limits.of(Settings()), Files(Settings()))

    with pytest.raises(WrongValueType) as raised:
        validate_values(default_registry().model("Item"), values, "", ctx, creating=False)

    assert raised.value.at == at


def test_storable_json_passes_unchanged() -> None:
    ctx = Context(NOW, Limits.of(Settings()), Files(Settings()))
    document = {"set_of": 4, "tags": ["a", {"b": 1.5, "c": None}], "ok": True}

    row = validate_values(default_registry().model("Item"), {"properties": document}, "", ctx, creating=False)

    assert row.columns["properties"] == document
