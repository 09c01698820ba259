"""What every request body passes before the engine sees it: valid text, bounded nesting, and the
pydantic models of the routes, whose first error becomes a 400 with a JSON pointer.

HTTP bodies, scheduled-run inputs and file-route bodies all come through here, so the rules are
the same whichever door a request takes.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from dataapi.errors import LimitExceeded, MalformedRequest, pointer
from dataapi.settings import Settings, get_settings
from dataapi.text import printable, valid_text

Where = tuple[Any, Any] | None
"""A node's place in the body: (its parent's place, its key or index); None for the body itself.
Linked rather than copied, so that walking a body of many rows builds no path until one is refused."""


def _path(where: Where) -> tuple[Any, ...]:
    parts = []
    while where is not None:
        where, key = where
        parts.append(key)
    return tuple(reversed(parts))


def check_body(body: Any, settings: Settings | None = None) -> None:
    """Nesting depth and valid text of a parsed JSON body, walked without recursion."""
    limit = (settings or get_settings()).max_body_depth
    stack: list[tuple[Any, int, Where]] = [(body, 0, None)]
    while stack:
        node, depth, where = stack.pop()
        if depth > limit:
            raise LimitExceeded.of(
                "The request nests too deeply", limit, pointer(*_path(where)[:limit]), "body_depth"
            )
        if isinstance(node, str):
            if not valid_text(node):
                _refuse_text(_path(where))
        elif isinstance(node, dict):
            for key, value in node.items():
                if not valid_text(key):
                    _refuse_text(_path((where, key)))
                stack.append((value, depth + 1, (where, key)))
        elif isinstance(node, list):
            stack.extend((value, depth + 1, (where, i)) for i, value in enumerate(node))


def _refuse_text(path: tuple[Any, ...]) -> NoReturn:
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
