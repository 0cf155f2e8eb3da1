"""Hypothesis throws random parameters and bodies at every endpoint: never a 5xx, always FHIR JSON."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.config import bundled_content_dirs
from tests.helpers import BASE, CPT, FHIR_JSON, as_parameters, fhir_valid
from tests.regex_fixtures import A40, PATHOLOGICAL, SYSTEM, TEN_KB, VS_BASE, regex_content, regex_value_set
from tests.support import serving_process, wait_for_workers

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
# Regex filter patterns: exponential for a backtracking engine, refused by RE2, or 10 kB long.
PATTERNS = [
    *PATHOLOGICAL.values(),
    "(.*a){25}",
    "(\\d+)+x",
    "(a)\\1",
    "a+(?=!)",
    "(?<=a)!",
    "a{1001}",
    "(",
    TEN_KB,
]
TEXT = st.one_of(
    st.sampled_from([CPT, f"{CPT}?fhir_vs", f"{BASE}/ValueSet/cpt-spine-all", "72126", "72126:26", "26:", ":",
                     "true", "-1", "1e9", "99999999999999999999999", "json", "xml", "|", "%", "*", "",
                     *PATTERNS[:-1]]),
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


def regex_parameters(pattern: str, prop: str, code: str) -> dict:
    """A $expand/$validate-code body whose inline value set filters CPT by ``prop`` regex ``pattern``."""
    inline = regex_value_set("fuzz", pattern, system=CPT, prop=prop)
    return as_parameters({"valueSet": inline, "system": CPT, "code": code})


@FUZZ
@given(
    endpoint=st.sampled_from(["/ValueSet/$expand", "/ValueSet/$validate-code"]),
    body=st.builds(
        regex_parameters,
        pattern=st.one_of(st.sampled_from(PATTERNS), st.text(max_size=40)),
        prop=st.sampled_from(["code", "modality", "display", "x"]),
        code=st.sampled_from(["72126", A40 + "!", ""]),
    ),
)
def test_regex_filters_in_request_value_sets(client, endpoint, body):
    check(client.post(endpoint, data=json.dumps(body), content_type="application/fhir+json"))


@pytest.mark.e2e
def test_pathological_patterns_never_get_a_worker_killed(tmp_path):
    """Real gunicorn with a short worker timeout: every pattern answers, and the same worker lives on.

    A backtracking engine would spin on these patterns until gunicorn killed the worker (a new
    pid would then answer); RE2 answers each in linear time, or refuses it with a 4xx.
    """
    loaded = [regex_value_set(name, pattern) for name, pattern in PATHOLOGICAL.items()]
    content = regex_content(tmp_path / "content", *loaded)
    dirs = ":".join([*bundled_content_dirs(), str(content)])
    env = {"TERMINOLOGY_CONTENT_DIRS": dirs, "TERMINOLOGY_TIMEOUT": "5", "TERMINOLOGY_ACCESS_LOG": "false"}
    with serving_process(tmp_path, workers=1, **env) as (base, master):
        workers = wait_for_workers(master.pid, 1)
        for operation in ("$expand", "$validate-code"):
            for pattern in PATTERNS:
                for prop in ("code", "tag"):
                    inline = regex_value_set("inline", pattern, prop=prop)
                    body = as_parameters({"valueSet": inline, "system": SYSTEM, "code": A40 + "!"})
                    response = requests.post(
                        f"{base}/ValueSet/{operation}",
                        json=body,
                        headers={"Content-Type": FHIR_JSON},
                        timeout=60,
                    )
                    assert response.status_code in (200, 422), (pattern[:40], response.text)
                    fhir_valid(response.json())
            for name in PATHOLOGICAL:
                query = {"url": f"{VS_BASE}-{name}", "system": SYSTEM, "code": A40 + "!"}
                response = requests.get(f"{base}/ValueSet/{operation}", params=query, timeout=60)
                assert response.status_code == 200, response.text
        assert requests.get(f"{base}/readyz", timeout=60).status_code == 200
        assert wait_for_workers(master.pid, 1) == workers
