"""Helpers shared by test modules: real gunicorn on 127.0.0.1, and RSA keys published as a JWKS."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

START_LIMIT = 90  # seconds: bounded waits, never asserted on


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(tmp_path: Path, **extra: str) -> dict:
    """Return os.environ without TERMINOLOGY_*/PROMETHEUS_* settings, plus ``extra``.

    The data directory (NCCI index, feedback store) is ``tmp_path/data`` unless ``extra`` names one:
    a server a test starts never reads or writes the checkout's own ``data/``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TERMINOLOGY_", "PROMETHEUS_"))}
    env.update({"TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1",
                "TERMINOLOGY_DATA_DIR": str(tmp_path / "data"), **extra})  # fmt: skip
    return env


def wait_ready(base: str, process: subprocess.Popen, path: str = "/readyz") -> None:
    """Poll until the server answers 200 on ``path`` (bounded; no timing assertion)."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited during start-up: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if requests.get(f"{base}{path}", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("the service did not become ready")


def wait_for(condition, what: str) -> None:
    """Poll ``condition()`` until it is true (bounded; no timing assertion), e.g. a store coming back."""
    deadline = time.monotonic() + START_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> int:
    """Send SIGTERM and return the exit code (kill after the bounded wait)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=START_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@contextmanager
def serving_process(tmp_path: Path, workers: int = 2, **env: str):
    """Run `terminology serve` (real gunicorn) on 127.0.0.1; yield its base URL and master process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "terminology", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=clean_environment(tmp_path, TERMINOLOGY_DATA_DIR=str(tmp_path / "data"), **env),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            stop(process)


@contextmanager
def serving(tmp_path: Path, workers: int = 2, **env: str):
    """Run `terminology serve` (real gunicorn) on 127.0.0.1; yield its base URL."""
    with serving_process(tmp_path, workers, **env) as (base, _process):
        yield base


def worker_pids(master_pid: int) -> set[int]:
    """Return the pids of a gunicorn master's live workers (its child processes, from /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == master_pid and fields[0] != "Z":
            pids.add(int(stat.parent.name))
    return pids


def wait_for_workers(master_pid: int, count: int) -> set[int]:
    """Wait (bounded) until the master has ``count`` live workers; return their pids."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        pids = worker_pids(master_pid)
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not settle at {count} workers: {worker_pids(master_pid)}")


def rsa_key() -> rsa.RSAPrivateKey:
    """Generate an RSA signing key for test JWTs."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_jwks(path: Path, key: rsa.RSAPrivateKey, kid: str, alg: str) -> Path:
    """Publish the public half of ``key`` as a one-key JWKS file."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    path.write_text(json.dumps({"keys": [jwk]}))
    return path
