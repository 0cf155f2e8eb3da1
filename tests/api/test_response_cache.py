"""The response cache in front of Flask: what is replayed, what never is, and what a hit still does."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from terminology import create_app
from terminology.ops.access import hash_token
from tests.helpers import BASE, CPT, fhir_valid

LOOKUP = f"/CodeSystem/$lookup?system={CPT}&code=72126"
GET_REQUESTS = [
    LOOKUP,
    f"/CodeSystem/$lookup?system={CPT}&code=99999",  # 404, the caller's mistake: replayed too
    f"/CodeSystem/$validate-code?url={CPT}&code=72126:26",
    f"/CodeSystem/$validate-code?url={CPT}&code=72020&display=Nope",
    f"/ValueSet/$validate-code?url={BASE}/ValueSet/cpt-spine-all&system={CPT}&code=72127",
    "/ValueSet/cpt-spine-all/$validate-code?code=00000",
    f"/ValueSet/$expand?url={BASE}/ValueSet/cpt-spine-all&filter=cerv&count=5",
    "/ValueSet/$expand?count=5",  # 400: no value set named
]


def _app(**config):
    return create_app({"TESTING": True, "ACCESS_LOG": False, **config})


def _cache(app):
    """Return the response cache's storage (a BoundedCache: hits, misses, currsize, maxsize)."""
    return app.extensions["terminology.response_cache"].entries


def _shrink(app, budget: int, largest: int | None = None):
    """Give the response cache a smaller byte budget than whole megabytes allow; return its storage."""
    from terminology.api.response_cache import _entry_size
    from terminology.caching import BoundedCache

    middleware = app.extensions["terminology.response_cache"]
    middleware.entries = BoundedCache("responses", budget, sizeof=_entry_size, largest=largest or budget)
    return middleware.entries


def _same_answer(first, second) -> None:
    assert second.status_code == first.status_code
    assert second.get_data() == first.get_data()
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.headers["Content-Length"] == first.headers["Content-Length"]


@pytest.mark.parametrize("url", GET_REQUESTS)
def test_a_repeated_get_is_replayed_byte_for_byte(url):
    app = _app()
    client = app.test_client()
    first, second = client.get(url), client.get(url)
    _same_answer(first, second)
    fhir_valid(second.get_json())
    assert (_cache(app).hits, _cache(app).misses) == (1, 1)
    uncached = _app(RESPONSE_CACHE_MB=0).test_client().get(url).get_json()
    if uncached.get("resourceType") == "ValueSet":
        # Each expansion is produced afresh: its own identifier and timestamp.
        for answer in (uncached, second_json := second.get_json()):
            answer["expansion"].pop("identifier")
            answer["expansion"].pop("timestamp")
        assert uncached == second_json
    else:
        assert uncached == second.get_json()


def test_each_replay_gets_its_own_request_id_and_echoes_the_callers():
    client = _app().test_client()
    first, second = client.get(LOOKUP), client.get(LOOKUP)
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    third = client.get(LOOKUP, headers={"X-Request-Id": "order-42"})
    assert third.headers["X-Request-Id"] == "order-42"
    assert third.headers.getlist("X-Request-Id") == ["order-42"]


def test_a_replay_is_logged_and_counted_like_any_request(capsys):
    app = create_app({"TESTING": True})
    client = app.test_client()
    capsys.readouterr()
    client.get(LOOKUP)
    client.get(LOOKUP, headers={"X-Request-Id": "again-1"})
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line.get("cached", False) for line in lines] == [False, True]
    replay = lines[1]
    assert replay["operation"] == "CodeSystem/$lookup"
    assert (replay["method"], replay["path"], replay["status"]) == ("GET", "/CodeSystem/$lookup", 200)
    assert replay["request_id"] == "again-1"
    samples = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        for s in family.samples
        if s.name == "terminology_requests_total"
    }
    assert samples[(("operation", "CodeSystem/$lookup"), ("status", "200"))] == 2


