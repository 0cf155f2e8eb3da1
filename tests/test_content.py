"""The shipped content: exact descriptors, notices, property declarations, sourced map rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AMA_NOTICE = (
    "CPT © Copyright 2026 American Medical Association. All rights reserved. AMA and CPT are "
    "registered trademarks of the American Medical Association."
)
VERBATIM = {
    "72126": "Computed tomography, cervical spine; with contrast material",
    "72020": "Radiologic examination, spine, single view, specify level",
    "72255": "Myelography, thoracic, radiological supervision and interpretation",
    "62302": "Myelography via lumbar injection, including radiological supervision and interpretation; cervical",
}


def load(relative: str) -> dict:
    return json.loads((ROOT / relative).read_text(encoding="utf-8"))


def test_cpt_fragment_header_and_verbatim_descriptors():
    cs = load("codesystems/cpt-2026-spine-fragment.json")
    assert (cs["url"], cs["version"], cs["content"]) == ("http://www.ama-assn.org/go/cpt", "2026", "fragment")
    assert cs["caseSensitive"] is True and cs["compositional"] is True
    assert cs["copyright"] == AMA_NOTICE
    displays = {c["code"]: c["display"] for c in cs["concept"]}
    for code, display in VERBATIM.items():
        assert displays[code] == display
    assert len(displays) == cs["count"] == 15


def test_every_property_is_declared_with_a_description():
    cs = load("codesystems/cpt-2026-spine-fragment.json")
    declared = {p["code"]: p for p in cs["property"]}
    assert set(declared) == {
        "modifier",
        "modified",
        "kind",
        "modality",
        "body-region",
        "contrast",
        "service-component",
    }
    assert all(p.get("description") for p in declared.values())


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "conceptmaps").glob("*.json"))
)
def test_every_concept_map_row_says_where_it_comes_from(path):
    cmap = load(path)
    targets = [t for g in cmap["group"] for e in g["element"] for t in e["target"]]
    assert targets and all(t.get("comment") for t in targets)


def test_combined_code_pairs():
    cmap = load("conceptmaps/cpt-combined-codes.json")
    pairs = {
        (e["code"], t["dependsOn"][0]["value"], t["code"])
        for g in cmap["group"] for e in g["element"] for t in e["target"]
    }  # fmt: skip
    expected = {("62284", "72240", "62302"), ("62284", "72255", "62303"), ("62284", "72265", "62304"),
                ("62284", "72270", "62305"), ("72125", "72126", "72127")}  # fmt: skip
    assert {p for p in pairs if p[0] in ("62284", "72125")} == expected
    assert {(b, a, c) for a, b, c in expected} <= pairs  # found from either component


def test_resources_that_carry_cpt_carry_the_ama_notice():
    for folder in ("valuesets", "conceptmaps"):
        for path in (ROOT / folder).glob("*.json"):
            resource = json.loads(path.read_text(encoding="utf-8"))
            text = json.dumps(resource.get("compose", resource.get("group")))
            if "http://www.ama-assn.org/go/cpt" in text:
                assert resource.get("copyright", "").startswith(AMA_NOTICE), path.name
