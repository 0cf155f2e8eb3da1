"""The embedded store: one SQLite file (WAL, synchronous=FULL) shared by the workers of one pod."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import monotonic

from terminology.storage.base import (
    FEEDBACK_COLUMNS,
    PROBE_LIMIT,
    Store,
    StoreUnavailable,
    apply_migrations,
    feedback_entry,
    feedback_rows,
    format_received,
    received_now,
)
from terminology.storage.migrations import SchemaTooNew

log = logging.getLogger(__name__)


class SqliteStore(Store):
    """The store in one SQLite file: one connection per process and thread, opened on first use.

    gunicorn preloads the app in the master and forks workers; a connection must never cross a fork,
    so each process opens its own (the pid is checked on every use), and the start-up migration uses a
    connection of its own that it closes. WAL lets workers write while others read; synchronous=FULL
    makes a commit durable before the 200 is sent. Only processes on one host may share the file.
    Waiting for another process's write lock ends at the call's deadline (``timeout`` seconds), as a
    wait for PostgreSQL does.
    """

    backend = "sqlite"

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.path = Path(path)
        self._local = threading.local()
        self._migrated = False
        self._inherited: list[sqlite3.Connection] = []

    def describe(self) -> str:
        """Name the store (the file)."""
        return f"SQLite {self.path}"

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _connection(self, deadline: float) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            if getattr(local, "conn", None) is not None:
                # Inherited through fork: closing it here could checkpoint or delete the parent's WAL.
                self._inherited.append(local.conn)
            local.conn, local.pid = self._open(), os.getpid()
        if not self._migrated:
            self._migrate_with(local.conn, deadline)
        return local.conn

    @staticmethod
    def _lock_wait_until(conn: sqlite3.Connection, deadline: float) -> None:
        """Let the next BEGIN IMMEDIATE wait for another writer's lock until ``deadline``, not longer."""
        conn.execute(f"PRAGMA busy_timeout = {max(0, int((deadline - monotonic()) * 1000))}")

    @contextmanager
    def _unavailable_on_error(self, doing: str):
        """Turn SQLite failures (unwritable volume, locked file, broken file) into StoreUnavailable."""
        try:
            yield
        except (sqlite3.Error, OSError, SchemaTooNew) as exc:
            log.error("feedback store %s: %s failed: %s", self.path, doing, exc)
            raise StoreUnavailable(
                f"The feedback store cannot be used ({doing}: {exc}); try again later"
            ) from exc

    @contextmanager
    def _transaction(self, doing: str, limit: float | None = None):
        deadline = self._deadline(limit)
        with self._unavailable_on_error(doing):
            conn = self._connection(deadline)
            self._lock_wait_until(conn, deadline)
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate_with(self, conn: sqlite3.Connection, deadline: float) -> int:
        self._lock_wait_until(conn, deadline)
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "schema_migrations" in tables:
                current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[
                    0
                ]
            else:
                conn.execute(
                    "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                    "applied_at TEXT NOT NULL)"
                )
                # Files written before versioned migrations hold exactly the tables of migration 1.
                current = 1 if "feedback" in tables else 0
                if current:
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES "
                        "(1, 'adopted: created before versioned migrations', ?)",
                        (format_received(received_now()),),
                    )
            version = apply_migrations(
                conn.execute, self.backend, current, "?", format_received(received_now())
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._migrated = True
        return version

    def migrate(self) -> int:
        """Create or migrate the schema with a connection of its own (closed: nothing crosses a fork)."""
        with self._unavailable_on_error("migrating the schema"):
            conn = self._open()
            try:
                return self._migrate_with(conn, self._deadline())
            finally:
                conn.close()

    def add_feedback(self, service: str, entries: list[dict]) -> int:
        """Store the entries in one transaction, committed (and synced) before returning."""
        rows = feedback_rows(service, entries, format_received(received_now()), json.dumps)
        with self._transaction("storing feedback") as conn:
            conn.executemany(
                f"INSERT INTO feedback({FEEDBACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(service, card, outcome, outcome_timestamp) DO NOTHING",
                rows,
            )
        return len(rows)

    def _claim_jti(self, jti: str, keep_until: int, now: int, purge: bool) -> bool:
        with self._transaction("checking the JWT id") as conn:
            if purge:
                conn.execute("DELETE FROM jti WHERE expires < ?", (now,))
            # An expired entry no longer protects anything: it is taken over rather than reported.
            claimed = conn.execute(
                "INSERT INTO jti(jti, expires) VALUES (?, ?) "
                "ON CONFLICT(jti) DO UPDATE SET expires = excluded.expires WHERE jti.expires < ?",
                (jti, keep_until, now),
            ).rowcount
        return claimed == 1

    def feedback(self) -> Iterator[dict]:
        """Yield the stored entries, oldest first, from a read-only connection."""
        if not self.path.exists():
            return
        with self._unavailable_on_error("reading feedback"):
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            with self._unavailable_on_error("reading feedback"):
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "feedback" not in tables:
                    return
                rows = conn.execute(f"SELECT id, {FEEDBACK_COLUMNS} FROM feedback ORDER BY id")
                for row_id, received, *rest in rows:
                    yield feedback_entry(row_id, received, tuple(rest), json.loads)
        finally:
            conn.close()

    def ready(self) -> tuple[bool, str]:
        """Check that the file opens, is migrated and takes a write lock (a read-only volume fails).

        A probe answers within PROBE_LIMIT seconds: it does not wait out another worker's long write.
        """
        try:
            with self._transaction("checking that it is writable", limit=PROBE_LIMIT):
                pass
        except StoreUnavailable as exc:
            cause = exc.__cause__
            # /readyz is open to anyone: say why without the file's path.
            reason = cause.strerror if isinstance(cause, OSError) else str(cause)
            return False, f"feedback store (SQLite) is not writable: {reason}"
        return True, "feedback store (SQLite) is writable"

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()
