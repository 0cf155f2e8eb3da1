"""Content loading: validation with fhir.resources, cross-checks, versions side by side."""

from __future__ import annotations

import copy

import pytest

from terminology import create_app
from terminology.content.loader import load_registry
from terminology.errors import ContentError, ContentErrors
from tests.conftest import SYNTHETIC_CS, write_resource

SYN = SYNTHETIC_CS["url"]


def value_set(**compose) -> dict:
    return {
        "resourceType": "ValueSet", "id": "vs", "url": "http://example.org/fhir/ValueSet/vs",
        "status": "active", "compose": compose,
    }  # fmt: skip


def concept_map(target_code: str, equivalence: str) -> dict:
    return {
        "resourceType": "ConceptMap", "id": "m", "url": "http://example.org/fhir/ConceptMap/m", "status": "active",
        "group": [{"source": SYN, "target": SYN, "element": [{"code": "zz-child", "target": [
            {"code": target_code, "equivalence": equivalence}]}]}],
    }  # fmt: skip


def load_error(directory) -> ContentError:
    with pytest.raises(ContentError) as caught:
        load_registry([directory])
    return caught.value


def test_bundled_content_loads(app):
    counts = app.extensions["terminology.registry"].counts()
    assert counts == {"CodeSystem": 6, "ValueSet": 6, "ConceptMap": 3}


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.path.endswith("broken.json") and error.element == "(json)"


def test_schema_violation_names_the_element(tmp_path):
    bad = copy.deepcopy(SYNTHETIC_CS)
    bad["concept"][1]["code"] = 7
    write_resource(tmp_path, "bad.json", bad)
    error = load_error(tmp_path)
    assert error.element == "CodeSystem.concept[1].code"
    assert error.path.endswith("bad.json")


def test_unserved_resource_type_is_refused(tmp_path):
    write_resource(tmp_path, "patient.json", {"resourceType": "Patient", "id": "p"})
    assert load_error(tmp_path).element == "resourceType"


def test_missing_url_is_refused(tmp_path):
    bad = {k: v for k, v in SYNTHETIC_CS.items() if k != "url"}
    write_resource(tmp_path, "nourl.json", bad)
    assert load_error(tmp_path).element == "CodeSystem.url"


def test_duplicate_code_and_undeclared_property_are_refused(tmp_path):
    bad = copy.deepcopy(SYNTHETIC_CS)
    bad["concept"].append({"code": "zz-parent"})
    write_resource(tmp_path / "a", "dup.json", bad)
    assert load_error(tmp_path / "a").element == "CodeSystem.concept[2].code"
    bad = copy.deepcopy(SYNTHETIC_CS)
    bad["concept"][1]["property"] = [{"code": "flavour", "valueCode": "x"}]
    write_resource(tmp_path / "b", "prop.json", bad)
    assert load_error(tmp_path / "b").element == "CodeSystem.concept[1].property[0].code"
    bad["concept"][1]["property"] = [{"code": "colour", "valueBoolean": True}]
    write_resource(tmp_path / "c", "type.json", bad)
    assert "declared as code" in load_error(tmp_path / "c").message


def test_duplicate_url_and_version_names_both_files(tmp_path):
    write_resource(tmp_path, "a.json", SYNTHETIC_CS)
    write_resource(tmp_path, "b.json", {**SYNTHETIC_CS, "id": "other"})
    error = load_error(tmp_path)
    assert error.path.endswith("b.json") and "a.json" in error.message
    assert f"{SYN}|1.0.0" in error.message


def test_versions_live_side_by_side_and_latest_wins(tmp_path):
    write_resource(tmp_path, "v1.json", SYNTHETIC_CS)
    newer = copy.deepcopy(SYNTHETIC_CS)
    newer.update(id="synthetic-10", version="1.10.0")
    newer["concept"].append({"code": "zz-new", "display": "Synthetic new concept"})
    write_resource(tmp_path, "v10.json", newer)
    registry = load_registry([tmp_path])
    assert registry.code_system(SYN).version == "1.10.0"
    assert registry.code_system(SYN, "1.0.0").find("zz-new") is None
    assert registry.versions_of("CodeSystem", SYN) == ["1.0.0", "1.10.0"]


@pytest.mark.parametrize(
    ("compose", "element"),
    [({"include": [{"system": "http://example.org/missing"}]}, "ValueSet.compose.include[0].system"),
     ({"include": [{"system": SYN, "concept": [{"code": "nope"}]}]}, "ValueSet.compose.include[0].concept[0].code"),
     ({"include": [{"valueSet": ["http://example.org/fhir/ValueSet/missing"]}]},
      "ValueSet.compose.include[0].valueSet[0]")],
)  # fmt: skip
def test_dangling_value_set_includes_are_refused(tmp_path, compose, element):
    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    write_resource(tmp_path, "vs.json", value_set(**compose))
    assert load_error(tmp_path).element == element


