"""Tests for the per-request JSON log line, the request id and GET /metrics."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from terminology import create_app
from terminology.ops.telemetry import operation_name

LOOKUP = "/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=72125"


def _log_lines(capsys) -> list[dict]:
    return [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def _samples(body: str) -> dict:
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("/CodeSystem/$lookup", "CodeSystem/$lookup"),
        ("/CodeSystem/<resource_id>/$lookup", "CodeSystem/$lookup"),
        ("/ValueSet/<resource_id>", "ValueSet/read"),
        ("/ConceptMap", "ConceptMap/search"),
        ("/metadata", "metadata"),
        ("/$versions", "$versions"),
        ("/", "root"),
    ],
)
def test_operation_names_have_no_ids(rule, expected):
    assert operation_name(rule) == expected


def test_each_request_logs_one_json_line(capsys):
    client = create_app({"TESTING": True}).test_client()
    capsys.readouterr()
    response = client.get(LOOKUP, headers={"X-Request-Id": "req-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "req-42"
    [entry] = _log_lines(capsys)
    assert entry["method"] == "GET"
    assert entry["path"] == "/CodeSystem/$lookup"
    assert entry["operation"] == "CodeSystem/$lookup"
    assert entry["status"] == 200
    assert entry["request_id"] == "req-42"
    assert entry["duration_ms"] >= 0
    assert entry["time"].endswith("+00:00")


def test_request_id_is_generated_when_missing_or_unsafe(capsys):
    client = create_app({"TESTING": True}).test_client()
    capsys.readouterr()
    first = client.get("/CodeSystem/ZZ001").headers["X-Request-Id"]
    second = client.get("/metadata", headers={"X-Request-Id": 'bad"id\twith spaces'}).headers["X-Request-Id"]
    assert len(first) == 32 and len(second) == 32 and first != second
    entries = _log_lines(capsys)
    assert [e["request_id"] for e in entries] == [first, second]
    assert [(e["operation"], e["status"]) for e in entries] == [("CodeSystem/read", 404), ("metadata", 200)]


def test_errors_and_unknown_paths_are_logged(capsys):
    client = create_app({"TESTING": True}).test_client()
    capsys.readouterr()
    client.get("/no/such/path")
    client.get("/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt")
    entries = _log_lines(capsys)
    assert [(e["operation"], e["status"]) for e in entries] == [
        ("unmatched", 404),
        ("CodeSystem/$lookup", 400),
    ]


def test_access_log_can_be_switched_off(capsys):
    client = create_app({"TESTING": True, "ACCESS_LOG": False}).test_client()
    capsys.readouterr()
    response = client.get("/livez")
    assert response.headers["X-Request-Id"]
    assert _log_lines(capsys) == []


def test_metrics_count_requests_per_operation_and_status():
    client = create_app({"TESTING": True, "ACCESS_LOG": False}).test_client()
    for _ in range(3):
        assert client.get(LOOKUP).status_code == 200
    assert (
        client.get("/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=ZZ001").status_code == 404
    )
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = _samples(response.get_data(as_text=True))
    ok = (("operation", "CodeSystem/$lookup"), ("status", "200"))
    missing = (("operation", "CodeSystem/$lookup"), ("status", "404"))
    assert samples[("terminology_requests_total", ok)] == 3
    assert samples[("terminology_requests_total", missing)] == 1
    assert samples[("terminology_request_duration_seconds_count", ok)] == 3
    assert samples[("terminology_request_duration_seconds_bucket", tuple(sorted((*ok, ("le", "+Inf")))))] == 3


def test_metrics_label_the_loaded_content_versions():
    app = create_app({"TESTING": True, "ACCESS_LOG": False})
    samples = _samples(app.test_client().get("/metrics").get_data(as_text=True))
    registry = app.extensions["terminology.registry"]
    expected = {
        (cs.resource_type, cs.url, cs.version or "")
        for kind in ("CodeSystem", "ValueSet", "ConceptMap")
        for cs in registry.resources(kind)
    }
    found = {
        (dict(labels)["type"], dict(labels)["url"], dict(labels)["version"])
        for (name, labels), value in samples.items()
        if name == "terminology_content_info" and value == 1
    }
    assert found == expected
    assert ("CodeSystem", "http://www.ama-assn.org/go/cpt", "2026") in found
    assert any(name == "terminology_build_info" for name, _ in samples)


def test_metrics_can_be_switched_off():
    client = create_app({"TESTING": True, "ACCESS_LOG": False, "METRICS": False}).test_client()
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"
