"""Write request bodies (docs/contract.md §4), validated with pydantic at the boundary."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from dataapi.errors import LimitExceeded, MalformedRequest
from dataapi.query.parse import parse_model

RequestedData = list[str | dict[str, Any]]


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    object_values: dict[str, Any] | list[dict[str, Any]]
    requested_data: RequestedData | None = None
    reference: str | None = None


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    object_values: dict[str, Any]
    query_filters: dict[str, Any] = Field(default_factory=dict)
    update_type: Literal["first_match", "all_matches"]
    requested_data: RequestedData | None = None
    reference: str | None = None
    allow_all: StrictBool = False


DeletionType = Literal["delete_first", "delete_all"]


class DeleteValues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_filters: dict[str, Any] = Field(default_factory=dict)
    deletion_type: DeletionType | None = None
    delition_type: DeletionType | None = None  # the legacy spelling existing clients send
    also_do: dict[str, Any] | None = None
    allow_all: StrictBool = False


class DeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    object_values: DeleteValues
    reference: str | None = None
    allow_all: StrictBool = False

    @property
    def deletion(self) -> DeletionType | None:
        return self.object_values.deletion_type or self.object_values.delition_type


def parse_batch[M: BaseModel](cls: type[M], raw: Any, max_batch: int) -> tuple[list[tuple[M, str]], bool]:
    """One request or a JSON array of them -> [(request, JSON pointer base)], and whether it was a batch."""
    if isinstance(raw, list):
        if not raw:
            raise MalformedRequest("The batch is empty.", at="/", detail="field=batch")
        if len(raw) > max_batch:
            raise LimitExceeded(
                f"A batch holds at most {max_batch} requests; this one has {len(raw)}.",
                at="/",
                detail=f"limit=batch max={max_batch}",
            )
        return [(parse_model(cls, item, f"/{i}"), f"/{i}") for i, item in enumerate(raw)], True
    return [(parse_model(cls, raw), "")], False
