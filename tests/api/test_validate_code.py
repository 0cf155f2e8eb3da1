"""$validate-code on CodeSystem and ValueSet: codes, Codings, CodeableConcepts, CPT expressions."""

from __future__ import annotations

import pytest

from terminology import create_app
from tests.helpers import BASE, CPT, HCPCS, LOINC, call, fhir_valid, issue_codes, param

METHODS = ["GET", "POST"]
CS_PATHS = [("/CodeSystem/$validate-code", {"url": CPT}), ("/CodeSystem/cpt-2026/$validate-code", {})]
VS_CT = f"{BASE}/ValueSet/cpt-ct-cervical-spine"
VS_PATHS = [
    ("/ValueSet/$validate-code", {"url": VS_CT}),
    ("/ValueSet/cpt-ct-cervical-spine/$validate-code", {}),
]
FRAGMENT_NOTE = "note that the code system is labeled as a fragment"


def validate(client, method, path, params):
    response = call(client, method, path, params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return fhir_valid(response.get_json())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "extra"), CS_PATHS, ids=["type", "instance"])
def test_known_code_is_valid_with_display_and_version(client, method, path, extra):
    body = validate(client, method, path, {**extra, "code": "72125"})
    assert param(body, "result") is True
    assert param(body, "system") == CPT
    assert param(body, "version") == "2026"
    assert param(body, "display") == "Computed tomography, cervical spine; without contrast material"
    assert param(body, "issues") is None


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "extra"), CS_PATHS, ids=["type", "instance"])
def test_unknown_code_is_200_result_false_with_fragment_note(client, method, path, extra):
    body = validate(client, method, path, {**extra, "code": "99999"})
    assert param(body, "result") is False
    assert param(body, "message") == (
        f"Unknown Code '99999' in the CodeSystem '{CPT}' version '2026' - {FRAGMENT_NOTE}, "
        "so the code may be valid in some other fragment"
    )
    outcome = param(body, "issues")
    assert issue_codes(outcome) == [("error", "code-invalid", "invalid-code")]
    assert outcome["issue"][0]["expression"] == ["code"]


@pytest.mark.parametrize("method", METHODS)
def test_display_check_ignores_case_but_reports_whitespace_and_wrong_text(client, method):
    good = validate(client, method, "/CodeSystem/$validate-code", {
        "url": CPT, "code": "72020", "display": "radiologic examination, spine, single view, specify level"
    })  # fmt: skip
    assert param(good, "result") is True
    spaced = validate(client, method, "/CodeSystem/$validate-code", {
        "url": CPT, "code": "72020", "display": "Radiologic examination,  spine, single view, specify level"
    })  # fmt: skip
    assert param(spaced, "result") is False
    assert param(spaced, "message").startswith("Wrong whitespace in Display Name")
    bad = validate(
        client, method, "/CodeSystem/$validate-code", {"url": CPT, "code": "72020", "display": "Spine X-ray"}
    )
    assert param(bad, "result") is False
    assert param(bad, "message") == (
        f"Wrong Display Name 'Spine X-ray' for {CPT}#72020. Valid display is "
        "'Radiologic examination, spine, single view, specify level' (for the language(s) '--')"
    )
    assert issue_codes(param(bad, "issues")) == [("error", "invalid", "invalid-display")]
    lenient = validate(client, method, "/CodeSystem/$validate-code", {
        "url": CPT, "code": "72020", "display": "Spine X-ray", "lenient-display-validation": True
    })  # fmt: skip
    assert param(lenient, "result") is True
    assert issue_codes(param(lenient, "issues")) == [("warning", "invalid", "invalid-display")]


@pytest.mark.parametrize("method", METHODS)
def test_coding_input_uses_coding_expressions(client, method):
    body = validate(
        client, method, "/CodeSystem/$validate-code", {"coding": {"system": CPT, "code": "00000"}}
    )
    assert param(body, "result") is False
    assert param(body, "issues")["issue"][0]["expression"] == ["Coding.code"]


