"""Versioned schema migrations of the shared store (CDS feedback, used JWT ids), for SQLite and PostgreSQL.

Each migration runs once, in one transaction with the row that records it in ``schema_migrations``;
a store whose recorded version is newer than this code knows is refused (a rolled-back deployment
must not write to a schema it does not understand).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema step: the same version and meaning on both backends, each in its own SQL dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, backend: str) -> tuple[str, ...]:
        """Return the SQL statements of this step for ``backend`` (``sqlite`` or ``postgresql``)."""
        return self.sqlite if backend == "sqlite" else self.postgresql


# Never edit a migration that has shipped: add the next one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "CDS Hooks feedback entries and the JWT ids already used",
        sqlite=(
            "CREATE TABLE feedback(id INTEGER PRIMARY KEY, received TEXT NOT NULL, service TEXT NOT NULL, "
            "card TEXT NOT NULL, outcome TEXT NOT NULL, accepted_suggestions TEXT, override_reason TEXT, "
            "outcome_timestamp TEXT NOT NULL)",
            "CREATE TABLE jti(jti TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID",
        ),
        postgresql=(
            "CREATE TABLE feedback(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "received timestamptz NOT NULL, service text NOT NULL, card text NOT NULL, "
            "outcome text NOT NULL, accepted_suggestions jsonb, override_reason jsonb, "
            "outcome_timestamp text NOT NULL)",
            "CREATE TABLE jti(jti text PRIMARY KEY, expires bigint NOT NULL)",
        ),
    ),
    Migration(
        2,
        "one row per feedback event (an EHR's retried POST adds nothing); used JWT ids indexed by expiry",
        sqlite=(
            "DELETE FROM feedback WHERE id NOT IN "
            "(SELECT min(id) FROM feedback GROUP BY service, card, outcome, outcome_timestamp)",
            "CREATE UNIQUE INDEX feedback_event ON feedback(service, card, outcome, outcome_timestamp)",
            "CREATE INDEX jti_expires ON jti(expires)",
        ),
        postgresql=(
            "CREATE UNIQUE INDEX feedback_event ON feedback(service, card, outcome, outcome_timestamp)",
            "CREATE INDEX jti_expires ON jti(expires)",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


class SchemaTooNew(Exception):
    """The store was migrated by a newer release than this one."""


def pending(current: int) -> list[Migration]:
    """Return the migrations a store at version ``current`` still needs, oldest first.

    :raise SchemaTooNew: when ``current`` is beyond the newest migration this code knows.
    """
    if current > LATEST:
        raise SchemaTooNew(
            f"the store's schema is at version {current}, newer than this release knows ({LATEST}); "
            "run the release that migrated it"
        )
    return [m for m in MIGRATIONS if m.version > current]
