"""SnapStart (dataapi.snapstart): importing a handler and priming it before the snapshot open no
socket, each API function registers the hooks, and priming compiles the front end's common reads.

Imports run in fresh interpreters whose socket module refuses to make a socket, with the settings
of a deployment behind RDS Proxy (IAM tokens, TLS: the engine builds its TLS context) or of a
local DATABASE_URL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from dataapi import reads, snapstart
from dataapi.db import engine as dbmod
from dataapi.identity.authorize import Authorizer
from dataapi.identity.caller import Caller
from dataapi.identity.policy import default_policy
from dataapi.registry import default_registry
from dataapi.settings import get_settings
from devtools.template import ROOT, TEMPLATE, load_template
from tests.handler import support

PROXY_ENV = {
    "DB_HOST": "proxy.proxy-abc.eu-north-1.rds.amazonaws.com",
    "DB_USER": "app",
    "DB_NAME": "dataapi",
    "AWS_REGION": "eu-north-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "session",
}
LOCAL_ENV = {"DATABASE_URL": "postgresql+pg8000://app@db.invalid:5432/dataapi", "AWS_REGION": "eu-north-1"}

NO_SOCKETS = """
import socket, sys

def refused(*args, **kwargs):
    raise AssertionError("a socket was opened")

class Refusing(socket.socket):
    def __init__(self, *args, **kwargs):
        refused()

