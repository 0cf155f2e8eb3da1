"""Batch requests: POST / with a batch Bundle, and $batch-validate-code on CodeSystem and ValueSet."""

from __future__ import annotations

import pytest

from terminology import create_app
from tests.helpers import BASE, CPT, FHIR_JSON, as_parameters, fhir_valid, param

VS_CT = f"{BASE}/ValueSet/cpt-ct-cervical-spine"


def post(client, path, body, status=200):
    response = client.post(path, json=body, content_type=FHIR_JSON)
    assert response.status_code == status, response.get_data(as_text=True)
    return fhir_valid(response.get_json())


def batch(*entries) -> dict:
    return {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}


def test_batch_bundle_answers_each_entry_in_order(client):
    result = post(client, "/", batch(
        {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={CPT}&code=72125"}},
        {"request": {"method": "POST", "url": "ValueSet/$validate-code"},
         "resource": as_parameters({"url": VS_CT, "system": CPT, "code": "72126"})},
        {"request": {"method": "GET", "url": "http://localhost/ValueSet/cpt-modifiers"}},
        {"request": {"method": "GET", "url": "/ConceptMap/$translate?system=http://loinc.org&code=30592-0"}},
    ))  # fmt: skip
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["200 OK"] * 4
    assert param(result["entry"][0]["resource"], "display").startswith("Computed tomography")
    assert param(result["entry"][1]["resource"], "result") is True
    assert result["entry"][2]["resource"]["id"] == "cpt-modifiers"


def test_one_bad_entry_never_fails_the_others(client):
    result = post(client, "/", batch(
        {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={CPT}&code=99999"}},
        {"request": {"method": "DELETE", "url": "CodeSystem/cpt-2026"}},
        {"request": {"method": "POST", "url": "CodeSystem/$lookup"}, "resource": {"resourceType": "Patient"}},
        {"request": {"method": "GET", "url": "Nowhere"}},
        {"request": {"method": "GET", "url": "https://elsewhere.example/fhir/metadata"}},
        {"request": {"method": "POST", "url": "/"}, "resource": batch()},
        "not an entry",
        {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={CPT}&code=72126"}},
    ))  # fmt: skip
    statuses = [e["response"]["status"].split()[0] for e in result["entry"]]
    assert statuses == ["404", "405", "400", "404", "400", "400", "400", "200"]
    for entry in result["entry"][:-1]:
        assert entry["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_transaction_is_refused_as_read_only(client):
    outcome = post(client, "/", {"resourceType": "Bundle", "type": "transaction", "entry": []}, 422)
    assert "read-only" in outcome["issue"][0]["details"]["text"]
    assert outcome["issue"][0]["expression"] == ["Bundle.type"]


@pytest.mark.parametrize(
    "body", [{"resourceType": "Parameters"}, {"resourceType": "Bundle", "type": "collection"},
             {"resourceType": "Bundle", "type": "batch", "entry": {}}],
)  # fmt: skip
def test_not_a_batch_is_400(client, body):
    post(client, "/", body, 400)


def test_batch_limit_is_enforced():
    client = create_app({"BATCH_LIMIT": 2}).test_client()
    entry = {"request": {"method": "GET", "url": "metadata"}}
    outcome = post(client, "/", batch(entry, entry, entry), 422)
    assert outcome["issue"][0]["code"] == "too-costly"


def validation(**params) -> dict:
    return {"name": "validation", "resource": as_parameters(params)}


def test_value_set_batch_validate_code_shares_top_level_parameters(client):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": VS_CT},
        validation(system=CPT, code="72125"),
        validation(system=CPT, code="72020"),
        validation(system=CPT, code="72126", url=f"{BASE}/ValueSet/cpt-spine-all"),
        {"name": "validation", "part": [{"name": "system", "valueUri": CPT}, {"name": "code", "valueCode": "72127"}]},
    ]}  # fmt: skip
    result = post(client, "/ValueSet/$batch-validate-code", body)
    answers = [p["resource"] for p in result["parameter"]]
    assert [p["name"] for p in result["parameter"]] == ["validation"] * 4
    assert [param(a, "result") for a in answers] == [True, False, True, True]


def test_code_system_batch_validate_code_reports_failing_items_inline(client):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": CPT},
        validation(code="72126:26"),
        validation(code="72126:ZZ"),
        {"name": "validation", "resource": {"resourceType": "Parameters"}},
        {"name": "validation", "valueString": "oops"},
    ]}  # fmt: skip
    answers = [p["resource"] for p in post(client, "/CodeSystem/$batch-validate-code", body)["parameter"]]
    assert param(answers[0], "result") is True
    assert param(answers[1], "result") is False
    assert answers[2]["resourceType"] == "OperationOutcome"
    assert answers[3]["resourceType"] == "OperationOutcome"


def test_batch_validate_code_needs_validations(client):
    post(client, "/ValueSet/$batch-validate-code", {"resourceType": "Parameters", "parameter": []}, 400)
    response = client.get("/ValueSet/$batch-validate-code")
    assert response.status_code == 405


def test_batch_is_advertised_and_defined(client):
    statement = client.get("/metadata").get_json()
    rest = statement["rest"][0]
    assert {"code": "batch"} in rest["interaction"]
    for resource in rest["resource"][:2]:
        assert "batch-validate-code" in {o["name"] for o in resource["operation"]}
    definition = fhir_valid(client.get("/OperationDefinition/batch-validate-code").get_json())
    assert definition["code"] == "batch-validate-code"


def test_malformed_entry_fields_fail_only_their_entry(client):
    result = post(client, "/", batch(
        {"request": {"method": 1, "url": "metadata"}},
        {"request": {"method": "GET", "url": "http://[::1"}},
        {"request": {"method": "GET", "url": "metrics"}},
        {"request": {"method": "GET", "url": 7}},
        {"request": {"method": "GET", "url": "//CodeSystem//cpt-2026/"}},
        {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={CPT}&code=72126#fragment"}},
    ))  # fmt: skip
    statuses = [e["response"]["status"].split()[0] for e in result["entry"]]
    assert statuses == ["400", "400", "400", "400", "200", "200"]
    assert result["entry"][0]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[0].request.method"]
    assert result["entry"][4]["resource"]["id"] == "cpt-2026"
