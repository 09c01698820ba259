"""Cognito "Migrate user" trigger: users of the Flask backend sign in with the passwords they have.

Invoked by Cognito only (a Cognito trigger event, not an API route); the logic is the layer's
(dataapi.identity.legacy_login). A raised error makes Cognito refuse the sign-in.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dataapi.identity.legacy_login import migrate_user
from dataapi.telemetry import logger, metrics, tracer


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return migrate_user(event)
