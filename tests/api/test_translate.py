"""ConceptMap/$translate over the shipped maps: order→charge, combined codes, not reported together."""

from __future__ import annotations

import pytest

from tests.helpers import BASE, CPT, LOINC, call, fhir_valid, param, params_named, parts

METHODS = ["GET", "POST"]
ORDER_MAP = f"{BASE}/ConceptMap/loinc-to-cpt-order-charge"
PATHS = [
    ("/ConceptMap/$translate", {"url": ORDER_MAP}),
    ("/ConceptMap/loinc-to-cpt-order-charge/$translate", {}),
]


def translate(client, method, path, params):
    response = call(client, method, path, params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return fhir_valid(response.get_json())


def matches(body: dict) -> list[dict]:
    return [parts(m["part"]) for m in params_named(body, "match")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "extra"), PATHS, ids=["type", "instance"])
@pytest.mark.parametrize(
    ("loinc", "cpt", "equivalence"),
    [("30592-0", "72125", "equivalent"), ("24933-4", "72126", "wider"), ("24934-2", "72126", "wider"),
     ("36401-8", "72127", "wider")],
)  # fmt: skip
def test_loinc_order_translates_to_cpt_charge(client, method, path, extra, loinc, cpt, equivalence):
    body = translate(client, method, path, {**extra, "system": LOINC, "code": loinc})
    assert param(body, "result") is True
    (match,) = matches(body)
    assert match["concept"]["system"] == CPT and match["concept"]["code"] == cpt
    assert match["equivalence"] == equivalence
    assert match["originMap"] == f"{ORDER_MAP}|2026"
    assert "no official" in match["message"].lower()


@pytest.mark.parametrize("method", METHODS)
def test_reverse_translation_finds_the_orders(client, method):
    body = translate(
        client,
        method,
        "/ConceptMap/$translate",
        {"url": ORDER_MAP, "system": CPT, "code": "72126", "reverse": True},
    )
    # tx.fhir.org's form: the code asked about is the concept, each order found is the source.
    assert sorted(m["source"]["code"] for m in matches(body)) == ["24933-4", "24934-2"]
    assert all(m["concept"] == {"system": CPT, "code": "72126"} for m in matches(body))
    assert all(m["originMap"] == f"{ORDER_MAP}|2026" for m in matches(body))


def test_combined_code_map_returns_dependencies(client):
    url = f"{BASE}/ConceptMap/cpt-combined-codes"
    body = translate(client, "GET", "/ConceptMap/$translate", {"url": url, "system": CPT, "code": "62284"})
    found = {m["concept"]["code"]: parts(m["dependsOn"])["concept"]["code"] for m in matches(body)}
    assert found == {"62302": "72240", "62303": "72255", "62304": "72265", "62305": "72270"}


def test_dependency_narrows_the_combined_code(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": f"{BASE}/ConceptMap/cpt-combined-codes"},
            {"name": "system", "valueUri": CPT},
            {"name": "code", "valueCode": "72126"},
            {"name": "dependency", "part": [
                {"name": "element", "valueUri": f"{BASE}/ConceptMap/cpt-combined-codes#other-component"},
                {"name": "concept", "valueCodeableConcept": {"coding": [{"system": CPT, "code": "72125"}]}},
            ]},
        ],
    }  # fmt: skip
    response = client.post("/ConceptMap/$translate", json=body, content_type="application/fhir+json")
    assert [m["concept"]["code"] for m in matches(response.get_json())] == ["72127"]


def test_without_url_every_map_with_that_source_is_searched(client):
    body = translate(
        client, "GET", "/ConceptMap/$translate", {"system": CPT, "code": "62302", "targetsystem": CPT}
    )
    origins = {m["originMap"] for m in matches(body)}
    # 62302 keeps 62284 and 72240 out (not reported together) and, with another region, becomes 62305.
    assert origins == {
        f"{BASE}/ConceptMap/cpt-not-reported-together|2026",
        f"{BASE}/ConceptMap/cpt-combined-codes|2026",
    }
    assert len(matches(body)) == 7


def test_no_match_is_result_false_with_message(client):
    body = translate(
        client, "GET", "/ConceptMap/$translate", {"url": ORDER_MAP, "system": LOINC, "code": "0000-0"}
    )
    assert param(body, "result") is False
    assert param(body, "message") == f"No mappings could be found for {LOINC}#0000-0"


@pytest.mark.parametrize(
    ("params", "status"),
    [({"system": LOINC}, 400), ({"url": f"{BASE}/ConceptMap/nope", "system": LOINC, "code": "1"}, 404)],
)
def test_errors(client, params, status):
    response = client.get("/ConceptMap/$translate", query_string=params)
    assert response.status_code == status
    assert response.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("day", ["2026-02-30", "2026-13-01", "soon"])
def test_translate_date_must_be_a_real_day(client, day):
    response = client.get(
        "/ConceptMap/$translate", query_string={"system": CPT, "code": "62302", "date": day}
    )
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["date"]
