"""CDS Hooks feedback: validation of feedback entries and their durable SQLite store; jti replay cache."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from terminology.errors import InvalidRequest

FEEDBACK_FILE = "feedback.sqlite"
OUTCOMES = ("accepted", "overridden")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback(
    id INTEGER PRIMARY KEY, received TEXT NOT NULL, service TEXT NOT NULL, card TEXT NOT NULL,
    outcome TEXT NOT NULL, accepted_suggestions TEXT, override_reason TEXT,
    outcome_timestamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jti(jti TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;
"""


def feedback_path(data_dir: str | os.PathLike) -> Path:
    """Return the feedback database inside the data directory."""
    return Path(data_dir) / FEEDBACK_FILE


def feedback_location(settings) -> Path:
    """Return where feedback is stored: FEEDBACK_DB when set, else ``DATA_DIR/feedback.sqlite``.

    Feedback must outlive the pod, while the data directory may be an emptyDir or a read-only
    NCCI index volume; TERMINOLOGY_FEEDBACK_DB lets operators put it on its own persistent volume.
    """
    configured = settings.get("FEEDBACK_DB")
    return Path(configured) if configured else feedback_path(settings["DATA_DIR"])


def _string(value: object, path: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{path} must be a non-empty string", expression=path)
    return value


def _timestamp(value: object, path: str) -> str:
    text = _string(value, path)
    try:
        moment = datetime.fromisoformat(text)  # type: ignore[arg-type]
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text:  # type: ignore[operator]
        raise InvalidRequest(
            f"{path} must be an RFC 3339 date-time with a time zone (e.g. 2026-07-15T10:05:31Z)",
            expression=path,
        )
    return text  # type: ignore[return-value]


def read_feedback(body: object) -> list[dict]:
    """Validate a feedback request; return its entries normalised (400 naming the first bad field)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise InvalidRequest(
            "The body must be an object with a non-empty 'feedback' array", expression="feedback"
        )
    entries = []
    for i, raw in enumerate(body["feedback"]):
        here = f"feedback[{i}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(f"{here} must be an object", expression=here)
        entry: dict = {"card": _string(raw.get("card"), f"{here}.card")}
        outcome = raw.get("outcome")
        if outcome not in OUTCOMES:
            raise InvalidRequest(
                f"{here}.outcome must be accepted or overridden", expression=f"{here}.outcome"
            )
        entry["outcome"] = outcome
        accepted = raw.get("acceptedSuggestions")
        if outcome == "accepted" or accepted is not None:
            if not isinstance(accepted, list) or not accepted:
                raise InvalidRequest(
                    f"{here}.acceptedSuggestions is required for an accepted outcome (a non-empty array)",
                    expression=f"{here}.acceptedSuggestions",
                )
            ids = []
            for k, item in enumerate(accepted):
                path = f"{here}.acceptedSuggestions[{k}]"
                if not isinstance(item, dict):
                    raise InvalidRequest(f"{path} must be an object with an id", expression=path)
                ids.append({"id": _string(item.get("id"), f"{path}.id")})
            entry["acceptedSuggestions"] = ids
        reason = raw.get("overrideReason")
        if reason is not None:
            path = f"{here}.overrideReason"
            if not isinstance(reason, dict) or not (reason.get("reason") or reason.get("userComment")):
                raise InvalidRequest(f"{path} must hold a reason Coding or a userComment", expression=path)
            kept: dict = {}
            coding = reason.get("reason")
            if coding is not None:
                if not isinstance(coding, dict):
                    raise InvalidRequest(f"{path}.reason must be a Coding", expression=f"{path}.reason")
                kept["reason"] = {
                    "system": _string(coding.get("system"), f"{path}.reason.system"),
                    "code": _string(coding.get("code"), f"{path}.reason.code"),
                }
                display = _string(coding.get("display"), f"{path}.reason.display", required=False)
                if display:
                    kept["reason"]["display"] = display
            comment = _string(reason.get("userComment"), f"{path}.userComment", required=False)
            if comment:
                kept["userComment"] = comment
            entry["overrideReason"] = kept
        entry["outcomeTimestamp"] = _timestamp(raw.get("outcomeTimestamp"), f"{here}.outcomeTimestamp")
        entries.append(entry)
    return entries


class FeedbackStore:
    """The feedback database: one connection per process and thread, opened on first use.

    gunicorn preloads the app in the master and forks workers; a connection must never cross a fork,
    so each process opens its own (the pid is checked on every use). WAL lets workers write
    concurrently with readers; synchronous=FULL makes a commit durable before the 200 is sent.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            return local.conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(_SCHEMA)
        local.conn, local.pid = conn, os.getpid()
        return conn

    def add(self, service: str, entries: list[dict]) -> int:
        """Store the entries in one transaction, committed before returning; return how many."""
        conn = self._connect()
        received = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows = [
            (
                received,
                service,
                e["card"],
                e["outcome"],
                json.dumps(e["acceptedSuggestions"]) if "acceptedSuggestions" in e else None,
                json.dumps(e["overrideReason"]) if "overrideReason" in e else None,
                e["outcomeTimestamp"],
            )
            for e in entries
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO feedback(received, service, card, outcome, accepted_suggestions, "
                "override_reason, outcome_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return len(rows)

    def first_use_of(self, jti: str, expires: int) -> bool:
        """Record a JWT id until it expires; return False when it was already used (a replay)."""
        conn = self._connect()
        now = int(datetime.now(UTC).timestamp())
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM jti WHERE expires < ?", (now,))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO jti(jti, expires) VALUES (?, ?)", (jti, expires)
            ).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return inserted == 1


def export(path: Path) -> Iterator[dict]:
    """Yield the stored feedback, oldest first, in the CDS Hooks shape plus service and received."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, received, service, card, outcome, accepted_suggestions, override_reason, "
            "outcome_timestamp FROM feedback ORDER BY id"
        )
        for row in rows:
            entry = {"id": row[0], "received": row[1], "service": row[2], "card": row[3], "outcome": row[4]}
            if row[5] is not None:
                entry["acceptedSuggestions"] = json.loads(row[5])
            if row[6] is not None:
                entry["overrideReason"] = json.loads(row[6])
            entry["outcomeTimestamp"] = row[7]
            yield entry
    finally:
        conn.close()
