"""`make build`: validate the template, `sam build` without Docker, ship bytecode, check the output.

    .venv/bin/python scripts/build.py [--arch arm64|x86_64] [--build-dir DIR]

The architecture defaults to $ARCH, else the template's `Architecture` parameter default (arm64);
it is passed to `sam build` as `--parameter-overrides Architecture=<arch>`, which the functions and
the layer's `Metadata.BuildArchitecture` use. Steps, each timed:

1. `sam validate --lint` (the SAM CLI of `.sam-venv`).
2. `sam build` (samconfig.toml's build settings: cached, parallel) with a python3.12 on PATH (found
   as scripts/setup.sh finds it), SAM_CLI_TELEMETRY=0 and a region.
3. `python3.12 -m compileall -f --invalidation-mode unchecked-hash` over every layer and function
   folder of the build: SAM ships no bytecode, Lambda cannot write any, and SAM's zip dates every
   file 1980, so only unchecked-hash `.pyc` are used there. `-f` recompiles `.pyc` a wheel may have
   brought (compileall would otherwise keep timestamp-based ones whose mtime matches).
4. scripts/check_build.py: architecture of every shared object, a matching unchecked-hash `.pyc`
   for every `.py`, sizes. Fails loudly (exit 1) and names each problem.

Writes `dataapi-build.json` (architecture, Python, timings) beside the built template: the build
tests and bench/built.py read the architecture from it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.check_build import (  # noqa: E402
    DEFAULT_BUILD_DIR,
    INFO_FILE,
    check_build,
    default_arch,
    find_python312,
    normalize_arch,
    report_problems,
)

SAM = ROOT / ".sam-venv" / "bin" / "sam"


def sam_env(python312: str) -> dict[str, str]:
    env = dict(os.environ)
    # SAM looks python3.12 up on PATH; pyenv's shim answers "command not found" unless 3.12 is selected.
    env["PATH"] = os.pathsep.join([str(Path(python312).parent), env.get("PATH", "")])
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION") or "eu-north-1")
    return env


def step(title: str, cmd: list[str], env: dict[str, str], timings: dict[str, float], key: str) -> None:
    print(f"==> {title}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    timings[key] = round(time.perf_counter() - start, 1)
    if result.returncode != 0:
        sys.exit(f"BUILD FAILED: {title} exited {result.returncode}")
    print(f"    {title}: {timings[key]:.1f} s", flush=True)


def build(arch: str, build_dir: Path, validate: bool = True, cached: bool = True) -> int:
    if not SAM.exists():
        sys.exit(f"{SAM.relative_to(ROOT)} not found: run `make setup`")
    python312 = find_python312()
    env = sam_env(python312)
    timings: dict[str, float] = {}
    print(f"build for {arch} into {build_dir} (python3.12: {python312})", flush=True)
    (build_dir / INFO_FILE).unlink(missing_ok=True)
    if validate:
        step("sam validate --lint", [str(SAM), "validate", "--lint"], env, timings, "validate_s")
    sam_build = [str(SAM), "build", "--parameter-overrides", f"Architecture={arch}"]
    if build_dir.resolve() != DEFAULT_BUILD_DIR.resolve():
        sam_build += ["--build-dir", str(build_dir)]
    if not cached:  # samconfig.toml turns the cache on; it lives in .aws-sam whatever --build-dir says
        sam_build.append("--no-cached")
    step(f"sam build (Architecture={arch})", sam_build, env, timings, "sam_build_s")
    folders = [str(p) for p in sorted(build_dir.iterdir()) if p.is_dir()]
    compile_cmd = [python312, "-m", "compileall", "-q", "-f", "-j", "0"]
    compile_cmd += ["--invalidation-mode", "unchecked-hash", *folders]
    step("compileall (unchecked-hash)", compile_cmd, env, timings, "compileall_s")

    print("==> check the build", flush=True)
    start = time.perf_counter()
    report = check_build(build_dir, arch)
    timings["check_s"] = round(time.perf_counter() - start, 1)
    info = {"arch": arch, "python": python312, "timings": timings, "ok": not report.problems}
    (build_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(report.summary())
    print("  timings: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timings.items()))
    if report_problems(report):
        return 1
    print(f"build OK ({arch})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default=os.environ.get("ARCH") or None, help="arm64 or x86_64")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR)
    parser.add_argument("--no-validate", action="store_true", help="skip `sam validate --lint`")
    parser.add_argument("--no-cached", action="store_true", help="leave .aws-sam's build cache alone")
    args = parser.parse_args(argv)
    arch = normalize_arch(args.arch) if args.arch else default_arch()
    return build(arch, args.build_dir.resolve(), validate=not args.no_validate, cached=not args.no_cached)


if __name__ == "__main__":
    sys.exit(main())
