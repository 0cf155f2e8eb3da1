"""Shared benchmark plumbing: start apps under the project's gunicorn settings, run wrk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "terminology" / "gunicorn_conf.py"
SERVICE_APP = "terminology:create_app()"
HELLO_APP = "bench.hello:create_app()"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(app: str, workers: int, env: dict | None = None):
    """Run ``app`` under gunicorn with the project's settings on 127.0.0.1; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), app],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    probe = f"{base}/hello" if app == HELLO_APP else f"{base}/metadata"
    try:
        for _ in range(600):
            try:
                requests.get(probe, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"{app} did not start")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def run_wrk(base: str, script: Path, mode: str, connections: int, duration: int) -> dict:
    """Run wrk once with a Lua script that prints ``RESULT requests micros p50 p99 errors``."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), base],
        env={**os.environ, "BENCH_MODE": mode}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    count, micros, p50, p99, errors = (int(v) for v in line.split()[1:])
    return {"rps": count / (micros / 1e6), "p50": p50 / 1000, "p99": p99 / 1000, "errors": errors}
