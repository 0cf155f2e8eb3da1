"""tx-resource: resources sent with a request are used for that request only (a registry overlay)."""

from __future__ import annotations

import copy

import pytest

from terminology import create_app
from tests.conftest import SYNTHETIC_CS, write_resource

SYN = SYNTHETIC_CS["url"]
OTHER = "http://example.org/fhir/CodeSystem/sent-only"
SENT_CS = {
    "resourceType": "CodeSystem", "url": OTHER, "version": "2.0.0", "status": "active", "content": "complete",
    "concept": [{"code": "zz-sent", "display": "Synthetic sent concept"}],
}  # fmt: skip
SENT_VS = {
    "resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/sent-only", "status": "active",
    "compose": {"include": [{"system": OTHER}]},
}  # fmt: skip
LOADED_VS = {
    "resourceType": "ValueSet", "id": "loaded-vs", "url": "http://example.org/fhir/ValueSet/loaded", "status": "active",
    "compose": {"include": [{"system": SYN}]},
}  # fmt: skip


@pytest.fixture
def client(tmp_path):
    directory = tmp_path / "content"
    write_resource(directory, "cs.json", SYNTHETIC_CS)
    write_resource(directory, "vs.json", LOADED_VS)
    return create_app({"CONTENT_DIRS": [str(directory)]}).test_client()


def parameters(*items, resources=()) -> dict:
    return {
        "resourceType": "Parameters",
        "parameter": [*items, *({"name": "tx-resource", "resource": r} for r in resources)],
    }


def out(body: dict, name: str):
    found = [p for p in body["parameter"] if p["name"] == name]
    return next(v for k, v in found[0].items() if k.startswith("value")) if found else None


def validate(client, system, code, *, resources=(), url_name="url"):
    body = parameters(
        {"name": url_name, "valueUri": system}, {"name": "code", "valueCode": code}, resources=resources
    )
    return client.post("/CodeSystem/$validate-code", json=body)


def test_a_sent_code_system_is_used_for_that_request_only(client):
    answer = validate(client, OTHER, "zz-sent", resources=[SENT_CS])
    assert answer.status_code == 200
    assert out(answer.get_json(), "result") is True
    assert out(answer.get_json(), "version") == "2.0.0"
    # The next request did not send it: the code system is unknown again.
    later = validate(client, OTHER, "zz-sent").get_json()
    assert out(later, "result") is False
    assert "could not be found" in out(later, "message")
    assert client.get(f"/CodeSystem?url={OTHER}").get_json()["total"] == 0


def test_a_sent_version_of_a_loaded_code_system_never_reaches_the_caches(client):
    # Warm the answer memo and the value set's members with the loaded content...
    assert out(validate(client, SYN, "zz-child").get_json(), "result") is True
    vs_body = parameters({"name": "url", "valueUri": LOADED_VS["url"]}, {"name": "system", "valueUri": SYN},
                         {"name": "code", "valueCode": "zz-child"})  # fmt: skip
    assert out(client.post("/ValueSet/$validate-code", json=vs_body).get_json(), "result") is True
    # ...then send the same url|version with other concepts: this request sees only what it sent.
    replaced = copy.deepcopy(SYNTHETIC_CS)
    replaced["concept"] = [{"code": "zz-replacement", "display": "Synthetic replacement"}]
    assert out(validate(client, SYN, "zz-child", resources=[replaced]).get_json(), "result") is False
    assert out(validate(client, SYN, "zz-replacement", resources=[replaced]).get_json(), "result") is True
    sent_vs_body = {
        **vs_body,
        "parameter": [*vs_body["parameter"], {"name": "tx-resource", "resource": replaced}],
    }
    assert out(client.post("/ValueSet/$validate-code", json=sent_vs_body).get_json(), "result") is False
    expanded = client.post(
        "/ValueSet/$expand",
        json=parameters({"name": "url", "valueUri": LOADED_VS["url"]}, resources=[replaced]),
    ).get_json()
    assert [c["code"] for c in expanded["expansion"]["contains"]] == ["zz-replacement"]
    # Nothing leaked into the shared caches: the loaded content answers as before.
    assert out(validate(client, SYN, "zz-child").get_json(), "result") is True
    assert out(validate(client, SYN, "zz-replacement").get_json(), "result") is False
    assert out(client.post("/ValueSet/$validate-code", json=vs_body).get_json(), "result") is True
    expanded = client.get(f"/ValueSet/$expand?url={LOADED_VS['url']}&excludeNested=true").get_json()
    assert {c["code"] for c in expanded["expansion"]["contains"]} == {"zz-parent", "zz-child", "zz-retired"}


def test_sent_value_sets_serve_expand_validate_and_batch(client):
    expanded = client.post(
        "/ValueSet/$expand",
        json=parameters({"name": "url", "valueUri": SENT_VS["url"]}, resources=[SENT_CS, SENT_VS]),
    )
    assert expanded.status_code == 200
    assert [c["code"] for c in expanded.get_json()["expansion"]["contains"]] == ["zz-sent"]
    body = parameters(
        {"name": "url", "valueUri": SENT_VS["url"]},
        {"name": "validation", "resource": parameters({"name": "coding", "valueCoding": {"system": OTHER, "code": "zz-sent"}})},
        {"name": "validation", "resource": parameters({"name": "coding", "valueCoding": {"system": OTHER, "code": "nope"}})},
        resources=[SENT_CS, SENT_VS],
    )  # fmt: skip
    batch = client.post("/ValueSet/$batch-validate-code", json=body).get_json()
    assert [out(item["resource"], "result") for item in batch["parameter"]] == [True, False]


