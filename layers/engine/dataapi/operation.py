"""The operations a policy grant names and a request performs: shared vocabulary of the policy
(dataapi.identity) and the engines that ask it (dataapi.mutate, dataapi.reads, dataapi.writes)."""

from typing import Literal

Operation = Literal["get", "create", "update", "delete"]
