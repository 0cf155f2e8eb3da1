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
