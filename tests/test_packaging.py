"""`pip install .` (not editable) serves the bundled content without a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import clean_environment, free_port, stop, wait_ready

REPOSITORY = Path(__file__).resolve().parent.parent
CPT = "http://www.ama-assn.org/go/cpt"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Install the project the way a user does (`pip install .`), into a folder of its own.

    Offline: the build backend comes from the test dependencies and the runtime dependencies
    from this environment, so only the package itself is new.
    """
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(REPOSITORY)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def _environment(installed: Path, tmp_path: Path) -> dict:
    # Run outside the checkout, with the installed copy first on the path: no source tree is seen.
    env = clean_environment(tmp_path, PYTHONPATH=str(installed), HOME=str(tmp_path / "home"),
                            XDG_DATA_HOME=str(tmp_path / "xdg"))  # fmt: skip
    del env["TERMINOLOGY_DATA_DIR"]  # the default data directory is what is checked here
    return env


def test_the_wheel_carries_the_bundled_content(installed):
    bundled = installed / "terminology" / "bundled_content"
    for name in ("codesystems", "valuesets", "conceptmaps"):
        shipped = sorted(p.name for p in (REPOSITORY / name).glob("*.json"))
        assert shipped and sorted(p.name for p in (bundled / name).glob("*.json")) == shipped
    assert list((installed / "terminology" / "operationdefinitions").glob("*.json"))


def test_the_installed_package_checks_its_content_and_keeps_data_outside(installed, tmp_path):
    env = _environment(installed, tmp_path)
    probe = (
        "import terminology, terminology.config as c;"
        "print(terminology.__file__); print(c.REPOSITORY); print(c.load_settings().data_dir)"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    module, repository, data_dir = run.stdout.split("\n")[:3]
    assert module.startswith(str(installed)) and repository == "None"
    assert data_dir == str(tmp_path / "xdg" / "terminology")
    check = subprocess.run(
        [sys.executable, "-m", "terminology", "check"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("ok: 6 code systems")


@pytest.mark.e2e
def test_the_installed_package_serves_the_bundled_content(installed, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "terminology", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_environment(installed, tmp_path), cwd=tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        answer = requests.get(f"{base}/CodeSystem/$lookup?system={CPT}&code=72126", timeout=10)
        assert answer.status_code == 200
        assert answer.json()["resourceType"] == "Parameters"
    finally:
        assert stop(process) == 0
