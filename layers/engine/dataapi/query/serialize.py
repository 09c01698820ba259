"""Turn a fetched page into the envelope's body text, without parsing PostgreSQL's JSON again."""

from dataapi.errors import ResponseTooLarge


def rows_json(rows: list[str]) -> str:
    return "[" + ",".join(rows) + "]"


def guard_size(body: str, limit: int) -> None:
    """Refuse with 400 before Lambda's 6 MB payload limit would turn the answer into a 502."""
    size = len(body.encode())
    if size > limit:
        raise ResponseTooLarge(
            f"The response would be {size // 1024} KB, over the {limit // 1024} KB limit: "
            "ask for fewer rows with 'per_page' (or fewer fields).",
            at="/per_page",
            detail=f"field=per_page size={size} limit={limit}",
        )
