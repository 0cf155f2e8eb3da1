"""Test helpers: call an operation by GET or POST alike, and check shapes with fhir.resources."""

from __future__ import annotations

from urllib.parse import urlencode

from fhir.resources.R4B import get_fhir_model_class

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOINC = "http://loinc.org"
BASE = "https://terminology.example.org/fhir"
FHIR_JSON = "application/fhir+json"


def fhir_valid(resource: dict) -> dict:
    """Validate a response body against its fhir.resources R4B model and return it."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def _parameter(name: str, value) -> dict:
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, dict) and "resourceType" in value:
        return {"name": name, "resource": value}
    if isinstance(value, dict) and ("coding" in value or "text" in value):
        return {"name": name, "valueCodeableConcept": value}
    if isinstance(value, dict):
        return {"name": name, "valueCoding": value}
    return {"name": name, "valueString": value}


def as_parameters(params: dict | list) -> dict:
    """Build a Parameters body from a mapping (or list of pairs) of plain values."""
    items = params.items() if isinstance(params, dict) else params
    return {"resourceType": "Parameters", "parameter": [_parameter(k, v) for k, v in items]}


def as_query(params: dict | list) -> str:
    """Build a query string; a Coding is written ``system|code``."""
    items = params.items() if isinstance(params, dict) else params
    pairs = []
    for key, value in items:
        if isinstance(value, dict):
            value = f"{value.get('system', '')}|{value['code']}"
        elif isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((key, str(value)))
    return urlencode(pairs)


def call(client, method: str, path: str, params: dict | list):
    """Call an operation with GET (query string) or POST (Parameters body)."""
    if method == "GET":
        return client.get(f"{path}?{as_query(params)}")
    return client.post(path, json=as_parameters(params), content_type=FHIR_JSON)


def param(body: dict, name: str):
    """Return the value[x] of the first parameter called ``name`` (or None)."""
    for entry in body.get("parameter", []):
        if entry["name"] == name:
            if "resource" in entry:
                return entry["resource"]
            if "part" in entry:
                return entry["part"]
            return next(v for k, v in entry.items() if k.startswith("value"))
    return None


def params_named(body: dict, name: str) -> list[dict]:
    """Return every parameter entry called ``name``."""
    return [p for p in body.get("parameter", []) if p["name"] == name]


def parts(entry_parts: list[dict]) -> dict:
    """Turn a list of parts into {name: value} (first value wins)."""
    result: dict = {}
    for part in entry_parts:
        value = part.get("part") or next((v for k, v in part.items() if k.startswith("value")), None)
        result.setdefault(part["name"], value)
    return result


def issue_codes(outcome: dict) -> list[tuple[str, str, str | None]]:
    """Return (severity, code, tx-issue-type code) for each issue of an OperationOutcome."""
    result = []
    for issue in outcome["issue"]:
        coding = issue.get("details", {}).get("coding", [{}])
        result.append((issue["severity"], issue["code"], coding[0].get("code")))
    return result


SERVICE_DAY = "2026-07-15"  # the date of service of the synthetic orders and claims


def service_request(code: str, order_id: str | None = None, system: str = CPT, **extra) -> dict:
    """Return a draft ServiceRequest for one code on SERVICE_DAY (``extra`` adds or replaces elements)."""
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]},
        "occurrenceDateTime": SERVICE_DAY,
    }
    if order_id:
        resource["id"] = order_id
    resource.update(extra)
    return resource


def collection(*resources: dict) -> dict:
    """Return a collection Bundle of the resources."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