def test_value_set_importing_another(tmp_path):
    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    base = value_set(
        include=[{"system": SYN, "filter": [{"property": "concept", "op": "is-a", "value": "zz-parent"}]}]
    )
    write_resource(tmp_path, "base.json", base)
    write_resource(
        tmp_path, "outer.json",
        {**value_set(include=[{"valueSet": [base["url"]]}], exclude=[{"system": SYN, "concept": [{"code": "zz-child"}]}]),
         "id": "outer", "url": "http://example.org/fhir/ValueSet/outer"},
    )  # fmt: skip
    registry = load_registry([tmp_path])
    members, _ = registry.value_set("http://example.org/fhir/ValueSet/outer").members(registry)
    assert [m.concept.code for m in members] == ["zz-parent"]


def test_concept_map_codes_must_exist_in_loaded_systems(tmp_path):
    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    write_resource(tmp_path, "map.json", concept_map("zz-missing", "equivalent"))
    assert load_error(tmp_path).element == "ConceptMap.group[0].element[0].target[0].code"


def test_missing_directory_is_reported(tmp_path):
    assert load_error(tmp_path / "absent").element == "(directory)"


@pytest.mark.parametrize(
    ("change", "element"),
    [(lambda r: r.update(status="published"), "CodeSystem.status"),
     (lambda r: r["property"][0].update(type="text"), "CodeSystem.property[0].type")],
)  # fmt: skip
def test_codes_outside_required_bindings_are_refused(tmp_path, change, element):
    bad = copy.deepcopy(SYNTHETIC_CS)
    change(bad)
    write_resource(tmp_path, "bad.json", bad)
    assert load_error(tmp_path).element == element


def test_unknown_map_equivalence_is_refused(tmp_path):
    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    write_resource(tmp_path, "map.json", concept_map("zz-parent", "same-ish"))
    assert load_error(tmp_path).element == "ConceptMap.group[0].element[0].target[0].equivalence"


# -- problems listed in full, and the lenient policy ----------------------------------------------


def load_problems(directory) -> list:
    with pytest.raises(ContentErrors) as caught:
        load_registry([directory])
    return caught.value.problems


def test_strict_lists_every_problem_not_only_the_first(tmp_path):
    bad = copy.deepcopy(SYNTHETIC_CS)
    bad["concept"][1]["code"] = 7
    bad["content"] = "everything"
    write_resource(tmp_path, "a.json", bad)
    write_resource(tmp_path, "b.json", {"resourceType": "Patient", "id": "p"})
    (tmp_path / "c.json").write_text("{", encoding="utf-8")
    problems = load_problems(tmp_path)
    found = {(p.source.rsplit("/", 1)[-1], p.element) for p in problems}
    assert found == {("a.json", "CodeSystem.concept[1].code"), ("a.json", "CodeSystem.content"),
                     ("b.json", "resourceType"), ("c.json", "(json)")}  # fmt: skip


def test_fhir_defined_concept_properties_need_no_declaration(tmp_path):
    cs = copy.deepcopy(SYNTHETIC_CS)
    cs["property"] = []
    cs["concept"][1]["property"] = [
        {"code": "status", "valueCode": "retired"}, {"code": "inactive", "valueBoolean": True},
        {"code": "notSelectable", "valueBoolean": True},
    ]  # fmt: skip
    cs["concept"][0]["concept"][0].pop("property")
    write_resource(tmp_path, "cs.json", cs)
    concept = load_registry([tmp_path]).code_system(SYN).find("zz-retired")
    assert concept.inactive and concept.abstract


def test_resources_may_share_an_id_when_url_or_version_differ(tmp_path):
    write_resource(tmp_path, "a.json", SYNTHETIC_CS)
    write_resource(tmp_path, "b.json", {**SYNTHETIC_CS, "version": "2.0.0"})
    write_resource(tmp_path, "c.json", {**SYNTHETIC_CS, "url": "http://example.org/fhir/CodeSystem/other"})
    registry = load_registry([tmp_path])
    assert registry.versions_of("CodeSystem", SYN) == ["1.0.0", "2.0.0"]
    assert registry.counts()["CodeSystem"] == 3
    assert registry.read("CodeSystem", "synthetic").source.endswith("a.json")


def bad_package(directory):
    """Good content plus resources a real package may hold: degraded ones and broken ones."""
    write_resource(directory, "cs.json", SYNTHETIC_CS)
    no_status = {k: v for k, v in SYNTHETIC_CS.items() if k != "status"}
    write_resource(
        directory, "no-status.json", {**no_status, "id": "ns", "url": "http://example.org/fhir/CodeSystem/ns"}
    )
    broken = copy.deepcopy(SYNTHETIC_CS)
    broken.update(id="broken", url="http://example.org/fhir/CodeSystem/broken")
    broken["concept"][0]["code"] = 7
    write_resource(directory, "broken.json", broken)
    deliberate = {
        "unknown-code": {"include": [{"system": SYN, "concept": [{"code": "zz-missing"}]}]},
        "missing-import": {"include": [{"valueSet": ["http://example.org/fhir/ValueSet/absent"]}]},
        "unknown-system": {"include": [{"system": "http://example.org/fhir/CodeSystem/absent"}]},
        "circle-a": {"include": [{"valueSet": ["http://example.org/fhir/ValueSet/circle-b"]}]},
        "circle-b": {"include": [{"valueSet": ["http://example.org/fhir/ValueSet/circle-a"]}]},
        "uses-broken": {"include": [{"system": "http://example.org/fhir/CodeSystem/broken"}]},
    }
    for name, compose in deliberate.items():
        write_resource(directory, f"{name}.json", {**value_set(**compose), "id": name,
                                                     "url": f"http://example.org/fhir/ValueSet/{name}"})  # fmt: skip


