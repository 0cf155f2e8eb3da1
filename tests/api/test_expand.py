"""ValueSet/$expand: filter, paging, activeOnly, designations, properties, implicit value sets, limits."""

from __future__ import annotations

import re

import pytest

from terminology import create_app
from tests.helpers import BASE, CPT, call, fhir_valid, issue_codes

METHODS = ["GET", "POST"]
ALL = f"{BASE}/ValueSet/cpt-spine-all"
PATHS = [("/ValueSet/$expand", {"url": ALL}), ("/ValueSet/cpt-spine-all/$expand", {})]


def expand(client, method, path, params, status=200):
    response = call(client, method, path, params)
    assert response.status_code == status, response.get_data(as_text=True)
    return fhir_valid(response.get_json())


def entries(contains: list[dict]):
    """Every ``contains`` entry in document order, nested entries (a hierarchy) after their parent."""
    for entry in contains:
        yield entry
        yield from entries(entry.get("contains", []))


def codes(value_set: dict) -> list[str]:
    return [c["code"] for c in entries(value_set["expansion"].get("contains", []))]


def echoed(value_set: dict) -> dict:
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in value_set["expansion"]["parameter"]
    }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "extra"), PATHS, ids=["type", "instance"])
def test_expand_whole_value_set(client, method, path, extra):
    vs = expand(client, method, path, extra)
    assert vs["url"] == ALL and vs["version"] == "2026"
    assert vs["expansion"]["total"] == 15
    assert len(codes(vs)) == 15
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", vs["expansion"]["identifier"])
    assert "offset" not in vs["expansion"]
    assert echoed(vs)["used-codesystem"] == f"{CPT}|2026"
    assert "compose" not in vs


@pytest.mark.parametrize("method", METHODS)
def test_filter_matches_words_of_display_case_insensitively(client, method):
    vs = expand(client, method, "/ValueSet/$expand", {"url": ALL, "filter": "CERVICAL Myelo"})
    # 72270 and 62305 list "cervical/thoracic" among their regions.
    assert codes(vs) == ["72240", "72270", "62302", "62305"]
    assert echoed(vs)["filter"] == "CERVICAL Myelo"


@pytest.mark.parametrize("method", METHODS)
def test_filter_matches_code_prefix(client, method):
    assert codes(expand(client, method, "/ValueSet/$expand", {"url": ALL, "filter": "7212"})) == [
        "72125",
        "72126",
        "72127",
    ]


@pytest.mark.parametrize("method", METHODS)
def test_count_and_offset_page_through_with_total(client, method):
    vs = expand(client, method, "/ValueSet/$expand", {"url": ALL, "count": 4, "offset": 4})
    assert vs["expansion"]["total"] == 15
    assert vs["expansion"]["offset"] == 4
    assert codes(vs) == ["72240", "72255", "72265", "72270"]
    assert echoed(vs)["count"] == 4 and echoed(vs)["offset"] == 4


def test_implicit_code_system_value_set(client):
    vs = expand(client, "GET", "/ValueSet/$expand", {"url": f"{CPT}?fhir_vs", "filter": "modifier"})
    assert codes(vs) == []
    vs = expand(client, "GET", "/ValueSet/$expand", {"url": f"{CPT}?fhir_vs", "filter": "component"})
    assert codes(vs) == ["26"]


def test_filtered_value_set_by_property(client):
    vs = expand(client, "GET", "/ValueSet/cpt-modifiers/$expand", {})
    assert codes(vs) == ["26", "59"]


def test_properties_are_returned_as_r5_cross_version_extensions(client):
    vs = expand(client, "GET", "/ValueSet/cpt-ct-cervical-spine/$expand", {"property": "contrast"})
    first = vs["expansion"]["contains"][0]
    ext = first["extension"][0]
    assert ext["url"].endswith("extension-ValueSet.expansion.contains.property")
    assert {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]} == {
        "code": "contrast",
        "value": "none",
    }


