"""tx.fhir.org semantics of $expand, $validate-code and $lookup over synthetic content.

Languages (displayLanguage, Accept-Language), supplements, version rules, hierarchy, expansion
properties, status warnings, notSelectable, compose.inactive and case-insensitive codes, each as
the HL7 terminology test suite expects them, on the project's own small fixtures.
"""

from __future__ import annotations

import pytest

from terminology import create_app
from tests.conftest import write_resource
from tests.helpers import fhir_valid, issue_codes, param, params_named, parts

BASE = "http://example.org/fhir"
LANG = f"{BASE}/CodeSystem/tx-lang"
NL = f"{BASE}/CodeSystem/tx-lang-nl"
DRAFT = f"{BASE}/CodeSystem/tx-draft"
VS = f"{BASE}/ValueSet/tx-"
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
PROPERTY_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
CONTAINS_PROPERTY_EXT = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"
)


def lang_code_system(version: str, alpha: str) -> dict:
    """English code system with a German designation, a hierarchy, a grouper and a retired code.

    The notSelectable property is called ``not-for-use``: only its URI says what it means.
    """
    return {
        "resourceType": "CodeSystem", "id": f"tx-lang-{version}", "url": LANG, "version": version,
        "name": "TxLang", "status": "active", "content": "complete", "language": "en",
        "caseSensitive": False, "hierarchyMeaning": "is-a",
        "property": [
            {"code": "not-for-use", "uri": f"{CONCEPT_PROPERTIES}#notSelectable", "type": "boolean"},
            {"code": "status", "uri": f"{CONCEPT_PROPERTIES}#status", "type": "code"},
            {"code": "colour", "uri": f"{BASE}/property/colour", "type": "code"},
        ],
        "concept": [
            {"code": "alpha", "display": alpha, "definition": "The first synthetic code",
             "designation": [{"language": "de", "value": "Alpha (de)"}],
             "property": [{"code": "colour", "valueCode": "blue"}]},
            {"code": "beta", "display": "Beta", "concept": [
                {"code": "beta-one", "display": "Beta one"}, {"code": "beta-two", "display": "Beta two"},
            ]},
            {"code": "grouper", "display": "Grouper", "property": [{"code": "not-for-use", "valueBoolean": True}]},
            {"code": "old", "display": "Old", "property": [{"code": "status", "valueCode": "retired"}]},
        ],
    }  # fmt: skip


SUPPLEMENT = {
    "resourceType": "CodeSystem", "id": "tx-lang-nl", "url": NL, "version": "1.0.0", "name": "TxLangNl",
    "status": "active", "content": "supplement", "supplements": f"{LANG}|1.0.0",
    "concept": [{"code": "alpha", "designation": [{"language": "nl", "value": "Alfa (nl)"}]}],
}  # fmt: skip

DRAFT_CODE_SYSTEM = {
    "resourceType": "CodeSystem", "id": "tx-draft", "url": DRAFT, "version": "0.1.0", "name": "TxDraft",
    "status": "draft", "content": "complete", "concept": [{"code": "d1", "display": "Draft one"}],
}  # fmt: skip


def value_set(name: str, *includes: dict, **extra) -> dict:
    return {"resourceType": "ValueSet", "id": f"tx-{name}", "url": f"{VS}{name}", "version": "1.0.0",
            "status": "active", "compose": {"include": list(includes)}, **extra}  # fmt: skip


VALUE_SETS = [
    value_set("all", {"system": LANG}),
    value_set("pinned", {"system": LANG, "version": "1.0.0"}),
    value_set("nl", {"system": LANG, "version": "1.0.0"}, extension=[
        {"url": "http://hl7.org/fhir/StructureDefinition/valueset-supplement", "valueCanonical": f"{NL}|1.0.0"}]),
    value_set("draft", {"system": DRAFT}),
    value_set("imports", {"valueSet": [f"{VS}pinned"]}),
    value_set("active", {"system": LANG}),
]  # fmt: skip
VALUE_SETS[-1]["compose"]["inactive"] = False


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tx") / "content"
    resources = [lang_code_system("1.0.0", "Alpha"), lang_code_system("2.0.0", "Alpha two"), SUPPLEMENT]
    for resource in [*resources, DRAFT_CODE_SYSTEM, *VALUE_SETS]:
        write_resource(directory, f"{resource['resourceType']}-{resource['id']}.json", resource)
    return create_app({"CONTENT_DIRS": [str(directory)]}).test_client()


