"""Bounded caches: entry and byte bounds, oversized entries, and that callers' input cannot grow a worker."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from terminology import create_app
from terminology.caching import BoundedCache, approximate_entry_size, cache_totals
from tests.helpers import BASE, CPT, as_parameters


def test_a_byte_bound_evicts_the_least_recently_used():
    cache = BoundedCache("test-bytes", 100, sizeof=lambda key, value: len(value))
    cache.put("a", "x" * 40)
    cache.put("b", "x" * 40)
    assert cache.lookup("a") is not None  # a becomes the most recent
    cache.put("c", "x" * 40)  # 120 > 100: b goes
    assert cache.lookup("b") is None and cache.lookup("a") and cache.lookup("c")
    assert cache.currsize <= 100 and cache.evictions == 1


def test_entries_larger_than_the_largest_are_answered_but_not_kept():
    cache = BoundedCache("test-largest", 1000, sizeof=lambda key, value: len(value), largest=10)
    assert cache.get_or_compute("k", lambda: "x" * 50) == "x" * 50
    assert len(cache) == 0 and cache.currsize == 0


def test_a_byte_bound_can_also_bound_the_entries():
    cache = BoundedCache("test-entries", 10_000, sizeof=approximate_entry_size, max_entries=3)
    for n in range(10):
        cache.put(n, "v")
    assert sorted(cache) == [7, 8, 9]


def test_none_values_are_cached_and_none_keys_are_not():
    cache = BoundedCache("test-none", 10)
    calls = []
    for _ in range(2):
        cache.get_or_compute("k", lambda: calls.append(1))
        cache.get_or_compute(None, lambda: calls.append(2))
    assert calls == [1, 2, 2] and cache.hits == 1


def test_totals_add_up_the_live_caches_of_one_name():
    first, second = BoundedCache("test-totals", 10), BoundedCache("test-totals", 10)
    first.get_or_compute("a", dict)
    second.get_or_compute("a", dict)
    second.get_or_compute("a", dict)
    (totals,) = [t for t in cache_totals() if t.name == "test-totals"]
    assert (totals.hits, totals.misses, totals.size, totals.maxsize) == (1, 2, 2, 20)


def test_huge_echoed_displays_do_not_grow_the_answer_cache():
    # Issue 14 item 8: unique multi-MB displays were each kept; now answers over a sixteenth of the
    # budget are not kept, and the budget bounds the rest.
    app = create_app({"TESTING": True, "ACCESS_LOG": False, "RESULT_CACHE_MB": 1})
    client = app.test_client()
    answers = app.extensions["terminology.service"].answers
    for n in range(20):
        display = f"synthetic display {n} " + "x" * 200_000
        body = as_parameters({"url": CPT, "code": "72020", "display": display})
        response = client.post("/CodeSystem/$validate-code", json=body, content_type="application/fhir+json")
        assert response.status_code == 200
    assert len(answers) == 0 and answers.currsize == 0
    for n in range(400):
        client.get(f"/CodeSystem/$validate-code?url={CPT}&code=72020&display=synthetic-{n}-{'y' * 2000}")
    assert 0 < answers.currsize <= answers.maxsize == 1024 * 1024
    assert answers.evictions > 0


def test_unknown_codes_in_claims_do_not_grow_the_bundling_memo():
    app = create_app({"TESTING": True, "ACCESS_LOG": False})
    checker = app.extensions["terminology.bundling"]
    client = app.test_client()
    for n in range(30):
        items = [
            {"name": "item", "part": [
                {"name": "sequence", "valueInteger": i + 1},
                {"name": "code", "valueCoding": {"system": CPT, "code": f"Z{n:03d}{i:02d}" + "9" * 50_000}},
            ]}
            for i in range(10)
        ]  # fmt: skip
        body = {"resourceType": "Parameters", "parameter": [{"name": "date", "valueDate": "2026-07-15"}, *items]}
        assert client.post("/$bundling-check", json=body).status_code == 200
    assert 0 < checker._codes.currsize <= checker._codes.maxsize
    assert checker._codes.evictions > 0


def test_version_pins_do_not_grow_the_value_set_member_cache():
    app = create_app({"TESTING": True, "ACCESS_LOG": False})
    registry = app.extensions["terminology.registry"]
    client = app.test_client()
    for n in range(50):
        url = f"/ValueSet/$expand?url={BASE}/ValueSet/cpt-spine-all&system-version=http://synthetic.test/{n}|1"
        assert client.get(url).status_code == 200
    members = registry.member_cache
    assert members.misses >= 50 and members.currsize <= members.maxsize


def test_metrics_report_each_cache():
    app = create_app({"TESTING": True, "ACCESS_LOG": False})
    client = app.test_client()
    for _ in range(2):
        client.get(f"/CodeSystem/$lookup?system={CPT}&code=72126")
        client.get(f"/ValueSet/$validate-code?url={BASE}/ValueSet/cpt-spine-all&system={CPT}&code=72127")
    families = {
        family.name: family
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
    }
    hits = {s.labels["cache"]: s.value for s in families["terminology_cache_hits"].samples}
    assert hits["responses"] >= 2
    limits = {(s.labels["cache"], s.labels["unit"]) for s in families["terminology_cache_limit"].samples}
    assert {("answers", "bytes"), ("responses", "bytes"), ("valueset-members", "bytes")} <= limits
    assert {"terminology_cache_misses", "terminology_cache_evictions", "terminology_cache_size"} <= set(families)


def test_the_readme_caches_table_names_every_cache():
    from pathlib import Path

    create_app({"TESTING": True, "ACCESS_LOG": False})  # every cache an app makes
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Caches") : readme.index("### Health, logs")]
    assert [t.name for t in cache_totals() if f"`{t.name}`" not in table] == []
