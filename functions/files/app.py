"""File routes: POST /api/generate-presigned-url (upload URLs) and POST /api/delete-image-url."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dataapi import snapstart
from dataapi.http import claims, create_app, idempotency_key, json_body, respond
from dataapi.ops import files as file_ops
from dataapi.telemetry import logger, metrics, tracer

app = create_app()
snapstart.register()  # SnapStart: priming before the snapshot, clean-up after a restore


@app.post("/api/generate-presigned-url")
@tracer.capture_method
def presign_route():
    return respond(app, file_ops.presign(claims=claims(app), raw=json_body(app)))


@app.post("/api/delete-image-url")
@tracer.capture_method
def delete_route():
    return respond(
        app, file_ops.delete_by_url(claims=claims(app), key=idempotency_key(app), raw=json_body(app))
    )


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
