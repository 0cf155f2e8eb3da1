"""The shared store for many replicas: PostgreSQL through psycopg 3, one connection pool per worker."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from time import monotonic

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

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


# The moment (time.monotonic()) by which the store call running in this thread must be done.
_call_deadline: ContextVar[float | None] = ContextVar("terminology_store_deadline", default=None)


@contextmanager
def waiting_until(deadline: float):
    """Bound every wait for the server inside the block by ``deadline`` (an enclosing one may be sooner).

    Never hold it across a ``yield`` of a generator: the deadline would leak to the generator's consumer.
    """
    enclosing = _call_deadline.get()
    token = _call_deadline.set(deadline if enclosing is None else min(deadline, enclosing))
    try:
        yield
    finally:
        _call_deadline.reset(token)


class DatabaseTimeout(psycopg.OperationalError):
    """The server did not answer in time (stopped, overloaded, unreachable); the connection was closed."""


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose waits for the server end at a deadline, on the client side.

    psycopg runs every exchange with the server (statements, fetches, COMMIT, the pool's connection
    check) through ``Connection.wait``, which watches the socket and, since psycopg 3.3, takes a
    ``timeout`` (its own ``notifies(timeout=...)`` is built on it; tests/storage/test_outage.py proves
    the bound against a stopped server). This class
    gives each wait the time left before the deadline of the store call in progress (``waiting_until``),
    else ``wait_limit`` seconds. ``statement_timeout`` cannot do this: it is the server's own clock,
    and a server that has stopped answering (SIGSTOP, a crashed host, a partition) never applies it.

    A wait cut short leaves the connection in the middle of an exchange: the server may still answer
    it later, so the connection is closed at once, and the pool discards a closed connection instead of
    lending it again. No cancel request is sent first: it would have to wait for the same server.
    """

    # Seconds any one wait may last when no call deadline is set (the pool's background set-up, exports).
    wait_limit: float | None = None

    def wait(self, gen, interval: float | None = None, timeout: float | None = None):  # type: ignore[override]
        """Consume ``gen`` as psycopg does, giving up (and closing the connection) at the deadline."""
        deadline = _call_deadline.get()
        if deadline is None and self.wait_limit is not None:
            deadline = monotonic() + self.wait_limit
        spacing = {} if interval is None else {"interval": interval}
        if deadline is None:
            return super().wait(gen, timeout=timeout, **spacing)
        left = max(0.0, deadline - monotonic())
        try:
            return super().wait(gen, timeout=left if timeout is None else min(timeout, left), **spacing)
        except psycopg.OperationalError as exc:
            if monotonic() < deadline:
                raise  # the caller's own, shorter timeout, or a real error
            self.close()
            raise DatabaseTimeout("the database did not answer in time; the connection was closed") from exc


