"""A registry of synthetic content built in memory, for tests that call the engine directly (no HTTP)."""

from __future__ import annotations

import pytest

from terminology.engine.codesystem import CodeSystemIndex
from terminology.engine.concept_map_index import ConceptMapIndex
from terminology.engine.registry import Registry
from terminology.engine.valueset import ValueSetIndex

SYSTEM = "http://example.org/fhir/CodeSystem/engine-synthetic"
OTHER = "http://example.org/fhir/CodeSystem/engine-other"
VS = "http://example.org/fhir/ValueSet/engine-"
MAP = "http://example.org/fhir/ConceptMap/engine-synthetic-to-other"


def _concept(code: str, display: str, *children: dict, **properties) -> dict:
    concept: dict = {"code": code, "display": display}
    if properties:
        concept["property"] = [
            {"code": name.replace("_", "-"), f"value{kind}": value}
            for name, (kind, value) in properties.items()
        ]
    if children:
        concept["concept"] = list(children)
    return concept


def code_system(version: str, *extra: dict) -> dict:
    """A synthetic hierarchy: root > (one > one-a, two); retired; terminated 2020-01-01."""
    return {
        "resourceType": "CodeSystem", "id": f"engine-synthetic-{version}", "url": SYSTEM,
        "version": version, "name": "EngineSynthetic", "status": "active", "content": "complete",
        "caseSensitive": False,
        "property": [
            {"code": "colour", "type": "code"}, {"code": "status", "type": "code"},
            {"code": "termination-date", "type": "dateTime"},
        ],
        "concept": [
            _concept(
                "root", "Synthetic root",
                _concept("one", "Synthetic one", _concept("one-a", "Synthetic one A", colour=("Code", "blue"))),
                _concept("two", "Synthetic two", colour=("Code", "red")),
            ),
            _concept("retired", "Synthetic retired", status=("Code", "retired")),
            _concept("ended", "Synthetic ended", termination_date=("DateTime", "2020-01-01")),
            *extra,
        ],
    }  # fmt: skip


def value_set(name: str, *includes: dict, excludes: tuple = ()) -> dict:
    compose: dict = {"include": list(includes)}
    if excludes:
        compose["exclude"] = list(excludes)
    return {"resourceType": "ValueSet", "id": f"engine-{name}", "url": f"{VS}{name}", "status": "active",
            "compose": compose}  # fmt: skip


def filtered(op: str, value: str, prop: str = "concept") -> dict:
    return {"system": SYSTEM, "filter": [{"property": prop, "op": op, "value": value}]}


VALUE_SETS = [
    value_set("is-a", filtered("is-a", "one")),
    value_set("descendent-of", filtered("descendent-of", "root")),
    value_set("is-not-a", filtered("is-not-a", "one")),
    value_set("generalizes", filtered("generalizes", "one-a")),
    value_set("regex", filtered("regex", "o.*", prop="code")),
    value_set("regex-property", filtered("regex", "bl.e", prop="colour")),
    value_set("listed", {"system": SYSTEM, "concept": [{"code": "two"}, {"code": "retired"}]}),
    value_set("imports", {"valueSet": [f"{VS}is-a"]}, excludes=({"system": SYSTEM, "concept": [{"code": "one"}]},)),
    value_set("both", {"system": SYSTEM, "valueSet": [f"{VS}descendent-of"], "filter": [
        {"property": "concept", "op": "is-a", "value": "one"}]}),
    value_set("circular-a", {"valueSet": [f"{VS}circular-b"]}),
    value_set("circular-b", {"valueSet": [f"{VS}circular-a"]}),
    value_set("self", {"system": SYSTEM, "concept": [{"code": "two"}]}, {"valueSet": [f"{VS}self"]}),
    value_set("pinned", {"system": SYSTEM, "version": "1", "concept": [{"code": "root"}]}),
    value_set("unpinned", {"system": SYSTEM, "concept": [{"code": "root"}, {"code": "late"}]}),
    value_set("all", {"system": SYSTEM}),
]  # fmt: skip

CONCEPT_MAP = {
    "resourceType": "ConceptMap", "id": "engine-synthetic-to-other", "url": MAP, "status": "active",
    "group": [{"source": SYSTEM, "target": OTHER, "element": [
        {"code": "one", "target": [{"code": "o-1", "display": "Other one", "equivalence": "equivalent"}]},
        {"code": "two", "target": [
            {"code": "o-2", "equivalence": "wider",
             "dependsOn": [{"property": "http://example.org/fhir/side", "value": "left"}]},
            {"code": "o-3", "equivalence": "wider",
             "dependsOn": [{"property": "http://example.org/fhir/side", "value": "right"}]},
        ]},
    ]}],
}  # fmt: skip


def build_registry() -> Registry:
    """Two versions of the synthetic code system, the value sets above and one concept map."""
    registry = Registry()
    registry.add(CodeSystemIndex(code_system("1")))
    registry.add(CodeSystemIndex(code_system("2", _concept("late", "Synthetic late (version 2 only)"))))
    for resource in VALUE_SETS:
        registry.add(ValueSetIndex(resource))
    registry.add(ConceptMapIndex(CONCEPT_MAP))
    return registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The synthetic registry (read-only, like a serving worker's)."""
    return build_registry()
