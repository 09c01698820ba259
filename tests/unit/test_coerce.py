"""Values are checked and converted against the column type before any SQL is built."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dataapi.errors import WrongValueType
from dataapi.query.coerce import coerce
from dataapi.registry import default_registry

NOW = datetime(2025, 12, 5, 13, 45, 10, 512000, tzinfo=UTC)
ITEM = default_registry().models["Item"]


def col(name: str):
    return ITEM.columns[name]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("purchased_price", 5, 5),
        ("purchased_price", "12", 12),
        ("purchased_price", 7.0, 7),
        ("article_number", "2512-001", "2512-001"),
        ("article_number", 2512, "2512"),
        ("properties", {"a": [1]}, {"a": [1]}),
        ("created_at", "2025-12-05T13:45:10.512Z", datetime(2025, 12, 5, 13, 45, 10, 512000, tzinfo=UTC)),
        ("created_at", "2025-12-05T15:45:10+02:00", datetime(2025, 12, 5, 13, 45, 10, tzinfo=UTC)),
        ("created_at", "2025-12-05T13:45:10", datetime(2025, 12, 5, 13, 45, 10, tzinfo=UTC)),
        ("created_at", "$now", NOW),
        ("created_at", "$now-7d", datetime(2025, 11, 28, 13, 45, 10, 512000, tzinfo=UTC)),
        ("created_at", "$now+2h", datetime(2025, 12, 5, 15, 45, 10, 512000, tzinfo=UTC)),
        ("created_at", "$now-30m", datetime(2025, 12, 5, 13, 15, 10, 512000, tzinfo=UTC)),
        ("created_at", "$now-5s", datetime(2025, 12, 5, 13, 45, 5, 512000, tzinfo=UTC)),
        ("purchased_price", None, None),
    ],
)
def test_accepted_values_are_converted(column, value, expected):
    assert coerce(col(column), value, "/x", NOW) == expected


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purchased_price", "abc"),
        ("purchased_price", True),
        ("purchased_price", 1.5),
        ("purchased_price", [1]),
        ("article_number", {"a": 1}),
        ("article_number", False),
        ("created_at", "yesterday"),
        ("created_at", "$now-7w"),
        ("created_at", 1733406310),
    ],
)
def test_wrong_types_name_the_field(column, value):
    with pytest.raises(WrongValueType) as caught:
        coerce(col(column), value, "/query_filters/x", NOW)
    assert column in caught.value.message and caught.value.at == "/query_filters/x"


def test_decimal_and_float_kinds():
    from dataapi.registry import ColumnInfo

    price = ColumnInfo("price", ITEM.columns["id"].column, "decimal", True, False, False, False, None)
    assert coerce(price, "1.50", "/x", NOW) == Decimal("1.50")
    with pytest.raises(WrongValueType):
        coerce(price, "NaN", "/x", NOW)
