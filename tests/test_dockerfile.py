"""Checks of the Dockerfile, .dockerignore, the two lock files and the README's two commands (no Docker engine needed)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPOSITORY = Path(__file__).resolve().parent.parent


def _instructions() -> list[tuple[str, str]]:
    text = (REPOSITORY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_base_image_is_slim_python_311_pinned_to_a_patch_release():
    for op, arg in _instructions():
        if op == "FROM":
            assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?( AS \w+)?", arg), arg


def test_runs_as_a_fixed_non_root_uid():
    users = [arg for op, arg in _final_stage() if op == "USER"]
    assert users == ["10001:10001"]


def test_serves_with_terminology_serve_and_checks_livez():
    stage = dict(_final_stage())
    assert json.loads(stage["CMD"]) == ["terminology", "serve"]
    healthcheck = stage["HEALTHCHECK"]
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "/livez" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")  # the one-liner is valid Python


def test_bundled_content_is_baked_in_where_the_service_looks_for_it():
    stage = _final_stage()
    copied = {
        shlex.split(arg)[-1]: shlex.split(arg)[0] for op, arg in stage if op == "COPY" and "--from" not in arg
    }
    env = " ".join(arg for op, arg in stage if op == "ENV")
    dirs = re.search(r"TERMINOLOGY_CONTENT_DIRS=(\S+)", env).group(1).split(":")
    assert dirs and all(copied.get(d) for d in dirs)
    for directory in dirs:
        assert list((REPOSITORY / copied[directory]).glob("*.json")), directory
    assert "TERMINOLOGY_DATA_DIR=/data" in env


def test_dependencies_come_from_the_lock_file():
    build = " ".join(arg for op, arg in _instructions() if op == "RUN")
    assert "--requirement /src/requirements.lock" in build
    assert "--no-deps /src" in build


def test_every_copied_path_exists_and_is_not_ignored():
    ignored = {line.strip() for line in (REPOSITORY / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "tests", "helm"} <= ignored
    for op, arg in _instructions():
        if op == "COPY" and "--from" not in arg:
            for source in shlex.split(arg)[:-1]:
                assert (REPOSITORY / source).exists(), source
                assert source not in ignored, source


def _locked(lock: str) -> dict[str, str]:
    locked = {}
    for line in (REPOSITORY / lock).read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            locked[re.sub(r"[-_.]+", "-", name).lower()] = version
    return locked


def test_lock_file_satisfies_the_pinned_dependencies():
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    locked = _locked("requirements.lock")
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in locked, name
        assert requirement.specifier.contains(locked[name]), (dependency, locked[name])


def test_test_lock_is_the_runtime_lock_plus_the_test_extra():
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    runtime, test = _locked("requirements.lock"), _locked("requirements-test.lock")
    # The tests run on exactly the versions the container image ships.
    assert {name: test.get(name) for name in runtime} == runtime
    for dependency in project["optional-dependencies"]["test"]:
        requirement = Requirement(dependency)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in test, name
        assert requirement.specifier.contains(test[name]), (dependency, test[name])


def test_ci_runs_the_readme_test_command_with_the_test_lock():
    readme = (REPOSITORY / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.startswith("python3.11 -m venv .venv") and "pytest" in line)
    assert "-c requirements-test.lock" in command
    assert command in (REPOSITORY / ".ci" / "run").read_text()
    serve = next(line for line in readme.splitlines() if line.startswith("python3.11 -m venv .venv") and "serve" in line)
    assert "-c requirements.lock" in serve