def test_codeable_concept_is_judged_on_all_its_codings(client):
    concept = {"coding": [{"system": CPT, "code": "72125"}, {"system": CPT, "code": "72127"}]}
    body = validate(client, "POST", "/CodeSystem/$validate-code", {"codeableConcept": concept})
    assert param(body, "result") is True
    assert param(body, "code") == "72125"  # the first coding that is valid
    assert param(body, "codeableConcept") == concept
    # A coding with an unknown code is an error in the concept (as tx.fhir.org): result=false.
    concept = {"coding": [{"system": CPT, "code": "00000"}, {"system": CPT, "code": "72127"}]}
    body = validate(client, "POST", "/CodeSystem/$validate-code", {"codeableConcept": concept})
    assert param(body, "result") is False
    assert param(body, "code") == "72127"
    assert param(body, "issues")["issue"][0]["expression"] == ["CodeableConcept.coding[0].code"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("code", ["72126:26", "72126:TC", "62302:59", "72125:XS", "72127:26:59"])
def test_cpt_modifier_expressions_are_valid(client, method, code):
    body = validate(client, method, "/CodeSystem/$validate-code", {"url": CPT, "code": code})
    assert param(body, "result") is True, param(body, "message")
    assert param(body, "code") == code


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("72126:ZZ", "Unknown modifier 'ZZ' in the expression '72126:ZZ'"),
        ("72126:72125", "The code '72125' in the expression '72126:72125' is not a modifier"),
        ("26:72126", "The code '26' is a modifier and cannot be the base of the expression '26:72126'"),
        ("72126:26:26", "The modifier '26' is repeated in the expression '72126:26:26'"),
        ("99999:26", "Unknown Code '99999'"),
        ("72126:", "The expression '72126:' has an empty modifier"),
    ],
)
def test_bad_cpt_expressions_say_why(client, code, fragment):
    body = validate(client, "GET", "/CodeSystem/$validate-code", {"url": CPT, "code": code})
    assert param(body, "result") is False
    assert fragment in param(body, "message")


@pytest.mark.parametrize("method", METHODS)
def test_unknown_system_is_not_an_http_error(client, method):
    body = validate(
        client, method, "/CodeSystem/$validate-code", {"url": "http://example.org/unknown", "code": "1"}
    )
    assert param(body, "result") is False
    assert param(body, "message") == (
        "A definition for CodeSystem 'http://example.org/unknown' could not be found, so the code cannot be validated"
    )
    assert issue_codes(param(body, "issues")) == [("error", "not-found", "not-found")]
    assert param(body, "x-unknown-system") == "http://example.org/unknown"


def test_unknown_version_lists_valid_versions(client):
    body = validate(
        client, "GET", "/CodeSystem/$validate-code", {"url": CPT, "code": "72125", "version": "2020"}
    )
    assert param(body, "result") is False
    assert param(body, "message").endswith("Valid versions: 2026")
    assert param(body, "issues")["issue"][0]["expression"] == ["system"]


@pytest.mark.parametrize("method", METHODS)
def test_missing_code_is_400(client, method):
    response = call(client, method, "/CodeSystem/$validate-code", {"url": CPT})
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert "looked for coding | codeableConcept | code" in issue["details"]["text"]
    assert "coding" not in issue["details"]  # as tx.fhir.org: no tx-issue-type for this one


@pytest.fixture(scope="module")
def synthetic_client(tmp_path_factory):
    from tests.conftest import SYNTHETIC_CS, write_resource

    directory = tmp_path_factory.mktemp("content")
    write_resource(directory, "synthetic.json", SYNTHETIC_CS)
    return create_app({"CONTENT_DIRS": [str(directory)]}).test_client()


SYN = "http://example.org/fhir/CodeSystem/synthetic"


def test_case_insensitive_system_normalises_code(synthetic_client):
    body = validate(synthetic_client, "GET", "/CodeSystem/$validate-code", {"url": SYN, "code": "ZZ-CHILD"})
    assert param(body, "result") is True
    assert param(body, "normalized-code") == "zz-child"
    assert issue_codes(param(body, "issues")) == [("information", "business-rule", "code-rule")]


