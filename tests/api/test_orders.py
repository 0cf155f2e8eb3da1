"""HTTP: $order-to-charge for one ServiceRequest or a Bundle; unmapped orders; errors; definition."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.operationdefinition import OperationDefinition
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters

from tests.helpers import CPT, LOINC, collection, parts, service_request

MAP = "https://terminology.example.org/fhir/ConceptMap/loinc-to-cpt-order-charge|2026"


def order(order_id, code, system=LOINC, **extra) -> dict:
    return service_request(code, order_id, system, **extra)


bundle = collection


def orders_of(body: dict) -> list[dict]:
    Parameters.model_validate(body)
    return [parts(p["part"]) for p in body["parameter"] if p["name"] == "order"]


def findings_of(body: dict, rule: str) -> list[dict]:
    return [
        parts(p["part"])
        for p in body["parameter"]
        if p["name"] == "finding" and p["part"][0]["valueCode"] == rule
    ]


def test_bundle_of_orders_gets_charges_with_their_map_and_findings(client):
    sent = bundle(
        order("a", "30592-0"), order("b", "24933-4"), order("c", "72125", CPT), order("d", "Z9001-0")
    )
    response = client.post("/$order-to-charge", json=sent)
    assert response.status_code == 200
    body = response.get_json()
    first, second, third, fourth = orders_of(body)
    assert first["order"] == "ServiceRequest/a" and first["mapped"] is True
    charge = parts(first["charge"])
    assert charge["code"]["code"] == "72125" and charge["code"]["system"] == CPT
    assert charge["originMap"] == MAP and charge["equivalence"] == "equivalent"
    assert parts(second["charge"])["code"]["code"] == "72126"
    assert third["charge"] == {"system": CPT, "code": "72125"} and "originMap" not in third
    # An order with no mapping is reported, never dropped.
    assert (
        fourth["mapped"] is False and fourth["originMap"] == MAP and "no CPT charge code" in fourth["message"]
    )
    assert fourth["expression"] == "Bundle.entry[3].resource.code"
    combined = findings_of(body, "combined-code")  # one fix for a+b; c repeats a (a duplicate line)
    assert len(combined) == 1 and combined[0]["code"] == "72125"
    assert findings_of(body, "unmapped-order") and findings_of(body, "duplicate-line")
    OperationOutcome.model_validate(next(p["resource"] for p in body["parameter"] if p["name"] == "issues"))


def test_single_service_request_in_a_parameters_body(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": order("a", "36401-8")}],
    }
    (only,) = orders_of(client.post("/$order-to-charge", json=body).get_json())
    assert parts(only["charge"])["code"]["code"] == "72127" and only["line"] == 1


def test_undated_order_uses_the_date_parameter(client):
    undated = order("a", "30592-0")
    del undated["occurrenceDateTime"]
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": undated}, {"name": "date", "valueDate": "2026-07-16"}],
    }
    response = client.post("/$order-to-charge", json=body).get_json()
    assert any(p["name"] == "result" for p in response["parameter"])


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        ({"resourceType": "Parameters", "parameter": []}, 400, "Parameters.parameter"),
        ({k: v for k, v in order("a", "30592-0").items() if k != "code"}, 400, "ServiceRequest.code"),
        (bundle(order("a", "30592-0"), {**order("b", "x"), "code": None}), 400, "Bundle.entry[1].resource.code"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, 400, "Bundle.entry"),
        ({**order("a", "30592-0"), "subject": "Patient/p1"}, 422, "ServiceRequest.subject"),
        ({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {"resourceType": "Claim"}}]},
         422, "Parameters.parameter[0].resource.resourceType"),
        ({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": order("a", "30592-0")},
                                                      {"name": "date", "valueDate": "15/07/2026"}]},
         400, "Parameters.parameter[1].valueDate"),
    ],
)  # fmt: skip
def test_bad_input_names_the_element(client, body, status, expression):
    response = client.post("/$order-to-charge", json=body)
    assert response.status_code == status, response.get_json()
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].expression[0] == expression


def test_operation_definition_and_capability_statement(client):
    definition = client.get("/OperationDefinition/order-to-charge").get_json()
    OperationDefinition.model_validate(definition)
    assert definition["code"] == "order-to-charge" and definition["system"] is True
    statement = client.get("/metadata").get_json()
    operations = {o["name"]: o["definition"] for o in statement["rest"][0]["operation"]}
    assert operations["order-to-charge"] == definition["url"]
