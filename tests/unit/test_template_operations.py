"""template.yaml keeps what operating the stack needs (docs/operations.md): every function's log group
with a retention, alarms on every function, the API's access log and throttling, a versioned bucket,
encrypted queues, the connection arithmetic, and a runbook entry for every alarm."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devtools.template import ROOT, load_template

RUNBOOK = ROOT / "docs" / "operations.md"
CONNECTIONS_PER_CONTAINER = 2  # layers/engine/dataapi/db/engine.py: pool_size=1, max_overflow=1
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def of_type(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] in types}


def default(template: dict[str, Any], name: str) -> int:
    return int(template["Parameters"][name]["Default"])


def timeout_of(template: dict[str, Any], function: dict[str, Any]) -> int:
    return int({**template["Globals"]["Function"], **function["Properties"]}["Timeout"])


def function_alarms(template: dict[str, Any], function: str) -> dict[str, str]:
    """metric name -> alarm id, for the alarms whose metric is this function's (plain or in metric math)."""
    found: dict[str, str] = {}
    for alarm_id, alarm in of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        metrics = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        for metric in metrics:
            if {"Name": "FunctionName", "Value": {"Ref": function}} in metric.get("Dimensions", []):
                found[metric["MetricName"]] = alarm_id
    return found


def skips(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return resource.get("Metadata", {}).get("checkov", {}).get("skip", [])


# ---- 2. logs -------------------------------------------------------------------------------------


def test_given_every_function_when_it_logs_then_its_log_group_belongs_to_the_stack_with_retention(
    template: dict[str, Any],
) -> None:
    functions = of_type(template, *FUNCTION_TYPES)
    assert len(functions) >= 8  # the API functions, the migration, the migrate-user trigger
    groups = of_type(template, "AWS::Logs::LogGroup")
    used = []
    for name, function in functions.items():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert set(log_group) == {"Ref"}, name
        group = groups[log_group["Ref"]]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{name}"}, name
        used.append(log_group["Ref"])
    assert len(set(used)) == len(used)  # one group per function
    assert default(template, "LogRetentionDays") == 30


def test_given_the_api_stage_when_a_request_is_served_then_one_json_access_log_line_joins_it_to_the_function(
    template: dict[str, Any],
) -> None:
    api = template["Resources"]["Api"]["Properties"]
    setting = api["AccessLogSetting"]
    assert "${ApiAccessLogGroup}" in setting["DestinationArn"]["Fn::Sub"]
    line = json.loads(setting["Format"])
    assert line["requestId"] == "$context.requestId"  # the functions' correlation_id
    assert line["lambdaRequestId"] == "$context.integration.requestId"  # their function_request_id
    assert line["sub"] == "$context.authorizer.claims.sub"
    for key in ("resourcePath", "httpMethod", "status", "responseLatency", "responseLength"):
        assert line[key] == f"$context.{key}", key
    group = template["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # Execution logging stays off: it would log bodies.
    (settings,) = api["MethodSettings"]
    assert settings["LoggingLevel"] == "OFF" and settings["DataTraceEnabled"] is False


def test_given_access_logging_when_the_account_has_no_gateway_role_then_the_stack_sets_it_before_the_stage(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert template["Parameters"]["CreateApiGatewayLoggingRole"]["Default"] == "false"  # account-wide
    account = resources["ApiGatewayAccount"]
    assert account["Condition"] == "CreateApiGatewayAccount" and account["DeletionPolicy"] == "Retain"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}
    assert resources["Api"]["DependsOn"] == "ApiLoggingReady"
    ready = resources["ApiLoggingReady"]["Metadata"]["Account"]
    assert ready == {"Fn::If": ["CreateApiGatewayAccount", {"Ref": "ApiGatewayAccount"}, ""]}


# ---- 3. limits -----------------------------------------------------------------------------------


def test_given_the_api_stage_when_callers_send_too_much_then_the_stage_throttles(
    template: dict[str, Any],
) -> None:
    (settings,) = template["Resources"]["Api"]["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert 0 < default(template, "ApiThrottlingRateLimit") <= default(template, "ApiThrottlingBurstLimit")


def test_given_the_default_concurrency_when_every_container_holds_its_pool_then_the_proxy_budget_holds(
    template: dict[str, Any],
) -> None:
    # Every function that may connect counts: its reserved concurrency x 2 connections.
    params = {k: int(v["Default"]) for k, v in template["Parameters"].items() if v["Type"] == "Number"}
    reserved_global = template["Globals"]["Function"]["ReservedConcurrentExecutions"]
    assert reserved_global == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "FunctionReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    connections = 0
    for name, function in of_type(template, *FUNCTION_TYPES).items():
        reserved = function["Properties"].get("ReservedConcurrentExecutions", reserved_global)["Fn::If"][1]
        per_function = params[reserved["Ref"]] if isinstance(reserved, dict) else int(reserved)
        assert per_function >= 1, name
        connections += CONNECTIONS_PER_CONTAINER * per_function
    budget = params["DbMaxConnections"] * params["ProxyMaxConnectionsPercent"] // 100
    assert connections <= budget, f"{connections} connections > the proxy's budget of {budget}"
    pool = template["Resources"]["DbProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"]
    assert pool["MaxConnectionsPercent"] == {"Ref": "ProxyMaxConnectionsPercent"}
    # The runbook works the same defaults through.
    runbook = RUNBOOK.read_text(encoding="utf-8")
    assert f"= {connections}" in runbook and f"= {budget}" in runbook


# ---- 4. files and queues -------------------------------------------------------------------------


def test_given_the_stacks_bucket_when_a_file_is_deleted_then_its_version_is_kept_for_n_days(
    template: dict[str, Any],
) -> None:
    bucket = template["Resources"]["FilesBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r]
    assert len(rules) == 1 and rules[0]["Status"] == "Enabled"
    assert rules[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "DeletedFileRetentionDays"}}
    assert default(template, "DeletedFileRetentionDays") == 30
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]


def test_given_every_queue_when_it_holds_messages_then_they_are_encrypted(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    assert queues
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name
    # SAM would create an unencrypted queue for `DeadLetterConfig: {Type: SQS}`: each schedule names
    # the stack's queue instead. The schedules are EventBridge Scheduler schedules (ScheduleV2), whose
    # SAM-made roles may send to it: no EventBridge rule (Schedule) is left to need a queue policy.
    found = 0
    for function in of_type(template, *FUNCTION_TYPES).values():
        for event_name, event in function["Properties"].get("Events", {}).items():
            assert event["Type"] != "Schedule", f"{event_name}: a rule carries no run_id (ScheduleV2 does)"
            if event["Type"] != "ScheduleV2":
                continue
            found += 1
            props = event["Properties"]
            assert props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]}}, (
                event_name
            )
    assert found