def test_inactive_code_warns_and_reports_status(synthetic_client):
    body = validate(synthetic_client, "GET", "/CodeSystem/$validate-code", {"url": SYN, "code": "zz-retired"})
    assert param(body, "result") is True
    assert param(body, "inactive") is True
    assert param(body, "status") == "retired"
    assert issue_codes(param(body, "issues")) == [("warning", "business-rule", "code-comment")]
    strict = validate(
        synthetic_client,
        "GET",
        "/CodeSystem/$validate-code",
        {"url": SYN, "code": "zz-retired", "activeOnly": True},
    )
    assert param(strict, "result") is False
    assert param(strict, "message") == (
        "The concept 'zz-retired' has a status of retired and inactive and its use should be reviewed; "
        "The concept 'zz-retired' is valid but is not active"
    )


def test_designation_is_an_acceptable_display(synthetic_client):
    body = validate(
        synthetic_client, "GET", "/CodeSystem/$validate-code",
        {"url": SYN, "code": "zz-parent", "display": "Synthetic parent (short)"},
    )  # fmt: skip
    assert param(body, "result") is True
    wrong = validate(
        synthetic_client,
        "GET",
        "/CodeSystem/$validate-code",
        {"url": SYN, "code": "zz-parent", "display": "Nope"},
    )
    # The code system states no language, so its own display is listed without one.
    assert "Valid display is one of 2 choices: 'Synthetic parent concept' or 'Synthetic parent (short)' (en)" in (
        param(wrong, "message")
    )


# ValueSet/$validate-code


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "extra"), VS_PATHS, ids=["type", "instance"])
def test_code_in_value_set(client, method, path, extra):
    body = validate(client, method, path, {**extra, "system": CPT, "code": "72126"})
    assert param(body, "result") is True
    assert param(body, "display") == "Computed tomography, cervical spine; with contrast material"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "extra"), VS_PATHS, ids=["type", "instance"])
def test_code_not_in_value_set_uses_tx_wording(client, method, path, extra):
    body = validate(client, method, path, {**extra, "system": CPT, "code": "72020"})
    assert param(body, "result") is False
    assert param(body, "message") == (
        f"The provided code '{CPT}#72020' was not found in the value set '{VS_CT}|2026'"
    )
    assert issue_codes(param(body, "issues")) == [("error", "code-invalid", "not-in-vs")]


def test_unknown_code_in_value_set_reports_both_issues(client):
    body = validate(client, "GET", "/ValueSet/$validate-code", {"url": VS_CT, "system": CPT, "code": "99999"})
    assert [c[2] for c in issue_codes(param(body, "issues"))] == ["invalid-code", "not-in-vs"]
    assert param(body, "result") is False


def test_value_set_system_is_inferred_with_infer_system(client):
    infer = {"url": VS_CT, "inferSystem": "true"}
    body = validate(client, "GET", "/ValueSet/$validate-code", {**infer, "code": "72127"})
    assert param(body, "result") is True
    assert param(body, "system") == CPT
    none = validate(client, "GET", "/ValueSet/$validate-code", {**infer, "code": "123"})
    assert issue_codes(param(none, "issues")) == [
        ("error", "not-found", "cannot-infer"), ("error", "code-invalid", "not-in-vs")
    ]


def test_a_code_without_a_system_is_false_with_a_warning(client):
    body = validate(client, "GET", "/ValueSet/$validate-code", {"url": VS_CT, "code": "72127"})
    assert param(body, "result") is False and param(body, "system") is None
    assert issue_codes(param(body, "issues")) == [
        ("warning", "invalid", "invalid-data"), ("error", "code-invalid", "not-in-vs")
    ]
    assert param(body, "message").startswith("Coding has no system. A code with no system has no defined meaning")


