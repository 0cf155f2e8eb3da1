"""A PostgreSQL server that stops answering (SIGSTOP): every wait ends at the deadline, 503s, no worker lost."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from contextlib import contextmanager
from time import monotonic

import pytest
import requests
from fhir.resources.R4B.operationoutcome import OperationOutcome

from terminology.storage import StoreUnavailable, open_store
from terminology.storage.postgres import BoundedConnection, DatabaseTimeout, waiting_until
from tests.cdshooks.conftest import MUE_ROWS, PTP_ROWS, ehr_token, hook_call, order
from tests.ncci_fixtures import ncci_data_dir
from tests.postgres_server import ThrowawayPostgres
from tests.support import rsa_key, serving_process, wait_for, wait_for_workers, worker_pids, write_jwks

SERVICE = "bundling-order-sign"
BASE = "https://tx.test.invalid"
SIGN = f"/cds-services/{SERVICE}"
HANG_GUARD = 60  # seconds: a client timeout that only stops a hung test, never asserted on


def _entry(card: str) -> dict:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-07-15T10:00:00Z"}


@pytest.fixture(scope="module")
def stoppable_server():
    """A PostgreSQL server of this module's own (the tests stop it; the session's shared one is never stopped).

    Stopping it thaws it first (``halt``), so a stopped server never outlives the module.
    """
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def server(stoppable_server):
    """The module's server, continued after each test even when the test fails while it is stopped."""
    yield stoppable_server
    stoppable_server.thaw()


@pytest.fixture
def url(server):
    with server.schema_url() as url:
        yield url


def _guarded(call):
    """Run ``call()`` and return or raise what it does; fail the test if it hangs (a guard, not a timing)."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), "the store call hung (the server is continued at teardown)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextmanager
def _stopped(pid: int):
    """SIGSTOP one process until the block ends (SIGCONT even when the block fails)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_wait_on_a_server_that_stopped_answering_ends_at_the_deadline_and_closes_the_connection(url):
    conn = BoundedConnection.connect(url, autocommit=True)
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with _stopped(backend):

        def select_by_the_deadline():
            with waiting_until(monotonic() + 1):
                conn.execute("SELECT 1")

        with pytest.raises(DatabaseTimeout):
            _guarded(select_by_the_deadline)
        # Mid-exchange, the server might still answer later: the connection is never used again.
        assert conn.closed

    # Without a call deadline, each single wait is bounded by the connection's wait_limit (exports).
    conn = BoundedConnection.connect(url, autocommit=True)
    conn.wait_limit = 1
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with _stopped(backend):
        with pytest.raises(DatabaseTimeout):
            _guarded(lambda: conn.execute("SELECT 1"))
        assert conn.closed


def test_every_store_call_is_unavailable_while_the_server_is_stopped_then_works_again(server, url):
    settings = {"DATABASE_URL": url, "DATABASE_TIMEOUT": 1, "DATABASE_POOL_SIZE": 2}
    store = open_store(settings)
    store.migrate()
    assert store.add_feedback(SERVICE, [_entry("acknowledged")]) == 1
    keep_until = int(time.time()) + 300
    assert store.first_use_of("jti-before", keep_until) is True
    assert store.ready()[0]

    server.freeze()
    ok, detail = _guarded(store.ready)
    assert not ok and "unavailable" in detail
    with pytest.raises(StoreUnavailable):
        _guarded(lambda: store.add_feedback(SERVICE, [_entry("during")]))
    with pytest.raises(StoreUnavailable):
        _guarded(lambda: store.first_use_of("jti-during", keep_until))
    starting = open_store(settings)  # another replica starting now: its migration gives up too
    with pytest.raises(StoreUnavailable):
        _guarded(starting.migrate)

    server.thaw()
    wait_for(lambda: store.ready()[0], "the store answering again once the server is continued")
    # More calls than the pool holds connections: none of them meets a connection cut short.
    for _ in range(3 * 2):
        assert store.add_feedback(SERVICE, [_entry("during")]) == 1  # the retry of the refused entry
    assert store.first_use_of("jti-before", keep_until) is False  # the replay list is intact
    cards = Counter(row["card"] for row in store.feedback())
    assert cards == {"acknowledged": 1, "during": 1}
    assert starting.migrate() == store.migrate()
    store.close()
    starting.close()