def test_requests_that_differ_in_format_or_origin_are_kept_apart():
    app = _app(CORS_ORIGINS="https://ehr.test.invalid")
    client = app.test_client()
    plain = client.get(LOOKUP, headers={"Accept": "application/json"})
    fhir = client.get(LOOKUP, headers={"Accept": "application/fhir+json"})
    assert plain.headers["Content-Type"].startswith("application/json")
    assert fhir.headers["Content-Type"].startswith("application/fhir+json")
    pretty = client.get(LOOKUP + "&_pretty=true")
    assert b"\n" in pretty.get_data()
    allowed = client.get(LOOKUP, headers={"Origin": "https://ehr.test.invalid"})
    other = client.get(LOOKUP, headers={"Origin": "https://elsewhere.test.invalid"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ehr.test.invalid"
    assert "Access-Control-Allow-Origin" not in other.headers
    again = client.get(LOOKUP, headers={"Origin": "https://ehr.test.invalid"})
    assert again.headers["Access-Control-Allow-Origin"] == "https://ehr.test.invalid"
    assert _cache(app).hits == 1


def test_posts_heads_and_other_routes_are_never_kept():
    app = _app()
    client = app.test_client()
    body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": CPT}]}
    for _ in range(2):
        client.post("/CodeSystem/$validate-code", json=body, content_type="application/fhir+json")
        client.head(LOOKUP)
        client.get("/metadata")
        client.get("/CodeSystem/cpt-2026")
        client.get(f"/ConceptMap/$translate?url={BASE}/ConceptMap/cpt-combined-codes&system={CPT}&code=72125")
    assert _cache(app).hits == 0
    assert len(_cache(app)) == 0


def test_refusals_are_never_replayed():
    client = _app().test_client()
    for _ in range(2):
        assert client.get(LOOKUP, headers={"Accept": "text/html"}).status_code == 406
    assert _cache(client.application).hits == 0


def test_a_replay_still_needs_a_valid_token(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(hash_token("s3cret") + "\n")
    app = _app(AUTH_MODE="static", AUTH_TOKENS_FILE=str(tokens))
    client = app.test_client()
    granted = client.get(LOOKUP, headers={"Authorization": "Bearer s3cret"})
    assert granted.status_code == 200
    assert client.get(LOOKUP).status_code == 401
    refused = client.get(LOOKUP, headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Bearer realm="terminology"')
    again = client.get(LOOKUP, headers={"Authorization": "Bearer s3cret"})
    _same_answer(granted, again)
    assert _cache(app).hits == 1


def test_answers_are_kept_per_day(monkeypatch):
    from terminology.service import keys

    app = _app()
    client = app.test_client()
    client.get(LOOKUP)
    monkeypatch.setattr(keys, "today", lambda: __import__("datetime").date(2099, 1, 1))
    client.get(LOOKUP)
    assert (_cache(app).hits, _cache(app).misses) == (0, 2)


def test_the_byte_budget_evicts_the_least_recently_used():
    app = _app()
    client = app.test_client()
    other = f"/CodeSystem/$lookup?system={CPT}&code=72127"
    sizes = [len(_app(RESPONSE_CACHE_MB=0).test_client().get(url).get_data()) for url in (LOOKUP, other)]
    cache = _shrink(app, sum(sizes) + 2 * 600)  # room for exactly these two
    client.get(LOOKUP)
    client.get(f"/CodeSystem/$lookup?system={CPT}&code=72125")
    client.get(LOOKUP)  # a hit: LOOKUP becomes the most recent
    client.get(other)  # evicts 72125
    assert cache.currsize <= cache.maxsize
    assert len(cache) == 2
    client.get(LOOKUP)
    assert cache.hits == 2
    client.get(f"/CodeSystem/$lookup?system={CPT}&code=72125")
    assert cache.hits == 2


def test_answers_larger_than_a_sixteenth_of_the_budget_are_not_kept():
    app = _app()
    cache = _shrink(app, 16 * 1024 * 1024, largest=10)
    client = app.test_client()
    client.get(LOOKUP)
    client.get(LOOKUP)
    assert cache.hits == 0 and cache.currsize == 0


def test_budget_zero_turns_the_cache_off():
    app = _app(RESPONSE_CACHE_MB=0)
    assert "terminology.response_cache" not in app.extensions
    assert app.test_client().get(LOOKUP).status_code == 200


def test_threads_sharing_one_cache_all_get_the_same_answer():
    from concurrent.futures import ThreadPoolExecutor

    app = _app()
    cache = _shrink(app, 20_000)  # small: the threads keep evicting each other's entries
    urls = [f"/CodeSystem/$lookup?system={CPT}&code={code}" for code in ("72125", "72126", "72127", "99999")]
    expected = {url: _app(RESPONSE_CACHE_MB=0).test_client().get(url).get_data() for url in urls}

    def fetch(n: int):
        url = urls[n % len(urls)]
        return url, app.test_client().get(url).get_data()

    with ThreadPoolExecutor(max_workers=8) as pool:
        for url, body in pool.map(fetch, range(400)):
            assert body == expected[url]
    assert cache.currsize <= cache.maxsize