socket.socket = Refusing
socket.create_connection = socket.getaddrinfo = socket.socketpair = refused
"""


def snapstart_functions() -> dict[str, str]:
    """The template's functions with SnapStart: resource name -> function folder."""
    found = {}
    for name, res in load_template(TEMPLATE)["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function" and "SnapStart" in props:
            found[name] = props["CodeUri"].strip("/").rsplit("/", 1)[-1]
    return found


def run_isolated(code: str, function: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `code` in a fresh interpreter with the function's folder and the layer on sys.path,
    making sockets refused first; the JSON it prints last."""
    paths = [str(ROOT / "functions" / function), str(ROOT / "layers" / "engine")]
    script = NO_SOCKETS + f"sys.path[:0] = {paths!r}\n" + code
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "POWERTOOLS_SERVICE_NAME": "dataapi"}
    done = subprocess.run(
        [sys.executable, "-c", script], env={**base, **env}, capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


IMPORT_AND_PRIME = """
import json
import app
import snapshot_restore_py as runtime
from dataapi import snapstart
before = [f for f, _, _ in runtime.get_before_snapshot()]
after = [f for f, _, _ in runtime.get_after_restore()]
for hook, args, kwargs in runtime.get_before_snapshot():  # as Lambda runs them before the snapshot
    hook(*args, **kwargs)
from dataapi.db.engine import get_engine
print(json.dumps({
    "before": before == [snapstart.prime], "after": after == [snapstart.after_restore],
    "pooled": get_engine().pool.checkedin() + get_engine().pool.checkedout(),
}))
"""


def test_the_api_functions_and_only_they_use_snapstart() -> None:
    """GIVEN the template WHEN its functions are listed THEN every function behind an API route has
    SnapStart on its published versions, with an alias published at each deploy; the migration and
    the Cognito trigger (invoked by their ARN, $LATEST) have neither."""
    resources = load_template(TEMPLATE)["Resources"]
    fns = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    api = {k for k, p in fns.items() if any(e["Type"] == "Api" for e in (p.get("Events") or {}).values())}
    assert api == set(snapstart_functions())
    assert len(api) == 6
    for name in api:
        assert fns[name]["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        assert fns[name]["AutoPublishAlias"] == "live", name
    for name in set(fns) - api:
        assert "SnapStart" not in fns[name] and "AutoPublishAlias" not in fns[name], name


@pytest.mark.parametrize("env", [PROXY_ENV, LOCAL_ENV], ids=["rds-proxy", "database-url"])
@pytest.mark.parametrize("function", sorted(set(snapstart_functions().values())))
def test_import_and_priming_open_no_socket_and_register_the_hooks(function: str, env: dict[str, str]) -> None:
    """GIVEN a fresh interpreter in which making a socket fails
    WHEN a SnapStart function's handler is imported and the runtime runs its before-snapshot hooks
    THEN neither opens a socket, the hooks registered are dataapi.snapstart's, and no database
    connection was made."""
    got = run_isolated(IMPORT_AND_PRIME, function, env)
    assert got == {"before": True, "after": True, "pooled": 0}


def test_a_handler_imports_without_the_snapstart_runtime() -> None:
    """GIVEN an interpreter without snapshot_restore_py (the local gateway, any machine but Lambda)
    WHEN the get_items handler is imported THEN it imports and registers nothing."""
    code = (
        "import json, sys\nsys.modules['snapshot_restore_py'] = None  # absent: import finds nothing\n"
        "import app\nfrom dataapi import snapstart\n"
        "print(json.dumps({'handler': callable(app.lambda_handler), 'registered': snapstart._registered}))\n"
    )
    assert run_isolated(code, "get_items", LOCAL_ENV) == {"handler": True, "registered": False}


@pytest.mark.parametrize("name", ["get_items_item_list", "get_items_search_or", "get_items_single_item"])
def test_priming_compiles_the_statements_of_the_front_ends_reads(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the process primed WHEN the front end's read `name` (tests/handler/bodies) is compiled
    for an Admin and for a Buyer THEN its statement is the one priming built: no new shape."""
    monkeypatch.setattr(reads, "_SHAPES", type(reads._SHAPES)())
    for key, value in LOCAL_ENV.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    dbmod.dispose_engine()
    try:
        snapstart.prime()
        primed = len(reads._SHAPES._known)
        assert primed > 0
        valid = reads.plan(support.body(name), default_registry(), get_settings()).valid
        for role in ("Admin", "Buyer"):
            auth = Authorizer(default_policy(), Caller(7, "someone", roles=({"id": 1, "role": role},)))
            filters = auth.authorize_read(valid.model, valid.fields, valid.filters, valid.order)
            reads.compile_read(valid, filters, dbmod.get_engine().dialect)
        assert len(reads._SHAPES._known) == primed
    finally:
        dbmod.dispose_engine()
        get_settings.cache_clear()


def test_the_layer_does_not_ship_the_snapstart_runtime_module() -> None:
    """GIVEN the layer's requirements WHEN read THEN snapshot_restore_py is not among them: Lambda's
    managed runtime provides it, and a copy in the layer would shadow the runtime's."""
    shipped = (ROOT / "layers" / "engine" / "requirements.txt").read_text().lower()
    assert "snapshot" not in shipped


TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():  # SAM wants uploaded code to translate
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    if resource["Type"] == "AWS::Serverless::LayerVersion":
        resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"

class NoManagedPolicies:
    def load(self):
        return {}

print(json.dumps(transform(template, {}, NoManagedPolicies())["Resources"]))
"""


def test_sam_points_the_routes_and_the_schedule_at_the_published_alias() -> None:
    """GIVEN the template WHEN SAM translates it (the SAM CLI's translator, in .sam-venv)
    THEN every API route's integration and invoke permission, the scheduled run's target and its
    failure destination name the `live` alias of its function (the version with a snapshot), never
    the function itself ($LATEST, which SnapStart does not apply to)."""
    sam_python = ROOT / ".sam-venv" / "bin" / "python"
    if not sam_python.exists():
        pytest.skip("no .sam-venv (make setup installs the SAM CLI)")
    done = subprocess.run(
        [str(sam_python), "-c", TRANSLATE, str(TEMPLATE)],
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-north-1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resources = json.loads(done.stdout)
    aliases = {f"{name}Aliaslive" for name in snapstart_functions()}
    assert aliases <= set(resources)
    for name in aliases:
        assert resources[name]["Properties"]["Name"] == "live"
    paths = resources["Api"]["Properties"]["Body"]["paths"]
    uris = [
        op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for ops in paths.values()
        for op in ops.values()
        if isinstance(op, dict)
        and "x-amazon-apigateway-integration" in op
        and op["x-amazon-apigateway-integration"].get("type") == "aws_proxy"
    ]
    assert len(uris) == 9
    assert all(any(f"${{{alias}}}/invocations" in uri for alias in aliases) for uri in uris), uris
    permissions = [
        r["Properties"]["FunctionName"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] != "cognito-idp.amazonaws.com"
    ]
    assert permissions and all(p.get("Ref") in aliases for p in permissions), permissions
    # The schedules are EventBridge Scheduler schedules: a target each, invoked through a role of its own.
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    targets = [s["Target"]["Arn"] for s in schedules]
    assert targets and all(t == {"Ref": "UpdateItemsFunctionAliaslive"} for t in targets), targets
    assert not [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    invoked = [
        statement["Resource"]
        for s in schedules
        for policy in resources[s["Target"]["RoleArn"]["Fn::GetAtt"][0]]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
    ]
    assert len(invoked) == len(schedules) and all(
        r == {"Ref": "UpdateItemsFunctionAliaslive"} for r in invoked
    )
    invoke_configs = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]
    assert [c["Qualifier"] for c in invoke_configs] == ["live"]
