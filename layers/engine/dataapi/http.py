"""The HTTP edge shared by every function: the resolver, the envelope, and the one place where
domain errors become status codes. Handlers stay thin: route, caller, engine call.
"""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from sqlalchemy.exc import DBAPIError

from dataapi.boundary import check_body
from dataapi.db.sqlstate import translate
from dataapi.errors import ApiError, LimitExceeded, MalformedRequest, PolicyRefusal, Unauthenticated
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import get_settings
from dataapi.telemetry import count, logger

_JSON = "application/json"


def request_id(app: APIGatewayRestResolver) -> str:
    event = app.current_event
    rid = (event.get("requestContext") or {}).get("requestId") if event else None
    if not rid and app.lambda_context is not None:
        rid = getattr(app.lambda_context, "aws_request_id", None)
    return str(rid or "")


def envelope(status: int, message: str, body: str = "[]", server_message: str = "", **extra: Any) -> str:
    """The envelope as text; `body` is JSON text already, so large pages are never re-encoded."""
    head = f'{{"status":{status},"message":{json.dumps(message)},"body":{body},"server_message":{json.dumps(server_message)}'
    tail = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items())
    return head + tail + "}"


def respond(app: APIGatewayRestResolver, result: Result) -> Response:
    """The envelope of a result; a replayed one (dataapi.idempotency) says so in a header, and
    carries this request's own request_id."""
    rid = request_id(app)
    text = envelope(
        result.status, result.message, result.body, result.server_message, **result.extra, request_id=rid
    )
    headers = {"X-Request-Id": rid}
    if result.replayed:
        headers[_REPLAYED] = "true"
    return Response(result.status, _JSON, text, headers=headers)


_IDEMPOTENCY_KEY = "Idempotency-Key"  # dataapi.idempotency.HEADER, without importing it on reads
_REPLAYED = "Idempotent-Replayed"


def idempotency_key(app: APIGatewayRestResolver) -> str | None:
    """The request's Idempotency-Key header (docs/contract.md §4.6), checked before any work: None
    when there is none; sent twice, or not 1-255 visible ASCII characters, a 400 naming it."""
    from dataapi.idempotency import check_key

    event = app.current_event
    values = [
        v
        for name, vs in (event.multi_value_headers or {}).items()
        if name.lower() == _IDEMPOTENCY_KEY.lower()
        for v in (vs or [])
    ]
    if not values:
        values = [v for name, v in (event.headers or {}).items() if name.lower() == _IDEMPOTENCY_KEY.lower()]
    if not values:
        return None
    if len(values) > 1:
        raise MalformedRequest(
            f"Send one '{_IDEMPOTENCY_KEY}' header, not {len(values)}.", detail=f"field={_IDEMPOTENCY_KEY}"
        )
    return check_key(values[0])


def _error(
    app: APIGatewayRestResolver, status: int, message: str, server_message: str, body: str = "[]"
) -> Response:
    rid = request_id(app)
    return Response(
        status,
        _JSON,
        envelope(status, message, body, server_message, request_id=rid),
        headers={"X-Request-Id": rid},
    )


def status_of(exc: ApiError) -> int:
    """The HTTP status of a domain error: its class's, except a policy refusal's, which is a setting
    (a client that reads every 403 as "session expired" can then show the refusal instead)."""
    return get_settings().policy_refusal_status if isinstance(exc, PolicyRefusal) else exc.status


