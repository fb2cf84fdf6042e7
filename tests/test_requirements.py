"""The pinned requirements agree with pyproject.toml, and send pip nowhere but its own index.

`make run` installs requirements.txt and `make test` requirements-dev.txt, never pyproject.toml:
a dependency added to pyproject.toml but not locked would be missing from both, and a pin
outside pyproject's range (say a uvicorn whose private attributes app/streaming/wire.py no
longer finds) would be installed all the same. `make lock` regenerates both files.

Where packages come from is the installing machine's business (pip's configuration, a PaaS's
mirror): an index address or a trusted host written into a requirements file would override it
for everyone who clones the repository.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RUN = "requirements.txt"
DEV = "requirements-dev.txt"

# Spelled in two parts, so this file itself never matches a check for recorded index options.
INDEX_URL = "--" + "index-url"
EXTRA_INDEX_URL = "--extra-" + "index-url"
TRUSTED_HOST = "--" + "trusted-host"
INDEX_OPTIONS = (INDEX_URL, EXTRA_INDEX_URL, "-i", TRUSTED_HOST, "--find-links", "-f")
"""pip options that say where packages are downloaded from (or which host to trust for it)."""

INCLUDE_OPTIONS = ("-r", "--requirement")


@dataclass
class Lock:
    """One requirements file: its pins by project name, the files it includes, what is wrong in it."""

    pins: dict[NormalizedName, Version] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)
    index_options: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _option(line: str) -> tuple[str, str]:
    """An option line as (flag, value): `--flag=value`, `--flag value`, `-fvalue`, `-f value`."""
    head, _, rest = line.partition(" ")
    if head.startswith("--"):
        flag, _, attached = head.partition("=")
    else:
        flag, attached = head[:2], head[2:]
    return flag, (attached or rest).strip()


def read_lock(name: str, text: str) -> Lock:
    """Parse a requirements file as pip reads it (comments, `-r`), keeping only `name==version` pins."""
    lock = Lock()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        where = f"{name}:{number}"
        if line.startswith("-"):
            flag, value = _option(line)
            if flag in INDEX_OPTIONS:
                lock.index_options.append(line)
                lock.problems.append(f"{where}: `{line}` records where to download packages from")
            elif flag in INCLUDE_OPTIONS:
                lock.includes.append(value)
            else:
                lock.problems.append(f"{where}: `{line}` is not pinned with ==")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            lock.problems.append(f"{where}: `{line}` is not a requirement")
            continue
        specifiers = list(requirement.specifier)
        if requirement.url or len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in line:
            lock.problems.append(f"{where}: `{line}` is not pinned with ==")
            continue
        key = canonicalize_name(requirement.name)
        if key in lock.pins:
            lock.problems.append(f"{where}: {requirement.name} is pinned a second time")
            continue
        lock.pins[key] = Version(specifiers[0].version)
    return lock


def installed_by(name: str, locks: Mapping[str, Lock]) -> dict[NormalizedName, tuple[str, Version]]:
    """Every pin `pip install -r <name>` installs, with the file that records it (`-r` followed)."""
    pins: dict[NormalizedName, tuple[str, Version]] = {}
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen or current not in locks:
            continue
        seen.add(current)
        for key, version in locks[current].pins.items():
            pins.setdefault(key, (current, version))
        pending += locks[current].includes
    return pins


def dependency_problems(pyproject: Mapping[str, Any], locks: Mapping[str, Lock]) -> list[str]:
    """What is wrong between pyproject's dependencies and the locks, one line each.

    A run dependency must be pinned in requirements.txt (what `make run` and a PaaS install), a
    dev one in requirements-dev.txt or a file it includes, each pin inside pyproject's range.
    A dependency whose environment marker excludes this platform needs no pin (`make lock` runs
    `pip freeze` here, which does not list it), but a pin it has must still be in range.
    """
    project = pyproject["project"]
    problems = [problem for lock in locks.values() for problem in lock.problems]
    for name, lock in locks.items():
        problems += [
            f"{name}: `-r {other}` is not one of the locks" for other in lock.includes if other not in locks
        ]
    if RUN not in locks[DEV].includes:
        problems.append(f"{DEV} does not include {RUN}, so `make test` would not install the app")
    for file, dependencies in (
        (RUN, project["dependencies"]),
        (DEV, project["optional-dependencies"]["dev"]),
    ):
        pins = installed_by(file, locks)
        for text in dependencies:
            dependency = Requirement(text)
            key = canonicalize_name(dependency.name)
            if key not in pins:
                if dependency.marker is None or dependency.marker.evaluate():
                    problems.append(f"`{text}` is not pinned in {file}; run `make lock`")
                continue
            where, version = pins[key]
            if not dependency.specifier.contains(version, prereleases=True):
                problems.append(f"{where}: {dependency.name}=={version} is outside pyproject.toml's `{text}`")
    return problems


def repository_locks() -> dict[str, Lock]:
    return {name: read_lock(name, (ROOT / name).read_text()) for name in (RUN, DEV)}


def repository_pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- the repository's own files -----------------------------------------------------------


def test_every_dependency_is_pinned_within_its_range_in_the_file_that_installs_it() -> None:
    assert dependency_problems(repository_pyproject(), repository_locks()) == []


def test_neither_requirements_file_records_where_to_download_packages_from() -> None:
    assert {name: lock.index_options for name, lock in repository_locks().items()} == {RUN: [], DEV: []}


# --- the check itself, on files made up for it ----------------------------------------------


def project(run: list[str], dev: list[str]) -> dict[str, Any]:
    return {"project": {"dependencies": run, "optional-dependencies": {"dev": dev}}}


def locks(run: str, dev: str = f"-r {RUN}\n") -> dict[str, Lock]:
    return {RUN: read_lock(RUN, run), DEV: read_lock(DEV, dev)}


def test_a_dependency_without_a_pin_is_reported() -> None:
    problems = dependency_problems(
        project(["litestar>=2.25,<3", "redis>=5.0"], []), locks("litestar==2.25.0\n")
    )
    assert problems == ["`redis>=5.0` is not pinned in requirements.txt; run `make lock`"]


def test_a_run_dependency_pinned_only_for_development_is_reported() -> None:
    problems = dependency_problems(
        project(["uvicorn>=0.30,<0.55"], ["pytest>=8"]),
        locks("", f"-r {RUN}\nuvicorn==0.54.0\npytest==9.2.0\n"),
    )
    assert problems == ["`uvicorn>=0.30,<0.55` is not pinned in requirements.txt; run `make lock`"]


def test_a_dev_dependency_may_be_pinned_in_the_run_file_the_dev_file_includes() -> None:
    problems = dependency_problems(
        project(["litestar>=2.25"], ["httpx>=0.27"]), locks("litestar==2.25.0\nhttpx==0.28.1\n")
    )
    assert problems == []


def test_a_pin_outside_the_range_is_reported() -> None:
    problems = dependency_problems(
        project(["uvicorn>=0.30,<0.55", "msgspec>=0.19,<0.23"], []),
        locks("uvicorn==0.55.0\nmsgspec==0.22.0\n"),
    )
    assert problems == ["requirements.txt: uvicorn==0.55.0 is outside pyproject.toml's `uvicorn>=0.30,<0.55`"]


def test_names_are_compared_as_pip_compares_them() -> None:
    problems = dependency_problems(
        project(["jinja2>=3.1", "typing-extensions>=4"], []),
        locks("Jinja2==3.1.6\ntyping_extensions==4.16.0\n"),
    )
    assert problems == []


@pytest.mark.parametrize(
    "line",
    [
        "litestar>=2.25",
        "litestar",
        "litestar==2.*",
        "litestar~=2.25",
        "-e ./litestar",
        "litestar @ https://example.com/litestar.whl",
    ],
)
def test_a_lock_line_that_is_not_an_exact_pin_is_reported(line: str) -> None:
    problems = dependency_problems(project([], []), locks(f"# a comment\n\n{line}  # why\n"))
    assert problems == [f"requirements.txt:3: `{line}` is not pinned with =="]


def test_a_project_pinned_twice_is_reported() -> None:
    problems = dependency_problems(project(["redis>=5"], []), locks("redis==8.1.0\nRedis==8.0.0\n"))
    assert problems == ["requirements.txt:2: Redis is pinned a second time"]


def test_a_dev_file_without_the_run_file_is_reported() -> None:
    problems = dependency_problems(project([], ["pytest>=8"]), locks("", "pytest==9.2.0\n"))
    assert problems == [
        "requirements-dev.txt does not include requirements.txt, so `make test` would not install the app"
    ]


def test_an_included_file_other_than_the_run_file_is_reported() -> None:
    problems = dependency_problems(project([], []), locks("", f"-r {RUN}\n--requirement=constraints.txt\n"))
    assert problems == ["requirements-dev.txt: `-r constraints.txt` is not one of the locks"]


def test_a_marker_that_excludes_this_platform_needs_no_pin_but_one_that_includes_it_does() -> None:
    excluded = 'winloop>=0.1; python_version < "3"'
    included = 'uvloop>=0.19; python_version >= "3"'
    problems = dependency_problems(project([excluded, included], []), locks(""))
    assert problems == [f"`{included}` is not pinned in requirements.txt; run `make lock`"]


def test_a_pin_of_a_dependency_with_a_marker_is_held_to_its_range() -> None:
    uvloop = 'uvloop>=0.19; sys_platform != "win32"'
    problems = dependency_problems(project([uvloop], []), locks("uvloop==0.18.0\n"))
    assert problems == [f"requirements.txt: uvloop==0.18.0 is outside pyproject.toml's `{uvloop}`"]


@pytest.mark.parametrize(
    "line",
    [
        f"{INDEX_URL} https://pypi.example.com/simple",
        f"{INDEX_URL}" + "=https://pypi.example.com/simple",
        f"{EXTRA_INDEX_URL} https://pypi.example.com/simple",
        "-i https://pypi.example.com/simple",
        "-ihttps://pypi.example.com/simple",
        f"{TRUSTED_HOST} pypi.example.com",
        "--find-links https://pypi.example.com/wheels/",
        "-f https://pypi.example.com/wheels/",
    ],
)
@pytest.mark.parametrize("file", [RUN, DEV])
def test_an_index_option_in_either_file_is_reported(file: str, line: str) -> None:
    texts = {RUN: "litestar==2.25.0\n", DEV: f"-r {RUN}\n"}
    texts[file] += f"{line}\n"
    problems = dependency_problems(project(["litestar>=2.25"], []), locks(texts[RUN], texts[DEV]))
    assert problems == [f"{file}:2: `{line}` records where to download packages from"]
