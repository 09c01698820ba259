"""POST /api/schemes/get_items: read any registered model (docs/contract.md §3)."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dataapi import snapstart
from dataapi.http import claims, create_app, json_body, respond
from dataapi.ops.items import get_items
from dataapi.telemetry import logger, metrics, tracer

app = create_app()
snapstart.register()  # SnapStart: priming before the snapshot, clean-up after a restore


@app.post("/api/schemes/get_items")
@tracer.capture_method
def get_items_route():
    return respond(app, get_items(claims=claims(app), raw=json_body(app)))


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
