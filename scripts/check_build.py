"""Check a `sam build` output before it ships: right architecture, bytecode Lambda will use, sizes.

    .venv/bin/python scripts/check_build.py [--arch arm64|x86_64] [--build-dir .aws-sam/build]

- Every shared object (`*.so`, `*.so.N`) is an ELF file for the architecture (e_machine 0xB7
  aarch64, 0x3E x86_64) and every CPython extension module is tagged for CPython 3.12: a wheel
  built for another machine or Python fails at import on Lambda, not at deploy.
- Every `.py` has `__pycache__/<name>.cpython-312.pyc` with the 3.12 magic number and PEP 552 flags
  0b01 (hash-based, source not checked): SAM's zip dates every file 1980, so timestamp-based `.pyc`
  never match on Lambda, and checked-hash ones would hash every source at each cold start. Lambda
  never compares an unchecked-hash `.pyc` with its source, so the source hash stored in each must
  equal the source's (checked when this runs on Python 3.12): a stale one would run old code.
- No function with the layers is over Lambda's 250 MB unzipped limit.

Exits 1 and names each problem. Also imported by scripts/build.py, tests/build and bench/built.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD_DIR = ROOT / ".aws-sam" / "build"
INFO_FILE = "dataapi-build.json"  # written by scripts/build.py beside the built template
ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}  # EM_AARCH64, EM_X86_64
ARCH_ALIASES = {"aarch64": "arm64", "amd64": "x86_64", "x86-64": "x86_64"}
CACHE_TAG = "cpython-312"
MAGIC_312 = (3531).to_bytes(2, "little") + b"\r\n"
PYC_UNCHECKED_HASH = 0b01  # PEP 552: bit 0 hash-based, bit 1 check_source
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
_EXT_TAG = re.compile(r"\.cpython-(\d+)[^.]*\.so$")


def normalize_arch(arch: str) -> str:
    arch = ARCH_ALIASES.get(arch.strip().lower(), arch.strip().lower())
    if arch not in ELF_MACHINE:
        raise SystemExit(f"unknown architecture {arch!r}: use one of {', '.join(ELF_MACHINE)}")
    return arch


def machine_arch() -> str:
    """This machine's architecture in Lambda's words (a build for it can be imported here)."""
    return normalize_arch(platform.machine())


def find_python312() -> str:
    """A working python3.12, searched as scripts/setup.sh searches (pyenv's shim may be on PATH
    without 3.12 selected: each candidate is run, not just found)."""
    import glob
    import subprocess

    home = os.path.expanduser("~")
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob(f"{home}/.pyenv/versions/3.12*/bin/python3.12"), reverse=True),
        "/usr/local/bin/python3.12",
        "/usr/bin/python3.12",
    ]
    probe = "import sys; assert sys.version_info[:2] == (3, 12)"
    for c in candidates:
        if c and os.access(c, os.X_OK):
            ok = subprocess.run([c, "-c", probe], capture_output=True, check=False).returncode == 0
            if ok:
                return c
    raise SystemExit("Python 3.12 not found (install it, e.g. with pyenv; see scripts/setup.sh)")


def elf_machine(path: Path) -> int | None:
    """e_machine of an ELF file (None when the file is not ELF)."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    endian = "<" if head[5] == 1 else ">"  # EI_DATA: 1 little-endian, 2 big-endian
    return struct.unpack(endian + "H", head[18:20])[0]


