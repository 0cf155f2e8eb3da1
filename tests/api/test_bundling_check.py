"""HTTP: $bundling-check with Claim and Bundle inputs, errors, OperationDefinition, NCCI ConceptMaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.conceptmap import ConceptMap
from fhir.resources.R4B.operationdefinition import OperationDefinition
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters

from terminology import create_app
from terminology.api.bundling_check import index_ready
from tests.ncci_fixtures import CPT, HCPCS, check_body, findings, item, ncci_data_dir, ptp_row

LOINC = "http://loinc.org"


@pytest.fixture
def app(tmp_path):
    rows = [
        ptp_row("Z0001", "Z0002", "20200101", "*", 1),
        ptp_row("Z0001", "Z0003", "20200101", "20251231", 0),
        ptp_row("Z0004", "Z0001", "20200101", "*", 0, "Standards of medical/surgical practice", "*"),
    ]
    return create_app({"DATA_DIR": str(ncci_data_dir(tmp_path, rows))})


@pytest.fixture
def client(app):
    return app.test_client()


def _claim(items: list[dict], **extra) -> dict:
    claim = {
        "resourceType": "Claim",
        "status": "active",
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
        },
        "use": "claim",
        "patient": {"reference": "Patient/p1"},
        "created": "2026-07-16",
        "provider": {"reference": "Organization/billing"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
        "careTeam": [
            {"sequence": 1, "provider": {"reference": "Practitioner/rad"}},
            {"sequence": 2, "provider": {"reference": "Practitioner/other"}},
        ],
        "item": items,
    }
    claim.update(extra)
    return claim


def _claim_item(seq, code, *mods, team=1, quantity=1, system=CPT):
    entry = {
        "sequence": seq,
        "careTeamSequence": [team],
        "productOrService": {"coding": [{"system": system, "code": code}]},
        "servicedDate": "2026-07-15",
        "quantity": {"value": quantity},
    }
    if mods:
        entry["modifier"] = [{"coding": [{"system": HCPCS, "code": m}]} for m in mods]
    return entry


def _valid_parameters(body: dict) -> list[dict]:
    Parameters.model_validate(body)
    outcome = next(p["resource"] for p in body["parameter"] if p["name"] == "issues")
    OperationOutcome.model_validate(outcome)
    return outcome["issue"]


def test_items_response_shape_is_valid_fhir(client):
    response = client.post("/$bundling-check", json=check_body(item(1, "Z0001"), item(2, "Z0002")))
    assert response.status_code == 200 and response.content_type.startswith("application/fhir+json")
    body = response.get_json()
    issues = _valid_parameters(body)
    names = [p["name"] for p in body["parameter"]]
    assert names[0] == "result" and "edition" in names and "conceptMap" in names and names[-1] == "issues"
    maps = [p["valueCanonical"] for p in body["parameter"] if p["name"] == "conceptMap"]
    assert "https://terminology.example.org/fhir/ConceptMap/ncci-ptp-practitioner|v322r0" in maps
    ptp = next(i for i in issues if "PTP edit" in i["details"]["text"])
    assert ptp["expression"][0] == "Parameters.parameter[2].part[1].valueCoding"
    assert len(issues) == len(findings(body))


def test_claim_input_points_issues_at_claim_items(client):
    claim = _claim([_claim_item(1, "Z0001"), _claim_item(2, "Z0002"), _claim_item(3, "Z0003", team=2)])
    response = client.post(
        "/$bundling-check",
        json={"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim}]},
    )
    body = response.get_json()
    assert response.status_code == 200, body
    issues = _valid_parameters(body)
    (ptp,) = findings(body, "ncci-ptp")  # line 3 has another performing provider
    assert ptp["line"] == [1, 2] and ptp["severity"] == "error"
    text = next(i for i in issues if "PTP edit" in i["details"]["text"])
    assert text["expression"] == ["Claim.item[1].productOrService", "Claim.item[0].productOrService"]


def test_claim_modifier_bypass_points_at_the_modifier(client):
    claim = _claim([_claim_item(1, "Z0001"), _claim_item(2, "Z0002", "XS")])
    body = client.post("/$bundling-check", json=claim).get_json()  # a bare Claim body is accepted too
    (ptp,) = findings(body, "ncci-ptp")
    assert ptp["bypassModifier"] == "XS" and ptp["severity"] == "warning"
    issues = _valid_parameters(body)
    assert (
        "Claim.item[1].modifier[0]"
        in next(i for i in issues if "bypassed" in i["details"]["text"])["expression"]
    )


def test_bundle_of_charge_items_with_cpt_expressions(client):
    def charge(code):
        return {
            "resourceType": "ChargeItem",
            "status": "billable",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": CPT, "code": code}]},
            "occurrenceDateTime": "2026-07-15",
            "performer": [{"actor": {"reference": "Practitioner/rad"}}],
        }

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": charge("72125")}, {"resource": charge("72126:26")}],
    }
    body = client.post(
        "/$bundling-check",
        json={"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle}]},
    ).get_json()
    _valid_parameters(body)
    (combined,) = findings(body, "combined-code")
    assert combined["code"] == ["72125", "72126", "72127"]
    assert [f for f in findings(body) if f["rule"].startswith("unknown")] == []  # 26 is a known CPT modifier


def test_bundle_of_loinc_orders_is_translated_to_charge_codes(client):
    def order(loinc):
        return {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": LOINC, "code": loinc}]},
            "occurrenceDateTime": "2026-07-15",
        }

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": order("30592-0")},
            {"resource": order("24933-4")},
            {"resource": order("99999-9")},
        ],
    }
    body = client.post("/$bundling-check", json=bundle).get_json()
    _valid_parameters(body)
    maps = [p["valueCanonical"] for p in body["parameter"] if p["name"] == "conceptMap"]
    assert "https://terminology.example.org/fhir/ConceptMap/loinc-to-cpt-order-charge|2026" in maps
    (combined,) = findings(body, "combined-code")
    assert combined["suggestion"][-1]["valueCoding"] == {"system": CPT, "code": "72127"}
    (unmapped,) = findings(body, "unmapped-order")
    assert unmapped["line"] == [3] and unmapped["severity"] == "warning"


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        ({"resourceType": "Parameters", "parameter": []}, 400, "Parameters.parameter"),
        (
            check_body({"name": "item", "part": [{"name": "sequence", "valueInteger": 1}]}),
            400,
            "Parameters.parameter[1]",
        ),
        (
            check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"system": CPT}}]}),
            400,
            "Parameters.parameter[1].part[0].valueCoding.code",
        ),
        (check_body(item(1, "72125"), date="15/07/2026"), 400, "Parameters.parameter[0].valueDate"),
        (check_body(item(1, "72125"), setting="hospital"), 400, "Parameters.parameter[2].valueString"),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "resource",
                        "resource": {
                            k: v for k, v in _claim([_claim_item(1, "72125")]).items() if k != "status"
                        },
                    }
                ],
            },
            422,
            "Claim.status",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": {"resourceType": "Patient", "id": "x"}}],
            },
            422,
            "Parameters.parameter[0].resource.resourceType",
        ),
    ],
)
def test_malformed_input_names_the_element(client, body, status, expression):
    response = client.post("/$bundling-check", json=body)
    assert response.status_code == status
    outcome = response.get_json()
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["expression"] == [expression]


def test_claim_item_without_date(client):
    item_ = _claim_item(1, "72125")
    del item_["servicedDate"]
    response = client.post("/$bundling-check", json=_claim([item_]))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["Claim.item[0].servicedDate"]


def test_wrong_method_and_media_type(client):
    assert client.get("/$bundling-check").status_code == 405
    response = client.post("/$bundling-check", data="x", content_type="text/plain")
    assert response.status_code == 415 and response.get_json()["resourceType"] == "OperationOutcome"


def test_operation_definition_is_served_and_valid(client):
    path = Path(__file__).resolve().parents[2] / "terminology/operationdefinitions/bundling-check.json"
    OperationDefinition.model_validate(json.loads(path.read_text()))
    body = client.get("/OperationDefinition/bundling-check").get_json()
    OperationDefinition.model_validate(body)
    assert body["code"] == "bundling-check" and body["system"] is True
    assert client.get("/OperationDefinition/nope").status_code == 404
    search = client.get("/OperationDefinition").get_json()
    assert {e["resource"]["id"] for e in search["entry"]} == {
        "batch-validate-code",
        "bundling-check",
        "order-to-charge",
    }


def test_capability_statement_lists_the_operation(client):
    body = client.get("/metadata").get_json()
    CapabilityStatement.model_validate(body)
    operations = body["rest"][0]["operation"]
    assert {
        "name": "bundling-check",
        "definition": "https://terminology.example.org/fhir/OperationDefinition/bundling-check",
    } in operations
    assert sum(1 for o in operations if o["name"] == "bundling-check") == 1


def test_each_edition_is_a_concept_map_without_materialised_elements(client):
    body = client.get("/ConceptMap/ncci-ptp-practitioner-v322r0").get_json()
    ConceptMap.model_validate(body)
    assert "group" not in body and body["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert body["version"] == "v322r0" and "3 edit rows over 3 code pairs" in body["description"]
    search = client.get(
        "/ConceptMap?url=https://terminology.example.org/fhir/ConceptMap/ncci-ptp-practitioner"
    )
    assert [e["resource"]["id"] for e in search.get_json()["entry"]] == ["ncci-ptp-practitioner-v322r0"]


def test_translate_answers_what_is_bundled_into_a_code_on_a_date(client):
    url = "https://terminology.example.org/fhir/ConceptMap/ncci-ptp-practitioner"
    body = client.get(f"/ConceptMap/$translate?url={url}&system={CPT}&code=Z0001&date=2026-07-15").get_json()
    Parameters.model_validate(body)
    matches = [p for p in body["parameter"] if p["name"] == "match"]
    assert len(matches) == 1  # Z0001/Z0003 was deleted on 2025-12-31
    parts = matches[0]["part"]
    assert parts[0] == {"name": "equivalence", "valueCode": "relatedto"}
    assert parts[1]["valueCoding"]["code"] == "Z0002"
    products = {
        p["part"][0]["valueUri"].split("#")[1]: p["part"][1]["valueCoding"]["code"]
        for p in parts
        if p["name"] == "product"
    }
    assert products == {"modifier-indicator": "1", "effective-date": "2020-01-01", "deletion-date": "*"}
    everything = client.get(f"/ConceptMap/ncci-ptp-practitioner-v322r0/$translate?system={CPT}&code=Z0001")
    assert sum(1 for p in everything.get_json()["parameter"] if p["name"] == "match") == 2
    reverse = client.get(f"/ConceptMap/$translate?url={url}&system={CPT}&targetCode=Z0001").get_json()
    (match,) = [p for p in reverse["parameter"] if p["name"] == "match"]
    # A reverse translation names the column 1 code found as the match's source.
    source = next(p for p in match["part"] if p["name"] == "source")
    assert source["valueCoding"]["code"] == "Z0004"
    bad = client.get(f"/ConceptMap/$translate?url={url}&system={CPT}&code=Z0001&date=July")
    assert bad.status_code == 400


def test_a_newly_imported_edition_is_served_at_once(app, client, tmp_path, monkeypatch):
    # A running worker learns of a new index on any request, not only on $bundling-check or
    # /readyz: a $translate on the new edition's ConceptMap is the first thing a coder may try.
    from terminology.ncci.index import NcciIndex, import_ptp
    from tests.ncci_fixtures import write_ptp

    monkeypatch.setattr(NcciIndex, "CHECK_INTERVAL", 0.0)
    assert client.get("/ConceptMap/ncci-ptp-practitioner-v322r0").status_code == 200
    part = write_ptp(tmp_path / "ccioph-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])
    import_ptp(Path(app.config["DATA_DIR"]), [part], setting="outpatient")
    assert client.get("/ConceptMap/ncci-ptp-outpatient-v322r0").status_code == 200
    body = client.get(f"/ConceptMap/ncci-ptp-outpatient-v322r0/$translate?system={CPT}&code=Z0001").get_json()
    assert body["parameter"][0] == {"name": "result", "valueBoolean": True}


def test_shipped_maps_still_translate(client):
    body = client.get(f"/ConceptMap/$translate?system={LOINC}&code=30592-0").get_json()
    assert body["parameter"][0]["valueBoolean"] is True


def test_index_readiness(app, tmp_path):
    assert index_ready(app)[0] is True
    assert create_app({"DATA_DIR": str(tmp_path / "none")}).extensions["terminology.ncci"].ready()[0] is True


def test_claim_serviced_period_and_billable_period_dates(client):
    first, second = _claim_item(1, "Z0001"), _claim_item(2, "Z0002")
    del first["servicedDate"], second["servicedDate"]
    first["servicedPeriod"] = {"start": "2026-07-15", "end": "2026-07-15"}
    body = client.post(
        "/$bundling-check", json=_claim([first, second], billablePeriod={"start": "2026-07-15"})
    )
    (ptp,) = findings(body.get_json(), "ncci-ptp")
    assert ptp["date"] == "2026-07-15" and ptp["line"] == [1, 2]


@pytest.mark.parametrize("code", ["72126::26", ":26", "72126:"])
def test_malformed_cpt_expression_in_a_charge_item_is_400(client, code):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "ChargeItem", "status": "billable", "subject": {"reference": "Patient/1"},
        "code": {"coding": [{"system": CPT, "code": code}]}, "occurrenceDateTime": "2026-07-15"}}]}  # fmt: skip
    response = client.post("/$bundling-check", json=bundle, content_type="application/fhir+json")
    assert response.status_code == 400
    assert "is not a CPT expression" in response.get_json()["issue"][0]["details"]["text"]


def test_impossible_calendar_date_is_400(client):
    body = check_body(item(1, "Z0001"), date="2026-02-30")
    response = client.post("/$bundling-check", json=body, content_type="application/fhir+json")
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["Parameters.parameter[0].valueDate"]


def _resource_body(resource: dict, setting: str | None = None) -> dict:
    params = [{"name": "resource", "resource": resource}]
    if setting:
        params.append({"name": "setting", "valueCode": setting})
    return {"resourceType": "Parameters", "parameter": params}


def test_claim_lines_without_a_care_team_member_are_the_claims_rendering_providers(client):
    claim = _claim([_claim_item(1, "62284"), _claim_item(2, "72240")], careTeam=[
        {"sequence": 1, "provider": {"reference": "Practitioner/rad"}, "role": {"coding": [{"code": "primary"}]}},
        {"sequence": 2, "provider": {"reference": "Practitioner/other"}}])  # fmt: skip
    del claim["item"][1]["careTeamSequence"]
    body = client.post("/$bundling-check", json=_resource_body(claim)).get_json()
    _valid_parameters(body)
    (combined,) = findings(body, "combined-code")
    assert combined["provider"] == "Practitioner/rad" and combined["grouping"] == "rendering-provider"
    assert combined["appealable"] is False


def test_an_outpatient_claim_is_one_group_per_date(client):
    claim = _claim([_claim_item(1, "72125", team=1), _claim_item(2, "72125", team=2)])
    body = client.post("/$bundling-check", json=_resource_body(claim, "outpatient")).get_json()
    _valid_parameters(body)
    (duplicate,) = findings(body, "duplicate-line")
    assert duplicate["grouping"] == "facility-claim" and "provider" not in duplicate
    assert "on the facility claim for 2026-07-15" in duplicate["message"]
    body = client.post("/$bundling-check", json=_resource_body(claim)).get_json()
    assert findings(body, "duplicate-line") == []  # practitioner: two rendering providers


def test_claim_units_of_zero_are_a_finding_not_a_400(client):
    claim = _claim([_claim_item(1, "72125", quantity=0)])
    response = client.post("/$bundling-check", json=claim)
    assert response.status_code == 200
    (units,) = findings(response.get_json(), "units")
    assert units["severity"] == "error" and units["line"] == [1]
    issues = _valid_parameters(response.get_json())
    assert next(i for i in issues if "whole positive" in i["details"]["text"])["expression"] == [
        "Claim.item[0].quantity"
    ]


def test_claim_professional_and_technical_lines_of_one_provider(client):
    claim = _claim([_claim_item(1, "72125", "26"), _claim_item(2, "72125", "TC")])
    (pctc,) = findings(client.post("/$bundling-check", json=claim).get_json(), "pc-tc")
    assert pctc["severity"] == "error" and pctc["line"] == [1, 2]


def test_a_charge_set_without_performers_is_one_providers(client):
    def charge(code, performer=None):
        resource = {
            "resourceType": "ChargeItem",
            "status": "billable",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": CPT, "code": code}]},
            "occurrenceDateTime": "2026-07-15",
        }
        if performer:
            resource["performer"] = [{"actor": {"reference": performer}}]
        return {"resource": resource}  # fmt: skip

    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [charge("62284", "Practitioner/rad"), charge("72240"), charge("72255")]}  # fmt: skip
    body = client.post("/$bundling-check", json=bundle).get_json()
    _valid_parameters(body)
    (combined,) = findings(body, "combined-code")
    assert combined["line"] == [1, 2, 3] and combined["code"][-1] == "62305"


def test_bundle_orders_without_a_performer_join_their_encounter(client):
    def request(code, encounter, performer=None):
        resource = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "encounter": {"reference": encounter},
            "code": {"coding": [{"system": CPT, "code": code}]},
            "occurrenceDateTime": "2026-07-15",
        }
        if performer:
            resource["performer"] = [{"reference": performer}]
        return {"resource": resource}  # fmt: skip

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        request("72125", "Encounter/1", "Practitioner/rad"), request("72126", "Encounter/1"),
        request("72126", "Encounter/2")]}  # fmt: skip
    body = client.post("/$bundling-check", json=bundle).get_json()
    (combined,) = findings(body, "combined-code")
    assert combined["line"] == [1, 2] and combined["provider"] == "Practitioner/rad"


def _institutional(claim: dict) -> dict:
    claim["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]}
    return claim


def test_an_institutional_claim_is_the_facility_claim_without_being_told(client):
    # A hospital's claim for two physicians' 72125 lines: one facility claim, a duplicate line.
    claim = _institutional(_claim([_claim_item(1, "72125", team=1), _claim_item(2, "72125", team=2)]))
    (duplicate,) = findings(client.post("/$bundling-check", json=claim).get_json(), "duplicate-line")
    assert duplicate["grouping"] == "facility-claim"
    # The setting parameter, when given, is what the caller asked for.
    body = client.post("/$bundling-check", json=_resource_body(claim, "practitioner")).get_json()
    assert findings(body, "duplicate-line") == []


def test_a_bundle_of_institutional_and_professional_claims_needs_a_setting(client):
    professional = _claim([_claim_item(1, "72125")])
    institutional = _institutional(_claim([_claim_item(1, "72125")]))
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": professional}, {"resource": institutional}]}  # fmt: skip
    response = client.post("/$bundling-check", json=bundle)
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == ["setting"] and "institutional and professional" in issue["details"]["text"]
    assert client.post("/$bundling-check", json=_resource_body(bundle, "outpatient")).status_code == 200
