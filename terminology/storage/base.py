"""The storage interface both backends implement: feedback entries, the JWT replay list, readiness."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from time import monotonic

from terminology.errors import ServiceUnavailable
from terminology.storage.migrations import LATEST, pending

log = logging.getLogger(__name__)

# Expired JWT ids are deleted at most this often per process (the upsert already ignores them).
PURGE_INTERVAL = 60.0
# Seconds /readyz waits for the store at most: an answer within the chart's probe timeout (2 s).
PROBE_LIMIT = 1.5
FEEDBACK_COLUMNS = (
    "received, service, card, outcome, accepted_suggestions, override_reason, outcome_timestamp"
)


class StoreUnavailable(ServiceUnavailable):
    """The store cannot be read or written now (database down, read-only volume, timeout): 503."""

    def __init__(self, message: str = "The feedback store is unavailable; try again later") -> None:
        super().__init__(message)


def deadline_after(seconds: float) -> float:
    """Return the ``time.monotonic()`` moment ``seconds`` from now."""
    return monotonic() + seconds


class Store(ABC):
    """Shared state of the service: CDS Hooks feedback and the JWT ids already used.

    Every method is safe to call from any gunicorn worker; each process opens its own connections.
    A failure to reach the store raises StoreUnavailable, never a driver exception, so callers answer
    503 (and never report an entry as stored that was not committed).

    Every call waits for the database until a deadline, ``timeout`` seconds after it starts, and no
    longer. ``deadline_for`` computes it; the web layer replaces it so that all the calls of one request
    share one deadline (``api.cdshooks.request_deadline``), and a worker is never silent for long enough
    to be replaced by gunicorn because of the database.
    """

    backend: str = ""

    def __init__(self, timeout: float = 5.0) -> None:
        self._last_purge = 0.0
        self.timeout = timeout
        self.deadline_for: Callable[[float], float] = deadline_after

    def _deadline(self, limit: float | None = None) -> float:
        """Return when the call starting now must be done: its deadline, or ``limit`` seconds on if sooner."""
        deadline = self.deadline_for(self.timeout)
        return deadline if limit is None else min(deadline, monotonic() + limit)

    @abstractmethod
    def migrate(self) -> int:
        """Bring the schema to the newest version (once per store, safe under concurrency); return it."""

    @abstractmethod
    def add_feedback(self, service: str, entries: list[dict]) -> int:
        """Store feedback entries in one transaction, committed before returning; return how many.

        An entry already stored (same service, card, outcome and outcome time) is kept once, so an
        EHR may retry a request whose answer it did not get.
        """

    @abstractmethod
    def _claim_jti(self, jti: str, keep_until: int, now: int, purge: bool) -> bool:
        """Insert the JWT id unless a live entry holds it; delete expired ids first when ``purge``."""

    @abstractmethod
    def feedback(self) -> Iterator[dict]:
        """Yield every stored feedback entry, oldest first, in the CDS Hooks shape."""

    @abstractmethod
    def ready(self) -> tuple[bool, str]:
        """Say whether the store is reachable, migrated and writable: (ok, detail without secrets)."""

    @abstractmethod
    def describe(self) -> str:
        """Name the store for logs and messages (never a password)."""

    @abstractmethod
    def close(self) -> None:
        """Release this process's connections (the next call reopens them)."""

    def first_use_of(self, jti: str, keep_until: int) -> bool:
        """Record a JWT id until ``keep_until`` (epoch seconds); return False when it was already used.

        :raise StoreUnavailable: when the store cannot tell; the caller must refuse the token.
        """
        now = time.time()
        purge = now - self._last_purge >= PURGE_INTERVAL
        first = self._claim_jti(jti, keep_until, int(now), purge)
        if purge:
            self._last_purge = now
        return first


def received_now() -> datetime:
    """Return the time an entry is received (UTC, millisecond precision)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_received(moment: datetime) -> str:
    """Format a receipt time the way the export writes it (``2026-07-15T10:05:31.123Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def feedback_rows(service: str, entries: list[dict], received, as_json: Callable[[object], object]) -> list:
    """Return the rows (in FEEDBACK_COLUMNS order) for validated entries; ``as_json`` adapts JSON values."""
    return [
        (
            received,
            service,
            e["card"],
            e["outcome"],
            as_json(e["acceptedSuggestions"]) if "acceptedSuggestions" in e else None,
            as_json(e["overrideReason"]) if "overrideReason" in e else None,
            e["outcomeTimestamp"],
        )
        for e in entries
    ]


def feedback_entry(row_id: int, received: str, row: tuple, from_json: Callable[[object], object]) -> dict:
    """Turn a stored row (service, card, outcome, accepted, override, outcome time) into an entry."""
    service, card, outcome, accepted, override, outcome_timestamp = row
    entry = {"id": row_id, "received": received, "service": service, "card": card, "outcome": outcome}
    if accepted is not None:
        entry["acceptedSuggestions"] = from_json(accepted)
    if override is not None:
        entry["overrideReason"] = from_json(override)
    entry["outcomeTimestamp"] = outcome_timestamp
    return entry


def apply_migrations(
    execute: Callable[..., object], backend: str, current: int, marker: str, applied_at: object
) -> int:
    """Run the pending migrations with ``execute(sql, params)`` inside the caller's transaction.

    :param marker: the driver's parameter placeholder (``?`` or ``%s``).
    :param applied_at: the time recorded with each step, as the driver takes it.
    :return: the schema version reached.
    """
    for migration in pending(current):
        for statement in migration.statements(backend):
            execute(statement, ())
        execute(
            f"INSERT INTO schema_migrations(version, description, applied_at) VALUES ({marker}, {marker}, "
            f"{marker})",
            (migration.version, migration.description, applied_at),
        )
        log.info(
            "%s store migrated to schema version %d: %s", backend, migration.version, migration.description
        )
    return max(current, LATEST)
