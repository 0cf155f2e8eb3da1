"""Hypothesis throws random parameters and bodies at every endpoint: never a 5xx, always FHIR JSON."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.config import bundled_content_dirs
from tests.helpers import BASE, CPT, FHIR_JSON, as_parameters, fhir_valid
from tests.regex_fixtures import (
    A40,
    PATHOLOGICAL,
    REGEX_CS,
    SYSTEM,
    TEN_KB,
    VS_BASE,
    regex_content,
    regex_value_set,
)
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
                    sent = regex_value_set("sent", pattern, prop=prop)
                    inline = [("valueSet", sent)]  # over the loaded code system
                    # Both sent as tx-resource, the value set named by url.
                    tx_resource = [("url", sent["url"]), ("tx-resource", REGEX_CS), ("tx-resource", sent)]
                    for given in (inline, tx_resource):
                        body = as_parameters([*given, ("system", SYSTEM), ("code", A40 + "!")])
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


# Batch entries with any request fields: each entry gets its own answer, the batch never fails.
ENTRY_METHODS = st.one_of(st.sampled_from(["GET", "POST", "PUT", "get", "", "OPTIONS"]), st.integers(), st.none(),
                          st.lists(st.just("GET"), max_size=2))  # fmt: skip
ENTRY_URLS = st.one_of(
    st.sampled_from([
        "http://[::1", "http://[::1]/metadata", "metrics", "livez", "readyz", "/", "//", "//CodeSystem//cpt-2026",
        "cds-services", "cds%2Dservices/bundling-order-sign/feedback", "CodeSystem/$lookup?system=%ZZ&code=1",
        f"CodeSystem/$lookup?system={CPT}&code=72125#x", "http://localhost/metadata", "https://elsewhere/x",
        "$bundling-check", "$order-to-charge", "ValueSet/$batch-validate-code", "?", "#", "../metadata",
    ]),
    st.text(max_size=40),
    st.integers(),
    st.none(),
)  # fmt: skip
ENTRY = st.one_of(
    st.fixed_dictionaries(
        {"request": st.fixed_dictionaries({"method": ENTRY_METHODS, "url": ENTRY_URLS})},
        optional={"resource": st.one_of(BODIES, JSON_VALUES)},
    ),
    JSON_VALUES,
)


@FUZZ
@given(entries=st.lists(ENTRY, max_size=5))
def test_random_batch_entries(client, entries):
    response = client.post("/", data=json.dumps({"resourceType": "Bundle", "type": "batch", "entry": entries}),
                           content_type=FHIR_JSON)  # fmt: skip
    check(response)
    if response.status_code == 200:
        assert len(response.get_json()["entry"]) == len(entries)


# Deeply nested but valid JSON of every shape that recursive code meets.
def _nested(shape: str, levels: int) -> str:
    if shape == "part":
        return ('{"resourceType":"Parameters","parameter":[' + '{"name":"p","part":[' * levels
                + '{"name":"code","valueCode":"72125"}' + "]}" * levels + "]}")  # fmt: skip
    if shape == "validation":
        return ('{"resourceType":"Parameters","parameter":['
                + '{"name":"validation","resource":{"resourceType":"Parameters","parameter":[' * levels
                + "]}}" * levels + "]}")  # fmt: skip
    if shape == "bundle":
        return ('{"resourceType":"Bundle","type":"collection","entry":['
                + '{"resource":{"resourceType":"Bundle","type":"collection","entry":[' * levels
                + "]}}" * levels + "]}")  # fmt: skip
    if shape == "hook":
        return ('{"hook":"order-sign","hookInstance":"h","context":{"userId":"u","patientId":"p","draftOrders":'
                + _nested("bundle", levels) + "}}")  # fmt: skip
    if shape == "coding":
        return ('{"resourceType":"Parameters","parameter":[{"name":"item","part":[{"name":"code","valueCoding":'
                '{"system":"s","code":"1","extension":' + "[" * levels + "]" * levels + "}}]}]}")  # fmt: skip
    return "[" * levels + "]" * levels


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    shape=st.sampled_from(["part", "validation", "bundle", "hook", "coding", "arrays"]),
    levels=st.one_of(st.integers(min_value=20, max_value=120), st.integers(min_value=120, max_value=1200)),
)
def test_deeply_nested_bodies(client, endpoint, shape, levels):
    check(client.post(endpoint, data=_nested(shape, levels), content_type=FHIR_JSON))


# Bundles whose entries carry any resourceType, to every operation that reads a Bundle.
RESOURCE_TYPES = st.one_of(
    st.sampled_from(["ServiceRequest", "Claim", "ChargeItem", "Bundle", "Foo", "Address", "", "Parameters"]),
    st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=2), st.text(max_size=12),
)  # fmt: skip
ENTRY_RESOURCE = st.fixed_dictionaries(
    {"resourceType": RESOURCE_TYPES},
    optional={"id": st.text(max_size=5), "code": JSON_VALUES, "status": st.sampled_from(["draft", 1]),
              "contained": st.lists(st.fixed_dictionaries({"resourceType": RESOURCE_TYPES}), max_size=2)},
)  # fmt: skip
RANDOM_BUNDLES = st.builds(
    lambda resources: {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    },
    st.lists(ENTRY_RESOURCE, min_size=1, max_size=4),
)


def _wrapped(endpoint: str, bundle: dict) -> dict:
    if endpoint == "/$bundling-check":
        return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle}]}
    if endpoint.startswith("/cds-services"):
        return {
            "hook": "order-sign" if "sign" in endpoint else "order-select",
            "hookInstance": "h",
            "context": {"userId": "u", "patientId": "p", "draftOrders": bundle, "selections": ["X/1"]},
        }
    return bundle  # $order-to-charge takes the Bundle as its body


@FUZZ
@given(
    endpoint=st.sampled_from(["/$bundling-check", "/$order-to-charge", "/cds-services/bundling-order-sign",
                              "/cds-services/bundling-order-select"]),
    bundle=RANDOM_BUNDLES,
)  # fmt: skip
def test_bundles_with_any_resource_types(client, endpoint, bundle):
    check(client.post(endpoint, data=json.dumps(_wrapped(endpoint, bundle)), content_type=FHIR_JSON))


# Chunked bodies, framed well or badly, sent over a raw socket to real gunicorn.
@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    with serving_process(tmp_path_factory.mktemp("fuzz-chunked"), workers=1,
                         TERMINOLOGY_ACCESS_LOG="false") as (base, _master):  # fmt: skip
        yield int(base.rsplit(":", 1)[1])


CHUNK_SIZES = st.one_of(st.none(), st.sampled_from(["zz", "-1", "ffffffffffffffff", "1;ext", "1;\x01", "0x2", "",
                                                    " 2", "2 "]))  # fmt: skip
CHUNK_ENDS = st.sampled_from([b"\r\n", b"", b"\n", b"XX"])


def _chunked(chunks: list[tuple[bytes, str | None, bytes]], final: bool) -> bytes:
    body = b""
    for data, size, end in chunks:
        body += (f"{len(data):x}" if size is None else size).encode("latin-1") + b"\r\n" + data + end
    return body + (b"0\r\n\r\n" if final else b"")


def _exchange(port: int, raw: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # no more bytes: a body cut short ends here
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.e2e
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    path=st.sampled_from(["/CodeSystem/$lookup", "/$bundling-check", "/", "/ValueSet/$expand", "/$versions",
                          "/cds-services/bundling-order-sign/feedback"]),
    chunks=st.lists(st.tuples(st.binary(max_size=12), CHUNK_SIZES, CHUNK_ENDS), max_size=3),
    final=st.booleans(),
)  # fmt: skip
def test_chunked_bodies_over_real_gunicorn(gunicorn_port, path, chunks, final):
    request = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n").encode() + _chunked(chunks, final)  # fmt: skip
    answer = _exchange(gunicorn_port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status < 500, answer
    assert (
        b"content-type: application/fhir+json" in head.lower()
        or b"content-type: application/json" in head.lower()
    )
    document = json.loads(body)
    if "resourceType" in document:
        fhir_valid(document)
