"""SnapStart modelled here: a container restored from a snapshot is a process whose memory was
prepared before it existed, so a forked child of a primed process stands for it.

A driver process imports the get_items handler (which registers its hooks) and runs the
before-snapshot hooks as Lambda's runtime does (`snapshot_restore_py`'s registry; no connection
is opened). Then, each run, it forks: the child runs the after-restore hooks, and its first
request is timed, then warm requests of the same page: the front end's item list (its first
screen, 60 items with their dealer; one of the reads priming compiles), the caller an Admin. Each run also starts a fresh process that imports the handler
and times its first request: a new container without SnapStart, its init (the import) left out.
A second child of each run opens its connection before the clock starts: what the first request
costs beyond the connection. All in the same run; the figures are medians.

The first request of either kind still opens the container's connection (the server's start-up
exchange, the dialect's first-connect query) and loads the caller; what priming leaves to it is
named in the row.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import reads
from bench.harness import api_event, database
from dataapi.snapstart import COMMON_READS

ROOT = Path(__file__).resolve().parent.parent
ITEM_LIST = COMMON_READS[0]
WARM = 5
DRIVER = """
import json, os, resource, sys, time
sys.path[:0] = {paths!r}
import app
import snapshot_restore_py as runtime
from dataapi.db import wire

EVENT = json.loads({event!r})

class Context:
    function_name = "bench"
    function_version = "1"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-north-1:000000000000:function:bench:live"
    aws_request_id = "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 20_000

def timed():
    with wire.watched() as sent:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        response = app.lambda_handler(EVENT, Context())
        elapsed = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    assert response["statusCode"] == 200, response["body"][:300]
    return elapsed, len(sent), faults

def requests():
    first, statements, faults = timed()
    warm = [timed()[0] for _ in range({warm})]
    return {{"first": first, "statements": statements, "faults": faults, "warm": warm}}

def report(found):
    sys.stderr.write("@@" + json.dumps(found) + "\\n")

if {primed}:
    start = time.perf_counter()
    for hook, args, kwargs in runtime.get_before_snapshot():
        hook(*args, **kwargs)
    primed_s = time.perf_counter() - start
    for connected in (False, True):
        pid = os.fork()
        if pid == 0:  # a container restored from the snapshot
            for hook, args, kwargs in runtime.get_after_restore():
                hook(*args, **kwargs)
            if connected:  # the connection opened before the clock starts: what the rest costs
                from dataapi.db.engine import get_engine
                get_engine().connect().close()
            report({{**requests(), "prime": primed_s, "connected": connected}})
            sys.stdout.flush()
            os._exit(0)
        os.waitpid(pid, 0)
else:
    report(requests())
"""


def _results(code: str, env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench probe failed: {done.stderr.decode()[-3000:]}")
    lines = done.stderr.decode().splitlines()
    return [json.loads(line[2:]) for line in lines if line.startswith("@@")]


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run(runs: int) -> list[tuple[str, str, str]]:
    with database() as url:
        from sqlalchemy import create_engine

        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(reads.DATA)
        engine.dispose()
        event = json.dumps(api_event(reads.PATH, ITEM_LIST))
        paths = [str(ROOT / "functions" / "get_items"), str(ROOT / "layers" / "engine")]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "AWS_REGION": "eu-north-1",
            "POWERTOOLS_SERVICE_NAME": "dataapi",
            "DATABASE_URL": url,
        }
        fmt = {"paths": paths, "event": event, "warm": WARM}
        children: list[dict[str, Any]] = []
        fresh: list[dict[str, Any]] = []
        for _ in range(runs):  # interleaved, so machine noise hits both alike
            children += _results(DRIVER.format(**fmt, primed=True), env)
            fresh += _results(DRIVER.format(**fmt, primed=False), env)
    connected_first = ms([c["first"] for c in children if c["connected"]])
    children = [c for c in children if not c["connected"]]
    child_first = ms([c["first"] for c in children])
    fresh_first = ms([f["first"] for f in fresh])
    warm = ms([w for c in children + fresh for w in c["warm"]])
    prime = ms([c["prime"] for c in children])
    statements = children[0]["statements"]
    faults = statistics.median(c["faults"] for c in children)
    fresh_faults = statistics.median(f["faults"] for f in fresh)
    return [
        (
            "SnapStart model: primed, forked child's first request (item list)",
            f"{child_first:.1f} ms ({connected_first:.1f} ms on a connection opened beforehand); "
            f"a fresh process's first request {fresh_first:.1f} ms; warm {warm:.2f} ms; priming "
            f"{prime:.0f} ms before the snapshot; first request {statements} statements (first-connect "
            f"query, caller, page), {faults:.0f} page faults (fresh process {fresh_faults:.0f}: the child "
            "copies each page of the parent it writes to, as a restore loads the snapshot's pages)",
            f"child {child_first / warm:.2f}x warm (target <= 1.5x), {connected_first / warm:.2f}x on an "
            f"open connection; fresh {fresh_first / warm:.2f}x warm; child {child_first / fresh_first:.2f}x fresh",
        )
    ]


if __name__ == "__main__":
    for name, cost, speed in run(5):
        print(f"{name}  {cost}  |  {speed}")
