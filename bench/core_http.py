"""Benchmark the core operations over HTTP with wrk against a Flask hello-world ceiling.

Starts `terminology serve` and bench/hello.py under the same gunicorn settings on 127.0.0.1,
then drives GET CodeSystem/$lookup, GET CodeSystem/$validate-code, POST ValueSet/$validate-code
and GET ValueSet/$expand?filter=… with random codes (about 9 % unknown) at concurrency 1 and 10.
Prints req/s, p50, p99 and the ratio to hello-world. Needs wrk (Debian: apt-get install wrk).

    .venv/bin/python bench/core_http.py [--duration 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk_codes.lua"
GUNICORN_CONF = ROOT / "terminology" / "gunicorn_conf.py"
OPERATIONS = [
    ("GET CodeSystem/$lookup", "lookup"),
    ("GET CodeSystem/$validate-code", "cs-validate"),
    ("POST ValueSet/$validate-code", "vs-validate"),
    ("GET ValueSet/$expand?filter", "expand"),
]


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(app: str, workers: int, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start gunicorn with the project's settings on a free port; wait until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), app],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(f"{base}/metadata" if "terminology" in app else f"{base}/hello", timeout=1)
            return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{app} did not start")


def run_wrk(base: str, mode: str, connections: int, duration: int) -> dict:
    """Run wrk once; return req/s, p50 and p99 (ms) and the error count."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(LUA), base],
        env={**os.environ, "BENCH_MODE": mode}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    count, micros, p50, p99, errors = (int(v) for v in line.split()[1:])
    return {"rps": count / (micros / 1e6), "p50": p50 / 1000, "p99": p99 / 1000, "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("TERMINOLOGY_WORKERS", "2")))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    hello, hello_base = start("bench.hello:create_app()", args.workers)
    service, service_base = start("terminology:create_app()", args.workers)
    try:
        for base, mode in ((hello_base, "hello"), (service_base, "lookup")):
            run_wrk(base, mode, 10, 2)  # warm-up
        print(
            f"workers={args.workers} duration={args.duration}s wrk -t1; 'unknown' codes are ~9 % of requests"
        )
        print(
            "each operation run is paired with an adjacent hello-world run; ratio = operation / that ceiling"
        )
        print(
            f"{'operation':34} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'hello/s':>8} {'ratio':>6}"
        )
        for label, mode in OPERATIONS:
            for c in (1, 10):
                ceiling = run_wrk(hello_base, "hello", c, args.duration)
                r = run_wrk(service_base, mode, c, args.duration)
                ratio = r["rps"] / ceiling["rps"]
                print(
                    f"{label:34} {c:>4} {r['rps']:>8.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                    f"{ceiling['rps']:>8.0f} {ratio:>6.2f}"
                )
    finally:
        for process in (hello, service):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