def _transient(response: requests.Response, text: str) -> None:
    assert response.status_code == 503, response.text
    outcome = OperationOutcome.model_validate(response.json())
    assert any(i.code == "transient" and text in i.details.text for i in outcome.issue), response.text


def _cds_call(base: str, key) -> requests.Response:
    token = ehr_token(key, f"{BASE}{SIGN}")
    return requests.post(f"{base}{SIGN}", json=hook_call("order-sign", order("a", "72125")),
                         headers={"Authorization": f"Bearer {token}"}, timeout=HANG_GUARD)  # fmt: skip


def _feedback(base: str, card: str) -> requests.Response:
    return requests.post(f"{base}{SIGN}/feedback", json={"feedback": [_entry(card)]}, timeout=HANG_GUARD)


def _ready(base: str) -> requests.Response:
    return requests.get(f"{base}/readyz", timeout=HANG_GUARD)


@pytest.mark.e2e
def test_gunicorn_answers_503_while_the_database_is_stopped_and_keeps_its_workers(tmp_path, server, url):
    key = rsa_key()
    jwks = write_jwks(tmp_path / "ehr-jwks.json", key, "ehr-key", "RS384")
    # gunicorn replaces a worker silent for TERMINOLOGY_TIMEOUT seconds: short here, so that a wait the
    # deadline did not end would cost the worker (and fail the test) rather than only take long.
    common = {"TERMINOLOGY_DATABASE_URL": url, "TERMINOLOGY_DATABASE_TIMEOUT": "1", "TERMINOLOGY_TIMEOUT": "6",
              "TERMINOLOGY_ACCESS_LOG": "false"}  # fmt: skip
    plain_dir, ehr_dir = tmp_path / "plain", tmp_path / "ehr"
    plain_dir.mkdir()
    ehr_dir.mkdir()
    ncci_data_dir(ehr_dir, PTP_ROWS, MUE_ROWS)
    with (
        serving_process(plain_dir, workers=1, **common) as (plain, plain_master),
        serving_process(ehr_dir, workers=1, TERMINOLOGY_BASE_URL=BASE, TERMINOLOGY_CDS_JWKS=str(jwks),
                        TERMINOLOGY_CDS_ISSUERS="https://ehr.test.invalid", **common) as (ehr, ehr_master),
    ):  # fmt: skip
        # Each worker holds a pooled connection when the database stops (the case that hung before).
        assert _feedback(plain, "acknowledged").status_code == 200
        assert _cds_call(ehr, key).status_code == 200
        workers = {master.pid: wait_for_workers(master.pid, 1) for master in (plain_master, ehr_master)}

        server.freeze()
        _transient(_ready(plain), "feedback store")
        _transient(_feedback(plain, "during"), "feedback store")
        _transient(_cds_call(ehr, key), "replay check")
        _transient(_ready(ehr), "feedback store")
        for master in (plain_master, ehr_master):
            assert master.poll() is None
            assert worker_pids(master.pid) == workers[master.pid]  # answered, not killed and replaced

        server.thaw()
        for base in (plain, ehr):
            wait_for(lambda base=base: _ready(base).status_code == 200, "readiness once the database is back")
        assert _feedback(plain, "during").status_code == 200  # the EHR's retry
        assert _cds_call(ehr, key).status_code == 200
        for master in (plain_master, ehr_master):
            assert worker_pids(master.pid) == workers[master.pid]

    # Everything acknowledged is stored, and the refused entry's retry once.
    reader = open_store({"DATABASE_URL": url})
    assert Counter(row["card"] for row in reader.feedback()) == {"acknowledged": 1, "during": 1}
    reader.close()
