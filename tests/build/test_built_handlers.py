"""The built functions as Lambda loads them: the build output alone, with Python 3.12.

Skipped unless DATAAPI_BUILD_DIR names a `make build` output made for this machine's architecture
(compiled wheels must load here), so `make test` stays fast:

    make build ARCH=x86_64        # arm64 on an aarch64 machine
    DATAAPI_BUILD_DIR=.aws-sam/build .venv/bin/python -m pytest tests/build

Each handler is imported by python3.12 in a subprocess started with -I -S -B (no PYTHONPATH, no
site-packages, no bytecode written, as on Lambda) whose sys.path is only the built function folder
(/var/task on Lambda) and the built layer's `python/` (/opt/python) in front of the standard
library: an import that works here needs nothing from the checkout or the virtual environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from dataapi.models import Dealer, Item, Role, User
from scripts.check_build import (
    Artifact,
    build_info,
    built_artifacts,
    check_build,
    find_python312,
    machine_arch,
)
from tests.handler import support
from tests.handler.support import CALLER_EMAIL, CALLER_SUB

ROOT = Path(__file__).resolve().parents[2]
ENV_NAME = "DATAAPI_BUILD_DIR"

pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(not os.environ.get(ENV_NAME), reason=f"{ENV_NAME} is not set (make build first)"),
]

# Runs in the subprocess: sys.path becomes the two build folders plus the standard library; the
# handler is imported (and invoked with the event on stdin when one is given); one JSON line out.
PROBE = """
import importlib, json, sys, time
function_dir, layer_dir, handler = {function_dir!r}, {layer_dir!r}, {handler!r}
stdlib = [p for p in sys.path if p]
sys.path[:] = [function_dir, layer_dir, *stdlib]
module_name, _, attr = handler.rpartition(".")
start = time.perf_counter()
handler_fn = getattr(importlib.import_module(module_name), attr)
out = {{"import_s": time.perf_counter() - start, "callable": callable(handler_fn)}}
build_dirs = (function_dir + "/", layer_dir + "/")
stdlib_dirs = tuple(p + "/" for p in stdlib)


def outside(path):
    if path.startswith(build_dirs):
        return False
    return not path.startswith(stdlib_dirs) or "/site-packages/" in path


out["outside"] = sorted(
    f"{{name}}: {{mod.__file__}}" for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None) and outside(mod.__file__)
)
out["dataapi"] = sys.modules["dataapi"].__file__ if "dataapi" in sys.modules else None
event = sys.stdin.read()
if event:

    class Context:
        function_name = "dataapi-build-test"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:eu-north-1:123456789012:function:dataapi-build-test"
        aws_request_id = "0c9c2b4e-6a0d-4d8e-9f61-3b2a1c0d9e8f"
        log_group_name = "/aws/lambda/dataapi-build-test"
        log_stream_name = "build-test"

        def get_remaining_time_in_millis(self):
            return 20_000

    out["response"] = handler_fn(json.loads(event), Context())
print("@@PROBE " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def build_dir() -> Path:
    given = Path(os.environ[ENV_NAME])
    for candidate in (given, ROOT / given):
        if (candidate / "template.yaml").is_file():
            return candidate.resolve()
    pytest.fail(f"{ENV_NAME}={given} holds no built template.yaml (run `make build`)")


@pytest.fixture(scope="module")
def artifacts(build_dir: Path) -> list[Artifact]:
    """The built layer and functions; the build must be for this machine (its wheels load here)."""
    arch = build_info(build_dir).get("arch")
    if arch != machine_arch():
        pytest.fail(
            f"{build_dir} was built for {arch or 'an unknown architecture'}; this machine needs "
            f"`make build ARCH={machine_arch()}` (its compiled wheels must load here)"
        )
    return built_artifacts(build_dir)


@pytest.fixture(scope="module")
def python312() -> str:
    return find_python312()


def layer_python(artifacts: list[Artifact]) -> Path:
    (layer,) = [a for a in artifacts if a.kind == "layer"]
    return layer.path / "python"


def run_built(
    python312: str, function: Artifact, layer_dir: Path, event: dict | None = None, **env: str
) -> dict[str, Any]:
    code = PROBE.format(function_dir=str(function.path), layer_dir=str(layer_dir), handler=function.handler)
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "eu-north-1",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "POWERTOOLS_SERVICE_NAME": "dataapi",
        "POWERTOOLS_METRICS_NAMESPACE": "DataApi",
        **env,
    }
    result = subprocess.run(
        [python312, "-I", "-S", "-B", "-c", code],
        input=json.dumps(event) if event is not None else "",
        capture_output=True,
        text=True,
        env=environ,
        cwd="/",
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("@@PROBE ")]
    assert result.returncode == 0 and lines, (
        f"{function.name} failed (exit {result.returncode}):\n{result.stderr[-4000:]}\n{result.stdout[-2000:]}"
    )
    return json.loads(lines[-1].removeprefix("@@PROBE "))


