"""Shared state behind one small interface: CDS Hooks feedback and the JWT replay list (SQLite or PostgreSQL).

``TERMINOLOGY_DATABASE_URL`` selects PostgreSQL (shared by every replica); unset, an embedded SQLite
file serves one pod. The store is migrated at start-up and registers its own readiness check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, g, has_request_context

from terminology.storage.base import Store, StoreUnavailable, deadline_after

__all__ = ["FEEDBACK_FILE", "Store", "StoreUnavailable", "init_app", "open_store", "sqlite_location"]

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.sqlite"
EXTENSION = "terminology.store"
# flask.g attribute: when the store calls of the current request must be done.
REQUEST_DEADLINE = "store_deadline"


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


def request_deadline(seconds: float) -> float:
    """Return when the store calls of the current request must be done: ``seconds`` after the first one.

    A request may call the store twice (the EHR JWT's jti, then the feedback write); sharing one deadline
    keeps its whole wait for the database within TERMINOLOGY_DATABASE_TIMEOUT, well inside gunicorn's
    TERMINOLOGY_TIMEOUT (the settings require at most half of it).
    """
    if not has_request_context():
        return deadline_after(seconds)
    return g.setdefault(REQUEST_DEADLINE, deadline_after(seconds))


def init_app(app: Flask) -> Store:
    """Open the store, migrate it now (a store that is down is retried on use), add its readiness check."""
    store = open_store(app.config)
    store.deadline_for = request_deadline
    try:
        version = store.migrate()
        log.info("feedback store %s at schema version %d", store.describe(), version)
    except StoreUnavailable:
        log.warning("feedback store %s is unavailable at start-up; /readyz answers 503 until it is back",
                    store.describe())  # fmt: skip
    app.extensions[EXTENSION] = store
    app.extensions.setdefault("terminology.readiness", []).append(store.ready)
    return store
