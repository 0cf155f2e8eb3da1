"""End to end: `terminology serve` starts real gunicorn on 127.0.0.1; requests calls it."""

from __future__ import annotations

import pytest
import requests

from tests.helpers import BASE, CPT, FHIR_JSON, as_parameters, fhir_valid, param
from tests.support import serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("serve")) as base:
        yield base


def test_metadata_over_http(server):
    response = requests.get(f"{server}/metadata", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    assert fhir_valid(response.json())["fhirVersion"] == "4.0.1"


def test_every_operation_over_http(server):
    session = requests.Session()
    lookup = session.get(f"{server}/CodeSystem/$lookup", params={"system": CPT, "code": "62302"}, timeout=5)
    assert param(lookup.json(), "display").startswith("Myelography via lumbar injection")
    validate = session.post(
        f"{server}/ValueSet/$validate-code",
        json=as_parameters(
            {"url": f"{BASE}/ValueSet/cpt-myelography-combined", "system": CPT, "code": "62305"}
        ),
        headers={"Content-Type": FHIR_JSON},
        timeout=5,
    )
    assert param(validate.json(), "result") is True
    expansion = session.get(
        f"{server}/ValueSet/cpt-ct-cervical-spine/$expand", params={"filter": "contrast"}, timeout=5
    ).json()
    assert expansion["expansion"]["total"] == 3
    translated = session.get(
        f"{server}/ConceptMap/$translate", params={"system": "http://loinc.org", "code": "36401-8"}, timeout=5
    ).json()
    assert param(translated, "result") is True


def test_errors_over_http_are_operation_outcomes(server):
    response = requests.post(
        f"{server}/CodeSystem/$lookup", data=b"{oops", headers={"Content-Type": FHIR_JSON}, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert requests.get(f"{server}/nowhere", timeout=5).json()["resourceType"] == "OperationOutcome"


def test_repeated_gets_answer_alike_over_http(server):
    # Repeats are replayed by the response cache in each worker: same bytes, fresh request ids.
    session = requests.Session()
    url = f"{server}/CodeSystem/$validate-code?url={CPT}&code=72126:26"
    answers = [session.get(url, timeout=5) for _ in range(6)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len({a.headers["X-Request-Id"] for a in answers}) == 6
    assert {a.headers["Content-Type"] for a in answers} == {f"{FHIR_JSON}; charset=utf-8"}
    assert int(answers[-1].headers["Content-Length"]) == len(answers[-1].content)
    fhir_valid(answers[-1].json())


def test_lenient_content_and_tx_resource_over_http(tmp_path):
    # Real gunicorn with TERMINOLOGY_CONTENT_POLICY=lenient: a broken file is set aside and named in
    # /readyz, a request that needs it is a 4xx, and resources sent with a request are used for it.
    from tests.conftest import SYNTHETIC_CS, write_resource

    content = tmp_path / "content"
    write_resource(content, "good.json", SYNTHETIC_CS)
    broken = {
        **SYNTHETIC_CS,
        "id": "broken",
        "url": "http://example.org/fhir/CodeSystem/broken",
        "concept": [{"code": 7}],
    }
    write_resource(content, "broken.json", broken)
    with serving(
        tmp_path, workers=1, TERMINOLOGY_CONTENT_DIRS=str(content), TERMINOLOGY_CONTENT_POLICY="lenient"
    ) as base:
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200
        texts = [i["details"]["text"] for i in ready.json()["issue"]]
        assert any("broken.json: CodeSystem.concept[0].code" in t for t in texts)
        refused = requests.get(
            f"{base}/CodeSystem/$lookup", params={"system": broken["url"], "code": "x"}, timeout=5
        )
        assert refused.status_code == 422
        assert "could not be loaded (broken.json)" in refused.json()["issue"][0]["details"]["text"]
        sent = {"resourceType": "CodeSystem", "url": "http://example.org/fhir/CodeSystem/sent", "status": "active",
                "content": "complete", "concept": [{"code": "zz-sent", "display": "Synthetic sent concept"}]}  # fmt: skip
        body = as_parameters({"url": sent["url"], "code": "zz-sent"})
        body["parameter"].append({"name": "tx-resource", "resource": sent})
        answer = requests.post(
            f"{base}/CodeSystem/$validate-code", json=body, headers={"Content-Type": FHIR_JSON}, timeout=5
        )
        assert param(answer.json(), "result") is True
