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


def _locked(path: Path) -> dict[str, str]:
    pins = dict(line.split("==", 1) for line in _lines(path))
    return {name.lower().replace("_", "-"): version for name, version in pins.items()}


def test_locks_hold_every_direct_pin_at_its_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["dev"]
    for pins, lock in (
        (direct, "requirements.lock"),
        (_lines(ROOT / "scripts/sam-requirements.txt"), "scripts/sam-requirements.lock"),
    ):
        locked = _locked(ROOT / lock)
        for pin in pins:
            name, version = pin.split("==")
            name = name.split("[")[0].lower().replace("_", "-")
            assert locked.get(name) == version, (
                f"{lock}: {name} is {locked.get(name)}, pyproject pins {version}"
            )
