"""Fixtures of the importer tests: synthetic vendor files and an app serving imported content."""

from __future__ import annotations

import pytest

from terminology import create_app


@pytest.fixture
def out(tmp_path):
    """Return an empty content directory for the imports."""
    directory = tmp_path / "content"
    directory.mkdir()
    return directory


@pytest.fixture
def serve():
    """Return a function that builds a test client serving the given content directories."""

    def make(*directories):
        app = create_app(config={"CONTENT_DIRS": [str(d) for d in directories], "TESTING": True})
        return app.test_client()

    return make