def test_codeable_concept_in_value_set(client):
    concept = {"coding": [{"system": LOINC, "code": "30592-0"}, {"system": CPT, "code": "72125"}]}
    body = validate(client, "POST", "/ValueSet/$validate-code", {"url": VS_CT, "codeableConcept": concept})
    assert param(body, "result") is True
    assert issue_codes(param(body, "issues")) == [("information", "code-invalid", "this-code-not-in-vs")]
    miss = {"coding": [{"system": CPT, "code": "72020"}]}
    body = validate(client, "POST", "/ValueSet/$validate-code", {"url": VS_CT, "codeableConcept": miss})
    assert param(body, "result") is False
    assert f"No valid coding was found for the value set '{VS_CT}|2026'" in param(body, "message")


def test_modifier_value_sets_cover_cpt_and_hcpcs(client):
    url = f"{BASE}/ValueSet/ncci-bypass-modifiers"
    for system, code, expected in [
        (HCPCS, "XU", True),
        (CPT, "59", True),
        (CPT, "26", False),
        (HCPCS, "TC", False),
    ]:
        body = validate(
            client, "GET", "/ValueSet/$validate-code", {"url": url, "system": system, "code": code}
        )
        assert param(body, "result") is expected, code


def test_expression_membership_follows_its_base_code(client):
    body = validate(
        client, "GET", "/ValueSet/$validate-code", {"url": VS_CT, "system": CPT, "code": "72126:26"}
    )
    assert param(body, "result") is True


@pytest.mark.parametrize("method", METHODS)
def test_unknown_value_set_is_404(client, method):
    response = call(client, method, "/ValueSet/$validate-code", {"url": f"{BASE}/ValueSet/nope", "code": "1"})
    assert response.status_code == 404
    outcome = response.get_json()
    assert issue_codes(outcome) == [("error", "not-found", "not-found")]
    assert f"{BASE}/ValueSet/nope" in outcome["issue"][0]["details"]["text"]


def test_value_set_given_inline_is_validated_and_used(client):
    inline = {
        "resourceType": "ValueSet", "id": "inline", "url": "http://example.org/vs/inline", "status": "draft",
        "compose": {"include": [{"system": CPT, "concept": [{"code": "62284"}]}]},
    }  # fmt: skip
    body = validate(
        client, "POST", "/ValueSet/$validate-code", {"valueSet": inline, "system": CPT, "code": "62284"}
    )
    assert param(body, "result") is True
    broken = {**inline, "status": 12}
    response = call(
        client, "POST", "/ValueSet/$validate-code", {"valueSet": broken, "system": CPT, "code": "62284"}
    )
    assert response.status_code == 422
    assert "ValueSet.status" in response.get_json()["issue"][0]["details"]["text"]


def test_a_code_missing_from_a_fragment_is_valid_with_a_warning_except_in_billing_systems(tmp_path):
    # tx.fhir.org's rule for `content = fragment`: the code may be one of the codes not given. Not for
    # CPT and HCPCS, where a false "valid" would let a claim pass (the CPT case is the test above).
    from terminology import create_app
    from tests.conftest import SYNTHETIC_CS, write_resource

    write_resource(tmp_path, "cs.json", {**SYNTHETIC_CS, "content": "fragment"})
    value_set = {
        "resourceType": "ValueSet", "id": "all", "status": "active", "url": "http://example.org/fhir/ValueSet/all",
        "compose": {"include": [{"system": SYNTHETIC_CS["url"]}]},
    }  # fmt: skip
    write_resource(tmp_path, "vs.json", value_set)
    client = create_app({"TESTING": True, "CONTENT_DIRS": [str(tmp_path)]}).test_client()
    calls = [
        ("/CodeSystem/$validate-code", {"url": SYNTHETIC_CS["url"], "code": "zz-other"}),
        ("/ValueSet/$validate-code", {"url": value_set["url"], "system": SYNTHETIC_CS["url"], "code": "zz-other"}),
    ]
    for path, query in calls:
        body = client.get(path, query_string=query).get_json()
        assert param(body, "result") is True, body
        assert param(body, "message") is None
        (issue,) = param(body, "issues")["issue"]
        assert issue["severity"] == "warning" and issue["details"]["coding"][0]["code"] == "invalid-code"
        assert FRAGMENT_NOTE in issue["details"]["text"]
