"""The build as Lambda runs it: cold import of the built get_items handler, and its first invocation.

The build is $DATAAPI_BUILD_DIR (a `make build` output for this machine's architecture), else one
made for this machine into a temporary folder (scripts/build.py; removed afterwards). Its layer and
get_items function are copied and every file is dated 1980-01-01, as Lambda unpacks SAM's zip: once
with the build's unchecked-hash bytecode, once with every `.pyc` removed. Every figure is a median
over fresh python3.12 processes started with -I -S -B (no site-packages, no PYTHONPATH, no bytecode
written: Lambda's file system is read-only) whose sys.path is the function folder and the layer's
`python/` (/var/task and /opt/python) in front of the standard library; each is timed inside the
process, so interpreter start-up (the same for both sides) is left out.

- cold import of the handler against importing the libraries it cannot do without (bench/imports.py's
  baseline), with the same sys.path, with and without the bytecode;
- import plus first invocation (a page of 10 items, the caller an Admin) against the same steps
  written by hand: import pg8000 and json, connect, one hand-written SELECT that builds the same
  JSON (bench/reads.py's), print it.
"""

from __future__ import annotations

import calendar
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # `python bench/built.py` as well as `python -m bench.built`
    sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "layers" / "engine")) if p not in sys.path]

from bench import reads  # noqa: E402
from bench.harness import api_event, database  # noqa: E402
from bench.imports import BASELINE, WITH_TRACER  # noqa: E402
from scripts.check_build import build_info, built_artifacts, find_python312, machine_arch  # noqa: E402

ENV_NAME = "DATAAPI_BUILD_DIR"
ZIP_EPOCH = calendar.timegm((1980, 1, 1, 0, 0, 0))  # what SAM's zip gives every file
PER_PAGE = 10
PRELUDE = """
import sys, time
sys.path[:] = [{function_dir!r}, {layer_dir!r}, *(p for p in sys.path if p)]
start = time.perf_counter()
"""
EPILOGUE = """
print("@@T", time.perf_counter() - start)
"""
INVOKE = """
import json
import app

class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-north-1:000000000000:function:bench"
    aws_request_id = "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 20_000

response = app.lambda_handler(json.loads({event!r}), Context())
print("@@OUT", response["body"])
"""
HAND_WRITTEN = """
import json
import pg8000.native

conn = pg8000.native.Connection({user!r}, host={host!r}, port={port!r}, database={database!r})
rows = conn.run({sql!r}, n={n!r})
print("@@OUT", json.dumps({{"status": 200, "body": [json.loads(r) for (r,) in rows]}}))
conn.close()
"""


@contextmanager
def build_dir() -> Iterator[Path]:
    """$DATAAPI_BUILD_DIR, or a build for this machine in a temporary folder."""
    given = os.environ.get(ENV_NAME)
    if given:
        path = Path(given) if Path(given).is_absolute() else ROOT / given
        arch = build_info(path).get("arch")
        if arch != machine_arch():
            raise SystemExit(f"{path} was built for {arch}; this machine runs {machine_arch()} builds")
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="dataapi-bench-build-"))
    try:
        cmd = [sys.executable, str(ROOT / "scripts" / "build.py"), "--no-validate", "--no-cached"]
        cmd += ["--arch", machine_arch(), "--build-dir", str(tmp / "build")]
        done = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        yield tmp / "build"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lambda_copy(build: Path, dest: Path, bytecode: bool) -> tuple[str, str]:
    """The get_items function and the layer as Lambda unpacks them; (function dir, layer python dir)."""
    artifacts = {a.path.name: a for a in built_artifacts(build)}
    ignore = None if bytecode else shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(artifacts["GetItemsFunction"].path, dest / "task", ignore=ignore)
    shutil.copytree(artifacts["EngineLayer"].path, dest / "opt", ignore=ignore)
    for dirpath, dirs, files in os.walk(dest):
        for name in files + dirs:
            os.utime(os.path.join(dirpath, name), (ZIP_EPOCH, ZIP_EPOCH), follow_symlinks=False)
    return str(dest / "task"), str(dest / "opt" / "python")


