"""Read and search of CodeSystem, ValueSet and ConceptMap."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.helpers import BASE, CPT, fhir_valid


@pytest.mark.parametrize(
    ("path", "url"),
    [("/CodeSystem/cpt-2026", CPT), ("/ValueSet/cpt-modifiers", f"{BASE}/ValueSet/cpt-modifiers"),
     ("/ConceptMap/cpt-combined-codes", f"{BASE}/ConceptMap/cpt-combined-codes")],
)  # fmt: skip
def test_read_returns_the_resource(client, path, url):
    response = client.get(path)
    assert response.status_code == 200
    assert fhir_valid(response.get_json())["url"] == url


def test_read_unknown_id_is_404(client):
    response = client.get("/ValueSet/nope")
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    ("query", "ids"),
    [("url=" + CPT, ["cpt-2026"]), ("url=" + CPT + "&version=2026", ["cpt-2026"]), ("version=1", []),
     ("name=hcpcs", ["hcpcs-level-ii"]), ("name:exact=hcpcs", []), ("title:contains=fragment", None),
     ("status=active", ["cds-override-reason", "cpt-2026", "cpt-bundling-instructions", "hcpcs-level-ii", "loinc",
                        "ncci-modifier-rules"]), ("_id=loinc", ["loinc"])],
)  # fmt: skip
def test_search_code_systems(client, query, ids):
    bundle = fhir_valid(client.get(f"/CodeSystem?{query}").get_json())
    assert bundle["type"] == "searchset"
    found = [e["resource"]["id"] for e in bundle.get("entry", [])]
    if ids is None:
        assert len(found) == 3
    else:
        assert found == ids
    assert bundle["total"] == len(found)


def test_summary_drops_concepts_and_tags_the_resource(client):
    bundle = client.get(f"/CodeSystem?url={CPT}&_summary=true").get_json()
    resource = bundle["entry"][0]["resource"]
    assert "concept" not in resource
    assert resource["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert client.get("/ValueSet?_summary=count").get_json()["total"] == 6


def test_count_pages_with_next_link(client):
    bundle = fhir_valid(client.get("/ValueSet?_count=4").get_json())
    assert len(bundle["entry"]) == 4 and bundle["total"] == 6
    next_url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    second = client.get(next_url.replace("http://localhost", "")).get_json()
    assert len(second["entry"]) == 2


@pytest.mark.parametrize("query", ["_summary=bogus", "_count=-1", "_count=x"])
def test_bad_search_parameters_are_400(client, query):
    response = client.get(f"/ValueSet?{query}")
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_search_parameters_are_ignored_and_left_out_of_the_self_link(client):
    bundle = client.get(f"/CodeSystem?system=http://loinc.org&url={CPT}&_count=5&_pretty=true").get_json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["cpt-2026"]
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert self_link == f"http://localhost/CodeSystem?url={quote(CPT, safe='')}&_count=5"
    # An unknown parameter alone selects nothing: every CodeSystem, and a bare self link.
    bundle = client.get("/CodeSystem?system=http://loinc.org").get_json()
    assert bundle["total"] == 6
    assert bundle["link"][0]["url"] == "http://localhost/CodeSystem"


@pytest.mark.parametrize("query", ["system=http://loinc.org", "url:below=http://loinc.org", "_sort=name"])
def test_strict_handling_refuses_unknown_search_parameters(client, query):
    response = client.get(f"/CodeSystem?{query}", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == [query.split("=")[0]]
    assert "is not supported for CodeSystem" in issue["details"]["text"]
    assert client.get(f"/CodeSystem?{query}", headers={"Prefer": "handling=lenient"}).status_code == 200


def test_full_urls_use_configured_base(app):
    from terminology import create_app

    client = create_app({"BASE_URL": "https://tx.hospital.example/fhir"}).test_client()
    bundle = client.get("/ConceptMap").get_json()
    assert bundle["entry"][0]["fullUrl"].startswith("https://tx.hospital.example/fhir/ConceptMap/")