def get(client, path: str, status: int = 200, **query) -> dict:
    headers = {"Accept-Language": query.pop("accept_language")} if "accept_language" in query else {}
    pairs = [
        (k.replace("_", "-"), v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])
    ]
    response = client.get(path, query_string=pairs, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    return fhir_valid(response.get_json())


def expand(client, name: str, **query) -> dict:
    return get(client, "/ValueSet/$expand", url=f"{VS}{name}", **query)["expansion"]


def validate(client, name: str, code: str, **query) -> dict:
    return get(client, "/ValueSet/$validate-code", url=f"{VS}{name}", system=LANG, code=code, **query)


def expansion_parameters(expansion: dict) -> list[tuple[str, object]]:
    return [
        (p["name"], next(v for k, v in p.items() if k.startswith("value"))) for p in expansion["parameter"]
    ]


def displays(expansion: dict) -> dict[str, str]:
    def walk(entries):
        for entry in entries:
            yield entry["code"], entry.get("display")
            yield from walk(entry.get("contains", []))

    return dict(walk(expansion.get("contains", [])))


def sub_extensions(extension: dict) -> dict:
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in extension["extension"]}


def texts(body: dict) -> list[str]:
    return [issue["details"]["text"] for issue in param(body, "issues")["issue"]]


# Languages


@pytest.mark.parametrize(
    ("query", "echoed"),
    [
        ({"displayLanguage": "de"}, "de"),
        ({"accept_language": "de"}, "de"),
        ({"accept_language": "fr;q=0.9,de;q=0.8"}, "fr; q=0.9, de; q=0.8"),  # tx.fhir.org's spelling
    ],
    ids=["displayLanguage", "Accept-Language", "q-values"],
)
def test_expansion_displays_follow_the_requested_language(client, query, echoed):
    expansion = expand(client, "all", **query)
    shown = displays(expansion)
    assert shown["alpha"] == "Alpha (de)"
    assert shown["beta"] == "Beta"  # no German designation: the code system's own display
    assert ("displayLanguage", echoed) in expansion_parameters(expansion)


def test_a_display_is_judged_in_the_requested_language(client):
    body = validate(client, "all", "alpha", display="Alpha two", displayLanguage="de")
    assert param(body, "result") is False and param(body, "display") == "Alpha (de)"
    assert texts(body) == [
        f"Wrong Display Name 'Alpha two' for {LANG}#alpha. Valid display is 'Alpha (de)' (de) "
        "(for the language(s) 'de')"
    ]
    assert (
        param(validate(client, "all", "alpha", display="Alpha (de)", accept_language="de"), "result") is True
    )
    # Without a language, every designation is a valid display; the message lists them with their languages.
    assert param(validate(client, "pinned", "alpha", display="Alpha (de)"), "result") is True
    wrong = validate(client, "pinned", "alpha", display="Nope")
    assert texts(wrong) == [
        f"Wrong Display Name 'Nope' for {LANG}#alpha. Valid display is one of 2 choices: 'Alpha' (en) or "
        "'Alpha (de)' (de) (for the language(s) '--')"
    ]


# $validate-code conventions


def test_an_unknown_code_names_no_version_and_carries_message_ids(client):
    body = validate(client, "all", "nope")
    assert param(body, "result") is False and param(body, "version") is None
    outcome = param(body, "issues")
    assert issue_codes(outcome) == [
        ("error", "code-invalid", "invalid-code"),
        ("error", "code-invalid", "not-in-vs"),
    ]
    assert [i["extension"][0] for i in outcome["issue"]] == [
        {"url": MESSAGE_ID, "valueString": "Unknown_Code_in_Version"},
        {"url": MESSAGE_ID, "valueString": "None_of_the_provided_codes_are_in_the_value_set_one"},
    ]


