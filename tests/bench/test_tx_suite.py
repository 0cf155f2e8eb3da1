"""The HL7 test-suite runner (bench.tx_suite) on a small synthetic suite, through the Flask test client."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bench.tx_suite import Runner, build_request, flask_transport, load_suites, report, write_failure
from bench.tx_versions import CONTAINS_PROPERTY, EXPANSION_PROPERTY, to_r4, to_r5
from terminology import create_app
from tests.conftest import SYNTHETIC_CS, write_resource

SYNTHETIC = SYNTHETIC_CS["url"]


def _write(directory: Path, name: str, document: dict) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return name


@pytest.fixture
def mini_suite(tmp_path) -> Path:
    """A test-cases.json in the suite's format with a few tests on the synthetic code system."""
    tests = tmp_path / "tests"
    _write(tests, "parameters-default.json", {"resourceType": "Parameters", "parameter": [
        {"name": "uuid", "valueUuid": "urn:uuid:8acdbfdc-e9d2-11ed-a05b-0242ac120003"}]})  # fmt: skip
    _write(tests, "capstmt.json", {
        "resourceType": "CapabilityStatement", "fhirVersion": "$version$", "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
    })  # fmt: skip
    _write(tests, "mini/good-request.json", {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": SYNTHETIC}, {"name": "code", "valueCode": "zz-child"}]})  # fmt: skip
    _write(tests, "mini/good-response.json", {"resourceType": "Parameters", "parameter": [
        {"name": "result", "valueBoolean": True}, {"name": "code", "valueCode": "zz-child"},
        {"name": "system", "valueUri": SYNTHETIC},
        {"name": "version", "valueString": "1.0.0", "$optional$": "warning:version"},
        {"name": "display", "valueString": "Synthetic child concept"}]})  # fmt: skip
    _write(tests, "mini/wrong-response.json", {"resourceType": "Parameters", "parameter": [
        {"name": "result", "valueBoolean": False}]})  # fmt: skip
    _write(tests, "test-cases.json", {"suites": [
        {"name": "metadata", "setup": [], "tests": [
            {"name": "metadata", "operation": "metadata", "response": "capstmt.json"}]},
        {"name": "mini", "mode": "general", "setup": [], "tests": [
            {"name": "good", "operation": "cs-validate-code", "request": "mini/good-request.json",
             "response": "mini/good-response.json"},
            {"name": "wrong", "operation": "cs-validate-code", "request": "mini/good-request.json",
             "response": "mini/wrong-response.json"},
            {"name": "with-header", "operation": "cs-validate-code", "request": "mini/good-request.json",
             "response": "mini/good-response.json", "header": {"mode": "ontoserver", "name": "X-Test", "value": "1"}},
            {"name": "tx-only", "mode": "tx.fhir.org", "operation": "cs-validate-code",
             "request": "mini/good-request.json", "response": "mini/good-response.json"}]},
        {"name": "snomed-only", "mode": "snomed", "setup": [], "tests": [
            {"name": "x", "operation": "lookup", "request": "mini/good-request.json",
             "response": "mini/good-response.json"}]},
    ]})  # fmt: skip
    return tests


@pytest.fixture
def transport(synthetic_dir):
    return flask_transport(create_app({"CONTENT_DIRS": [str(synthetic_dir)]}).test_client())


def test_modes_select_suites_and_tests(mini_suite):
    suites = load_suites(mini_suite, ["general"])
    assert [s.name for s in suites] == ["metadata", "mini"]
    assert [t.name for t in suites[1].tests] == ["good", "wrong", "with-header"]
    assert suites[1].tests[2].header is None
    assert load_suites(mini_suite, ["general", "ontoserver"])[1].tests[2].header == ("X-Test", "1")
    assert suites[1].skipped == 1
    assert [t.name for t in load_suites(mini_suite, ["general"], name_filter="goo")[0].tests] == ["good"]
    assert [s.name for s in load_suites(mini_suite, ["general", "snomed"], names=["snomed-only"])] == [
        "snomed-only"
    ]


def test_runner_passes_and_fails_by_the_suite_rules(mini_suite, transport, tmp_path):
    runner = Runner(mini_suite, transport)
    results = {suite.name: runner.run_suite(suite) for suite in load_suites(mini_suite, ["general"])}
    outcomes = {o.test.name: o for found in results.values() for o in found}
    assert outcomes["metadata"].passed, outcomes["metadata"].message
    assert outcomes["good"].passed, outcomes["good"].message
    assert not outcomes["wrong"].passed
    assert "missing name=result; unexpected name=result, name=code" in outcomes["wrong"].message
    printed = io.StringIO()
    assert report(results, "general mode, tx-resource", printed) == (3, 1)
    assert "mini      2 passed, 1 failed" in printed.getvalue()
    assert "total     3 passed, 1 failed (75.0 %)  [general mode, tx-resource]" in printed.getvalue()
    write_failure(tmp_path / "out", outcomes["wrong"])
    folder = tmp_path / "out" / "mini" / "wrong"
    assert sorted(p.name for p in folder.iterdir()) == [
        "actual.json",
        "diff.txt",
        "expected.json",
        "request.json",
    ]


def test_setup_resources_travel_as_tx_resource_in_a_post(mini_suite):
    sent = []

    def recording(method, path, headers, body):
        from bench.tx_suite import Answer

        sent.append((method, path, headers, json.loads(body) if body else None))
        return Answer(200, "application/fhir+json", b'{"resourceType": "Parameters", "parameter": []}')

    write_resource(mini_suite, "mini/cs.json", SYNTHETIC_CS)
    runner = Runner(mini_suite, recording)
    suite = load_suites(mini_suite, ["general"], names=["mini"], name_filter="good")[0]
    suite.setup = ["mini/cs.json"]
    runner.run_suite(suite)
    method, path, headers, body = sent[0]
    assert (method, path) == ("POST", "CodeSystem/$validate-code")
    assert headers["Content-Type"] == "application/fhir+json;charset=UTF-8"
    assert [p["name"] for p in body["parameter"]] == ["url", "code", "tx-resource", "uuid"]
    assert body["parameter"][2]["resource"]["url"] == SYNTHETIC


def test_primitive_parameters_go_as_a_get_except_for_expand():
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": "http://example.org/vs"}, {"name": "activeOnly", "valueBoolean": True}]}  # fmt: skip
    method, path, headers, body = build_request("validate-code", parameters, "de")
    assert (method, body) == ("GET", None)
    assert path == "ValueSet/$validate-code?url=http%3A%2F%2Fexample.org%2Fvs&activeOnly=true"
    assert headers == {"Accept": "application/fhir+json", "User-Agent": headers["User-Agent"],
                       "Accept-Language": "de"}  # fmt: skip
    assert build_request("expand", parameters, None)[0] == "POST"
    coding = {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": {"code": "a"}}]}
    assert build_request("validate-code", coding, None)[0] == "POST"


def test_r5_resources_are_sent_as_r4():
    concept_map = {
        "resourceType": "ConceptMap", "url": "http://example.org/cm", "status": "draft",
        "sourceScopeUri": "http://example.org/vs1", "targetScopeUri": "http://example.org/vs2",
        "group": [{"element": [{"code": "a", "target": [{"code": "b", "relationship": "source-is-broader-than-target"}]}],
                   "unmapped": {"mode": "fixed", "code": "x", "relationship": "related-to"}}],
    }  # fmt: skip
    r4 = to_r4(
        {"resourceType": "Parameters", "parameter": [{"name": "tx-resource", "resource": concept_map}]}
    )
    converted = r4["parameter"][0]["resource"]
    assert converted["sourceUri"] == "http://example.org/vs1" and "sourceScopeUri" not in converted
    assert converted["group"][0]["element"][0]["target"][0] == {"code": "b", "equivalence": "narrower"}
    assert converted["group"][0]["unmapped"] == {"mode": "fixed", "code": "x"}
    code_system = to_r4({"resourceType": "CodeSystem", "versionAlgorithmString": "semver"})
    assert code_system["extension"] == [
        {"url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-CodeSystem.versionAlgorithm",
         "valueString": "semver"}]  # fmt: skip


def test_r4_expansion_properties_are_read_as_r5():
    value_set = {"resourceType": "ValueSet", "expansion": {
        "extension": [{"url": EXPANSION_PROPERTY, "extension": [
            {"url": "code", "valueCode": "prop"}, {"url": "uri", "valueUri": "http://example.org/p"}]}],
        "contains": [{"code": "a", "extension": [{"url": CONTAINS_PROPERTY, "extension": [
            {"url": "code", "valueCode": "prop"}, {"url": "value", "valueCode": "old"}]}]}]}}  # fmt: skip
    expansion = to_r5(value_set)["expansion"]
    assert expansion["property"] == [{"code": "prop", "uri": "http://example.org/p"}]
    assert expansion["contains"] == [{"code": "a", "property": [{"code": "prop", "valueCode": "old"}]}]


def test_the_suites_loose_json_is_sent_as_a_fhir_parser_reads_it():
    loose = {"resourceType": "Parameters", "parameter": [
        {"name": "lenient-display-validation", "valueBoolean": "true"}, {"name": "count", "valueInteger": "5"},
        {"name": "tx-resource", "resource": {"resourceType": "CodeSystem", "concept": [
            {"code": "a", "definition:en": "stray"}]}}]}  # fmt: skip
    sent = to_r4(loose)
    assert sent["parameter"][0]["valueBoolean"] is True
    assert sent["parameter"][1]["valueInteger"] == 5
    assert sent["parameter"][2]["resource"]["concept"] == [{"code": "a"}]


def test_the_command_starts_its_server_with_the_packages_given(
    mini_suite, synthetic_dir, tmp_path, monkeypatch, capsys
):
    from contextlib import contextmanager

    import bench.tx_suite as tx_suite

    started = []

    @contextmanager
    def fake_server(env, log_path, workers=2):
        started.append(env)
        yield "http://server.invalid"

    client = create_app({"CONTENT_DIRS": [str(synthetic_dir)]}).test_client()
    monkeypatch.setattr(tx_suite, "started_server", fake_server)
    monkeypatch.setattr(tx_suite, "requests_transport", lambda base: flask_transport(client))
    package = tmp_path / "hl7.fhir.r4.core" / "package"
    package.mkdir(parents=True)
    code = tx_suite.main([str(mini_suite), "--package", str(package), "--output", str(tmp_path / "out")])
    assert code == 1  # the mini suite's "wrong" test fails
    assert started[0]["TERMINOLOGY_CONTENT_POLICY"] == "lenient"
    assert started[0]["TERMINOLOGY_CONTENT_DIRS"].endswith(f":{package}")
    assert "3 passed, 1 failed (75.0 %)  [general mode, tx-resource, with hl7.fhir.r4.core]" in capsys.readouterr().out
    assert (tmp_path / "out" / "mini" / "wrong" / "diff.txt").exists()