def test_sent_resources_serve_lookup_and_translate(client):
    lookup = client.post(
        "/CodeSystem/$lookup",
        json=parameters({"name": "system", "valueUri": OTHER}, {"name": "code", "valueCode": "zz-sent"}, resources=[SENT_CS]),
    )  # fmt: skip
    assert lookup.status_code == 200
    assert out(lookup.get_json(), "display") == "Synthetic sent concept"
    concept_map = {
        "resourceType": "ConceptMap", "url": "http://example.org/fhir/ConceptMap/sent", "status": "active",
        "group": [{"source": SYN, "target": OTHER, "element": [{"code": "zz-child", "target": [
            {"code": "zz-sent", "equivalence": "equivalent"}]}]}],
    }  # fmt: skip
    body = parameters(
        {"name": "system", "valueUri": SYN}, {"name": "code", "valueCode": "zz-child"},
        {"name": "targetsystem", "valueUri": OTHER}, resources=[SENT_CS, concept_map],
    )  # fmt: skip
    translated = client.post("/ConceptMap/$translate", json=body).get_json()
    assert out(translated, "result") is True
    assert out(client.post("/ConceptMap/$translate", json={**body, "parameter": body["parameter"][:3]}).get_json(),
               "result") is False  # fmt: skip


def test_a_broken_sent_resource_is_a_4xx_only_when_the_request_needs_it(client):
    broken = {
        "resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/broken", "version": "1", "status": "active",
        "compose": {"include": [{"system": SYN, "filter": [{"property": "concept", "op": "is-a"}]}]},
    }  # fmt: skip
    # Sent but not used: the request is answered as usual.
    assert out(validate(client, SYN, "zz-child", resources=[broken]).get_json(), "result") is True
    used = client.post(
        "/ValueSet/$validate-code",
        json=parameters({"name": "url", "valueUri": broken["url"]}, {"name": "system", "valueUri": SYN},
                        {"name": "code", "valueCode": "zz-child"}, resources=[broken]),
    )  # fmt: skip
    assert used.status_code == 422
    issue = used.get_json()["issue"][0]
    assert issue["code"] == "invalid"
    assert issue["details"]["coding"][0]["code"] == "vs-invalid"
    assert (
        issue["details"]["text"] == f"The system {SYN} filter with property = concept, op = is-a has no value"
    )
    assert issue["expression"] == ["ValueSet.compose.include[0].filter[0]"]


def test_a_structurally_invalid_sent_code_system_names_the_parameter_and_element(client):
    bad = {**SENT_CS, "concept": [{"code": 7}]}
    answer = validate(client, OTHER, "zz-sent", resources=[bad])
    assert answer.status_code == 422
    text = answer.get_json()["issue"][0]["details"]["text"]
    assert f"The CodeSystem '{OTHER}|2.0.0' could not be loaded (Parameters.parameter[2].resource)" in text
    assert "CodeSystem.concept[0].code" in text


def test_tx_resource_must_carry_a_resource(client):
    body = parameters({"name": "url", "valueUri": SYN}, {"name": "code", "valueCode": "zz-child"},
                      {"name": "tx-resource", "valueString": "nope"})  # fmt: skip
    answer = client.post("/CodeSystem/$validate-code", json=body)
    assert answer.status_code == 400
    assert answer.get_json()["issue"][0]["expression"] == ["Parameters.parameter[2].valueString"]


def test_an_inline_value_set_needs_no_id_or_url_and_may_contain_what_it_includes(client):
    inline = {
        "resourceType": "ValueSet", "status": "active",
        "compose": {"include": [{"valueSet": ["#local"], "system": SYN, "concept": [{"code": "zz-parent"}]}]},
        "contained": [{"resourceType": "ValueSet", "id": "local", "url": "http://example.org/fhir/ValueSet/local", "status": "active",
                       "compose": {"include": [{"system": SYN, "concept": [{"code": "zz-parent"}, {"code": "zz-child"}]}]}}],
    }  # fmt: skip
    answer = client.post("/ValueSet/$expand", json=parameters({"name": "valueSet", "resource": inline}))
    assert answer.status_code == 200, answer.get_json()
    assert [c["code"] for c in answer.get_json()["expansion"]["contains"]] == ["zz-parent"]
    plain = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": SYN}]}}
    answer = client.post("/ValueSet/$expand", json=parameters({"name": "valueSet", "resource": plain}))
    assert answer.status_code == 200
    assert answer.get_json()["expansion"]["total"] == 3


def test_a_resource_sent_again_is_judged_the_same_and_named_where_it_was_sent(client):
    bad = {**SENT_CS, "version": "2.0.1", "concept": [{"code": 7}]}
    for padding in ([], [{"name": "count", "valueInteger": 1}]):
        body = parameters({"name": "url", "valueUri": OTHER}, {"name": "code", "valueCode": "zz-sent"}, *padding,
                          resources=[bad])  # fmt: skip
        answer = client.post("/CodeSystem/$validate-code", json=body)
        assert answer.status_code == 422
        position = 2 + len(padding)
        assert (
            f"(Parameters.parameter[{position}].resource)" in answer.get_json()["issue"][0]["details"]["text"]
        )
    good = {**SENT_CS, "version": "2.0.1"}
    assert out(validate(client, OTHER, "zz-sent", resources=[good]).get_json(), "result") is True