def pyc_for(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"


def pyc_header(path: Path) -> tuple[bytes, int, bytes]:
    """(magic, flags, source hash or mtime+size) of a .pyc (PEP 552 header, 16 bytes)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 16:
        return b"", -1, b""
    return head[:4], struct.unpack("<I", head[4:8])[0], head[8:16]


def human_size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} KB"


@dataclass
class Artifact:
    kind: str  # "layer" or "function"
    name: str  # logical id
    path: Path
    handler: str = ""
    size: int = 0
    files: int = 0


@dataclass
class Report:
    build_dir: Path
    arch: str
    artifacts: list[Artifact] = field(default_factory=list)
    shared_objects: int = 0
    sources: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def layers(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind == "layer"]

    @property
    def functions(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind == "function"]

    def summary(self) -> str:
        layers = sum(a.size for a in self.layers)
        lines = [f"build {self.build_dir} for {self.arch}"]
        for a in self.artifacts:
            lines.append(f"  {a.kind:<8} {a.name:<22} {human_size(a.size):>9} unzipped, {a.files} files")
        biggest = max((a.size for a in self.functions), default=0)
        verdict = "problems below" if self.problems else f"all {self.arch}, every .py with its bytecode"
        lines.append(
            f"  {self.shared_objects} shared objects and {self.sources} .py files checked "
            f"(ELF machine; unchecked-hash {CACHE_TAG}.pyc): {verdict}"
        )
        lines.append(
            f"  largest function + layers {human_size(biggest + layers)} of Lambda's "
            f"{human_size(LAMBDA_UNZIPPED_LIMIT)} unzipped limit"
        )
        return "\n".join(lines)


def built_artifacts(build_dir: Path) -> list[Artifact]:
    """Layers and functions of the built template (its CodeUri/ContentUri name their folders)."""
    import yaml

    template = build_dir / "template.yaml"
    if not template.is_file():
        raise SystemExit(f"{template} not found: run `make build` first")
    sys.path.insert(0, str(ROOT))
    try:
        from devtools.template import CfnLoader
    finally:
        sys.path.remove(str(ROOT))
    resources = yaml.load(template.read_text(encoding="utf-8"), Loader=CfnLoader).get("Resources", {})
    found = []
    for name, res in sorted(resources.items()):
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            found.append(Artifact("layer", name, build_dir / props["ContentUri"]))
        elif res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            found.append(Artifact("function", name, build_dir / props["CodeUri"], props.get("Handler", "")))
    return found


def check_build(build_dir: Path, arch: str) -> Report:
    arch = normalize_arch(arch)
    report = Report(build_dir, arch, built_artifacts(build_dir))
    bad = report.problems
    if not report.layers or not report.functions:
        bad.append("the built template has no layer or no function")
    for art in report.artifacts:
        if not art.path.is_dir():
            bad.append(f"{art.name}: {art.path} is missing")
            continue
        for dirpath, _dirs, files in os.walk(art.path):
            for fname in files:
                path = Path(dirpath) / fname
                art.files += 1
                art.size += path.stat().st_size
                _check_file(report, path, fname, arch)
    layers = sum(a.size for a in report.layers)
    for fn in report.functions:
        if fn.size + layers > LAMBDA_UNZIPPED_LIMIT:
            bad.append(
                f"{fn.name}: {(fn.size + layers) / 2**20:.0f} MB with its layers, over Lambda's 250 MB"
            )
    return report


def _check_file(report: Report, path: Path, fname: str, arch: str) -> None:
    rel = path.relative_to(report.build_dir)
    if fname.endswith(".so") or ".so." in fname:
        report.shared_objects += 1
        report.problems.extend(_shared_object_problems(path, rel, fname, arch))
    elif fname.endswith(".pyc"):
        magic, flags, _ = pyc_header(path)
        if fname.endswith(f".{CACHE_TAG}.pyc") and (magic != MAGIC_312 or flags != 1):
            report.problems.append(f"{rel}: not an unchecked-hash 3.12 .pyc (flags {flags})")
    elif fname.endswith(".py"):
        report.sources += 1
        report.problems.extend(_source_problems(path, rel))


def _shared_object_problems(path: Path, rel: Path, fname: str, arch: str) -> list[str]:
    bad = []
    machine = elf_machine(path)
    if machine is None:
        bad.append(f"{rel}: not an ELF file")
    elif machine != ELF_MACHINE[arch]:
        got = {v: k for k, v in ELF_MACHINE.items()}.get(machine, f"e_machine {machine:#x}")
        bad.append(f"{rel}: built for {got}, not {arch}")
    tag = _EXT_TAG.search(fname)
    if tag and tag.group(1) != "312":
        bad.append(f"{rel}: an extension module for CPython {tag.group(1)}, not 3.12")
    return bad


def _source_problems(path: Path, rel: Path) -> list[str]:
    pyc = pyc_for(path)
    if not pyc.is_file():
        return [f"{rel}: no __pycache__/{pyc.name}"]
    magic, flags, stored = pyc_header(pyc)
    if magic != MAGIC_312 or flags != PYC_UNCHECKED_HASH:
        return []  # reported when the .pyc itself is walked
    if sys.version_info[:2] == (3, 12):
        from importlib.util import source_hash

        if stored != source_hash(path.read_bytes()):
            return [f"{rel}: its .pyc was compiled from another version of the source"]
    return []


def build_info(build_dir: Path) -> dict:
    path = build_dir / INFO_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def default_arch() -> str:
    """The template's `Architecture` parameter default."""
    import yaml

    sys.path.insert(0, str(ROOT))
    try:
        from devtools.template import CfnLoader
    finally:
        sys.path.remove(str(ROOT))
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=CfnLoader)
    return normalize_arch(template["Parameters"]["Architecture"]["Default"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR)
    parser.add_argument("--arch", help="default: the one scripts/build.py recorded, else the template's")
    args = parser.parse_args(argv)
    arch = args.arch or build_info(args.build_dir).get("arch") or default_arch()
    report = check_build(args.build_dir.resolve(), arch)
    print(report.summary())
    return report_problems(report)


def report_problems(report: Report) -> int:
    """Print the problems to stderr; the exit code (1 when there are any)."""
    if not report.problems:
        return 0
    print(f"\nBUILD CHECK FAILED: {len(report.problems)} problem(s)", file=sys.stderr)
    for problem in report.problems[:200]:
        print(f"  {problem}", file=sys.stderr)
    if len(report.problems) > 200:
        print(f"  ... and {len(report.problems) - 200} more", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
