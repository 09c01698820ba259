"""A stand-in for the context object Lambda passes to a handler, for every tier that invokes one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' Logger and Tracer read from a real Lambda context."""

    function_name: str = "dataapi-dev-GetItemsFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-north-1:123456789012:function:dataapi-dev-GetItemsFunction"
    aws_request_id: str = "5d7f3a1e-0c2b-4f6e-9a8d-1b3c5e7f9a0b"
    log_group_name: str = "/aws/lambda/dataapi-dev-GetItemsFunction"
    log_stream_name: str = "2025/12/05/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
