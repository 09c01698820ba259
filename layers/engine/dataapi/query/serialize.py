"""Turn a fetched page into the envelope's body text, without parsing PostgreSQL's JSON again
(only rows holding file fields are parsed, to sign their keys)."""

from __future__ import annotations

import json
from typing import Any

from dataapi.errors import ResponseTooLarge
from dataapi.query.validate import ColumnField, Fields
from dataapi.storage.files import Files
from dataapi.telemetry import logger


def rows_json(rows: list[str]) -> str:
    return "[" + ",".join(rows) + "]"


def guard_size(
    body: str,
    limit: int,
    *,
    at: str = "/per_page",
    advice: str = "ask for fewer rows with 'per_page' (or fewer fields)",
) -> None:
    """Refuse with 400 before Lambda's 6 MB payload limit would turn the answer into a 502."""
    size = len(body) if body.isascii() else len(body.encode())  # isascii() reads a flag: no scan
    if size > limit:
        field = at.rsplit("/", 1)[-1] or "request"
        raise ResponseTooLarge(
            f"The response would be {size // 1024} KB, over the {limit // 1024} KB limit: {advice}.",
            at=at,
            detail=f"field={field} size={size} limit={limit}",
        )


def sign_rows(rows: list[str], fields: Fields, files: Files) -> list[str]:
    """Replace stored file values in rows PostgreSQL built with presigned GET URLs; rows without
    file fields pass untouched."""
    if not has_files(fields):
        return rows
    if not files.configured:
        logger.warning("file fields returned as stored: no bucket configured")
        return rows
    return [json.dumps(_sign(json.loads(row), fields, files), ensure_ascii=False) for row in rows]


def sign_body(body: str, fields: Fields, files: Files) -> str:
    """`sign_rows` for a page's JSON array text: each row signed and written as `sign_rows` writes it."""
    if not has_files(fields):
        return body
    if not files.configured:
        logger.warning("file fields returned as stored: no bucket configured")
        return body
    signed = (json.dumps(_sign(row, fields, files), ensure_ascii=False) for row in json.loads(body))
    return "[" + ",".join(signed) + "]"


def _sign(obj: Any, fields: Fields, files: Files) -> Any:
    if obj is None:
        return None
    if isinstance(obj, list):
        return [_sign(o, fields, files) for o in obj]
    for entry in fields.entries:
        if isinstance(entry, ColumnField):
            if entry.column.file is not None and obj.get(entry.name) is not None:
                obj[entry.name] = files.sign_value(obj[entry.name])
        elif has_files(entry.fields):
            obj[entry.name] = _sign(obj.get(entry.name), entry.fields, files)
    return obj


def has_files(fields: Fields) -> bool:
    return any(
        e.column.file is not None if isinstance(e, ColumnField) else has_files(e.fields)
        for e in fields.entries
    )