def timed(python312: str, paths: tuple[str, str], body: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds the code took inside a fresh Lambda-like interpreter, and what it printed."""
    code = PRELUDE.format(function_dir=paths[0], layer_dir=paths[1]) + body + EPILOGUE
    out = subprocess.run(
        [python312, "-I", "-S", "-B", "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench probe failed: {out.stderr[-3000:]}")
    lines = out.stdout.splitlines()
    elapsed = next(float(line.split()[1]) for line in reversed(lines) if line.startswith("@@T "))
    printed = [line.removeprefix("@@OUT ") for line in lines if line.startswith("@@OUT ")]
    return elapsed, printed[-1] if printed else ""


def seed(url: str) -> None:
    """The page data (the caller, an Admin, comes with bench.harness.database)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(reads.DATA)
    finally:
        engine.dispose()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run(runs: int) -> list[tuple[str, str, str]]:
    python312 = find_python312()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "eu-north-1",
        "POWERTOOLS_SERVICE_NAME": "dataapi",
    }
    with build_dir() as build, tempfile.TemporaryDirectory(prefix="dataapi-bench-lambda-") as tmp:
        with_pyc = lambda_copy(build, Path(tmp) / "with", bytecode=True)
        without = lambda_copy(build, Path(tmp) / "without", bytecode=False)
        rows: list[tuple[str, str, str]] = []

        imports: dict[str, list[float]] = {k: [] for k in ("ours", "base", "traced", "ours_src", "base_src")}
        for _ in range(runs):  # interleaved, so machine noise hits every figure alike
            imports["ours"].append(timed(python312, with_pyc, "import app", env)[0])
            imports["base"].append(timed(python312, with_pyc, BASELINE, env)[0])
            imports["traced"].append(timed(python312, with_pyc, WITH_TRACER, env)[0])
            imports["ours_src"].append(timed(python312, without, "import app", env)[0])
            imports["base_src"].append(timed(python312, without, BASELINE, env)[0])
        o, b, t, os_, bs = (median_ms(v) for v in imports.values())
        rows.append(
            (
                "cold import built get_items (1980 mtimes, unchecked-hash .pyc)",
                f"{o:.0f} ms; baseline imports {b:.0f} ms; baseline + X-Ray SDK {t:.0f} ms",
                f"{o / b:.2f}x baseline (target <= 1.3x; issue 21: 1.43-1.45x); {o / t:.2f}x baseline + X-Ray SDK",
            )
        )
        rows.append(
            (
                "cold import built get_items (1980 mtimes, no .pyc)",
                f"{os_:.0f} ms; baseline imports {bs:.0f} ms",
                f"{os_ / bs:.2f}x baseline; the bytecode makes the import {os_ / o:.1f}x faster",
            )
        )

        with database() as url:
            seed(url)
            parts = urlsplit(url)
            db_env = {**env, "DATABASE_URL": url}
            body = {"model_name": "Item", "requested_data": reads.FIELDS, "per_page": PER_PAGE}
            event = json.dumps(api_event(reads.PATH, body))
            by_hand = HAND_WRITTEN.format(
                user=parts.username,
                host=parts.hostname,
                port=parts.port,
                database=parts.path.lstrip("/"),
                sql=reads.BASELINE,
                n=PER_PAGE,
            )
            invoke = INVOKE.format(event=event)
            _, got = timed(python312, with_pyc, invoke, db_env)
            _, want = timed(python312, with_pyc, by_hand, db_env)
            envelope = json.loads(got)
            assert envelope["status"] == 200, envelope
            assert envelope["body"] == json.loads(want)["body"], (
                "the hand-written script must build the same JSON"
            )
            ours, base = [], []
            for _ in range(runs):
                ours.append(timed(python312, with_pyc, invoke, db_env)[0])
                base.append(timed(python312, with_pyc, by_hand, db_env)[0])
            o, b = median_ms(ours), median_ms(base)
            rows.append(
                (
                    f"import + first invocation built get_items page {PER_PAGE}",
                    f"{o:.0f} ms; hand-written pg8000 script {b:.0f} ms",
                    f"{o / b:.2f}x hand-written (target <= 2.5x; issue 21: 4.73x)",
                )
            )
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9, help="timed runs per figure")
    args = parser.parse_args()
    rows = run(args.runs)
    width = max(len(r[0]) for r in rows)
    for name, cost, speed in rows:
        print(f"{name:<{width}}  {cost}" + (f"  |  {speed}" if speed else ""))


if __name__ == "__main__":
    main()
