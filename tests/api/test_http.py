"""Bad input is normal input: every failure is an OperationOutcome with the right status."""

from __future__ import annotations

import io

import pytest

from terminology import create_app
from tests.helpers import CPT, FHIR_JSON, fhir_valid

LOOKUP = "/CodeSystem/$lookup"


def outcome(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype in ("application/fhir+json", "application/json")
    body = fhir_valid(response.get_json())
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_malformed_json_is_400(client):
    outcome(client.post(LOOKUP, data=b"{not json", content_type=FHIR_JSON), 400)


def test_empty_body_with_json_type_is_400(client):
    outcome(client.post(LOOKUP, data=b"", content_type=FHIR_JSON), 400)


def test_wrong_resource_type_is_400(client):
    body = outcome(client.post(LOOKUP, json={"resourceType": "Patient"}, content_type=FHIR_JSON), 400)
    assert body["issue"][0]["expression"] == ["resourceType"]


@pytest.mark.parametrize(
    ("parameters", "expression"),
    [([{"name": "code", "valueCode": 72125}], "Parameters.parameter[0].valueCode"),
     ([{"name": 5}], "Parameters.parameter[0]"),
     ([{"name": "coding", "valueCoding": "http://x|1"}], "Parameters.parameter[0].valueCoding"),
     ([{"name": "code", "valueCode": "1", "valueString": "2"}], "Parameters.parameter[0]"),
     ([{"name": "count", "valueInteger": True}], "Parameters.parameter[0].valueInteger")],
)  # fmt: skip
def test_wrong_types_name_the_element(client, parameters, expression):
    body = {"resourceType": "Parameters", "parameter": parameters}
    result = outcome(client.post(LOOKUP, json=body, content_type=FHIR_JSON), 400)
    assert result["issue"][0]["expression"] == [expression]


def test_parameter_list_must_be_an_array(client):
    body = {"resourceType": "Parameters", "parameter": {"name": "code"}}
    outcome(client.post(LOOKUP, json=body, content_type=FHIR_JSON), 400)


def test_wrong_content_type_is_415(client):
    outcome(client.post(LOOKUP, data="code=1", content_type="text/plain"), 415)
    outcome(client.post(LOOKUP, data="<Parameters/>", content_type="application/fhir+xml"), 415)


def test_form_post_is_accepted(client):
    response = client.post(LOOKUP, data={"system": CPT, "code": "72125"})
    assert response.status_code == 200


def test_huge_body_is_413():
    client = create_app({"MAX_CONTENT_LENGTH": 1024}).test_client()
    big = {"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "x" * 4096}]}
    outcome(client.post(LOOKUP, json=big, content_type=FHIR_JSON), 413)


LOOKUP_BODY = (
    b'{"resourceType":"Parameters","parameter":[{"name":"system","valueUri":"%s"},'
    b'{"name":"code","valueCode":"72125"}]}' % CPT.encode()
)


@pytest.mark.parametrize(
    "content_type",
    [FHIR_JSON, "application/json", "application/fhir+json; charset=utf-8",
     "application/fhir+json;charset=utf-8", "Application/FHIR+JSON; charset=UTF-8",
     "application/json+fhir; charset=utf-8; fhirVersion=4.0"],
)  # fmt: skip
def test_json_content_types_are_accepted_however_spelled(client, content_type):
    assert client.post(LOOKUP, data=LOOKUP_BODY, content_type=content_type).status_code == 200


def test_body_shorter_than_its_content_length_is_400(client):
    body = outcome(
        client.post(
            LOOKUP, data=LOOKUP_BODY, content_type=FHIR_JSON,
            environ_overrides={"CONTENT_LENGTH": str(len(LOOKUP_BODY) + 10)},
        ),
        400,
    )  # fmt: skip
    assert (
        f"ended after {len(LOOKUP_BODY)} of the {len(LOOKUP_BODY) + 10} bytes"
        in body["issue"][0]["details"]["text"]
    )


def test_body_without_a_content_length_is_read_to_its_end(client):
    """A chunked body has no Content-Length; the server ends the stream (wsgi.input_terminated)."""
    response = client.post(
        LOOKUP, input_stream=io.BytesIO(LOOKUP_BODY), content_type=FHIR_JSON,
        headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True},
    )  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)


