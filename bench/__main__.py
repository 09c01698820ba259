"""Run every benchmark section and print one line per figure (ratios measured in this run)."""

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench import built, idempotency, imports, reads, snapstart, trips, writes
from bench.harness import database


@contextmanager
def handlers_output_discarded() -> Iterator[None]:
    """The handlers' log and metric lines (written to stdout, as on Lambda) go to /dev/null at the
    file-descriptor level: still written, so still paid for, but not mixed into the figures."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=25, help="timed runs per figure")
    parser.add_argument("--no-build", action="store_true", help="leave out the figures of a SAM build")
    args = parser.parse_args()
    with handlers_output_discarded():
        rows = imports.run(max(5, args.runs // 3))
        if not args.no_build:
            rows += built.run(max(5, args.runs // 3))
        rows += snapstart.run(max(5, args.runs // 3))
        with database() as url:
            rows += reads.run(args.runs)
            rows += trips.run(args.runs, url)
            rows += writes.run(args.runs)
            rows += idempotency.run(args.runs)
    width = max(len(r[0]) for r in rows)
    for name, cost, speed in rows:
        print(f"{name:<{width}}  {cost}" + (f"  |  {speed}" if speed else ""))


if __name__ == "__main__":
    main()
