"""template.yaml keeps the contract of docs/contract.md §7 and §9: gateway responses, CORS, layer, timeouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.template import ROOT, TEMPLATE, gateway_responses, load_template, routes
from tests.handler import support

# docs/contract.md §7: every gateway response type with a fixed status (UNAUTHORIZED: RejectedTokenStatus).
FIXED_STATUS = {
    "MISSING_AUTHENTICATION_TOKEN": 404,
    "RESOURCE_NOT_FOUND": 404,
    "ACCESS_DENIED": 403,
    "EXPIRED_TOKEN": 403,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "WAF_FILTERED": 403,
    "BAD_REQUEST_BODY": 400,
    "BAD_REQUEST_PARAMETERS": 400,
    "REQUEST_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "THROTTLED": 429,
    "QUOTA_EXCEEDED": 429,
    "INTEGRATION_TIMEOUT": 504,
    "INTEGRATION_FAILURE": 504,
    "AUTHORIZER_FAILURE": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "API_CONFIGURATION_ERROR": 500,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 502,
}
ORIGIN = {"Fn::Sub": "'${AllowedOrigin}'"}
CORS_HEADERS = {
    "Access-Control-Allow-Origin": ORIGIN,
    "Access-Control-Allow-Credentials": "'true'",
    "Access-Control-Allow-Headers": "'Content-Type,Authorization,Idempotency-Key'",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def api(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["Api"]["Properties"]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def check_envelope(text: str, status: int, kind: str) -> None:
    envelope = json.loads(text)
    support.check_envelope(envelope, status, extras={"request_id"})
    assert envelope["server_message"] == kind
    assert envelope["request_id"] == "$context.requestId"


def test_short_tags_load_as_plain_data(template: dict[str, Any]) -> None:
    layer = template["Resources"]["EngineLayer"]
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    authorizer = template["Resources"]["Api"]["Properties"]["Auth"]["Authorizers"]["CognitoAuthorizer"]
    assert authorizer["UserPoolArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}


def test_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["Stage"]["AllowedValues"] == ["dev", "prod"]
    assert params["Architecture"]["Default"] == "arm64"
    assert sorted(params["Architecture"]["AllowedValues"]) == ["arm64", "x86_64"]
    assert params["AllowedOrigin"]["Default"] == "http://localhost:5173"
    assert str(params["RejectedTokenStatus"]["Default"]) == "403"
    assert int(params["IdTokenValidityHours"]["Default"]) == 8
    assert params["DatabaseUrl"]["NoEcho"] is True
    assert {"StatementTimeoutMs", "LogLevel"} <= set(params)


@pytest.mark.parametrize(("kind", "status"), sorted(FIXED_STATUS.items()))
def test_fixed_gateway_response(api: dict[str, Any], kind: str, status: int) -> None:
    response = api["GatewayResponses"][kind]
    assert int(response["StatusCode"]) == status
    check_envelope(response["ResponseTemplates"]["application/json"], status, kind)
    assert response["ResponseParameters"]["Headers"] == CORS_HEADERS


def test_unauthorized_takes_its_status_from_the_parameter(api: dict[str, Any]) -> None:
    # SAM's GatewayResponses only take literal status codes: this one lives in the OpenAPI body.
    assert "UNAUTHORIZED" not in api["GatewayResponses"]
    response = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]
    assert response["statusCode"] == {"Ref": "RejectedTokenStatus"}
    body = response["responseTemplates"]["application/json"]["Fn::Sub"]
    assert '"status": ${RejectedTokenStatus},' in body
    assert response["responseParameters"] == {
        f"gatewayresponse.header.{k}": v for k, v in CORS_HEADERS.items()
    }
    # SAM merges the event routes into the inline body only when its paths map is not empty.
    assert api["MergeDefinitions"] is True
    assert api["DefinitionBody"]["paths"]
    # The parameter's value is not in SAM's deployment hash: every deploy must redeploy the stage.
    assert api["AlwaysDeploy"] is True


@pytest.mark.parametrize("rejected", ["401", "403"])
def test_every_gateway_response_renders_its_own_status(template: dict[str, Any], rejected: str) -> None:
    origin = "https://app.example.com"
    responses = gateway_responses(
        template, parameters={"RejectedTokenStatus": rejected, "AllowedOrigin": origin}
    )
    assert set(responses) == {*FIXED_STATUS, "UNAUTHORIZED"}
    for kind, response in responses.items():
        expected = int(rejected) if kind == "UNAUTHORIZED" else FIXED_STATUS[kind]
        assert response.status == expected, kind
        envelope = json.loads(response.render("req-1"))
        assert envelope["status"] == expected, kind
        assert envelope["request_id"] == "req-1"
        assert response.headers == {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Headers": "Content-Type,Authorization,Idempotency-Key",
        }


def test_cors_and_preflight_without_authorizer(api: dict[str, Any]) -> None:
    cors = api["Cors"]
    assert cors["AllowOrigin"] == ORIGIN  # one exact origin per stage, never '*'
    assert cors["AllowCredentials"] is True
    assert cors["AllowHeaders"] == "'Content-Type,Authorization,Idempotency-Key'"
    auth = api["Auth"]
    assert auth["AddDefaultAuthorizerToCorsPreflight"] is False
    assert auth["DefaultAuthorizer"] == "CognitoAuthorizer"
    authorizer = auth["Authorizers"]["CognitoAuthorizer"]
    assert authorizer["Identity"]["Header"] == "Authorization"
    assert api["TracingEnabled"] is True
    assert api["StageName"] == {"Ref": "Stage"}


def test_layer_builds_for_the_architecture(template: dict[str, Any]) -> None:
    layer = template["Resources"]["EngineLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": {"Ref": "Architecture"}}
    props = layer["Properties"]
    assert props["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert props["CompatibleRuntimes"] == ["python3.12"]
    assert props["ContentUri"] == "layers/engine"
    assert (ROOT / "layers/engine/requirements.txt").is_file()


def test_every_function_runs_python312_with_the_layer(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert functions(template)
    for name, function in functions(template).items():
        props = {**globals_, **function["Properties"]}
        assert props["Runtime"] == "python3.12", name
        assert props["Architectures"] == [{"Ref": "Architecture"}], name
        assert {"Ref": "EngineLayer"} in props["Layers"], name
        assert props["Tracing"] == "Active", name


def test_timeouts_nest(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    longest_statement_s = int(template["Parameters"]["StatementTimeoutMs"]["MaxValue"]) / 1000
    assert int(template["Parameters"]["StatementTimeoutMs"]["Default"]) / 1000 <= longest_statement_s
    for name, function in functions(template).items():
        behind_api = any(e["Type"] == "Api" for e in function["Properties"].get("Events", {}).values())
        if not behind_api:
            continue  # the migration function answers CloudFormation, not API Gateway
        timeout = int({**globals_, **function["Properties"]}["Timeout"])
        assert longest_statement_s < timeout < 29, name  # API Gateway gives up at 29 s


def test_environment_of_the_functions(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DATABASE_URL"] == {
        "Fn::If": ["HasDatabaseUrl", {"Ref": "DatabaseUrl"}, {"Ref": "AWS::NoValue"}]
    }
    assert env["DB_HOST"]["Fn::If"][0] == "CreateProxy" and env["DB_USER"] == {"Ref": "DbUser"}
    assert env["CORS_ALLOWED_ORIGINS"] == {"Ref": "AllowedOrigin"}
    assert env["STATEMENT_TIMEOUT_MS"] == {"Ref": "StatementTimeoutMs"}
    assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_METRICS_NAMESPACE"]


def test_user_pool_and_client(template: dict[str, Any]) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == {"Ref": "PasswordMinimumLength"}
    assert template["Parameters"]["PasswordMinimumLength"]["MinValue"] >= 8
    client = template["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert client["IdTokenValidity"] == {"Ref": "IdTokenValidityHours"}
    assert client["TokenValidityUnits"]["IdToken"] == "hours"
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_outputs(template: dict[str, Any]) -> None:
    assert {"ApiUrl", "UserPoolId", "UserPoolClientId"} <= set(template["Outputs"])


def test_routes(template: dict[str, Any]) -> None:
    found = {(r.method, r.path): r for r in routes(template)}
    get_items = found[("POST", "/api/schemes/get_items")]
    assert get_items.authorized
    assert (get_items.code_uri, get_items.handler) == ("functions/get_items/", "app.lambda_handler")
    for route in found.values():
        assert route.path.startswith("/api"), route
        module = Path(route.code_uri) / (route.handler.rpartition(".")[0].replace(".", "/") + ".py")
        assert (ROOT / module).is_file(), f"{route.function}: {module} is missing"


def test_route_authorisation_follows_the_event() -> None:
    template = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::Api", "Properties": {"Auth": {"DefaultAuthorizer": "Cognito"}}},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/x/",
                    "Handler": "app.lambda_handler",
                    "Events": {
                        "Open": {
                            "Type": "Api",
                            "Properties": {
                                "RestApiId": {"Ref": "Api"},
                                "Path": "/api/login",
                                "Method": "post",
                                "Auth": {"Authorizer": "NONE"},
                            },
                        },
                        "Closed": {
                            "Type": "Api",
                            "Properties": {"RestApiId": {"Ref": "Api"}, "Path": "/api", "Method": "POST"},
                        },
                        "Timer": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}},
                    },
                },
            },
        }
    }
    found = {(r.method, r.path): r.authorized for r in routes(template)}
    assert found == {("POST", "/api/login"): False, ("POST", "/api"): True}


def test_samconfig_environments() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for env, stage in (("default", "dev"), ("dev", "dev"), ("prod", "prod")):
        deploy = config[env]["deploy"]["parameters"]
        assert f"Stage={stage}" in deploy["parameter_overrides"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert config[env]["global"]["parameters"]["region"] == "eu-north-1"
        assert config[env]["global"]["parameters"]["stack_name"]


def test_the_schema_revision_on_deploy_is_the_alembic_head(template: dict[str, Any]) -> None:
    from alembic.script import ScriptDirectory

    from devtools.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    schema = template["Resources"]["DatabaseSchema"]
    assert schema["Type"] == "Custom::DatabaseSchema"
    assert schema["Properties"]["SchemaRevision"] == head
    assert schema["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrationFunction", "Arn"]}


def test_scheduled_runs_have_inputs_delivery_retries_and_a_failure_queue(template: dict[str, Any]) -> None:
    import json
    from datetime import UTC, datetime

    from dataapi.registry import default_registry
    from dataapi.settings import Settings
    from dataapi.writes import plan_update

    update = template["Resources"]["UpdateItemsFunction"]["Properties"]
    schedules = {k: e for k, e in update["Events"].items() if e["Type"] == "ScheduleV2"}
    assert {"FlagDelayedDeliveries", "ExpireIdempotencyKeys"} <= set(schedules)
    for name, schedule in schedules.items():
        props = schedule["Properties"]
        # Delivery failures land in the stack's encrypted queue (tests/unit/test_template_operations.py).
        assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1 and props["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]}
        }
        request = json.loads(props["Input"])
        if "housekeeping" in request:  # enabled: it only removes expired idempotency keys
            assert request == {"housekeeping": "idempotency"} and props["State"] == "ENABLED", name
            continue
        assert props["State"] == "DISABLED", name  # example updates ship disabled
        # Each run carries the id EventBridge Scheduler gives it: a run delivered twice applies once.
        assert request.pop("run_id") == "<aws.scheduler.execution-id>", name
        plan_update(request, default_registry(), Settings())  # a valid update request
        assert "$now" in json.dumps(request["query_filters"]), datetime.now(
            UTC
        )  # relative time: safe to repeat
    failure = update["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]}}


def test_every_function_may_reach_the_database_and_runs_in_the_vpc_when_given(
    template: dict[str, Any],
) -> None:
    vpc = template["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert vpc[0] == "UseVpc" and vpc[2] == {"Ref": "AWS::NoValue"}
    for name, function in functions(template).items():
        policies = function["Properties"]["Policies"]
        assert {"Fn::If": ["HasDatabase", {"Ref": "DbAccessPolicy"}, {"Ref": "AWS::NoValue"}]} in policies, (
            name
        )
    proxy = template["Resources"]["DbProxy"]["Properties"]
    assert proxy["RequireTLS"] is True and proxy["Auth"][0]["IAMAuth"] == "REQUIRED"
