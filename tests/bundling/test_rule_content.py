"""The shipped rule content: published for read and $lookup, read into named types, checked at start-up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.conceptmap import ConceptMap

from terminology import create_app
from terminology.bundling.content import INSTRUCTIONS, MODIFIER_RULES
from terminology.errors import ContentError

REPOSITORY = Path(__file__).resolve().parents[2]
CPT = "http://www.ama-assn.org/go/cpt"


@pytest.mark.parametrize(
    "resource_id", ["ncci-modifier-rules", "cpt-bundling-instructions", "cds-override-reason"]
)
def test_the_rule_code_systems_are_published_and_valid(bare_client, resource_id):
    body = bare_client.get(f"/CodeSystem/{resource_id}").get_json()
    CodeSystem.model_validate(body)
    assert body["content"] == "complete"


def test_every_rule_names_its_source(bare_client):
    for url in (MODIFIER_RULES, INSTRUCTIONS):
        code_system = bare_client.application.extensions["terminology.registry"].find("CodeSystem", url)
        sources = set(code_system.descendants("source"))
        for concept in code_system.concepts.values():
            if concept.code in sources or not concept.parents:
                continue
            assert set(concept.property_values("source")) & sources, f"{url}#{concept.code} names no source"


def _lookup_properties(client, code: str) -> list[tuple]:
    """Return the (property, value) pairs $lookup answers for a code of cpt-bundling-instructions."""
    body = client.get(f"/CodeSystem/$lookup?system={INSTRUCTIONS}&code={code}&property=*").get_json()
    return [
        (p["part"][0]["valueCode"], next(v for k, v in p["part"][1].items() if k.startswith("value")))
        for p in body["parameter"]
        if p["name"] == "property"
    ]


def test_lookup_shows_the_parts_and_sources_of_a_code(bare_client):
    values = _lookup_properties(bare_client, "62305")
    assert ("part", "lumbar-injection") in values and ("part", "myelography-si-two-or-more-regions") in values
    assert ("source", "codingahead-62305") in values


def test_62284_once_per_encounter_is_content_with_its_source(bare_client):
    values = _lookup_properties(bare_client, "62284")
    assert ("units-per-encounter", 1) in values and ("units-source", "acr-coding-source-2006") in values
    checker = bare_client.application.extensions["terminology.registry"]
    source = next(
        c
        for c in checker.find("CodeSystem", INSTRUCTIONS).concepts.values()
        if c.code == "acr-coding-source-2006"
    )
    assert source.property_values("secondary") == [True]


def test_the_projects_own_inference_is_not_cited_as_a_primary_source(bare_client):
    from terminology.bundling.content import PROJECT_INFERENCE, RuleContent

    content = RuleContent.from_registry(bare_client.application.extensions["terminology.registry"])
    (inference,) = {
        s for sources in content.region_sources.values() for s in sources if s.code == PROJECT_INFERENCE
    }
    assert inference.kind == PROJECT_INFERENCE and inference.secondary is True
    assert inference.cite().endswith("(not a CMS or AMA source)")


def test_the_pairwise_maps_agree_with_the_parts(bare_client):
    for resource_id in ("cpt-combined-codes", "cpt-not-reported-together"):
        ConceptMap.model_validate(bare_client.get(f"/ConceptMap/{resource_id}").get_json())
    url = "https://terminology.example.org/fhir/ConceptMap/cpt-combined-codes"
    body = bare_client.get(f"/ConceptMap/$translate?url={url}&system={CPT}&code=72240").get_json()
    targets = {p["part"][1]["valueCoding"]["code"] for p in body["parameter"] if p["name"] == "match"}
    assert targets == {"62302", "62305", "72270"}  # with 62284; with another region and the injection; S&I


def _content_copy(tmp_path: Path) -> list[str]:
    dirs = []
    for name in ("codesystems", "valuesets", "conceptmaps"):
        shutil.copytree(REPOSITORY / name, tmp_path / name)
        dirs.append(str(tmp_path / name))
    return dirs


def _edit(path: Path, change) -> None:
    resource = json.loads(path.read_text())
    change(resource)
    path.write_text(json.dumps(resource))


def _concept(resource: dict, group: str, code: str) -> dict:
    parent = next(c for c in resource["concept"] if c["code"] == group)
    return next(c for c in parent["concept"] if c["code"] == code)


@pytest.mark.parametrize(
    ("file", "change", "element", "words"),
    [
        (
            "codesystems/ncci-modifier-rules.json",
            lambda r: _concept(r, "modifier", "25")["property"].append(
                {"code": "applies-to", "valueCode": "dental"}
            ),
            "CodeSystem.concept[0].concept[",
            "applies-to 'dental' names nothing this file defines",
        ),
        (
            "codesystems/ncci-modifier-rules.json",
            lambda r: _concept(r, "modifier", "XE").__setitem__(
                "property", [p for p in _concept(r, "modifier", "XE")["property"] if p["code"] != "source"]
            ),
            "CodeSystem.concept[0].concept[",
            "XE names no source",
        ),
        (
            "codesystems/cpt-bundling-instructions.json",
            lambda r: _concept(r, "code", "72270")["property"].append(
                {"code": "part", "valueCode": "lumbar-injection"}
            ),
            "CodeSystem.concept[2].concept[",
            "72270 and 62305 describe the same parts",
        ),
        (
            "codesystems/cpt-bundling-instructions.json",
            lambda r: _concept(r, "code", "62284").__setitem__(
                "property",
                [p for p in _concept(r, "code", "62284")["property"] if p["code"] != "units-source"],
            ),
            "CodeSystem.concept[2].concept[",
            "units-per-encounter of 62284 names no units-source",
        ),
        (
            "codesystems/cpt-bundling-instructions.json",
            lambda r: _concept(r, "code", "62284")["property"].append(
                {"code": "units-per-encounter", "valueInteger": 2}
            ),
            "CodeSystem.concept[2].concept[",
            "62284 has 2 values of units-per-encounter",
        ),
        (
            "conceptmaps/cpt-not-reported-together.json",
            lambda r: r["group"][0]["element"][0]["target"].append(
                {"code": "62303", "equivalence": "relatedto", "comment": "wrong on purpose"}
            ),
            "ConceptMap.group[0].element[0].target[",
            "give 62305, not 62302",
        ),
    ],
)
def test_a_broken_rule_file_stops_start_up_naming_file_and_element(tmp_path, file, change, element, words):
    dirs = _content_copy(tmp_path)
    _edit(tmp_path / file, change)
    with pytest.raises(ContentError) as raised:
        create_app({"CONTENT_DIRS": dirs, "DATA_DIR": str(tmp_path / "data")})
    assert raised.value.path.endswith(file) and raised.value.element.startswith(element)
    assert words in raised.value.message


def test_terminology_check_checks_the_rule_files_too(tmp_path, capsys):
    from terminology.cli import main

    dirs = _content_copy(tmp_path)
    _edit(
        tmp_path / "codesystems/ncci-modifier-rules.json",
        lambda r: _concept(r, "modifier", "91")["property"].append(
            {"code": "setting", "valueCode": "dental"}
        ),
    )
    assert main(["check", *dirs]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {tmp_path / 'codesystems/ncci-modifier-rules.json'}: CodeSystem.concept[0].concept["
    )
    assert "setting 'dental' names nothing this file defines" in err
