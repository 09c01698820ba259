"""Logging never raises and never loses a record, whatever text a request echoes.

Lambda's stdout encodes strictly as UTF-8: the logger's stream is replaced by such a stream here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from dataapi.telemetry import logger
from tests.adversarial.support import World, refused


@pytest.fixture
def strict_stdout() -> Iterator[io.BytesIO]:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    yield raw
    handler.setStream(previous)  # type: ignore[attr-defined]


def _records(raw: io.BytesIO) -> list[dict]:
    return [json.loads(line) for line in raw.getvalue().decode("utf-8").splitlines() if line.startswith("{")]


def test_a_record_with_a_lone_surrogate_is_written(strict_stdout: io.BytesIO) -> None:
    logger.info("refused \udc80 value", extra={"error": "field=\ud800"})
    (record,) = [r for r in _records(strict_stdout) if r["message"].startswith("refused")]
    # The line is JSON whose escapes carry the value exactly.
    assert record["message"] == "refused \udc80 value"
    assert record["error"] == "field=\ud800"


def test_a_refusal_naming_a_surrogate_key_is_logged(world: World, strict_stdout: io.BytesIO) -> None:
    refused("get_items", {"model_name": "Item", "requested_data": ["id"], "query_filters": {"\ud800": 1}})
    refusals = [r for r in _records(strict_stdout) if r["message"] == "request refused"]
    assert refusals and "InvalidText" in refusals[-1]["error"]
    assert "\\ud800" in refusals[-1]["error"]  # the pointer spells the surrogate out