def test_the_build_passes_its_checks(build_dir: Path) -> None:
    """What `make build` checked still holds: architecture, unchecked-hash bytecode, sizes."""
    arch = build_info(build_dir).get("arch")
    assert arch, f"{build_dir} was not made by scripts/build.py (`make build`)"
    report = check_build(build_dir, arch)
    assert not report.problems, "\n".join(report.problems[:50])
    assert report.shared_objects > 0 and report.sources > 0


def test_every_built_handler_imports_from_the_build_alone(artifacts: list[Artifact], python312: str) -> None:
    functions = [a for a in artifacts if a.kind == "function"]
    assert {f.path.name for f in functions} >= {"GetItemsFunction", "CreateItemsFunction"}
    layer_dir = layer_python(artifacts)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        outs = list(pool.map(lambda fn: run_built(python312, fn, layer_dir), functions))
    for function, out in zip(functions, outs, strict=True):
        assert out["callable"], f"{function.name}: {function.handler} is not callable"
        assert not out["outside"], f"{function.name} loaded modules from outside the build: {out['outside']}"
        assert out["dataapi"] and Path(out["dataapi"]).is_relative_to(layer_dir), out["dataapi"]


def test_built_get_items_answers_an_api_gateway_event(
    artifacts: list[Artifact], python312: str, fresh_db: str
) -> None:
    engine = create_engine(fresh_db)
    try:
        with Session(engine) as session, session.begin():
            shop = Dealer(dealer_name="Gamla Stans Antik", dealer_type="Shop")
            session.add_all(
                [
                    User(
                        username="build-tests",
                        email=CALLER_EMAIL,
                        phone="+46 70 000 00 00",
                        cognito_sub=CALLER_SUB,
                        roles=[Role(role="Admin", key="admin")],
                    ),
                    Item(article_number="2511-001", dealer=shop, purchased_price=1200),
                    Item(article_number="2511-002", dealer=shop, state="In-Transit"),
                    Item(article_number="2512-004", state="In-Transit"),
                ]
            )
    finally:
        engine.dispose()

    request = {"model_name": "Item", "requested_data": ["id", "article_number", {"dealer": ["dealer_name"]}]}
    event = support.event("/api/schemes/get_items", {**request, "per_page": 2})
    (get_items,) = [a for a in artifacts if a.kind == "function" and a.path.name == "GetItemsFunction"]
    out = run_built(python312, get_items, layer_python(artifacts), event, DATABASE_URL=fresh_db)

    response = out["response"]
    assert response["statusCode"] == 200, response
    envelope = json.loads(response["body"])
    assert {"status", "message", "body", "server_message"} <= set(envelope)
    assert envelope["status"] == 200 and envelope["server_message"] == ""
    assert envelope["request_id"] == event["requestContext"]["requestId"]
    assert [row["article_number"] for row in envelope["body"]] == ["2512-004", "2511-002"]
    assert envelope["body"][0]["dealer"] is None
    assert envelope["body"][1]["dealer"] == {"dealer_name": "Gamla Stans Antik"}
    assert not out["outside"], out["outside"]
