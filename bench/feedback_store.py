"""Benchmark of the feedback store: durable writes per second on SQLite and PostgreSQL, 1 and 10 clients.

Run from the repository root: ``.venv/bin/python -m bench.feedback_store [--seconds 5]``.
Two layers are measured, each with one client and with ten concurrent clients:

- ``store``: ``Store.add_feedback`` called directly, one process per client (as gunicorn workers do);
- ``http``: ``POST /cds-services/bundling-order-sign/feedback`` through real gunicorn (2 workers),
  one thread with its own ``requests.Session`` per client.

Every write is one feedback entry committed before it returns: SQLite in WAL mode with
synchronous=FULL, PostgreSQL (a throw-away server on 127.0.0.1 from the test extra) with fsync and
synchronous_commit on. Data goes to temporary directories on the same disk. Figures go to stdout.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from bench.harness import SERVICE_APP, served
from terminology.storage import open_store
from tests.postgres_server import ThrowawayPostgres

FEEDBACK = "/cds-services/bundling-order-sign/feedback"


def _entry() -> dict:
    return {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-07-15T10:00:00Z"}


def _store_client(settings: dict, seconds: float, start_at: float, results) -> None:
    store = open_store({"DATA_DIR": "unused", **settings})
    store.add_feedback("bundling-order-sign", [_entry()])  # connect before the clock starts
    while time.time() < start_at:
        time.sleep(0.001)
    writes, deadline = 0, time.time() + seconds
    while time.time() < deadline:
        store.add_feedback("bundling-order-sign", [_entry()])
        writes += 1
    results.put(writes)
    store.close()


def store_rate(settings: dict, clients: int, seconds: float) -> float:
    """Return committed writes per second with ``clients`` processes calling the store directly."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 1.0
    processes = [
        context.Process(target=_store_client, args=(settings, seconds, start_at, results))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    total = sum(results.get(timeout=seconds + 120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return total / seconds


def http_rate(base: str, clients: int, seconds: float) -> tuple[float, int]:
    """Return acknowledged feedback POSTs per second with ``clients`` threads, and the non-200 count."""
    counts = [0] * clients
    failures = [0] * clients
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        session = requests.Session()
        session.post(f"{base}{FEEDBACK}", json={"feedback": [_entry()]}, timeout=30)
        barrier.wait()
        deadline = time.time() + seconds
        while time.time() < deadline:
            response = session.post(f"{base}{FEEDBACK}", json={"feedback": [_entry()]}, timeout=30)
            if response.status_code == 200:
                counts[index] += 1
            else:
                failures[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds, sum(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--skip-http", action="store_true", help="measure the store layer only")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    with ThrowawayPostgres(durable=True) as postgres:
        backends = {
            "sqlite": {"DATABASE_URL": "", "FEEDBACK_DB": str(scratch / "feedback.sqlite")},
            "postgresql": {"DATABASE_URL": postgres.url(), "FEEDBACK_DB": ""},
        }
        print(f"{'backend':<11} {'layer':<6} {'clients':>7} {'writes/s':>9}")
        for name, settings in backends.items():
            open_store({"DATA_DIR": "unused", **settings}).migrate()
            for clients in (1, 10):
                rate = store_rate(settings, clients, args.seconds)
                print(f"{name:<11} {'store':<6} {clients:>7} {rate:>9,.0f}", flush=True)
            if args.skip_http:
                continue
            env = {
                "TERMINOLOGY_DATABASE_URL": settings["DATABASE_URL"],
                "TERMINOLOGY_FEEDBACK_DB": settings["FEEDBACK_DB"] or str(scratch / "unused.sqlite"),
                "TERMINOLOGY_ACCESS_LOG": "false",
                "TERMINOLOGY_DATA_DIR": str(scratch / "data"),
            }
            with served(SERVICE_APP, 2, env) as server:
                for clients in (1, 10):
                    rate, failed = http_rate(server.base, clients, args.seconds)
                    note = f"  ({failed} not 200)" if failed else ""
                    print(f"{name:<11} {'http':<6} {clients:>7} {rate:>9,.0f}{note}", flush=True)


if __name__ == "__main__":
    main()
