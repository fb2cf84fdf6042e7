"""The layers of app/ import only downward, so the shape ARCHITECTURE.md draws stays true."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

# Bottom first. A module may import its own layer or any layer before it, never one after.
LAYERS = ["settings", "domain", "streaming", "hubs", "service", "producers", "web", "main"]
GROUND = {"__init__", "app"}  # app/__init__.py holds only the version; anybody may read it


def layer_of(module: str) -> str:
    """`app.hubs.redis` -> `hubs`; `app.main` -> `main`; `app.__main__` counts as `main`."""
    part = module.split(".")[1] if "." in module else module
    return "main" if part == "__main__" else part


def _is_module(name: str) -> bool:
    return (APP / name).is_dir() or (APP / f"{name}.py").is_file()


def imports_of(path: Path) -> list[str]:
    """Every `app.*` module this file imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "app":
            if node.module != "app":
                found.append(node.module)
            else:  # `from app import x`: the module app/x(.py), or a name defined in app/__init__.py
                found += [f"app.{a.name}" if _is_module(a.name) else "app" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "app"]
    return found


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if layer_of("app." + ".".join(path.relative_to(APP).with_suffix("").parts)) not in {*LAYERS, *GROUND}
    ]
    assert unplaced == []


def test_imports_point_only_downward() -> None:
    upward = []
    for path in APP.rglob("*.py"):
        module = "app." + ".".join(path.relative_to(APP).with_suffix("").parts)
        here = layer_of(module)
        if here in GROUND:
            continue
        for imported in imports_of(path):
            there = layer_of(imported)
            if there not in GROUND and LAYERS.index(there) > LAYERS.index(here):
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from app.service.dashboard import Dashboard\nimport app.web.asgi\nfrom app import hubs\n"
    )
    assert imports_of(source) == ["app.service.dashboard", "app.web.asgi", "app.hubs"]
    assert LAYERS.index(layer_of("app.web.asgi")) > LAYERS.index(layer_of("app.domain.state"))
