"""Pieces of write requests (docs/contract.md §4) that every tier builds, and the front end's calls.

`link`, `create_rel`, `history_entry` and `append_history` build the relationship actions of
`object_values`; `front_end_note` is the request the front end sends for each note of a batch.
"""

from __future__ import annotations

from typing import Any


def link(model: str, filters: dict[str, Any], link_type: str = "first_link", **extra: Any) -> dict[str, Any]:
    return {
        "action": "link",
        "values": {model: {"query_filters": filters, "link_type": link_type, **extra}},
    }


def create_rel(values: Any, **extra: Any) -> dict[str, Any]:
    return {"action": "create", "values": values, **extra}


def history_entry(
    column: str, old: Any, new: Any, when: str = "2025-12-05T10:00:00Z", **extra: Any
) -> dict[str, Any]:
    return {
        "column_name": column,
        "from_value": old,
        "to_value": new,
        "type": "update",
        "recorded_time": when,
        **extra,
    }


def append_history(*entries: dict[str, Any], append: bool = True) -> dict[str, Any]:
    return {
        "action": "create",
        "sub_model_name": "Item_History",
        "values": list(entries) if len(entries) != 1 else entries[0],
        "append": append,
    }


def front_end_note(
    content: str, subject: str, items: list[int], history: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The front end's "create notes" request for one note: linked to its subject (created if
    none), to the items by id, each item's history told about the note (`history`: the
    `item_history` action, by default an appended `notes` entry)."""
    if history is None:
        history = append_history(history_entry("notes", None, content))
    return {
        "model_name": "Item_Note",
        "reference": "Note",
        "requested_data": ["id", "note_content", "creation_time", {"subject": ["id", "subject"]}, "items.id"],
        "object_values": {
            "note_content": content,
            "creation_time": "2025-12-05T09:30:00+01:00",
            "subject": link(
                "Item_Notes_Subject",
                {"subject": subject},
                action_if_none="create_entry",
                values_for_none_action={"subject": subject},
            ),
            "items": link(
                "Item",
                {"id": {"operation": "in", "value": items}},
                "all_link",
                also_do={"item_history": history},
            ),
        },
    }