# ---- 1. alarms and the dashboard -----------------------------------------------------------------


def test_given_every_function_when_it_fails_is_throttled_or_slows_then_an_alarm_fires(
    template: dict[str, Any],
) -> None:
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    for name, function in of_type(template, *FUNCTION_TYPES).items():
        found = function_alarms(template, name)
        assert {"Errors", "Throttles", "Duration"} <= set(found), f"{name}: {sorted(found)}"
        duration = alarms[found["Duration"]]["Properties"]
        (expression,) = [m["Expression"] for m in duration["Metrics"] if "Expression" in m]
        # p99 as a percentage of this function's own timeout
        assert expression == f"100 * p99 / {timeout_of(template, function) * 1000}", name
        assert duration["Threshold"] == {"Ref": "DurationAlarmPercent"}


def test_given_every_alarm_when_it_changes_state_then_the_topic_hears_it(template: dict[str, Any]) -> None:
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 30
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name
        threshold = props["Threshold"]
        assert threshold == 0 or set(threshold) == {"Ref"}, f"{name}: thresholds are parameters"
        description = props["AlarmDescription"]
        text = description if isinstance(description, str) else description["Fn::Sub"]
        assert f"docs/operations.md#{name.lower()}" in text, name
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}


def test_given_the_proxy_when_the_stack_knows_its_name_then_it_is_watched(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("ProxyPinnedConnectionsAlarm", "ProxyClientConnectionsAlarm"):
        assert resources[name]["Condition"] == "MonitorProxy", name
    pinned = resources["ProxyPinnedConnectionsAlarm"]["Properties"]
    assert pinned["MetricName"] == "DatabaseConnectionsCurrentlySessionPinned"
    assert (pinned["ComparisonOperator"], pinned["Threshold"]) == ("GreaterThanThreshold", 0)


def test_given_the_handlers_answer_500_or_503_themselves_when_they_do_then_their_own_metrics_alarm(
    template: dict[str, Any],
) -> None:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    watched = set()
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == namespace:
                assert metric["Dimensions"] == [{"Name": "service", "Value": "dataapi"}]
                watched.add(metric["MetricName"])
    assert {"Error.Unexpected", "Error.Unavailable"} <= watched


@pytest.mark.parametrize("monitor_proxy", [True, False])
def test_given_the_dashboard_when_rendered_then_it_is_json_with_latency_and_statements(
    template: dict[str, Any], monitor_proxy: bool
) -> None:
    def render(value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            return re.sub(r"\$\{[^}]+\}", "x", text)
        if "Fn::If" in value:
            condition, yes, no = value["Fn::If"]
            assert condition == "MonitorProxy"
            return render(yes if monitor_proxy else no)
        raise AssertionError(value)

    separator, parts = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Join"]
    body = json.loads(separator.join(render(part) for part in parts))
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    stats = {m[-1].get("stat") for m in metrics if m[1] == "Latency" and isinstance(m[-1], dict)}
    assert {"p50", "p99"} <= stats
    assert any(m[1] == "Statements" for m in metrics)
    assert any(m[1] == "ClientConnections" for m in metrics) is monitor_proxy


# ---- 5 and 6. the template is checked, and the runbook covers it ----------------------------------


def test_given_every_alarm_when_it_fires_then_the_runbook_says_what_to_do(template: dict[str, Any]) -> None:
    # Each alarm's description links to its anchor in the runbook, where its name is spelled out.
    runbook = RUNBOOK.read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="(\w+alarm)"></a>', runbook))
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    for name in alarms:
        assert name.lower() in anchors and f"`{name}`" in runbook, f"{name} is not in docs/operations.md"
    stale = anchors - {name.lower() for name in alarms}
    assert not stale, f"docs/operations.md names alarms the template lacks: {sorted(stale)}"


def test_given_a_checkov_skip_when_present_then_it_carries_a_one_line_reason(
    template: dict[str, Any],
) -> None:
    found = 0
    for name, resource in template["Resources"].items():
        for skip in skips(resource):
            found += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
            comment = skip["comment"]
            assert comment.strip() and "\n" not in comment and len(comment) <= 160, f"{name}: {skip['id']}"
    assert found


def test_given_checkov_when_set_up_then_its_lock_holds_its_pin() -> None:
    def pins(path: str) -> dict[str, str]:
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
        return dict(line.split("==") for line in lines if line and not line.startswith("#"))

    required = pins("scripts/checkov-requirements.txt")
    locked = pins("scripts/checkov-requirements.lock")
    assert required and all(locked.get(name) == version for name, version in required.items())
