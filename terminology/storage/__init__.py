"""Shared state behind one small interface: CDS Hooks feedback and the JWT replay list (SQLite or PostgreSQL).

``TERMINOLOGY_DATABASE_URL`` selects PostgreSQL (shared by every replica); unset, an embedded SQLite
file serves one pod. Plain Python: the app's glue (one deadline per request, start-up migration,
readiness) is in ``terminology.api.cdshooks``, the routes that use the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from terminology.storage.base import Store, StoreUnavailable

__all__ = ["FEEDBACK_FILE", "Store", "StoreUnavailable", "open_store", "sqlite_location"]

FEEDBACK_FILE = "feedback.sqlite"


def sqlite_location(settings: Mapping) -> Path:
    """Return the SQLite file: FEEDBACK_DB when set, else ``DATA_DIR/feedback.sqlite``."""
    configured = settings.get("FEEDBACK_DB")
    return Path(configured) if configured else Path(settings["DATA_DIR"]) / FEEDBACK_FILE


def open_store(settings: Mapping) -> Store:
    """Return the store the settings ask for: PostgreSQL when DATABASE_URL is set, else SQLite."""
    url = settings.get("DATABASE_URL") or ""
    if url:
        from terminology.storage.postgres import PostgresStore

        return PostgresStore(
            url,
            pool_size=settings.get("DATABASE_POOL_SIZE", 4),
            timeout=settings.get("DATABASE_TIMEOUT", 5.0),
        )
    from terminology.storage.sqlite import SqliteStore

    return SqliteStore(sqlite_location(settings), timeout=settings.get("DATABASE_TIMEOUT", 5.0))
