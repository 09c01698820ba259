"""What every request body passes before the engine sees it: valid text, bounded nesting, and the
pydantic models of the routes, whose first error becomes a 400 with a JSON pointer.

HTTP bodies, scheduled-run inputs and file-route bodies all come through here, so the rules are
the same whichever door a request takes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from dataapi.errors import LimitExceeded, MalformedRequest, pointer
from dataapi.settings import Settings, get_settings
from dataapi.text import printable, valid_text


def check_body(body: Any, settings: Settings | None = None) -> None:
    """Nesting depth and valid text of a parsed JSON body, walked without recursion."""
    limit = (settings or get_settings()).max_body_depth
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            raise LimitExceeded.of(
                "The request nests too deeply", limit, pointer(*path[:limit]), "body_depth"
            )
        if isinstance(node, str):
            _check_text(node, path)
        elif isinstance(node, dict):
            for key, value in node.items():
                _check_text(key, (*path, key))
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((value, (*path, i)) for i, value in enumerate(node))


def _check_text(text: str, path: tuple[Any, ...]) -> None:
    if not valid_text(text):
        at = pointer(*(printable(p) if isinstance(p, str) else p for p in path)) or "/"
        field = next((printable(p) for p in reversed(path) if isinstance(p, str)), "request")
        raise MalformedRequest(
            f"'{field}' holds text that is not valid Unicode (a lone surrogate).",
            at=at,
            detail=f"field={field} InvalidText",
        )


def parse_model[M: BaseModel](cls: type[M], raw: Any, at: str = "") -> M:
    """Validate `raw` with a pydantic model; the first error becomes a 400 with a JSON pointer."""
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = _in_request(raw, err["loc"])
        where = at + pointer(*loc)
        field = ".".join(map(str, loc)) if loc else "request"
        if err["type"] == "extra_forbidden":
            message = f"Unknown key '{field}' in the request."
        elif err["type"] == "missing":
            message = f"'{field}' is required."
        elif not loc:
            message = "The request body must be a JSON object."
        else:
            message = f"'{field}': {err['msg']}."
        raise MalformedRequest(message, at=where or "/", detail=f"field={field}") from None


def _in_request(raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of pydantic's error location that exists in the request (drops union member tags)."""
    kept: list[Any] = []
    node = raw
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str):
            kept.append(part)  # a missing key: name it
            break
        else:
            break
        kept.append(part)
    return tuple(kept)
