"""Write request bodies (docs/contract.md §4), validated with pydantic at the boundary."""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from dataapi.boundary import parse_model
from dataapi.errors import LimitExceeded, MalformedRequest

RequestedData = list[str | dict[str, Any]]


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    object_values: dict[str, Any] | list[dict[str, Any]]
    requested_data: RequestedData | None = None
    reference: str | None = None


class IfMatch(BaseModel):
    """`"if_match": {"row_version": N}`: write only if the matched row is still at version N."""

    model_config = ConfigDict(extra="forbid")

    row_version: StrictInt = Field(gt=0, le=2_147_483_647)  # a PostgreSQL integer


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    object_values: dict[str, Any]
    query_filters: dict[str, Any] = Field(default_factory=dict)
    update_type: Literal["first_match", "all_matches"]
    requested_data: RequestedData | None = None
    reference: str | None = None
    allow_all: StrictBool = False
    if_match: IfMatch | None = None


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
    if_match: IfMatch | None = None

    @property
    def deletion(self) -> DeletionType | None:
        return self.object_values.deletion_type or self.object_values.delition_type


@dataclass(frozen=True, slots=True)
class Member[M: BaseModel]:
    """One request of a batch, and the JSON pointer its errors start with ("" alone, "/2" in a batch)."""

    request: M
    base: str


@dataclass(frozen=True, slots=True)
class Batch[M: BaseModel]:
    members: list[Member[M]]
    is_batch: bool  # sent as a JSON array: the answer's body is one list per member


def parse_batch[M: BaseModel](cls: type[M], raw: Any, max_batch: int) -> Batch[M]:
    """One request or a JSON array of them."""
    items = raw_members(raw, max_batch)
    return Batch([Member(parse_model(cls, item, base), base) for item, base in items], isinstance(raw, list))


def raw_members(raw: Any, max_batch: int) -> list[tuple[Any, str]]:
    """The requests of a body as sent, each with its pointer prefix; a batch over MAX_BATCH is refused."""
    if isinstance(raw, list):
        if not raw:
            raise MalformedRequest("The batch is empty.", at="/", detail="field=batch")
        if len(raw) > max_batch:
            raise LimitExceeded(
                f"A batch holds at most {max_batch} requests; this one has {len(raw)}.",
                at="/",
                detail=f"limit=batch max={max_batch}",
            )
        return [(item, f"/{i}") for i, item in enumerate(raw)]
    return [(raw, "")]
