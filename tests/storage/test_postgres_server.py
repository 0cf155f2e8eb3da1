"""The README's local PostgreSQL command (python -m tests.postgres_server -- COMMAND): its banner and its URL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support import START_LIMIT

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_local_command_names_the_server_version_and_hands_the_url_to_the_command():
    show_url = "import os; print(os.environ['TERMINOLOGY_DATABASE_URL'])"
    run = subprocess.run([sys.executable, "-m", "tests.postgres_server", "--", sys.executable, "-c", show_url],
                         capture_output=True, text=True, timeout=START_LIMIT, cwd=REPOSITORY)  # fmt: skip
    assert run.returncode == 0, run.stderr
    url = run.stdout.strip()
    assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/terminology", url)
    # "PostgreSQL 18.4 on 127.0.0.1:PORT: ...", the server's version (not the wheel's folder name)
    banner = re.search(
        r"^PostgreSQL (\S+) on 127\.0\.0\.1:\d+: TERMINOLOGY_DATABASE_URL=(\S+)$", run.stderr, re.M
    )
    assert banner, run.stderr
    assert re.fullmatch(r"\d+(\.\d+)+", banner.group(1)), banner.group(1)
    assert banner.group(2) == url
