"""CodeSystem/$lookup over the bundled CPT fragment: GET and POST, type and instance level."""

from __future__ import annotations

import pytest

from tests.helpers import CPT, HCPCS, call, fhir_valid, issue_codes, param, params_named, parts

METHODS = ["GET", "POST"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("path", "extra"),
    [("/CodeSystem/$lookup", {"system": CPT}), ("/CodeSystem/cpt-2026/$lookup", {})],
    ids=["type", "instance"],
)
def test_lookup_returns_display_name_version_and_properties(client, method, path, extra):
    response = call(client, method, path, {**extra, "code": "72126"})
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    body = fhir_valid(response.get_json())
    assert param(body, "name") == "CPT"
    assert param(body, "version") == "2026"
    assert param(body, "display") == "Computed tomography, cervical spine; with contrast material"
    props = {parts(p["part"])["code"]: parts(p["part"])["value"] for p in params_named(body, "property")}
    assert props["modality"] == "CT"
    assert props["contrast"] == "with"
    assert props["body-region"] == "cervical"
    assert props["service-component"] == "complete"
    assert props["modifier"] is False
    assert props["kind"] == "code"


@pytest.mark.parametrize("method", METHODS)
def test_lookup_property_filter_returns_only_asked_properties(client, method):
    body = call(
        client, method, "/CodeSystem/$lookup",
        [("system", CPT), ("code", "62284"), ("property", "modality")],
    ).get_json()  # fmt: skip
    codes = [parts(p["part"])["code"] for p in params_named(body, "property")]
    # 62284 is "myelography and/or computed tomography": two modality values.
    assert codes == ["modality", "modality"]
    values = sorted(parts(p["part"])["value"] for p in params_named(body, "property"))
    assert values == ["CT", "myelography"]


@pytest.mark.parametrize("method", METHODS)
def test_lookup_star_returns_every_property_with_descriptions(client, method):
    body = call(
        client, method, "/CodeSystem/$lookup", {"system": CPT, "code": "26", "property": "*"}
    ).get_json()
    found = {parts(p["part"])["code"]: parts(p["part"]) for p in params_named(body, "property")}
    assert found["modifier"]["value"] is True
    assert found["inactive"]["value"] is False
    assert "description" in found["modifier"]


@pytest.mark.parametrize("method", METHODS)
def test_lookup_with_coding(client, method):
    body = call(client, method, "/CodeSystem/$lookup", {"coding": {"system": HCPCS, "code": "XS"}}).get_json()
    assert param(body, "display").startswith("Separate structure")


@pytest.mark.parametrize("method", METHODS)
def test_lookup_cpt_expression_is_marked_modified(client, method):
    body = call(client, method, "/CodeSystem/$lookup", {"system": CPT, "code": "72126:26"}).get_json()
    assert param(body, "code") == "72126:26"
    props = {parts(p["part"])["code"]: parts(p["part"])["value"] for p in params_named(body, "property")}
    assert props["modified"] is True


@pytest.mark.parametrize("method", METHODS)
def test_unknown_code_is_404_naming_system_and_version(client, method):
    response = call(client, method, "/CodeSystem/$lookup", {"system": CPT, "code": "99999"})
    assert response.status_code == 404
    outcome = fhir_valid(response.get_json())
    assert outcome["resourceType"] == "OperationOutcome"
    text = outcome["issue"][0]["details"]["text"]
    assert "'99999'" in text and CPT in text and "'2026'" in text
    assert issue_codes(outcome)[0][:2] == ("error", "not-found")


@pytest.mark.parametrize("method", METHODS)
def test_unknown_system_is_404_naming_it(client, method):
    response = call(client, method, "/CodeSystem/$lookup", {"system": "http://example.org/nope", "code": "1"})
    assert response.status_code == 404
    assert "http://example.org/nope" in response.get_json()["issue"][0]["details"]["text"]


@pytest.mark.parametrize("method", METHODS)
def test_unknown_version_lists_valid_versions(client, method):
    response = call(
        client, method, "/CodeSystem/$lookup", {"system": CPT, "code": "72125", "version": "1999"}
    )
    assert response.status_code == 404
    assert "Valid versions: [2026]" in response.get_json()["issue"][0]["details"]["text"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("missing", ["code", "system"])
def test_missing_parameter_is_400(client, method, missing):
    params = {"system": CPT, "code": "72125"}
    del params[missing]
    response = call(client, method, "/CodeSystem/$lookup", params)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [missing]


def test_unknown_instance_is_404(client):
    response = client.get("/CodeSystem/nope/$lookup?code=72125")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_lookup_on_hierarchy_reports_parent_child_and_designations(tmp_path, synthetic_dir):
    from terminology import create_app

    client = create_app({"CONTENT_DIRS": [str(synthetic_dir)]}).test_client()
    url = "http://example.org/fhir/CodeSystem/synthetic"
    body = client.get(f"/CodeSystem/$lookup?system={url}&code=zz-parent").get_json()
    props = [parts(p["part"]) for p in params_named(body, "property")]
    assert {"code": "child", "value": "zz-child"} in [{k: p[k] for k in ("code", "value")} for p in props]
    designations = [parts(d["part"]) for d in params_named(body, "designation")]
    # The display comes first as the preferred designation (tx.fhir.org), then the concept's own.
    preferred = {"system": "http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra", "code": "preferredForLanguage"}
    assert [{k: v for k, v in d.get("use", {}).items() if k != "display"} for d in designations[:1]] == [preferred]
    assert designations[0]["value"] == "Synthetic parent concept"
    assert designations[1:] == [{"language": "en", "value": "Synthetic parent (short)"}]
    child = client.get(f"/CodeSystem/$lookup?system={url}&code=zz-child&property=parent").get_json()
    assert [parts(p["part"])["value"] for p in params_named(child, "property")] == ["zz-parent"]
