"""Regex value-set filters end to end: $expand, $validate-code and `terminology check` stay linear-time.

Content is loaded from a synthetic directory or sent inline (the ``valueSet`` parameter); the
pathological patterns would take exponential time in a backtracking engine.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest

from terminology import create_app
from terminology.cli import main
from terminology.config import bundled_content_dirs
from terminology.errors import ContentError
from tests.helpers import CPT, FHIR_JSON, as_parameters, call, fhir_valid, issue_codes, param
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

ELEMENT = "ValueSet.compose.include[0].filter[0].value"
HANG_GUARD = 60  # seconds: a guard against a hang (fails the test), not a timing assertion


@contextmanager
def guarded():
    """Fail (instead of hanging the suite) if a regex ever backtracks catastrophically again."""

    def hung(signum, frame):
        raise AssertionError(f"no answer within {HANG_GUARD} s: the regex engine is not linear-time")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_GUARD)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def hang_guard():
    with guarded():
        yield


@pytest.fixture(scope="module")
def regex_dir(tmp_path_factory):
    pathological = [regex_value_set(name, pattern) for name, pattern in PATHOLOGICAL.items()]
    return regex_content(
        tmp_path_factory.mktemp("regex"), *pathological, regex_value_set("tag", "(a+)+!", prop="tag")
    )


@pytest.fixture(scope="module")
def regex_client(regex_dir):
    with guarded():  # start-up evaluates the loaded value sets
        app = create_app({"TESTING": True, "CONTENT_DIRS": [*bundled_content_dirs(), str(regex_dir)]})
    return app.test_client()


def expanded_codes(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [c["code"] for c in fhir_valid(response.get_json())["expansion"].get("contains", [])]


def refused(response, status: int, issue_code: str, element: str = ELEMENT) -> str:
    """Assert a 4xx OperationOutcome with one issue naming ``element``; return its text."""
    assert response.status_code == status, response.get_data(as_text=True)
    outcome = fhir_valid(response.get_json())
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("error", issue_code)
    assert issue["expression"] == [element]
    return issue["details"]["text"]


def post(client, operation: str, params: dict | list):
    return client.post(f"/ValueSet/${operation}", json=as_parameters(params), content_type=FHIR_JSON)


# From loaded content ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_patterns_in_loaded_content_expand(regex_client, method, name):
    response = call(regex_client, method, "/ValueSet/$expand", {"url": f"{VS_BASE}-{name}"})
    assert expanded_codes(response) == [A40]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name", PATHOLOGICAL)
@pytest.mark.parametrize(("code", "member"), [(A40, True), (A40 + "!", False), (A40 + "Y", False)])
def test_pathological_patterns_in_loaded_content_validate(regex_client, method, name, code, member):
    params = {"url": f"{VS_BASE}-{name}", "system": SYSTEM, "code": code}
    response = call(regex_client, method, "/ValueSet/$validate-code", params)
    assert response.status_code == 200
    body = fhir_valid(response.get_json())
    assert param(body, "result") is member
    if not member:
        assert issue_codes(param(body, "issues")) == [("error", "code-invalid", "not-in-vs")]


def test_a_property_regex_matches_the_whole_value(regex_client):
    response = call(regex_client, "GET", "/ValueSet/$expand", {"url": f"{VS_BASE}-tag"})
    assert expanded_codes(response) == [A40 + "!"]


def test_check_passes_pathological_patterns_quickly(regex_dir, capsys):
    assert main(["check", str(regex_dir)]) == 0
    assert "4 value sets" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(TEN_KB, "longer than the 1000 characters"), ("(a)\\1", "uses a backreference"),
     ("a+(?=!)", "uses a lookahead"), ("(", "is not a valid expression")],
)  # fmt: skip
def test_bad_patterns_in_content_are_reported_with_file_and_element(tmp_path, capsys, pattern, reason):
    directory = regex_content(tmp_path / "content", regex_value_set("bad", pattern))
    path = directory / "synthetic-regex-bad.json"
    assert main(["check", str(directory)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: {ELEMENT}: The regex filter ")
    assert reason in err
    with pytest.raises(ContentError) as caught:
        create_app({"TESTING": True, "CONTENT_DIRS": [str(directory)]})
    assert (caught.value.path, caught.value.element) == (str(path), ELEMENT)


def test_a_10kb_pattern_loads_and_runs_when_the_operator_allows_it(tmp_path, monkeypatch, capsys):
    directory = regex_content(tmp_path / "content", regex_value_set("long", TEN_KB))
    monkeypatch.setenv("TERMINOLOGY_REGEX_MAX_LENGTH", "20000")
    assert main(["check", str(directory)]) == 0
    client = create_app(
        {"TESTING": True, "CONTENT_DIRS": [str(directory)], "REGEX_MAX_LENGTH": 20_000}
    ).test_client()
    assert expanded_codes(client.get(f"/ValueSet/$expand?url={VS_BASE}-long")) == [A40]
    response = client.get(f"/ValueSet/$validate-code?url={VS_BASE}-long&system={SYSTEM}&code={A40}!")
    assert param(response.get_json(), "result") is False


def test_loaded_content_over_the_scan_limit_is_reported(tmp_path, monkeypatch, capsys):
    directory = regex_content(tmp_path / "content", regex_value_set("scan", "(a+)+"))
    monkeypatch.setenv("TERMINOLOGY_REGEX_MAX_CODES", "3")
    assert main(["check", str(directory)]) == 1
    err = capsys.readouterr().err
    assert f"synthetic-regex-scan.json: {ELEMENT}: The regex filters of the value set" in err
    assert "would test 4 codes" in err and "at most 3 codes" in err


# From a request resource (the inline valueSet parameter) -------------------------------------


@pytest.mark.parametrize("pattern", [*PATHOLOGICAL.values(), "(.*a){25}"])
def test_pathological_patterns_sent_inline(regex_client, pattern):
    inline = regex_value_set("inline", pattern)
    assert expanded_codes(post(regex_client, "expand", {"valueSet": inline})) == [A40]
    for code, member in [(A40, True), (A40 + "!", False)]:
        response = post(regex_client, "validate-code", {"valueSet": inline, "system": SYSTEM, "code": code})
        assert param(fhir_valid(response.get_json()), "result") is member


@pytest.mark.parametrize("operation", ["expand", "validate-code"])
def test_a_10kb_pattern_sent_inline_is_too_costly(regex_client, operation):
    params = {"valueSet": regex_value_set("inline", TEN_KB), "system": SYSTEM, "code": A40}
    text = refused(post(regex_client, operation, params), 422, "too-costly")
    assert "longer than the 1000 characters this server evaluates" in text


@pytest.mark.parametrize("operation", ["expand", "validate-code"])
def test_a_10kb_pattern_sent_inline_runs_when_allowed(tmp_path, regex_dir, operation):
    client = create_app(
        {"TESTING": True, "CONTENT_DIRS": [str(regex_dir)], "REGEX_MAX_LENGTH": 20_000}
    ).test_client()
    response = post(
        client, operation, {"valueSet": regex_value_set("inline", TEN_KB), "system": SYSTEM, "code": A40}
    )
    if operation == "expand":
        assert expanded_codes(response) == [A40]
    else:
        assert param(response.get_json(), "result") is True


@pytest.mark.parametrize("operation", ["expand", "validate-code"])
@pytest.mark.parametrize(
    ("pattern", "feature"),
    [("(a)\\1", "a backreference"), ("a+(?=!)", "a lookahead"), ("(?<=a)!", "a lookbehind"),
     ("(?<!b)a+", "a negative lookbehind")],
)  # fmt: skip
def test_features_re2_lacks_are_refused_inline(regex_client, operation, pattern, feature):
    params = {"valueSet": regex_value_set("inline", pattern), "system": SYSTEM, "code": A40}
    response = post(regex_client, operation, params)
    text = refused(response, 422, "not-supported")
    assert issue_codes(response.get_json()) == [("error", "not-supported", "vs-invalid")]
    assert f"uses {feature}, which this server does not support" in text


def test_an_invalid_pattern_in_an_exclude_names_its_element(regex_client):
    inline = regex_value_set("inline", "a+")
    inline["compose"]["exclude"] = [
        {"system": SYSTEM, "filter": [{"property": "code", "op": "regex", "value": "a{2,1}"}]}
    ]
    response = post(regex_client, "expand", {"valueSet": inline})
    text = refused(response, 422, "invalid", "ValueSet.compose.exclude[0].filter[0].value")
    assert issue_codes(response.get_json()) == [("error", "invalid", "vs-invalid")]
    assert text.startswith("The regex filter 'a{2,1}' is not a valid expression")


@pytest.mark.parametrize("operation", ["expand", "validate-code"])
def test_a_request_over_the_scan_limit_is_too_costly(regex_dir, operation):
    client = create_app(
        {"TESTING": True, "CONTENT_DIRS": [str(regex_dir)], "REGEX_MAX_CODES": 5}
    ).test_client()
    inline = regex_value_set("inline", "(a+)+")
    inline["compose"]["include"].append(dict(inline["compose"]["include"][0]))
    params = {"valueSet": inline, "system": SYSTEM, "code": A40}
    text = refused(
        post(client, operation, params), 422, "too-costly", "ValueSet.compose.include[1].filter[0].value"
    )
    assert f"'{VS_BASE}-inline|1.0.0' would test 8 codes" in text
    assert f"scans 4 codes of '{SYSTEM}|1.0.0'" in text
    # One filter over four codes is within the limit.
    assert expanded_codes(post(client, "expand", {"valueSet": regex_value_set("inline", "(a+)+")})) == [A40]


def test_the_entries_of_a_batch_share_one_scan_limit(regex_dir):
    """Each entry within the limit must not add up to a batch that scans without limit."""
    client = create_app(
        {"TESTING": True, "CONTENT_DIRS": [str(regex_dir)], "REGEX_MAX_CODES": 5}
    ).test_client()
    entry = {
        "request": {"method": "POST", "url": "ValueSet/$expand"},
        "resource": as_parameters({"valueSet": regex_value_set("inline", "(a+)+")}),
    }
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry, entry, entry]}
    response = client.post("/", json=bundle, content_type=FHIR_JSON)
    assert response.status_code == 200
    first, *others = response.get_json()["entry"]
    assert first["response"]["status"] == "200 OK"  # 4 codes tested
    for other in others:  # 8 codes, then 12, for the one request
        assert other["response"]["status"] == "422 Unprocessable Entity"
        (issue,) = fhir_valid(other["response"]["outcome"])["issue"]
        assert issue["code"] == "too-costly" and issue["expression"] == [ELEMENT]
        assert "The regex filters of this request would test" in issue["details"]["text"]
        assert "at most 5 codes for one request" in issue["details"]["text"]
    # The next request starts with the whole allowance again.
    assert expanded_codes(post(client, "expand", {"valueSet": regex_value_set("inline", "(a+)+")})) == [A40]


def test_the_items_of_a_batch_validate_code_share_one_scan_limit(regex_dir):
    item = as_parameters({"valueSet": regex_value_set("inline", "(a+)+"), "system": SYSTEM, "code": A40})
    body = {"resourceType": "Parameters", "parameter": [{"name": "validation", "resource": item}] * 3}
    # Three identical items are answered once; three that differ each evaluate their value set.
    distinct = [
        {"name": "validation", "resource": as_parameters(
            {"valueSet": regex_value_set("inline", "(a+)+"), "system": SYSTEM, "code": code})}
        for code in (A40, A40 + "!", A40 + "Y")
    ]  # fmt: skip
    for parameters, refused_items in ((body["parameter"], 0), (distinct, 2)):
        # A fresh app each time: an answer remembered from the first request would cost no scan.
        config = {"TESTING": True, "CONTENT_DIRS": [str(regex_dir)], "REGEX_MAX_CODES": 5}
        response = create_app(config).test_client().post(
            "/ValueSet/$batch-validate-code", json={**body, "parameter": parameters}, content_type=FHIR_JSON
        )
        assert response.status_code == 200
        answers = [p["resource"] for p in fhir_valid(response.get_json())["parameter"]]
        outcomes = [a for a in answers if a["resourceType"] == "OperationOutcome"]
        assert len(outcomes) == refused_items
        for outcome in outcomes:
            assert outcome["issue"][0]["code"] == "too-costly"
            assert "at most 5 codes for one request" in outcome["issue"][0]["details"]["text"]


# Ordinary patterns over the bundled CPT fragment ------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "codes"),
    [("7212.", ["72125", "72126", "72127"]), ("^722[4-7]0$", ["72240", "72270"]),
     ("722[4-7]0", ["72240", "72270"]), ("6230[2-5]", ["62302", "62303", "62304", "62305"])],
)  # fmt: skip
def test_ordinary_patterns_select_the_right_cpt_codes(client, pattern, codes):
    inline = regex_value_set("cpt", pattern, system=CPT)
    assert expanded_codes(post(client, "expand", {"valueSet": inline})) == codes
    for code in ["72020", "72126", "72240", "72255", "62304"]:
        response = post(client, "validate-code", {"valueSet": inline, "system": CPT, "code": code})
        assert param(response.get_json(), "result") is (code in codes), code


# The HL7 regex-bad suite's cases, with our own synthetic content ------------------------------


def test_a_code_of_an_unknown_system_is_not_in_the_value_set_either(regex_client):
    unknown = "http://example.org/fhir/CodeSystem/not-loaded"
    params = {"url": f"{VS_BASE}-nested", "system": unknown, "code": "aaaX"}
    body = fhir_valid(call(regex_client, "POST", "/ValueSet/$validate-code", params).get_json())
    assert param(body, "result") is False
    assert param(body, "x-unknown-system") == unknown
    assert param(body, "version") is None
    assert sorted(issue_codes(param(body, "issues"))) == [
        ("error", "code-invalid", "not-in-vs"), ("error", "not-found", "not-found"),
    ]  # fmt: skip
    not_in_vs = f"The provided code '{unknown}#aaaX' was not found in the value set '{VS_BASE}-nested|1.0.0'"
    unknown_system = (
        f"A definition for CodeSystem '{unknown}' could not be found, so the code cannot be validated"
    )
    assert sorted(param(body, "message").split("; ")) == sorted([not_in_vs, unknown_system])


def test_a_code_of_the_system_outside_the_pattern_keeps_its_display_and_version(regex_client):
    params = {"url": f"{VS_BASE}-nested-twice", "system": SYSTEM, "code": A40 + "!"}
    body = fhir_valid(call(regex_client, "POST", "/ValueSet/$validate-code", params).get_json())
    assert (param(body, "result"), param(body, "display"), param(body, "version")) == (
        False, "Synthetic code ending in !", "1.0.0",
    )  # fmt: skip
    assert param(body, "message") == (
        f"The provided code '{SYSTEM}#{A40}!' was not found in the value set '{VS_BASE}-nested-twice|1.0.0'"
    )


# The lenient content policy, and code systems and value sets sent as tx-resource ---------------


def test_lenient_content_sets_bad_patterns_aside_and_serves_the_rest(tmp_path):
    bad = [regex_value_set("backref", "(a)\\1"), regex_value_set("long", TEN_KB)]
    good = [regex_value_set(name, pattern) for name, pattern in PATHOLOGICAL.items()]
    directory = regex_content(tmp_path / "content", *bad, *good)
    config = {"TESTING": True, "CONTENT_DIRS": [str(directory)], "CONTENT_POLICY": "lenient"}
    client = create_app(config).test_client()
    for name in PATHOLOGICAL:
        assert expanded_codes(client.get(f"/ValueSet/$expand?url={VS_BASE}-{name}")) == [A40]
    text = refused(client.get(f"/ValueSet/$expand?url={VS_BASE}-backref"), 422, "not-supported")
    assert "uses a backreference" in text
    query = {"url": f"{VS_BASE}-long", "system": SYSTEM, "code": A40}
    text = refused(call(client, "GET", "/ValueSet/$validate-code", query), 422, "too-costly")
    assert "longer than the 1000 characters" in text


def tx_resource_params(value_set: dict, **extra) -> list[tuple[str, object]]:
    """Parameters naming ``value_set`` by url, with it and the synthetic code system as tx-resource."""
    sent = [("url", value_set["url"]), ("tx-resource", REGEX_CS), ("tx-resource", value_set)]
    return sent + list(extra.items())


@pytest.mark.parametrize("pattern", PATHOLOGICAL.values())
def test_pathological_patterns_sent_as_tx_resource(client, pattern):
    sent = regex_value_set("tx", pattern)
    assert expanded_codes(post(client, "expand", tx_resource_params(sent))) == [A40]
    for code, member in [(A40, True), (A40 + "!", False)]:
        response = post(client, "validate-code", tx_resource_params(sent, system=SYSTEM, code=code))
        assert param(fhir_valid(response.get_json()), "result") is member


@pytest.mark.parametrize("operation", ["expand", "validate-code"])
@pytest.mark.parametrize(
    ("pattern", "issue_code", "reason"),
    [(TEN_KB, "too-costly", "longer than the 1000 characters"), ("(a)\\1", "not-supported", "a backreference")],
)  # fmt: skip
def test_bad_patterns_sent_as_tx_resource_are_refused(client, operation, pattern, issue_code, reason):
    params = tx_resource_params(regex_value_set("tx", pattern), system=SYSTEM, code=A40)
    assert reason in refused(post(client, operation, params), 422, issue_code)