def test_an_unknown_system_is_not_in_the_value_set(client):
    body = get(client, "/ValueSet/$validate-code", url=f"{VS}all", system=f"{BASE}/nowhere", code="alpha")
    assert param(body, "x-unknown-system") == f"{BASE}/nowhere"
    assert issue_codes(param(body, "issues")) == [
        ("error", "not-found", "not-found"),
        ("error", "code-invalid", "not-in-vs"),
    ]


def test_an_unknown_version_lists_the_valid_ones(client):
    body = get(client, "/CodeSystem/$validate-code", url=LANG, code="alpha", version="9.9")
    assert texts(body) == [
        f"A definition for CodeSystem '{LANG}' version '9.9' could not be found, so the code cannot be "
        "validated. Valid versions: 1.0.0 or 2.0.0"
    ]


def test_a_code_in_another_case_is_echoed_with_the_normalized_code(client):
    body = validate(client, "all", "ALPHA")
    assert param(body, "result") is True
    assert (param(body, "code"), param(body, "normalized-code")) == ("ALPHA", "alpha")
    assert issue_codes(param(body, "issues")) == [("information", "business-rule", "code-rule")]


# Versions


def test_a_version_pinned_in_the_include_is_honoured(client):
    assert displays(expand(client, "pinned"))["alpha"] == "Alpha"
    assert displays(expand(client, "all"))["alpha"] == "Alpha two"
    assert ("used-codesystem", f"{LANG}|1.0.0") in expansion_parameters(expand(client, "pinned"))


def test_system_version_rules(client):
    pinned = f"{LANG}|2.0.0"
    # system-version is a default: the include's own version wins.
    assert param(validate(client, "pinned", "alpha", system_version=pinned), "version") == "1.0.0"
    # force-system-version overrides it.
    assert param(validate(client, "pinned", "alpha", force_system_version=pinned), "version") == "2.0.0"
    forced = expand(client, "pinned", force_system_version=pinned)
    assert displays(forced)["alpha"] == "Alpha two"
    assert ("force-system-version", pinned) in expansion_parameters(forced)


# Hierarchy


def test_expansions_nest_by_the_code_system_hierarchy_unless_exclude_nested(client):
    nested = expand(client, "all")
    beta = next(entry for entry in nested["contains"] if entry["code"] == "beta")
    assert [entry["code"] for entry in beta["contains"]] == ["beta-one", "beta-two"]
    flat = expand(client, "all", excludeNested="true")
    assert all("contains" not in entry for entry in flat["contains"]) and len(flat["contains"]) == 6
    assert ("excludeNested", True) in expansion_parameters(flat)


# Supplements


def test_a_value_set_applies_the_supplement_it_names(client):
    expansion = expand(client, "nl", displayLanguage="nl")
    assert displays(expansion)["alpha"] == "Alfa (nl)"
    assert ("used-supplement", f"{NL}|1.0.0") in expansion_parameters(expansion)
    assert param(validate(client, "nl", "alpha", display="Alfa (nl)"), "result") is True
    assert param(validate(client, "pinned", "alpha", display="Alfa (nl)"), "result") is False


def test_lookup_with_a_supplement_lists_its_designations_with_their_source(client):
    body = get(client, "/CodeSystem/$lookup", system=LANG, code="alpha", version="1.0.0", useSupplement=NL)
    designations = [parts(d["part"]) for d in params_named(body, "designation")]
    assert designations[0]["value"] == "Alpha" and designations[0]["use"]["code"] == "preferredForLanguage"
    assert {"language": "nl", "source": f"{NL}|1.0.0", "value": "Alfa (nl)"} in designations
    assert param(body, "used-supplement") == f"{NL}|1.0.0"
    assert param(body, "definition") == "The first synthetic code"


def test_a_missing_supplement_is_not_found(client):
    outcome = get(
        client, "/ValueSet/$expand", 404, url=f"{VS}all", useSupplement=f"{BASE}/CodeSystem/missing"
    )
    assert "supplement" in outcome["issue"][0]["details"]["text"]


