"""The service's answer cache: LRU behaviour, never caching errors, same answers warm and cold."""

from __future__ import annotations

import pytest

from terminology import create_app
from terminology.caching import BoundedCache
from tests.helpers import BASE, CPT, as_parameters


def test_least_recently_used_entries_are_evicted():
    cache = BoundedCache("test", 2)
    calls = []

    def compute(name):
        return lambda: calls.append(name) or {"name": name}

    assert cache.get_or_compute("a", compute("a")) == {"name": "a"}
    cache.get_or_compute("b", compute("b"))
    cache.get_or_compute("a", compute("a"))  # hit: a becomes the most recent
    cache.get_or_compute("c", compute("c"))  # evicts b
    cache.get_or_compute("b", compute("b"))
    assert calls == ["a", "b", "c", "b"]
    assert (cache.hits, cache.misses) == (1, 4)


def test_errors_and_unkeyed_calls_are_never_cached():
    cache = BoundedCache("test", 10)
    with pytest.raises(ValueError):
        cache.get_or_compute("k", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert cache.get_or_compute("k", lambda: {"ok": True}) == {"ok": True}
    calls = []
    cache.get_or_compute(None, lambda: calls.append(1) or {})
    cache.get_or_compute(None, lambda: calls.append(1) or {})
    assert calls == [1, 1]


def test_size_zero_turns_the_cache_off():
    cache = BoundedCache("test", 0)
    calls = []
    for _ in range(3):
        cache.get_or_compute("k", lambda: calls.append(1) or {})
    assert calls == [1, 1, 1]


REQUESTS = [
    ("GET", f"/CodeSystem/$lookup?system={CPT}&code=72126&property=modality"),
    ("GET", f"/CodeSystem/$validate-code?url={CPT}&code=72126:26"),
    ("GET", f"/CodeSystem/$validate-code?url={CPT}&code=72020&display=Spine%20X-ray"),
    ("GET", f"/ValueSet/$validate-code?url={BASE}/ValueSet/cpt-ct-cervical-spine&system={CPT}&code=72020"),
    ("GET", "/ValueSet/cpt-spine-all/$validate-code?code=72127"),
]


@pytest.mark.parametrize(("method", "url"), REQUESTS)
def test_warm_answers_equal_cold_answers(method, url):
    cached = create_app({"ACCESS_LOG": False}).test_client()
    cold = create_app({"ACCESS_LOG": False, "RESULT_CACHE_SIZE": 0}).test_client()
    first, second = cached.open(url, method=method), cached.open(url, method=method)
    assert first.get_json() == second.get_json() == cold.open(url, method=method).get_json()


def test_validations_differing_only_in_display_or_form_are_kept_apart():
    client = create_app({"ACCESS_LOG": False}).test_client()
    good = client.get(f"/CodeSystem/$validate-code?url={CPT}&code=72020").get_json()
    bad = client.get(f"/CodeSystem/$validate-code?url={CPT}&code=72020&display=Nope").get_json()
    assert good != bad
    coding = client.post(
        "/CodeSystem/$validate-code",
        json=as_parameters({"coding": {"system": CPT, "code": "00000"}}),
        content_type="application/fhir+json",
    ).get_json()
    plain = client.get(f"/CodeSystem/$validate-code?url={CPT}&code=00000").get_json()
    # The same unknown code reports different expressions (Coding.code vs code): two entries.
    assert coding != plain


def test_batch_items_share_the_cache():
    app = create_app({"ACCESS_LOG": False})
    client = app.test_client()
    body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": CPT}] + [
        {"name": "validation", "resource": as_parameters({"code": "72125"})} for _ in range(5)
    ]}  # fmt: skip
    client.post("/CodeSystem/$batch-validate-code", json=body, content_type="application/fhir+json")
    cache = app.extensions["terminology.service"].answers
    # The first item is computed (its raw JSON and its validation both remembered); four repeats.
    assert (cache.misses, cache.hits) == (2, 4)
    client.post("/CodeSystem/$batch-validate-code", json=body, content_type="application/fhir+json")
    assert (cache.misses, cache.hits) == (2, 9)


def test_repeated_batch_items_are_answered_once_per_request_even_with_the_cache_off(monkeypatch):
    from terminology.service import operations

    app = create_app({"ACCESS_LOG": False, "RESULT_CACHE_SIZE": 0})
    checked = []
    real = operations.validate_in_code_system
    monkeypatch.setattr(
        operations, "validate_in_code_system", lambda *a: checked.append(a[1].code) or real(*a)
    )
    codes = ["72125", "72125", "99999", "72125", "99999", "72126"]
    body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": CPT}] + [
        {"name": "validation", "resource": as_parameters({"code": code})} for code in codes
    ]}  # fmt: skip
    client = app.test_client()
    answers = client.post("/CodeSystem/$batch-validate-code", json=body, content_type="application/fhir+json")
    assert sorted(checked) == ["72125", "72126", "99999"]
    singles = [
        client.get(f"/CodeSystem/$validate-code?url={CPT}&code={code}").get_json() for code in codes
    ]
    assert [p["resource"] for p in answers.get_json()["parameter"]] == singles


def _batch(client, shared: list[dict], *items: dict) -> list[dict]:
    body = {
        "resourceType": "Parameters",
        "parameter": shared + [{"name": "validation", "resource": as_parameters(item)} for item in items],
    }
    response = client.post("/ValueSet/$batch-validate-code", json=body, content_type="application/fhir+json")
    assert response.status_code == 200
    return [entry["resource"] for entry in response.get_json()["parameter"]]


def _result(answer: dict):
    return next((p.get("valueBoolean") for p in answer["parameter"] if p["name"] == "result"), None)


def test_remembered_batch_items_still_depend_on_the_shared_parameters_and_the_display():
    warm = create_app({"ACCESS_LOG": False}).test_client()
    cold = create_app({"ACCESS_LOG": False, "RESULT_CACHE_SIZE": 0}).test_client()
    ct = [{"name": "url", "valueUri": f"{BASE}/ValueSet/cpt-ct-cervical-spine"}]
    xray = [{"name": "url", "valueUri": f"{BASE}/ValueSet/cpt-spine-all"}]
    item = {"system": CPT, "code": "72020"}
    named = {"system": CPT, "code": "72020", "display": "Not the display"}
    for client in (warm, warm, cold):
        assert [_result(a) for a in _batch(client, ct, item)] == [False]
        assert [_result(a) for a in _batch(client, xray, item, named)] == [True, False]
    assert _batch(warm, xray, item, named) == _batch(cold, xray, item, named)


def test_batch_items_sent_as_parts_are_answered_alike():
    client = create_app({"ACCESS_LOG": False}).test_client()
    parts = [{"name": "system", "valueUri": CPT}, {"name": "code", "valueCode": "72126"}]
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": CPT},
            {"name": "validation", "part": parts},
            {"name": "validation", "resource": {"resourceType": "Parameters", "parameter": parts}},
        ],
    }
    answers = client.post(
        "/CodeSystem/$batch-validate-code", json=body, content_type="application/fhir+json"
    ).get_json()["parameter"]
    assert answers[0]["resource"] == answers[1]["resource"]
