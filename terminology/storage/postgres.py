"""The shared store for many replicas: PostgreSQL through psycopg 3, one connection pool per worker."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from terminology.storage.base import (
    FEEDBACK_COLUMNS,
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

# pg_advisory_xact_lock key that serialises migrations of replicas starting together ("tx15").
MIGRATION_LOCK = 0x7478_3135
ROW_VALUES = "(%s, %s, %s, %s, %s, %s, %s)"


def insert_feedback(count: int) -> str:
    """Return one INSERT of ``count`` rows: a single statement is atomic without BEGIN and COMMIT."""
    return (
        f"INSERT INTO feedback({FEEDBACK_COLUMNS}) VALUES {', '.join([ROW_VALUES] * count)} "
        "ON CONFLICT (service, card, outcome, outcome_timestamp) DO NOTHING"
    )


CLAIM_JTI = (
    "INSERT INTO jti(jti, expires) VALUES (%s, %s) "
    "ON CONFLICT (jti) DO UPDATE SET expires = excluded.expires WHERE jti.expires < %s"
)


def safe_location(url: str) -> str:
    """Return ``user@host:port/dbname`` of a connection URL, without its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unparsable TERMINOLOGY_DATABASE_URL"
    host = parts.get("host") or "local socket"
    port = f":{parts['port']}" if parts.get("port") else ""
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"{user}{host}{port}/{parts.get('dbname', '')}"


class PostgresStore(Store):
    """The store in a PostgreSQL database that every replica shares.

    Each gunicorn worker gets its own psycopg_pool ConnectionPool on first use (a pool's connections and
    threads never cross a fork). Connections are checked before being handed out, and a failed
    reconnection is given up after ``timeout`` seconds, so a restarted database is used again within
    seconds. Statements are prepared on first use (``prepare_threshold=0``). Waiting for a connection
    or a statement is bounded by ``timeout`` seconds; then the caller gets 503.
    """

    backend = "postgresql"

    def __init__(self, url: str, pool_size: int = 4, timeout: float = 5.0) -> None:
        super().__init__()
        if not url.startswith(("postgresql://", "postgres://")):
            raise SystemExit("TERMINOLOGY_DATABASE_URL must be a postgresql:// URL")
        self.url = url
        self.pool_size = max(1, pool_size)
        self.timeout = timeout
        self._pool: ConnectionPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._migrated = False
        self._inherited: list[ConnectionPool] = []
        # Autocommit: each write is one statement, committed by PostgreSQL as it returns (no BEGIN and
        # COMMIT round trips); reads that need a transaction open one explicitly.
        self._connect_options = {"prepare_threshold": 0, "autocommit": True}
        if "connect_timeout" not in conninfo_to_dict(url):
            self._connect_options["connect_timeout"] = max(1, round(timeout))
        if "application_name" not in conninfo_to_dict(url):
            self._connect_options["application_name"] = "terminology"

    def describe(self) -> str:
        """Name the database without its password."""
        return f"PostgreSQL {safe_location(self.url)}"

    def _configure(self, conn: psycopg.Connection) -> None:
        # A statement that waits on a lock or a dying server gives up like a connection wait does.
        conn.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")

    def _connections(self) -> ConnectionPool:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    if self._pool is not None:
                        # Inherited through fork: its sockets are the parent's sessions. Keep it
                        # referenced so that no finaliser here sends them a Terminate message.
                        self._inherited.append(self._pool)
                    self._pool = ConnectionPool(
                        self.url,
                        min_size=1,
                        max_size=self.pool_size,
                        kwargs=self._connect_options,
                        configure=self._configure,
                        check=ConnectionPool.check_connection,
                        timeout=self.timeout,
                        # Give up a failing reconnection soon: the next request starts a fresh attempt at
                        # once, so the pool is back within seconds of the database (no long backoff).
                        reconnect_timeout=max(self.timeout, 2.0),
                        name=f"terminology-{os.getpid()}",
                        open=False,
                    )
                    self._pool.open(wait=False)
                    self._pid = os.getpid()
        assert self._pool is not None
        return self._pool

    @contextmanager
    def _unavailable_on_error(self, doing: str):
        """Turn driver failures (server down, timeout, read-only standby) into StoreUnavailable."""
        try:
            yield
        except (psycopg.Error, SchemaTooNew) as exc:
            log.error("feedback store %s: %s failed: %s", self.describe(), doing, exc)
            raise StoreUnavailable(
                f"The feedback store cannot be used ({doing}: {type(exc).__name__}); try again later"
            ) from exc

    @contextmanager
    def _connection(self, doing: str, timeout: float | None = None):
        """Lend a pooled connection (autocommit), migrating first if start-up could not."""
        with self._unavailable_on_error(doing):
            if not self._migrated:
                self._migrate()
            with self._connections().connection(timeout=timeout) as conn:
                yield conn

    def _migrate(self) -> int:
        with psycopg.connect(self.url, **self._connect_options) as conn, conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if conn.execute("SELECT to_regclass('schema_migrations') IS NULL").fetchone()[0]:
                conn.execute(
                    "CREATE TABLE schema_migrations(version integer PRIMARY KEY, description text NOT NULL, "
                    "applied_at timestamptz NOT NULL)"
                )
            current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
            version = apply_migrations(conn.execute, self.backend, current, "%s", received_now())
        self._migrated = True
        return version

    def migrate(self) -> int:
        """Create or migrate the schema on a connection of its own (no pool is opened in the master)."""
        with self._unavailable_on_error("migrating the schema"):
            return self._migrate()

    def add_feedback(self, service: str, entries: list[dict]) -> int:
        """Store the entries with one statement; return once PostgreSQL has committed it."""
        rows = feedback_rows(service, entries, received_now(), Jsonb)
        with self._connection("storing feedback") as conn:
            conn.execute(insert_feedback(len(rows)), [value for row in rows for value in row])
        return len(rows)

    def _claim_jti(self, jti: str, keep_until: int, now: int, purge: bool) -> bool:
        with self._connection("checking the JWT id") as conn:
            if purge:
                conn.execute("DELETE FROM jti WHERE expires < %s", (now,))
            return conn.execute(CLAIM_JTI, (jti, keep_until, now)).rowcount == 1

    def feedback(self) -> Iterator[dict]:
        """Yield the stored entries, oldest first, through a server-side cursor (no full load)."""
        with (
            self._connection("reading feedback") as conn,
            conn.transaction(),
            conn.cursor(name="feedback_export") as cursor,
        ):
            cursor.itersize = 1000
            cursor.execute(f"SELECT id, {FEEDBACK_COLUMNS} FROM feedback ORDER BY id")
            for row_id, received, *rest in cursor:
                yield feedback_entry(row_id, format_received(received), tuple(rest), lambda value: value)

    def ready(self) -> tuple[bool, str]:
        """Check that the database answers within a probe's time, is migrated, and accepts writes."""
        try:
            with self._connection("checking that it is writable", timeout=min(self.timeout, 1.5)) as conn:
                read_only = conn.execute("SHOW transaction_read_only").fetchone()[0]
        except StoreUnavailable as exc:
            cause = exc.__cause__
            reason = str(cause) if isinstance(cause, SchemaTooNew) else type(cause).__name__
            return False, f"feedback store (PostgreSQL) is unavailable: {reason}"
        if read_only == "on":
            return False, "feedback store (PostgreSQL) is read-only (a standby?)"
        return True, "feedback store (PostgreSQL) is reachable and writable"

    def close(self) -> None:
        """Close this process's pool."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool, self._pid = None, None