class PostgresStore(Store):
    """The store in a PostgreSQL database that every replica shares.

    Each gunicorn worker gets its own psycopg_pool ConnectionPool on first use (a pool's connections and
    threads never cross a fork). Connections are checked before being handed out, and a failed
    reconnection is given up after ``timeout`` seconds, so a restarted database is used again within
    seconds. Statements are prepared on first use (``prepare_threshold=0``).

    Every call ends by its deadline (``timeout`` seconds; ``Store.deadline_for``), whatever the server
    does: waiting for a pooled connection is bounded by the pool, and every wait for the server on a
    connection by ``BoundedConnection``. A server that is merely slow also stops the statement itself
    (``statement_timeout``), and TCP keepalives and ``tcp_user_timeout`` close connections to a host
    that vanished, so the pool stops lending them without waiting for a deadline.
    """

    backend = "postgresql"

    def __init__(self, url: str, pool_size: int = 4, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        if not url.startswith(("postgresql://", "postgres://")):
            raise SystemExit("TERMINOLOGY_DATABASE_URL must be a postgresql:// URL")
        self.url = url
        self.pool_size = max(1, pool_size)
        self._pool: ConnectionPool | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._migrated = False
        self._inherited: list[ConnectionPool] = []
        # Autocommit: each write is one statement, committed by PostgreSQL as it returns (no BEGIN and
        # COMMIT round trips); reads that need a transaction open one explicitly.
        self._connect_options: dict = {"prepare_threshold": 0, "autocommit": True}
        given = conninfo_to_dict(url)
        defaults = {
            "connect_timeout": max(2, round(timeout)),  # libpq's minimum is 2 s
            "application_name": "terminology",
            # A host that vanished without a reset (crash, partition): idle connections are probed and
            # dropped within about two timeouts, and data the server never acknowledges ends the
            # connection after one timeout. A stopped server's kernel still acknowledges, so these do
            # not replace the deadline; they keep dead connections out of the pool.
            "keepalives": 1,
            "keepalives_idle": max(1, round(timeout)),
            "keepalives_interval": max(1, round(timeout)),
            "keepalives_count": 3,
            "tcp_user_timeout": int(timeout * 1000),
        }
        self._connect_options.update({k: v for k, v in defaults.items() if k not in given})

    def describe(self) -> str:
        """Name the database without its password."""
        return f"PostgreSQL {safe_location(self.url)}"

    def _configure(self, conn: BoundedConnection) -> None:
        """Set up a new connection: its wait limit, and the server's own limit on a statement."""
        conn.wait_limit = self.timeout
        # A statement that waits on a lock or a busy server gives up like a connection wait does.
        conn.execute(f"SET statement_timeout = {int(self.timeout * 1000)}")

    def _connect(self) -> BoundedConnection:
        """Open a connection of its own (outside the pool): connecting is bounded by ``connect_timeout``."""
        conn = BoundedConnection.connect(self.url, **self._connect_options)
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

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
                        connection_class=BoundedConnection,
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
    def _connection(self, doing: str, deadline: float | None):
        """Lend a pooled connection (autocommit), migrating first if start-up could not.

        :param deadline: when the whole call must be done (every wait in the block ends by then); None
            for a long read, where only each single wait is bounded (by ``timeout``).
        """
        bounded = nullcontext() if deadline is None else waiting_until(deadline)
        with self._unavailable_on_error(doing), bounded:
            # A pool timeout of 0 or less gives up at once, even with a connection at hand.
            timeout = None if deadline is None else deadline - monotonic()
            with self._connections().connection(timeout=timeout) as conn:
                if not self._migrated:
                    self._migrate_on(conn)
                yield conn

    def _migrate_on(self, conn: BoundedConnection) -> int:
        """Apply the pending migrations in one transaction, under a lock that other replicas wait on."""
        with conn.transaction():
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
        with self._unavailable_on_error("migrating the schema"), waiting_until(self._deadline()):
            conn = self._connect()
            try:
                return self._migrate_on(conn)
            finally:
                conn.close()

    def add_feedback(self, service: str, entries: list[dict]) -> int:
        """Store the entries with one statement; return once PostgreSQL has committed it.

        If the deadline passes after the statement was sent, the caller gets StoreUnavailable although
        the server may still commit it; a retry of the same entries is then stored once (ON CONFLICT).
        """
        rows = feedback_rows(service, entries, received_now(), Jsonb)
        with self._connection("storing feedback", self._deadline()) as conn:
            conn.execute(insert_feedback(len(rows)), [value for row in rows for value in row])
        return len(rows)

    def _claim_jti(self, jti: str, keep_until: int, now: int, purge: bool) -> bool:
        with self._connection("checking the JWT id", self._deadline()) as conn:
            if purge:
                conn.execute("DELETE FROM jti WHERE expires < %s", (now,))
            return conn.execute(CLAIM_JTI, (jti, keep_until, now)).rowcount == 1

    def feedback(self) -> Iterator[dict]:
        """Yield the stored entries, oldest first, through a server-side cursor (no full load).

        An export may take long: each fetch is bounded (by ``timeout``), the whole read is not.
        """
        with (
            self._connection("reading feedback", None) as conn,
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
            with self._connection("checking that it is writable", self._deadline(PROBE_LIMIT)) as conn:
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