def test_a_supplement_is_never_taken_for_a_code_system(client):
    text = f"CodeSystem {NL}|1.0.0 is a supplement, so can't be used as a value in Coding.system"
    outcome = get(client, "/CodeSystem/$lookup", 400, system=NL, code="alpha")
    assert outcome["issue"][0]["details"]["text"] == text
    body = get(client, "/ValueSet/$validate-code", url=f"{VS}all", system=NL, code="alpha")
    assert param(body, "result") is False and text in texts(body)


# Expansion details


def test_requested_properties_carry_their_uri(client):
    expansion = expand(client, "pinned", property=["definition", "colour"])
    definitions = {
        sub_extensions(e)["code"]: sub_extensions(e).get("uri")
        for e in expansion["extension"]
        if e["url"] == PROPERTY_EXT
    }
    assert definitions["definition"] == f"{CONCEPT_PROPERTIES}#definition"
    assert definitions["colour"] == f"{BASE}/property/colour"
    alpha = next(entry for entry in expansion["contains"] if entry["code"] == "alpha")
    values = [sub_extensions(e) for e in alpha["extension"] if e["url"] == CONTAINS_PROPERTY_EXT]
    assert {"code": "colour", "value": "blue"} in values


def test_an_empty_expansion_still_names_the_code_system_and_imports_name_the_value_set(client):
    empty = expand(client, "all", filter="zzz")
    assert empty["total"] == 0 and ("used-codesystem", f"{LANG}|2.0.0") in expansion_parameters(empty)
    assert ("used-valueset", f"{VS}pinned|1.0.0") in expansion_parameters(expand(client, "imports"))


def test_draft_content_is_reported(client):
    assert ("warning-draft", f"{DRAFT}|0.1.0") in expansion_parameters(expand(client, "draft"))
    body = get(client, "/ValueSet/$validate-code", url=f"{VS}draft", system=DRAFT, code="d1")
    assert param(body, "result") is True
    assert issue_codes(param(body, "issues")) == [("information", "business-rule", "status-check")]
    assert texts(body) == [f"Reference to draft CodeSystem {DRAFT}|0.1.0"]


STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


def status_code_system(name: str, **extra) -> dict:
    return {"resourceType": "CodeSystem", "id": f"tx-{name}", "url": f"{BASE}/CodeSystem/tx-{name}",
            "version": "1.0.0", "name": f"Tx{name.title()}", "status": "active", "content": "complete",
            "concept": [{"code": "c1", "display": "C one"}], **extra}  # fmt: skip


@pytest.fixture(scope="module")
def status_client(tmp_path_factory):
    """Code systems flagged deprecated, withdrawn, experimental and retired; value sets over each;
    and a value set importing one of two versions of another (for the *-valueset-version rules)."""
    directory = tmp_path_factory.mktemp("tx-status") / "content"
    flagged = [
        status_code_system("deprecated", extension=[{"url": STANDARDS_STATUS, "valueCode": "deprecated"}]),
        status_code_system("withdrawn", extension=[{"url": STANDARDS_STATUS, "valueCode": "withdrawn"}]),
        status_code_system("experimental", experimental=True),
        status_code_system("retired", status="retired"),
    ]
    value_sets = [value_set(r["id"][3:], {"system": r["url"]}) for r in flagged]
    value_sets.append(value_set("experimental-user", {"system": flagged[2]["url"]}, experimental=True))
    first = value_set("target", {"system": LANG, "concept": [{"code": "alpha"}]}, id="tx-target-1")
    second = value_set(
        "target", {"system": LANG, "concept": [{"code": "beta"}]}, id="tx-target-2", version="2.0.0"
    )
    importer = value_set("importer", {"valueSet": [f"{VS}target"]})
    pinning = value_set("pinning-importer", {"valueSet": [f"{VS}target|2.0.0"]})
    for resource in [
        lang_code_system("1.0.0", "Alpha"),
        *flagged,
        *value_sets,
        first,
        second,
        importer,
        pinning,
    ]:
        write_resource(directory, f"{resource['resourceType']}-{resource['id']}.json", resource)
    return create_app({"CONTENT_DIRS": [str(directory)]}).test_client()