def test_strict_refuses_a_real_package_naming_each_problem(tmp_path):
    bad_package(tmp_path)
    elements = {(p.source.rsplit("/", 1)[-1], p.element) for p in load_problems(tmp_path)}
    assert ("no-status.json", "CodeSystem.status") in elements
    assert ("broken.json", "CodeSystem.concept[0].code") in elements
    assert ("unknown-code.json", "ValueSet.compose.include[0].concept[0].code") in elements
    assert ("missing-import.json", "ValueSet.compose.include[0].valueSet[0]") in elements
    assert ("unknown-system.json", "ValueSet.compose.include[0].system") in elements
    assert ("circle-a.json", "ValueSet.compose") in elements


def test_lenient_serves_what_it_can_and_answers_the_rest_with_4xx(tmp_path, caplog):
    bad_package(tmp_path)
    app = create_app({"CONTENT_DIRS": [str(tmp_path)], "CONTENT_POLICY": "lenient"})
    client = app.test_client()
    registry = app.extensions["terminology.registry"]
    assert {p.source.rsplit("/", 1)[-1] for p in registry.problems if p.refused} == {"broken.json"}
    assert "broken.json: CodeSystem.concept[0].code" in caplog.text
    # A CodeSystem without status is served.
    lookup = client.get("/CodeSystem/$lookup?system=http://example.org/fhir/CodeSystem/ns&code=zz-child")
    assert lookup.status_code == 200
    # A refused code system: 422 naming the file and the element, directly and through a value set.
    for path in ("/CodeSystem/$lookup?system=http://example.org/fhir/CodeSystem/broken&code=x",
                 "/ValueSet/$expand?url=http://example.org/fhir/ValueSet/uses-broken"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 422, path
        text = answer.get_json()["issue"][0]["details"]["text"]
        assert "could not be loaded (broken.json): CodeSystem.concept[0].code" in text
    # The deliberately bad value sets load; each request gets its 4xx.
    expected = {"missing-import": (404, "not-found"), "unknown-system": (404, "not-found"),
                "circle-a": (422, "processing")}  # fmt: skip
    for name, (status, code) in expected.items():
        answer = client.get(f"/ValueSet/$expand?url=http://example.org/fhir/ValueSet/{name}")
        assert (answer.status_code, answer.get_json()["issue"][0]["code"]) == (status, code), name
    assert (
        client.get("/ValueSet/$expand?url=http://example.org/fhir/ValueSet/unknown-code").status_code == 200
    )
    ready = client.get("/readyz")
    assert ready.status_code == 200
    warnings = [i["details"]["text"] for i in ready.get_json()["issue"] if i["severity"] == "warning"]
    assert any(w.startswith("refused: ") and "broken.json: CodeSystem.concept[0].code" in w for w in warnings)
    assert any(w.startswith("degraded: ") and "no-status.json: CodeSystem.status" in w for w in warnings)


def test_the_content_policy_is_a_setting(monkeypatch, tmp_path):
    bad_package(tmp_path)
    monkeypatch.setenv("TERMINOLOGY_CONTENT_DIRS", str(tmp_path))
    with pytest.raises(ContentErrors):
        create_app()
    monkeypatch.setenv("TERMINOLOGY_CONTENT_POLICY", "lenient")
    assert create_app().extensions["terminology.registry"].problems
    monkeypatch.setenv("TERMINOLOGY_CONTENT_POLICY", "sloppy")
    with pytest.raises(SystemExit, match="TERMINOLOGY_CONTENT_POLICY"):
        create_app()


def test_lenient_takes_the_terminology_of_a_package_and_ignores_the_rest(tmp_path):
    package = tmp_path / "package"
    write_resource(package, "package.json", {"name": "example.synthetic.package", "version": "0.1.0"})
    write_resource(package, ".index.json", {"index-version": 1, "files": []})
    write_resource(package, "StructureDefinition-x.json", {"resourceType": "StructureDefinition", "id": "x"})
    write_resource(package, "CodeSystem-synthetic.json", SYNTHETIC_CS)
    registry = load_registry([package], "lenient")
    assert registry.problems == []
    assert registry.counts() == {"CodeSystem": 1, "ValueSet": 0, "ConceptMap": 0}
    # Strict content is our own: a file that is not terminology is a mistake there.
    assert {p.element for p in load_problems(package)} == {"resourceType"}
