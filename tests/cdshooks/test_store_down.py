"""A feedback store that is down or not writable: /readyz 503, feedback 503, the EHR JWT refused (fail closed)."""

from __future__ import annotations

from fhir.resources.R4B.operationoutcome import OperationOutcome

from terminology import create_app
from terminology.api.cdshooks import STORE
from tests.cdshooks.conftest import ehr_token, hook_call, order
from tests.postgres_server import ThrowawayPostgres
from tests.support import wait_for

BASE = "https://tx.test.invalid"
SIGN = "/cds-services/bundling-order-sign"
ENTRY = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-07-15T10:00:00Z"}


def _app(data_dir, **config):
    return create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data_dir), **config})


def _is_transient_outcome(response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].code == "transient"


def test_readiness_fails_and_feedback_is_503_never_500(data_dir, down_store):
    client = _app(data_dir, **down_store).test_client()  # start-up survives: the store may come back
    ready = client.get("/readyz")
    assert ready.status_code == 503
    (detail,) = [
        i["details"]["text"] for i in ready.get_json()["issue"] if "feedback store" in i["details"]["text"]
    ]
    assert "not writable" in detail or "unavailable" in detail
    assert str(data_dir.parent) not in detail and "127.0.0.1" not in detail  # open to anyone: no locations
    response = client.post(f"{SIGN}/feedback", json={"feedback": [ENTRY]})
    _is_transient_outcome(response)
    # Terminology operations do not need the store.
    assert (
        client.get("/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=72125").status_code == 200
    )


def test_cds_jwt_replay_check_fails_closed_with_503(data_dir, jwks_file, signing_key, down_store):
    client = _app(data_dir, BASE_URL=BASE, CDS_JWKS=str(jwks_file), CDS_ISSUERS="https://ehr.test.invalid",
                  **down_store).test_client()  # fmt: skip
    token = ehr_token(signing_key, f"{BASE}{SIGN}")
    response = client.post(SIGN, json=hook_call("order-sign", order("a", "72125")),
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    # Not 200 (the jti cannot be checked, so a replay could pass), not 401 (the EHR's key is fine).
    _is_transient_outcome(response)
    assert "WWW-Authenticate" not in response.headers
    assert "replay check" in response.get_json()["issue"][0]["details"]["text"]


def test_postgres_outage_and_recovery_through_the_api(data_dir):
    server = ThrowawayPostgres().start()
    try:
        client = _app(data_dir, DATABASE_URL=server.url(), DATABASE_TIMEOUT=1).test_client()
        assert client.get("/readyz").status_code == 200
        assert client.post(f"{SIGN}/feedback", json={"feedback": [ENTRY]}).status_code == 200
        server.halt()
        assert client.get("/readyz").status_code == 503
        _is_transient_outcome(client.post(f"{SIGN}/feedback", json={"feedback": [{**ENTRY, "card": "c2"}]}))
        server.start()
        wait_for(lambda: client.get("/readyz").status_code == 200, "readiness after the database is back")
        assert (
            client.post(f"{SIGN}/feedback", json={"feedback": [{**ENTRY, "card": "c2"}]}).status_code == 200
        )
        # Nothing answered 503 was stored, everything answered 200 was.
        store = client.application.extensions[STORE]
        assert [row["card"] for row in store.feedback()] == ["c1", "c2"]
    finally:
        server.stop()
