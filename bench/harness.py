"""Shared benchmark plumbing: start apps under the project's gunicorn settings, run wrk."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Server:
    """A running gunicorn: its base URL and the master's process id."""

    base: str
    pid: int


@contextmanager
def served(app: str, workers: int, env: dict | None = None):
    """Run ``app`` under gunicorn with the project's settings on 127.0.0.1; yield a Server."""
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
        yield Server(base, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


_RESULT_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def run_wrk(base: str, script: Path, mode: str, connections: int, duration: int) -> dict:
    """Run wrk once with a Lua request script; return req/s, p50 and p99 (ms) and the error count.

    The script is run with the shared ``done()`` reporter appended, which prints
    ``RESULT requests micros p50 p99 errors``.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as combined:
        combined.write(script.read_text() + _RESULT_LUA)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", combined.name, base],
            env={**os.environ, "BENCH_MODE": mode}, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(combined.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    count, micros, p50, p99, errors = (int(v) for v in line.split()[1:])
    return {"rps": count / (micros / 1e6), "p50": p50 / 1000, "p99": p99 / 1000, "errors": errors}


def run_wrk_post(base: str, path: str, body: dict, connections: int, duration: int) -> dict:
    """Run wrk POSTing one fixed FHIR JSON body to ``path``; same result shape as run_wrk."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/fhir+json"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
        )
    try:
        return run_wrk(f"{base}{path}", Path(script.name), "post", connections, duration)
    finally:
        os.unlink(script.name)


def worker_memory(master_pid: int) -> list[dict]:
    """Return RSS, PSS and private memory (MB) of each worker of a gunicorn master."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    result = []
    for pid in children:
        fields = {}
        for line in Path(f"/proc/{int(pid)}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0])
        private = fields["Private_Clean"] + fields["Private_Dirty"]
        result.append(
            {"rss_mb": fields["Rss"] / 1024, "pss_mb": fields["Pss"] / 1024, "private_mb": private / 1024}
        )
    return result
