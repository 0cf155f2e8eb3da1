"""Shared fixtures: the app on the bundled content, its client, and synthetic content dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terminology import create_app

# The HTTP tests run twice: with the answer and response caches on (as served), and with both off,
# so that a cached answer can never hide what the engine computes.
CACHES_OFF = {"RESULT_CACHE_SIZE": 0, "RESPONSE_CACHE_MB": 0}


@pytest.fixture(scope="session", autouse=True)
def feedback_store_outside_the_checkout(tmp_path_factory):
    """Keep the feedback store of apps built on the default settings out of the checkout's data/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TERMINOLOGY_FEEDBACK_DB", str(tmp_path_factory.mktemp("store") / "feedback.sqlite"))
        yield


@pytest.fixture(scope="session", params=["caches-on", "caches-off"])
def app(request):
    """Build the app once per cache mode on the repository's bundled content."""
    return create_app({"TESTING": True, **(CACHES_OFF if request.param == "caches-off" else {})})


@pytest.fixture
def client(app):
    """Return a test client of the bundled-content app."""
    return app.test_client()


SYNTHETIC_CS = {
    "resourceType": "CodeSystem",
    "id": "synthetic",
    "url": "http://example.org/fhir/CodeSystem/synthetic",
    "version": "1.0.0",
    "name": "Synthetic",
    "status": "active",
    "content": "complete",
    "caseSensitive": False,
    "property": [
        {"code": "status", "type": "code", "description": "Concept status"},
        {"code": "colour", "type": "code", "description": "Synthetic property"},
    ],
    "concept": [
        {
            "code": "zz-parent",
            "display": "Synthetic parent concept",
            "designation": [{"language": "en", "value": "Synthetic parent (short)"}],
            "concept": [
                {"code": "zz-child", "display": "Synthetic child concept",
                 "property": [{"code": "colour", "valueCode": "blue"}]},
            ],
        },
        {"code": "zz-retired", "display": "Synthetic retired concept",
         "property": [{"code": "status", "valueCode": "retired"}]},
    ],
}  # fmt: skip


def write_resource(directory: Path, name: str, resource: dict) -> Path:
    """Write one resource as JSON into a content directory."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(resource), encoding="utf-8")
    return path


@pytest.fixture
def synthetic_dir(tmp_path) -> Path:
    """A content directory with one synthetic code system (hierarchy, retired concept)."""
    directory = tmp_path / "content"
    write_resource(directory, "synthetic.json", SYNTHETIC_CS)
    return directory


@pytest.fixture(scope="session")
def postgres_server():
    """Start one throw-away PostgreSQL server (real binaries, 127.0.0.1, a temp dir) for the session."""
    from tests.postgres_server import ThrowawayPostgres

    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server):
    """Return a URL whose search_path is a new, empty schema: each test migrates from nothing."""
    with postgres_server.schema_url() as url:
        yield url


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def store_settings(request, tmp_path) -> dict:
    """Settings that select each storage backend in turn (SQLite file in tmp_path, or PostgreSQL)."""
    if request.param == "sqlite":
        return {"DATABASE_URL": "", "FEEDBACK_DB": str(tmp_path / "store" / "feedback.sqlite")}
    return {"DATABASE_URL": request.getfixturevalue("postgres_url"), "FEEDBACK_DB": ""}


@pytest.fixture(params=["sqlite-unwritable", "postgresql-down"])
def down_store(request, tmp_path) -> dict:
    """Settings of a store that cannot be written: a file under a regular file (as on a read-only
    volume, which root cannot simulate with permissions), or a port where no PostgreSQL listens."""
    if request.param == "sqlite-unwritable":
        blocker = tmp_path / "read-only-volume"
        blocker.write_text("")
        return {"DATABASE_URL": "", "FEEDBACK_DB": str(blocker / "feedback.sqlite")}
    from tests.support import free_port

    return {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", "DATABASE_TIMEOUT": 1}
