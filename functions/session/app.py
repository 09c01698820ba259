"""Session routes for existing clients: POST /api/login, POST /api (who am I), POST /api/logout."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dataapi import snapstart
from dataapi.http import claims, create_app, json_body, optional_json_body, respond
from dataapi.ops import session
from dataapi.telemetry import logger, metrics, tracer

app = create_app()
snapstart.register()  # SnapStart: priming before the snapshot, clean-up after a restore


@app.post("/api/login")
@tracer.capture_method
def login_route():
    return respond(app, session.login(json_body(app)))


@app.post("/api")
@tracer.capture_method
def me_route():
    return respond(app, session.me(claims=claims(app), raw=optional_json_body(app)))


@app.post("/api/logout")
@tracer.capture_method
def logout_route():
    return respond(app, session.logout(claims(app)))


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
