"""Cold import of a handler module against importing the libraries it cannot do without.

Each figure is the median over fresh interpreters, measured inside the process (interpreter start-up
is the same for both and left out). The layer is byte-compiled first, as the build ships it.
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import aws_lambda_powertools.event_handler, sqlalchemy.orm, pg8000, pydantic"
# Powertools' Tracer loads the X-Ray SDK (and botocore) when it is created, enabled or not: a cost
# every traced function pays at cold start. Shown apart so our own share stays visible.
WITH_TRACER = BASELINE + ", aws_xray_sdk.core"
PROBE = """
import sys, time
sys.path[:0] = {paths!r}
start = time.perf_counter()
{statement}
print(time.perf_counter() - start)
"""


def _once(statement: str, paths: list[str]) -> float:
    code = PROBE.format(paths=paths, statement=statement)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


# The first request of a new container in AWS makes an IAM token for its first connection: the
# connection code (already imported) fills the connect parameters. Fake credentials: no network.
TOKEN_PROBE = """
import os, sys, time
sys.path[:0] = {paths!r}
os.environ.update(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret", AWS_SESSION_TOKEN="session")
from dataapi.db import engine as db
from dataapi.settings import Settings
fill = db._credentials(Settings(db_host="proxy.proxy-abc.eu-north-1.rds.amazonaws.com", db_user="app"))
start = time.perf_counter()
params = {{}}
fill(None, None, [], params)
assert "X-Amz-Signature=" in params["password"]
print(time.perf_counter() - start)
"""


def token_row(runs: int) -> tuple[str, str, str]:
    paths = [str(ROOT / "layers" / "engine")]
    samples = []
    for _ in range(runs):
        code = TOKEN_PROBE.format(paths=paths)
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    ms = statistics.median(samples) * 1000
    return ("first connection of a new container: IAM token", f"+{ms:.1f} ms", "target <= +20 ms")


def run(runs: int) -> list[tuple[str, str, str]]:
    compileall.compile_dir(ROOT / "layers" / "engine", quiet=1)
    compileall.compile_dir(ROOT / "functions", quiet=1)
    rows = []
    for name in ("get_items",):
        paths = [str(ROOT / "layers" / "engine"), str(ROOT / "functions" / name)]
        ours, base, traced = [], [], []
        for _ in range(runs):
            ours.append(_once("import app", paths))
            base.append(_once(BASELINE, paths))
            traced.append(_once(WITH_TRACER, paths))
        o, b, t = (statistics.median(x) * 1000 for x in (ours, base, traced))
        rows.append(
            (
                f"cold import functions/{name}/app.py",
                f"{o:.0f} ms; baseline imports {b:.0f} ms; baseline + X-Ray SDK {t:.0f} ms",
                f"{o / b:.2f}x baseline (target <= 1.3x; issue 21: 1.43-1.45x); {o / t:.2f}x baseline + X-Ray SDK",
            )
        )
    rows.append(token_row(runs))
    return rows
