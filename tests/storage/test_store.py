"""The storage interface on both backends (SQLite file, real PostgreSQL): feedback, jti replay, migrations, outages."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import psycopg
import pytest

from terminology.storage import StoreUnavailable, open_store
from terminology.storage.migrations import LATEST, MIGRATIONS

ACCEPTED = {
    "card": "00000000-0000-4000-8000-00000000000a",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "00000000-0000-4000-8000-0000000000a1"}],
    "outcomeTimestamp": "2026-07-15T10:05:31Z",
}
OVERRIDDEN = {
    "card": "00000000-0000-4000-8000-00000000000b",
    "outcome": "overridden",
    "overrideReason": {
        "reason": {"system": "urn:example:synthetic", "code": "zz-reason"},
        "userComment": "ok",
    },
    "outcomeTimestamp": "2026-07-15T10:06:00.52+00:00",
}


@pytest.fixture
def store(store_settings):
    store = open_store({"DATA_DIR": "unused", **store_settings})
    yield store
    store.close()


def _sql(store, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement on the store's database outside the interface (for setting up and checking)."""
    if store.backend == "sqlite":
        with sqlite3.connect(store.path, isolation_level=None) as conn:
            return conn.execute(statement.replace("%s", "?"), params).fetchall()
    with psycopg.connect(store.url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def test_feedback_round_trip_in_order(store):
    assert store.add_feedback("bundling-order-sign", [ACCEPTED, OVERRIDDEN]) == 2
    assert store.add_feedback("bundling-order-select", [{**OVERRIDDEN, "card": "c-3"}]) == 1
    rows = list(store.feedback())
    assert [(r["service"], r["card"], r["outcome"]) for r in rows] == [
        ("bundling-order-sign", ACCEPTED["card"], "accepted"),
        ("bundling-order-sign", OVERRIDDEN["card"], "overridden"),
        ("bundling-order-select", "c-3", "overridden"),
    ]
    assert rows[0]["acceptedSuggestions"] == ACCEPTED["acceptedSuggestions"]
    assert "overrideReason" not in rows[0] and "acceptedSuggestions" not in rows[1]
    assert rows[1]["overrideReason"] == OVERRIDDEN["overrideReason"]
    assert rows[1]["outcomeTimestamp"] == OVERRIDDEN["outcomeTimestamp"]
    assert rows[0]["received"].endswith("Z") and len(rows[0]["received"]) == len("2026-07-15T10:05:31.123Z")
    assert rows[0]["id"] < rows[1]["id"] < rows[2]["id"]


def test_a_retried_request_is_stored_once(store):
    store.add_feedback("bundling-order-sign", [ACCEPTED, OVERRIDDEN])
    # The EHR did not get the answer and sends the same request again: both entries are acknowledged.
    assert store.add_feedback("bundling-order-sign", [OVERRIDDEN, ACCEPTED]) == 2
    # The same card reported to another service, or with another outcome time, is another event.
    store.add_feedback("bundling-order-select", [ACCEPTED])
    store.add_feedback("bundling-order-sign", [{**ACCEPTED, "outcomeTimestamp": "2026-07-15T11:00:00Z"}])
    assert len(list(store.feedback())) == 4


def test_a_failed_request_stores_none_of_its_entries(store):
    broken = {**OVERRIDDEN, "card": None}  # breaks NOT NULL in the database, after a good entry
    with pytest.raises(StoreUnavailable):
        store.add_feedback("bundling-order-sign", [ACCEPTED, broken])
    assert list(store.feedback()) == []


def test_a_jti_is_accepted_once_until_it_expires(store):
    now = int(time.time())
    assert store.first_use_of("jti-1", now + 300) is True
    assert store.first_use_of("jti-1", now + 300) is False
    assert store.first_use_of("jti-2", now + 300) is True
    # An entry whose time has passed protects nothing: the id may be claimed again.
    assert store.first_use_of("jti-old", now - 5) is True
    assert store.first_use_of("jti-old", now + 300) is True
    assert store.first_use_of("jti-old", now + 300) is False


def test_expired_jtis_are_purged(store):
    now = int(time.time())
    store.first_use_of("gone", now - 100)
    store._last_purge = 0.0  # the next call purges
    store.first_use_of("live", now + 300)
    assert sorted(row[0] for row in _sql(store, "SELECT jti FROM jti")) == ["live"]


def test_migrations_are_versioned_and_run_once(store):
    assert store.migrate() == LATEST
    assert store.migrate() == LATEST
    recorded = _sql(store, "SELECT version, description FROM schema_migrations ORDER BY version")
    assert recorded == [(m.version, m.description) for m in MIGRATIONS]
    store.add_feedback("bundling-order-sign", [ACCEPTED])
    assert len(list(store.feedback())) == 1


def test_a_schema_newer_than_this_release_is_refused(store_settings):
    first = open_store({"DATA_DIR": "unused", **store_settings})
    first.migrate()
    _sql(first, "INSERT INTO schema_migrations(version, description, applied_at) VALUES (99, 'future', %s)",
         ("2030-01-01T00:00:00Z",))  # fmt: skip
    first.close()
    later = open_store({"DATA_DIR": "unused", **store_settings})  # a rolled-back release starting
    with pytest.raises(StoreUnavailable):
        later.migrate()
    ok, detail = later.ready()
    assert not ok and ("newer" in detail or "99" in detail or "SchemaTooNew" in detail)
    with pytest.raises(StoreUnavailable):
        later.add_feedback("bundling-order-sign", [ACCEPTED])


def test_a_feedback_file_from_before_migrations_is_adopted(tmp_path):
    path = tmp_path / "feedback.sqlite"
    with sqlite3.connect(path) as conn:  # the schema the service created before versioned migrations
        conn.executescript(
            "CREATE TABLE IF NOT EXISTS feedback(id INTEGER PRIMARY KEY, received TEXT NOT NULL, "
            "service TEXT NOT NULL, card TEXT NOT NULL, outcome TEXT NOT NULL, accepted_suggestions TEXT, "
            "override_reason TEXT, outcome_timestamp TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS jti(jti TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;"
        )
        row = (
            "2026-07-15T10:00:00.000Z",
            "bundling-order-sign",
            "c1",
            "overridden",
            None,
            None,
            "2026-07-15T10:00:00Z",
        )
        conn.executemany("INSERT INTO feedback(received, service, card, outcome, accepted_suggestions, "
                         "override_reason, outcome_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)", [row, row])  # fmt: skip
    store = open_store({"DATABASE_URL": "", "FEEDBACK_DB": str(path)})
    assert store.migrate() == LATEST
    assert [r["card"] for r in store.feedback()] == ["c1"]  # the duplicate of a retried request is gone
    versions = [r[0] for r in _sql(store, "SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]


def _writer(settings: dict, worker: int, count: int, queue) -> None:
    store = open_store({"DATA_DIR": "unused", **settings})
    firsts = 0
    for i in range(count):
        store.add_feedback("bundling-order-sign", [{**OVERRIDDEN, "card": f"w{worker}-{i}"}])
        firsts += store.first_use_of("contested-jti", int(time.time()) + 300)
    queue.put(firsts)


def test_forked_workers_write_concurrently_and_one_wins_each_jti(store_settings):
    parent = open_store({"DATA_DIR": "unused", **store_settings})
    parent.add_feedback("bundling-order-sign", [ACCEPTED])  # the parent's connection must not be reused
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_writer, args=(store_settings, w, 20, queue)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert sum(queue.get(timeout=10) for _ in workers) == 1
    assert len(list(parent.feedback())) == 1 + 4 * 20
    assert parent.add_feedback("bundling-order-sign", [OVERRIDDEN]) == 1  # the parent's own still works
    parent.close()


def test_a_store_that_is_down_raises_unavailable_never_a_driver_error(down_store):
    store = open_store({"DATA_DIR": "unused", **down_store})
    with pytest.raises(StoreUnavailable):
        store.migrate()
    with pytest.raises(StoreUnavailable):
        store.add_feedback("bundling-order-sign", [ACCEPTED])
    with pytest.raises(StoreUnavailable):
        store.first_use_of("jti-1", int(time.time()) + 300)
    ok, detail = store.ready()
    assert ok is False and "feedback store" in detail
    store.close()


def test_the_database_password_is_never_shown():
    store = open_store({"DATABASE_URL": "postgresql://tx:s3cret@db.example.invalid:5432/terminology"})
    assert store.describe() == "PostgreSQL tx@db.example.invalid:5432/terminology"
    with pytest.raises(SystemExit):
        open_store({"DATABASE_URL": "mysql://tx@db.example.invalid/terminology"})


def test_sqlite_readiness_does_not_wait_out_a_held_write_lock(tmp_path):
    store = open_store({"DATABASE_URL": "", "FEEDBACK_DB": str(tmp_path / "feedback.sqlite")})
    store.migrate()
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process stuck in a write
    ok, detail = store.ready()
    assert not ok and "locked" in detail
    holder.execute("ROLLBACK")
    assert store.ready() == (True, "feedback store (SQLite) is writable")
    store.add_feedback("bundling-order-sign", [ACCEPTED])  # the long timeout is back for writes
    holder.close()
    store.close()


def test_sqlite_writes_wait_for_a_held_write_lock_only_until_the_deadline(tmp_path):
    store = open_store(
        {"DATABASE_URL": "", "FEEDBACK_DB": str(tmp_path / "feedback.sqlite"), "DATABASE_TIMEOUT": 1}
    )
    store.migrate()
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process stuck in a write
    with pytest.raises(StoreUnavailable, match="locked"):
        store.add_feedback("bundling-order-sign", [ACCEPTED])
    # The wait was the call's deadline (TERMINOLOGY_DATABASE_TIMEOUT), not a fixed 30 s busy timeout.
    busy_ms = store._local.conn.execute("PRAGMA busy_timeout").fetchone()[0]
    assert 0 <= busy_ms <= 1000
    holder.execute("ROLLBACK")
    holder.close()
    assert store.add_feedback("bundling-order-sign", [ACCEPTED]) == 1
    store.close()


def test_a_database_url_that_is_not_postgresql_stops_start_up_naming_the_variable(monkeypatch):
    from terminology.config import SettingsError, load_settings

    monkeypatch.setenv("TERMINOLOGY_DATABASE_URL", "mysql://tx@db.example.invalid/terminology")
    with pytest.raises(SettingsError, match=r"TERMINOLOGY_DATABASE_URL: .*postgresql://"):
        load_settings()
    monkeypatch.setenv("TERMINOLOGY_DATABASE_URL", "postgresql://tx@db.example.invalid/terminology")
    assert load_settings().database_url.startswith("postgresql://")


def test_the_store_calls_of_one_request_share_one_deadline():
    from flask import Flask

    from terminology.api.cdshooks import request_deadline

    app = Flask(__name__)
    with app.test_request_context():
        first = request_deadline(5)
        time.sleep(0.01)
        assert request_deadline(5) == first  # the feedback write after the jti check: no fresh 5 s
    with app.test_request_context():
        assert request_deadline(5) > first  # the next request has its own
