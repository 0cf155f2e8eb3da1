"""Hypothesis throws random parameters and bodies at every endpoint: never a 5xx, always FHIR JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import BASE, CPT, fhir_valid

ENDPOINTS = [
    "/CodeSystem/$lookup", "/CodeSystem/cpt-2026/$lookup", "/CodeSystem/$validate-code",
    "/CodeSystem/cpt-2026/$validate-code", "/ValueSet/$validate-code", "/ValueSet/cpt-spine-all/$validate-code",
    "/ValueSet/$expand", "/ValueSet/cpt-spine-all/$expand", "/ConceptMap/$translate",
    "/ConceptMap/cpt-combined-codes/$translate", "/CodeSystem", "/ValueSet", "/ConceptMap", "/metadata",
    "/CodeSystem/cpt-2026", "/$versions", "/", "/ValueSet/$batch-validate-code", "/CodeSystem/$batch-validate-code",
    "/$bundling-check", "/$order-to-charge", "/OperationDefinition/bundling-check", "/OperationDefinition",
    "/cds-services", "/cds-services/bundling-order-sign", "/cds-services/bundling-order-select",
    "/cds-services/bundling-order-sign/feedback", "/livez", "/readyz",
]  # fmt: skip
NAMES = [
    "code", "system", "url", "version", "display", "coding", "codeableConcept", "filter", "count", "offset",
    "activeOnly", "property", "valueSetVersion", "reverse", "targetsystem", "_summary", "_count", "_format",
    "lenient-display-validation", "includeDesignations", "system-version", "dependency", "valueSet", "name",
    "validation", "date", "item", "resource", "setting", "edition", "sequence", "modifier", "quantity",
    "servicedDate", "provider", "hook", "context", "feedback",
]  # fmt: skip
TEXT = st.one_of(
    st.sampled_from([CPT, f"{CPT}?fhir_vs", f"{BASE}/ValueSet/cpt-spine-all", "72126", "72126:26", "26:", ":",
                     "true", "-1", "1e9", "99999999999999999999999", "json", "xml", "|", "%", "*", ""]),
    st.text(max_size=30),
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT | st.just(10**30),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["system", "code", "coding", "resourceType", "x"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)
VALUE_KEYS = ["valueString", "valueCode", "valueUri", "valueBoolean", "valueInteger", "valueCoding",
              "valueCodeableConcept", "resource", "part", "valueFoo"]  # fmt: skip
PARAMETER = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(NAMES), st.integers())},
    optional={key: JSON_VALUES for key in VALUE_KEYS},
)
BODIES = st.one_of(
    st.fixed_dictionaries(
        {"resourceType": st.just("Parameters"), "parameter": st.lists(PARAMETER, max_size=6)}
    ),
    JSON_VALUES,
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def check(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype in ("application/fhir+json", "application/json")
    body = response.get_json()
    if "resourceType" in body or response.status_code >= 400:
        fhir_valid(body)
    else:
        # CDS Hooks answers (discovery, cards, feedback receipts) are plain JSON objects.
        assert isinstance(body, dict) and body


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    query=st.lists(st.tuples(st.sampled_from(NAMES), TEXT), max_size=6),
)
def test_random_query_parameters(client, endpoint, query):
    check(client.get(endpoint, query_string=query))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), body=BODIES)
def test_random_parameters_bodies(client, endpoint, body):
    check(client.post(endpoint, data=json.dumps(body), content_type="application/fhir+json"))


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/fhir+json", "application/json", "text/plain", "application/xml", ""]
    ),
)
def test_random_raw_bodies_and_content_types(client, endpoint, raw, content_type):
    check(client.post(endpoint, data=raw, content_type=content_type))


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_other_methods_never_fail_badly(client, endpoint, method):
    check(client.open(endpoint, method=method, data=b"{}"))
