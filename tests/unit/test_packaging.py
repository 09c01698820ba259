"""The layer ships exactly the runtime pins of pyproject.toml, and every pin is exact."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def test_layer_requirements_mirror_the_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(_lines(ROOT / "layers/engine/requirements.txt")) == sorted(project["dependencies"])


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins += _lines(ROOT / "scripts/sam-requirements.txt")
    assert all("==" in pin for pin in pins), [p for p in pins if "==" not in p]