def test_huge_chunked_body_is_413():
    client = create_app({"MAX_CONTENT_LENGTH": 1024}).test_client()
    response = client.post(
        LOOKUP, input_stream=io.BytesIO(b" " * 4096 + LOOKUP_BODY), content_type=FHIR_JSON,
        headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True},
    )  # fmt: skip
    outcome(response, 413)


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_writes_are_405_with_allow_header(client, method):
    response = getattr(client, method)("/CodeSystem/cpt-2026", json={})
    body = outcome(response, 405)
    assert "GET" in response.headers["Allow"]
    assert "read-only" in body["issue"][0]["details"]["text"]


def test_unknown_route_is_404(client):
    outcome(client.get("/Patient/1"), 404)


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "html"])
def test_unsupported_format_is_406(client, fmt):
    outcome(client.get(f"/metadata?_format={fmt}"), 406)


def test_json_formats_and_accept_headers_are_honoured(client):
    assert client.get("/metadata?_format=json").mimetype == "application/fhir+json"
    assert client.get("/metadata", headers={"Accept": "application/json"}).mimetype == "application/json"
    assert client.get("/metadata", headers={"Accept": "text/html,*/*;q=0.8"}).status_code == 200
    outcome(client.get("/metadata", headers={"Accept": "application/fhir+xml"}), 406)


@pytest.mark.parametrize(
    ("accept", "mimetype"),
    [("application/fhir+json; charset=utf-8", "application/fhir+json"),
     ("application/fhir+json;fhirVersion=4.0", "application/fhir+json"),
     ("application/fhir+json; fhirVersion=4.0; charset=UTF-8", "application/fhir+json"),
     ("application/json; charset=utf-8", "application/json"),
     ("application/json+fhir", "application/fhir+json"),
     ("application/json;q=0.5, application/fhir+json", "application/fhir+json"),
     ("text/html, application/xhtml+xml, application/fhir+json;q=0.9", "application/fhir+json")],
)  # fmt: skip
def test_accept_headers_fhir_clients_send_are_answered_everywhere(client, accept, mimetype):
    paths = ["/metadata", "/CodeSystem", f"/CodeSystem/$lookup?system={CPT}&code=72126",
             f"/CodeSystem/$validate-code?url={CPT}&code=72126", "/ValueSet/$expand?url=" + CPT + "?fhir_vs"]  # fmt: skip
    for path in paths:
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 200, (path, response.get_json())
        assert response.mimetype == mimetype
        assert response.headers["Content-Type"].endswith("charset=utf-8")
    posted = client.post(f"/CodeSystem/$lookup?system={CPT}&code=72126", headers={"Accept": accept})
    assert posted.status_code == 200


@pytest.mark.parametrize(
    "accept", ["application/fhir+json;fhirVersion=5.0", "application/fhir+json;q=0", "text/html"]
)
def test_accept_headers_we_cannot_answer_are_406(client, accept):
    outcome(client.get("/metadata", headers={"Accept": accept}), 406)


def test_options_answers_the_allowed_methods_without_a_body(client):
    response = client.open("/CodeSystem/$lookup", method="OPTIONS")
    assert response.status_code == 204
    assert response.data == b"" and "Content-Type" not in response.headers
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert client.open("/metadata", method="OPTIONS").headers["Allow"] == "GET, HEAD, OPTIONS"
    outcome(client.open("/Patient/1", method="OPTIONS"), 404)


def test_pretty_output(client):
    assert b"\n  " in client.get("/metadata?_pretty=true").data


def test_unexpected_exception_is_a_500_operation_outcome_not_html(app, monkeypatch):
    from terminology.service import operations

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(operations, "lookup", explode)
    uncached = create_app({"RESULT_CACHE_SIZE": 0}).test_client()
    body = outcome(uncached.get(f"{LOOKUP}?system={CPT}&code=72125"), 500)
    assert "secret" not in str(body)
    assert body["issue"][0]["code"] == "exception"


def test_a_cors_preflight_on_an_operation_is_204_without_a_media_type():
    client = create_app({"TESTING": True, "CORS_ORIGINS": "https://ehr.example.org"}).test_client()
    preflight = client.options(
        LOOKUP, headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204 and preflight.data == b""
    assert "Content-Type" not in preflight.headers
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