@pytest.mark.parametrize("status", ["deprecated", "withdrawn", "experimental", "retired"])
def test_deprecated_withdrawn_experimental_and_retired_content_is_reported(status_client, status):
    system = f"{BASE}/CodeSystem/tx-{status}"
    assert (f"warning-{status}", f"{system}|1.0.0") in expansion_parameters(expand(status_client, status))
    body = get(status_client, "/ValueSet/$validate-code", url=f"{VS}{status}", system=system, code="c1")
    assert param(body, "result") is True
    assert issue_codes(param(body, "issues")) == [("information", "business-rule", "status-check")]
    assert texts(body) == [f"Reference to {status} CodeSystem {system}|1.0.0"]


def test_experimental_content_used_by_an_experimental_value_set_is_not_reported(status_client):
    expansion = expand(status_client, "experimental-user")
    assert not [name for name, _ in expansion_parameters(expansion) if name.startswith("warning-")]


@pytest.mark.parametrize(
    ("rule", "codes", "used"),
    [
        (None, ["beta"], "2.0.0"),  # no version in the import: the latest
        ("default-valueset-version", ["alpha"], "1.0.0"),
        ("force-valueset-version", ["alpha"], "1.0.0"),
        ("check-valueset-version", ["alpha"], "1.0.0"),
    ],
)
def test_valueset_version_rules_pick_the_imported_version(status_client, rule, codes, used):
    query = {rule: f"{VS}target|1.0.0"} if rule else {}
    expansion = get(status_client, "/ValueSet/$expand", url=f"{VS}importer", **query)["expansion"]
    assert [entry["code"] for entry in expansion["contains"]] == codes
    assert ("used-valueset", f"{VS}target|{used}") in expansion_parameters(expansion)


def test_an_import_that_pins_its_version_is_overridden_only_by_force_and_refused_by_check(status_client):
    def codes(**query):
        expansion = get(status_client, "/ValueSet/$expand", url=f"{VS}pinning-importer", **query)["expansion"]
        return [entry["code"] for entry in expansion["contains"]]

    wanted = f"{VS}target|1.0.0"
    assert codes() == ["beta"]
    assert codes(**{"default-valueset-version": wanted}) == ["beta"]  # a default fills no stated version
    assert codes(**{"force-valueset-version": wanted}) == ["alpha"]
    for path, query in [
        ("/ValueSet/$expand", {}),
        ("/ValueSet/$validate-code", {"system": LANG, "code": "beta"}),
    ]:
        refused = get(status_client, path, 422, url=f"{VS}pinning-importer", **query,
                      **{"check-valueset-version": wanted})  # fmt: skip
        assert issue_codes(refused) == [("error", "exception", "version-error")]
        assert "'2.0.0' is not allowed for value set" in refused["issue"][0]["details"]["text"]


# notSelectable and inactive codes


def test_not_selectable_is_known_by_its_property_uri(client):
    grouper = next(entry for entry in expand(client, "all")["contains"] if entry["code"] == "grouper")
    assert grouper["abstract"] is True
    assert param(validate(client, "all", "grouper"), "result") is True
    refused = validate(client, "all", "grouper", abstract="false")
    assert param(refused, "result") is False
    assert texts(refused)[0] == f"Code '{LANG}#grouper' is abstract, and not allowed in this context"


def test_compose_inactive_false_leaves_inactive_codes_out(client):
    assert "old" in displays(expand(client, "all")) and "old" not in displays(expand(client, "active"))
    body = validate(client, "active", "old")
    assert param(body, "result") is False and param(body, "inactive") is True


def test_an_inline_value_set_without_url_may_import_a_contained_one_without_url(client):
    inner = {
        "resourceType": "ValueSet",
        "id": "inner",
        "status": "active",
        "compose": {"include": [{"system": LANG, "version": "1.0.0", "concept": [{"code": "alpha"}]}]},
    }
    outer = {"resourceType": "ValueSet", "status": "active", "contained": [inner],
             "compose": {"include": [{"valueSet": ["#inner"]}]}}  # fmt: skip
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": outer}]}
    response = client.post("/ValueSet/$expand", json=body, content_type="application/fhir+json")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [entry["code"] for entry in response.get_json()["expansion"]["contains"]] == ["alpha"]
