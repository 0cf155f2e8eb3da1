"""Shared fixtures: the app on the bundled content, its client, and synthetic content dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terminology import create_app


@pytest.fixture(scope="session")
def app():
    """Build the app once on the repository's bundled content."""
    return create_app({"TESTING": True})


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
