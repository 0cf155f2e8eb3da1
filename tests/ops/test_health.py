"""Tests for GET /livez and GET /readyz and the readiness-check hook."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from terminology import create_app
from terminology.ops.health import READINESS


@pytest.fixture
def app():
    return create_app({"TESTING": True, "ACCESS_LOG": False})


def test_livez_answers_200_with_an_operation_outcome(app):
    response = app.test_client().get("/livez")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    OperationOutcome.model_validate(response.get_json())


def test_readyz_is_200_once_content_is_loaded(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    outcome = OperationOutcome.model_validate(response.get_json())
    assert "content loaded" in outcome.issue[0].details.text
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_while_a_registered_check_fails(app):
    state = {"loaded": False}
    app.extensions[READINESS].append(
        lambda: (state["loaded"], "NCCI index: loaded" if state["loaded"] else "NCCI index: loading")
    )
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    outcome = OperationOutcome.model_validate(response.get_json())
    errors = [i.details.text for i in outcome.issue if i.severity == "error"]
    assert errors == ["NCCI index: loading"]
    assert all(i.severity == "information" for i in outcome.issue if i.details.text != "NCCI index: loading")
    state["loaded"] = True
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_a_check_raises(app):
    def broken():
        raise OSError(2, "No such file or directory", "/secret/location/ncci.sqlite")

    app.extensions[READINESS].append(broken)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    errors = [i["details"]["text"] for i in response.get_json()["issue"] if i["severity"] == "error"]
    assert errors == ["readiness check broken failed (the server log has the error)"]
    assert "/secret/location" not in response.get_data(as_text=True)  # /readyz is open to anyone


def test_readyz_is_503_without_content(app):
    del app.extensions["terminology.registry"]
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["issue"][0]["details"]["text"] == "content is not loaded"


def test_probes_reject_other_methods_with_an_operation_outcome(app):
    response = app.test_client().post("/readyz")
    assert response.status_code == 405
    OperationOutcome.model_validate(response.get_json())


def test_readyz_shows_no_file_system_paths(tmp_path):
    data = tmp_path / "secret-location" / "data"
    app = create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data)})
    body = app.test_client().get("/readyz").get_data(as_text=True)
    assert "secret-location" not in body and str(tmp_path) not in body
    (data / "ncci.sqlite").parent.mkdir(parents=True, exist_ok=True)  # the feedback store lives here too
    (data / "ncci.sqlite").write_bytes(b"not a database")
    broken = create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data)}).test_client().get("/readyz")
    assert broken.status_code == 503
    assert "secret-location" not in broken.get_data(as_text=True)