def json_body(app: APIGatewayRestResolver) -> Any:
    """The parsed body: at most MAX_BODY_BYTES, valid JSON, valid text, nested at most
    MAX_BODY_DEPTH levels. The size is checked first: parsing holds many times the body in objects."""
    if not app.current_event.body:
        raise MalformedRequest("The request needs a JSON body.", at="/", detail="EmptyBody")
    raw: Any = app.current_event.body
    limit = get_settings().max_body_bytes
    if app.current_event.is_base64_encoded:
        _check_size(len(raw) // 4 * 3 - 2, limit)  # at most the decoded size, before decoding
    try:
        if app.current_event.is_base64_encoded:
            raw = app.current_event.decoded_body
        _check_size(len(raw) if isinstance(raw, bytes) else _utf8_size(raw, limit), limit)
        body = json.loads(raw, parse_constant=_not_json, object_pairs_hook=_unique_keys)
    except RecursionError:
        limit = get_settings().max_body_depth
        raise LimitExceeded(
            f"The request nests too deeply (at most {limit}).", at="/", detail=f"limit=body_depth max={limit}"
        ) from None
    except ValueError:  # also bad base64, text that is not UTF-8, and integers of over 4,300 digits
        raise MalformedRequest("The request body is not valid JSON.", at="/", detail="InvalidJSON") from None
    check_body(body)
    return body


def _not_json(literal: str) -> Any:
    """`NaN`, `Infinity` and `-Infinity`, which Python's parser reads and JSON has not."""
    raise ValueError(f"{literal} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object naming a key twice is refused: whatever sits in front of the API may read the
    first where the API would read the last."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate key")
    return found


def _utf8_size(text: str, limit: int) -> int:
    """The text's size in UTF-8; a text of more characters than `limit` is over it already."""
    return len(text) if len(text) > limit else len(text.encode("utf-8", "surrogatepass"))


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise LimitExceeded.of(
            f"The request body has {size} bytes; split it into smaller requests", limit, "/", "body_bytes"
        )


def optional_json_body(app: APIGatewayRestResolver) -> Any:
    """The JSON body, or None when there is none (`POST /api` is sent with `{}` or nothing)."""
    return json_body(app) if app.current_event.body else None


def claims(app: APIGatewayRestResolver) -> dict[str, str]:
    """The caller's claims as API Gateway's Cognito authorizer passes them (all strings)."""
    context = app.current_event.get("requestContext") or {}
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    found = authorizer.get("claims") if isinstance(authorizer, dict) else authorizer
    if found:
        if not isinstance(found, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in found.items()
        ):  # API Gateway passes an object of strings; anything else did not come from it
            raise Unauthenticated("Authentication required.", detail="MalformedClaims")
        return found
    settings = get_settings()
    header = app.current_event.headers.get("Authorization") or app.current_event.headers.get("authorization")
    if settings.verify_token_in_handler and header and settings.cognito_issuer and settings.cognito_jwks_url:
        from dataapi.identity.tokens import verify_id_token

        return verify_id_token(
            header,
            issuer=settings.cognito_issuer,
            jwks_url=settings.cognito_jwks_url,
            audience=settings.cognito_app_client_id,
        )
    raise Unauthenticated("Authentication required.", detail="NoClaims")


_EVENT_TEXT = ("path", "httpMethod")
_EVENT_OBJECTS = ("requestContext", "headers", "multiValueHeaders", "queryStringParameters")


def malformed_event(event: Any) -> str | None:
    """What makes `event` unlike any API Gateway REST proxy event (the resolver would raise on it
    before any route runs), or None."""
    if not isinstance(event, dict):
        return "the event is not an object"
    for key in _EVENT_TEXT:
        if not isinstance(event.get(key), str):
            return f"'{key}' is not a string"
    for key in _EVENT_OBJECTS:
        if event.get(key) is not None and not isinstance(event[key], dict):
            return f"'{key}' is not an object"
    if event.get("body") is not None and not isinstance(event["body"], str):
        return "'body' is not a string"
    return None


class Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver, answering an event API Gateway never sends with a 400 in the
    envelope rather than raising out of the handler."""

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        problem = malformed_event(event)
        if problem is None:
            return super().resolve(event, context)
        count("Error.MalformedEvent")
        logger.info("malformed event", extra={"error": problem})
        rid = str(getattr(context, "aws_request_id", "") or "")
        body = envelope(
            400, "The request is not one this API understands.", "[]", "MalformedEvent", request_id=rid
        )
        return {
            "statusCode": 400,
            "headers": {"Content-Type": _JSON, "X-Request-Id": rid},
            "body": body,
            "isBase64Encoded": False,
        }


def create_app() -> APIGatewayRestResolver:
    origins = get_settings().cors_origins
    cors = CORSConfig(
        allow_origin=origins[0],
        extra_origins=list(origins[1:]),
        allow_headers=["Content-Type", "Authorization", _IDEMPOTENCY_KEY],
        expose_headers=["X-Request-Id", _REPLAYED],
        allow_credentials=True,
    )
    app = Resolver(cors=cors)

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        count(f"Error.{type(exc).__name__}")
        status = status_of(exc)
        if status >= 500:
            logger.error("request failed", extra={"error": exc.server_message})
        else:
            logger.info("request refused", extra={"status": status, "error": exc.server_message})
        return _error(app, status, exc.message, exc.server_message, exc.body)

    @app.exception_handler(DBAPIError)
    def _db_error(exc: DBAPIError) -> Response:
        mapped = translate(exc, default_registry().constraints)
        count(f"Error.{type(mapped).__name__}")
        logger.exception("database error", extra={"error": mapped.server_message})
        return _error(app, mapped.status, mapped.message, mapped.server_message)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        count("Error.Unexpected")
        logger.exception("unexpected error")
        return _error(app, 500, "Something went wrong on our side.", "InternalError")

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response:
        path = app.current_event.path
        return _error(app, 404, f"No route {app.current_event.http_method} {path}.", "RouteNotFound")

    return app
