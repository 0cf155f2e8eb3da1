"""Request limits: JSON nesting depth, resource types in incoming Bundles, lines per claim, batch work."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminology import create_app
from terminology.errors import InvalidRequest
from tests.helpers import CPT, FHIR_JSON, collection, fhir_valid, service_request

DAY = "2026-07-15"
SIGN = "/cds-services/bundling-order-sign"


def post_raw(client, path: str, text: str):
    response = client.post(path, data=text, content_type=FHIR_JSON)
    assert response.status_code < 500, response.get_data(as_text=True)
    return response


def issue_of(response) -> dict:
    return fhir_valid(response.get_json())["issue"][0]


def item(sequence: int, code: str = "72125") -> dict:
    return {"name": "item", "part": [{"name": "sequence", "valuePositiveInt": sequence},
                                     {"name": "code", "valueCoding": {"system": CPT, "code": code}}]}  # fmt: skip


def items_body(count: int) -> dict:
    return {"resourceType": "Parameters",
            "parameter": [{"name": "date", "valueDate": DAY}, *(item(i + 1) for i in range(count))]}  # fmt: skip


def order(code: str = "72125", **extra) -> dict:
    return service_request(code, **extra)


bundle = collection


def hook(draft_orders: dict) -> dict:
    context = {"userId": "Practitioner/1", "patientId": "p", "draftOrders": draft_orders}
    return {"hook": "order-sign", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context}


# Nesting deeper than the limit: 400 naming the element, whatever the operation.


def nested_parts(levels: int) -> str:
    inner = '{"name":"code","valueCode":"72125"}'
    return ('{"resourceType":"Parameters","parameter":[' + '{"name":"p","part":[' * levels + inner
            + "]}" * levels + "]}")  # fmt: skip


def nested_validations(levels: int) -> dict:
    body: dict = {"resourceType": "Parameters", "parameter": []}
    for _ in range(levels):
        body = {"resourceType": "Parameters", "parameter": [{"name": "validation", "resource": body}]}
    return body


def nested_bundles(levels: int) -> dict:
    body = bundle(order())
    for _ in range(levels):
        body = bundle(body)
    return body


@pytest.mark.parametrize(
    ("path", "text", "element"),
    [
        ("/CodeSystem/$lookup", nested_parts(500), "Parameters.parameter[0].part[0].part[0]"),
        ("/$bundling-check", nested_parts(500), "Parameters.parameter[0].part[0].part[0]"),
        ("/ValueSet/$batch-validate-code", json.dumps(nested_validations(90)), "Parameters.parameter[0].resource"),
        ("/$bundling-check", json.dumps({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": nested_bundles(60)}]}), "Parameters.parameter[0].resource.entry[0]"),
        ("/$order-to-charge", json.dumps(nested_bundles(60)), "Bundle.entry[0].resource.entry[0]"),
        (SIGN, json.dumps(hook(nested_bundles(60))), "$.context.draftOrders.entry[0]"),
    ],
)  # fmt: skip
def test_too_deep_json_is_400_naming_the_element(client, path, text, element):
    response = post_raw(client, path, text)
    assert response.status_code == 400
    issue = issue_of(response)
    assert issue["expression"][0].startswith(element)
    assert "nested deeper than 100 levels" in issue["details"]["text"]


def test_nesting_within_the_limit_is_read_as_usual(client):
    # 40 Bundles deep is about 120 levels of JSON: refused; 25 (about 75 levels) is read and checked.
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": nested_bundles(25)}]}
    assert post_raw(client, "/$bundling-check", json.dumps(body)).status_code in (200, 400, 422)
    assert issue_of(post_raw(client, "/$bundling-check", json.dumps(body))).get("code") != "exception"


def test_depth_check_counts_objects_and_arrays_only():
    from terminology.fhir.input_limits import check_json_depth

    check_json_depth({"a": [1]}, b'{"a":[1]}', 2)
    check_json_depth("[[[", b'"[[["', 1)  # a string full of brackets is not nested
    with pytest.raises(InvalidRequest) as refused:
        check_json_depth({"a": [[1]], "b": 2}, b'{"a":[[1]],"b":2}', 2)
    assert refused.value.expression == ["$.a[0]"]


def json_depth(value: object) -> int:
    """Depth by definition: a scalar is 0, a container one more than its deepest child."""
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


# Strings full of what could confuse a measure of the text: brackets, quotes and backslashes.
_tricky_text = st.text(alphabet='{}[]"\\ab\u00e9\n/', max_size=8)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky_text, inner, max_size=4),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(document=_json_values, limit=st.integers(min_value=1, max_value=12))
def test_depth_measured_on_the_text_is_the_depth_of_the_document(document, limit):
    from terminology.fhir.input_limits import deeper_than

    for text in (json.dumps(document), json.dumps(document, ensure_ascii=False, indent=1)):
        assert deeper_than(text.encode(), limit) is (json_depth(document) > limit)


def test_depth_of_wide_or_tall_documents():
    from terminology.fhir.input_limits import deeper_than

    wide = json.dumps([{"a": [{"b": "}]"}]} for _ in range(500)]).encode()  # depth 4, 1500 containers
    assert not deeper_than(wide, 4) and deeper_than(wide, 3)
    tall = nested_validations(40)  # three levels a Parameters: 122
    assert json_depth(tall) == 122
    assert deeper_than(json.dumps(tall).encode(), 121) and not deeper_than(json.dumps(tall).encode(), 122)
    siblings = ("[" + "[],[" * 101 + "]" * 102).encode()  # depth 102 with no 101 brackets in a row
    assert deeper_than(siblings, 101) and not deeper_than(siblings, 102)


# resourceType inside a Bundle: unknown or not a string is 4xx naming it, never 500.


@pytest.mark.parametrize("resource_type", ["Foo", 1, None, ["ServiceRequest"], {"x": 1}, "Address"])
def test_bad_resource_types_in_bundles_are_refused_naming_the_element(client, resource_type):
    inner = {"resourceType": resource_type, "id": "x"}
    claim_bundle = bundle(order(), inner)
    checks = [
        ("/$bundling-check", {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": claim_bundle}]},
         422, "Bundle.entry[1].resource.resourceType"),
        ("/$order-to-charge", claim_bundle, 422, "Bundle.entry[1].resource.resourceType"),
        (SIGN, hook(claim_bundle), 400, "context.draftOrders.entry[1].resource.resourceType"),
    ]  # fmt: skip
    for path, body, status, expression in checks:
        response = post_raw(client, path, json.dumps(body))
        assert response.status_code == status, (path, response.get_data(as_text=True))
        assert issue_of(response)["expression"] == [expression], path


@pytest.mark.parametrize(("resource_type", "said"), [(1, "not a number"), (None, "not null"), (True, "not a boolean"),
                                                    (["x"], "not an array"), ("Foo", "'Foo' is not a FHIR R4")])  # fmt: skip
def test_a_bad_resource_type_is_named_for_what_it_is(client, resource_type, said):
    response = post_raw(client, "/$order-to-charge", json.dumps(bundle({"resourceType": resource_type})))
    assert said in issue_of(response)["details"]["text"]


def test_a_resource_type_deep_inside_is_checked_too(client):
    contained = order(contained=[{"resourceType": "NotAType", "id": "c"}])
    response = post_raw(client, "/$order-to-charge", json.dumps(bundle(contained)))
    assert response.status_code == 422
    assert issue_of(response)["expression"] == ["Bundle.entry[0].resource.contained[0].resourceType"]


# Lines per claim: 422 too-costly before anything costly runs.


@pytest.fixture(scope="module")
def small_app():
    return create_app({"TESTING": True, "ACCESS_LOG": False, "MAX_CLAIM_LINES": 3, "BATCH_WORK_LIMIT": 20})


def claim(count: int) -> dict:
    return {
        "resourceType": "Claim", "status": "active", "use": "claim", "created": DAY,
        "type": {"coding": [{"code": "professional"}]}, "patient": {"reference": "Patient/p"},
        "provider": {"reference": "Organization/o"}, "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c"}}],
        "item": [{"sequence": i + 1, "productOrService": {"coding": [{"system": CPT, "code": "72125"}]},
                  "servicedDate": DAY} for i in range(count)],
    }  # fmt: skip


def as_resource(resource: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": resource}]}


@pytest.mark.parametrize(
    ("path", "allowed", "refused"),
    [
        ("/$bundling-check", items_body(3), items_body(4)),  # the typed fast reader
        ("/$bundling-check", {**items_body(3), "id": "x"}, {**items_body(4), "meta": {"tag": [{"code": "general"}]}}),
        ("/$bundling-check", as_resource(claim(3)), as_resource(claim(4))),
        ("/$bundling-check", as_resource(bundle(order(), claim(2))), as_resource(bundle(order(), claim(3)))),
        ("/$order-to-charge", bundle(*[order()] * 3), bundle(*[order()] * 4)),
        (SIGN, hook(bundle(*[order()] * 3)), hook(bundle(*[order()] * 4))),
    ],
)  # fmt: skip
def test_lines_per_claim_are_capped(small_app, path, allowed, refused):
    client = small_app.test_client()
    assert post_raw(client, path, json.dumps(allowed)).status_code == 200
    response = post_raw(client, path, json.dumps(refused))
    assert response.status_code == 422
    issue = issue_of(response)
    assert issue["code"] == "too-costly" and "at most 3" in issue["details"]["text"]


def test_the_cap_comes_before_validation(small_app):
    invalid = claim(50)
    del invalid["patient"]  # a required element: fhir.resources would refuse it, but only later
    response = post_raw(small_app.test_client(), "/$bundling-check", json.dumps(as_resource(invalid)))
    assert response.status_code == 422 and issue_of(response)["code"] == "too-costly"


def test_default_cap_refuses_a_1200_item_check_at_once(client):
    response = post_raw(client, "/$bundling-check", json.dumps(items_body(1200)))
    assert response.status_code == 422 and issue_of(response)["code"] == "too-costly"


# The work of one batch is counted before any entry runs.


def test_batch_work_is_capped_before_anything_runs(small_app, tmp_path):
    client = small_app.test_client()
    check = {"request": {"method": "POST", "url": "$bundling-check"}, "resource": items_body(3)}
    lookup = {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={CPT}&code=72125"}}
    within = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [check] * 4 + [lookup] * 4,
    }  # 4x(1+3) + 4 = 20
    assert post_raw(client, "/", json.dumps(within)).status_code == 200
    over = {"resourceType": "Bundle", "type": "batch", "entry": [check] * 4 + [lookup] * 5}
    response = post_raw(client, "/", json.dumps(over))
    assert response.status_code == 422
    issue = issue_of(response)
    assert issue["code"] == "too-costly" and "21 units of work" in issue["details"]["text"]


def test_work_counts_lines_validations_and_large_claims_by_their_pairs():
    from terminology.fhir.input_limits import request_lines, request_work

    assert request_lines(items_body(7)) == 7
    assert request_lines(as_resource(bundle(order(), claim(5), {"resourceType": "ChargeItem"}))) == 7
    assert request_lines(hook(bundle(order(), order()))) == 2
    assert request_lines({"resourceType": ["x"]}) == 0 and request_lines("text") == 0
    validations = {"resourceType": "Parameters", "parameter": [{"name": "validation", "resource": {}}] * 4}
    assert request_work(validations) == 4
    assert request_work(items_body(50)) == 50
    assert request_work(items_body(300)) == 300 * 300 // 50


# Search paging parameters with absurd values are 400 or clamped, never 500.


@pytest.mark.parametrize("value", ["9" * 5000, "²", "1" + "0" * 20])
def test_huge_or_odd_count_is_never_a_500(client, value):
    response = client.get("/CodeSystem", query_string={"_count": value})
    assert response.status_code in (200, 400)
    fhir_valid(response.get_json())
