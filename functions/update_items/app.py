"""POST /api/schemes/update_items: update rows of any registered model, one request or a batch (docs/contract.md §4).

Also the target of scheduled batch updates (docs/contract.md §8): an event without requestContext.
"""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dataapi import snapstart
from dataapi.http import claims, create_app, idempotency_key, json_body, respond
from dataapi.ops import scheduled
from dataapi.ops.items import update_items
from dataapi.telemetry import logger, metrics, tracer

app = create_app()
snapstart.register()  # SnapStart: priming before the snapshot, clean-up after a restore


@app.post("/api/schemes/update_items")
@tracer.capture_method
def update_items_route():
    return respond(app, update_items(claims=claims(app), key=idempotency_key(app), raw=json_body(app)))


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if scheduled.is_scheduled(event):  # an EventBridge Schedule's Input, not an API request
        return scheduled.run(event)
    return app.resolve(event, context)
