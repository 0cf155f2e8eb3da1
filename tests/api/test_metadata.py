"""CapabilityStatement, TerminologyCapabilities and $versions."""

from __future__ import annotations

from tests.helpers import CPT, HCPCS, LOINC, fhir_valid


def test_capability_statement_follows_the_terminology_server_conventions(client):
    statement = fhir_valid(client.get("/metadata").get_json())
    assert statement["instantiates"] == ["http://hl7.org/fhir/CapabilityStatement/terminology-server"]
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]
    assert statement["kind"] == "instance" and statement["status"] == "active"
    assert " " not in statement["name"]
    rest = statement["rest"][0]
    assert rest["mode"] == "server" and "security" in rest
    resources = {r["type"]: r for r in rest["resource"]}
    assert {o["name"] for o in resources["CodeSystem"]["operation"]} >= {"lookup", "validate-code"}
    assert {o["name"] for o in resources["ValueSet"]["operation"]} >= {"expand", "validate-code"}
    assert {i["code"] for i in resources["ValueSet"]["interaction"]} == {"read", "search-type"}
    assert all(o["definition"].startswith("http") for r in rest["resource"] for o in r.get("operation", []))
    assert any(o["name"] == "versions" for o in rest["operation"])
    features = [
        e
        for e in statement["extension"]
        if e["url"].endswith("application-feature/StructureDefinition/feature")
    ]
    assert any(sub.get("valueCode") == "1.6.0" for f in features for sub in f["extension"])


def test_terminology_capabilities_lists_every_code_system_and_version(client):
    capabilities = fhir_valid(client.get("/metadata?mode=terminology").get_json())
    systems = {c["uri"]: [v["code"] for v in c.get("version", [])] for c in capabilities["codeSystem"]}
    ours = "https://terminology.example.org/fhir/CodeSystem"
    assert systems == {
        CPT: ["2026"],
        HCPCS: ["2026"],
        LOINC: [],
        f"{ours}/cds-override-reason": ["0.2.0"],
        f"{ours}/cpt-bundling-instructions": ["2026"],
        f"{ours}/ncci-modifier-rules": ["2026"],
    }
    names = {p["name"] for p in capabilities["expansion"]["parameter"]}
    assert names >= {
        "activeOnly", "check-system-version", "count", "displayLanguage", "excludeNested", "force-system-version",
        "includeDefinition", "includeDesignations", "offset", "property", "system-version", "tx-resource",
    }  # fmt: skip
    assert capabilities["expansion"]["hierarchical"] is True


def _feature(statement: dict, definition: str) -> object:
    for feature in statement["extension"]:
        parts = {e["url"]: e for e in feature.get("extension", [])}
        if parts.get("definition", {}).get("valueCanonical") == definition:
            return next(v for k, v in parts["value"].items() if k.startswith("value"))
    return None


def test_capability_statement_says_code_systems_are_taken_as_tx_resource(client):
    statement = client.get("/metadata").get_json()
    parameter = "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter"
    assert _feature(statement, parameter) is True
    assert _feature(statement, "http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version") == "1.6.0"


def test_security_describes_cors_and_access_control(tmp_path):
    from terminology import create_app
    from terminology.ops.access import hash_token

    tokens = tmp_path / "tokens"
    tokens.write_text(hash_token("synthetic-token") + "\n", encoding="utf-8")

    plain = create_app({"TESTING": True}).test_client().get("/metadata").get_json()
    security = fhir_valid(plain)["rest"][0]["security"]
    assert security["cors"] is False
    assert security["service"] == [{"text": "No authentication"}]
    configured = create_app({
        "TESTING": True, "CORS_ORIGINS": "https://ehr.example.org", "AUTH_MODE": "static",
        "AUTH_TOKENS_FILE": str(tokens), "CDS_JWKS": "https://ehr.example.org/jwks.json",
        "CDS_ISSUERS": "https://ehr.example.org",
    }).test_client()  # fmt: skip
    security = fhir_valid(configured.get("/metadata").get_json())["rest"][0]["security"]
    assert security["cors"] is True
    assert security["service"] == [{"text": "Bearer tokens issued by the operator"}]
    assert "/cds-services" in security["description"] and "https://ehr.example.org" in security["description"]


def test_versions_operation(client):
    body = fhir_valid(client.get("/$versions").get_json())
    assert body["parameter"][0] == {"name": "version", "valueCode": "4.0"}


def test_the_base_url_points_at_the_metadata(client):
    response = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["metadata"] == "http://localhost/metadata"
    assert body["terminologyCapabilities"] == "http://localhost/metadata?mode=terminology"
    # POST / is still the batch endpoint; other methods still say what is allowed.
    assert client.put("/").status_code == 405