def test_too_costly_expansion_is_422(app):
    limited = create_app({"EXPANSION_LIMIT": 5}).test_client()
    response = limited.get(f"/ValueSet/$expand?url={ALL}")
    assert response.status_code == 422
    outcome = response.get_json()
    assert issue_codes(outcome)[0][:2] == ("error", "too-costly")
    assert limited.get(f"/ValueSet/$expand?url={ALL}&count=5").status_code == 200


def test_active_only_and_designations(synthetic_dir):
    client = create_app({"CONTENT_DIRS": [str(synthetic_dir)]}).test_client()
    url = "http://example.org/fhir/CodeSystem/synthetic?fhir_vs"
    vs = expand(
        client, "GET", "/ValueSet/$expand", {"url": url, "activeOnly": True, "includeDesignations": True}
    )
    assert codes(vs) == ["zz-parent", "zz-child"]
    assert vs["expansion"]["contains"][0]["designation"] == [
        {"language": "en", "value": "Synthetic parent (short)"}
    ]
    # Without excludeNested the code system's hierarchy shows: zz-child sits under zz-parent.
    assert [c["code"] for c in vs["expansion"]["contains"][0]["contains"]] == ["zz-child"]
    everything = expand(client, "GET", "/ValueSet/$expand", {"url": url})
    retired = next(c for c in entries(everything["expansion"]["contains"]) if c["code"] == "zz-retired")
    assert retired["inactive"] is True


@pytest.mark.parametrize(
    ("params", "status"),
    [({"url": ALL, "count": "many"}, 400), ({"url": ALL, "offset": -1}, 400), ({}, 400),
     ({"url": f"{BASE}/ValueSet/nope"}, 404), ({"url": ALL, "activeOnly": "maybe"}, 400)],
)  # fmt: skip
def test_bad_parameters(client, params, status):
    response = client.get("/ValueSet/$expand", query_string=params)
    assert response.status_code == status
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_count_beyond_fhir_integer_range_is_400(client):
    response = client.get(f"/ValueSet/$expand?url={ALL}&count=99999999999999999999999")
    assert response.status_code == 400
    assert "from 0 to 2147483647" in response.get_json()["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    ("name", "version", "status"),
    [("system-version", "2026", 200), ("force-system-version", "2026", 200),
     ("force-system-version", "1999", 404), ("check-system-version", "1999", 422), ("system-version", "bad", 400)],
)  # fmt: skip
def test_system_version_pins(client, name, version, status):
    value = f"{CPT}|{version}" if version != "bad" else "bad"
    response = client.get("/ValueSet/$expand", query_string={"url": ALL, name: value})
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 200:
        assert echoed(response.get_json())["used-codesystem"] == f"{CPT}|2026"
    else:
        assert response.get_json()["resourceType"] == "OperationOutcome"


def inline_value_set(include: dict) -> dict:
    return {
        "resourceType": "ValueSet", "id": "x", "url": "http://example.org/vs/x", "status": "draft",
        "compose": {"include": [include]},
    }  # fmt: skip


def test_inline_value_set_with_bad_regex_is_422(client):
    inline = inline_value_set({"system": CPT, "filter": [{"property": "code", "op": "regex", "value": "("}]})
    response = call(client, "POST", "/ValueSet/$expand", {"valueSet": inline})
    assert response.status_code == 422
    assert "not a valid expression" in response.get_json()["issue"][0]["details"]["text"]


def test_inline_value_set_over_unknown_system_is_404(client):
    inline = inline_value_set({"system": "http://example.org/unknown-system"})
    response = call(client, "POST", "/ValueSet/$expand", {"valueSet": inline})
    assert response.status_code == 404


def test_inline_value_set_with_property_filter(client):
    inline = inline_value_set(
        {
            "system": CPT,
            "filter": [{"property": "service-component", "op": "in", "value": "combined,injection"}],
        }
    )
    vs = expand(client, "POST", "/ValueSet/$expand", {"valueSet": inline})
    assert codes(vs) == ["62284", "62302", "62303", "62304", "62305"]


def test_contains_entries_carry_only_the_conventional_elements(client):
    vs = expand(client, "GET", "/ValueSet/cpt-modifiers/$expand", {})
    assert vs["expansion"]["contains"][0] == {
        "system": CPT,
        "code": "26",
        "display": "Professional component",
    }
