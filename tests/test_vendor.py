"""The vendored front-end files are exactly what their manifests record: the app's in
static/vendor, and axe-core, which only the browser tests inject, in tests/browser/vendor."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "static" / "vendor"
TEST_VENDOR = ROOT / "tests" / "browser" / "vendor"


def manifest(folder: Path = VENDOR) -> list[dict[str, str]]:
    packages: list[dict[str, str]] = json.loads((folder / "manifest.json").read_text())["packages"]
    return packages


def test_every_vendored_file_matches_its_sha256() -> None:
    for package in manifest():
        digest = hashlib.sha256((VENDOR / package["file"]).read_bytes()).hexdigest()
        assert digest == package["sha256"], package["file"]
        assert (VENDOR / package["license_file"]).is_file()


def test_pinned_versions_and_licences() -> None:
    pinned = {(p["package"], p["version"], p["license"]) for p in manifest()}
    assert pinned == {("htmx.org", "2.0.11", "0BSD"), ("htmx-ext-sse", "2.2.4", "0BSD")}
    assert 'version:"2.0.11"' in (VENDOR / "htmx.min.js").read_text()


def test_nothing_else_in_vendor_and_no_cdn_anywhere() -> None:
    listed = {p["file"] for p in manifest()} | {p["license_file"] for p in manifest()} | {"manifest.json"}
    assert {f.name for f in VENDOR.iterdir()} == listed
    # Anything that makes the browser fetch from another host: src/href/url()/@import.
    cdn = re.compile(
        r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|unpkg|jsdelivr|cdnjs"""
    )
    for folder in ("templates", "static"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and VENDOR not in path.parents:
                assert not cdn.search(path.read_text()), path


def test_axe_is_pinned_checked_and_for_tests_only() -> None:
    packages = manifest(TEST_VENDOR)
    assert {(p["package"], p["version"], p["license"]) for p in packages} == {
        ("axe-core", "4.10.3", "MPL-2.0")
    }
    for package in packages:
        digest = hashlib.sha256((TEST_VENDOR / package["file"]).read_bytes()).hexdigest()
        assert digest == package["sha256"], package["file"]
        assert (
            (TEST_VENDOR / package["license_file"])
            .read_text()
            .startswith("Mozilla Public License, version 2.0")
        )
    assert (TEST_VENDOR / "axe.min.js").read_text().startswith("/*! axe v4.10.3")
    listed = {p["file"] for p in packages} | {p["license_file"] for p in packages} | {"manifest.json"}
    assert {f.name for f in TEST_VENDOR.iterdir()} == listed
    assert not any(path.name.startswith("axe") for path in (ROOT / "static").rglob("*"))
