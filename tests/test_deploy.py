"""What a PaaS and a new clone rely on: Procfile, pinned requirements, no registry addresses."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-r ")):
            continue
        assert "==" in line, f"{path.name}: {line!r} is not pinned"
        name, version = line.split("==")
        found[name.lower().replace("_", "-")] = version
    return found


def check_pinned(requirements: list[str], pinned: dict[str, str]) -> None:
    for spec in map(Requirement, requirements):
        name = spec.name.lower().replace("_", "-")
        assert name in pinned, f"{name} is in pyproject.toml but not pinned (run `make lock`)"
        assert spec.specifier.contains(pinned[name]), f"{name}=={pinned[name]} does not satisfy {spec}"


def test_requirements_pin_every_dependency_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = pins(ROOT / "requirements.txt")
    check_pinned(project["dependencies"], runtime)
    check_pinned(project["optional-dependencies"]["dev"], runtime | pins(ROOT / "requirements-dev.txt"))


def test_procfile_runs_uvicorn_on_port_behind_a_proxy() -> None:
    lines = (ROOT / "Procfile").read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("web: uvicorn ")
    assert "$PORT" in lines[0] or "${PORT" in lines[0]
    for flag in ("--proxy-headers", "--timeout-graceful-shutdown", "--factory app.main:create_app"):
        assert flag in lines[0]


def test_no_tracked_file_records_a_package_registry_address() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r'"resolved": *"https?://|--(extra-)?index-url|(index-url|trusted-host) *=')
    for name in tracked.splitlines():
        path = ROOT / name
        if path.suffix in {".png", ".js"} or not path.is_file():
            continue
        assert not pattern.search(path.read_text(errors="replace")), name
    assert "uv.lock" not in tracked.split()
