"""Synthetic content for regex filters: codes that make backtracking engines take exponential time."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_resource

SYSTEM = "http://example.org/fhir/CodeSystem/synthetic-regex"
VS_BASE = "http://example.org/fhir/ValueSet/synthetic-regex"
A40 = "a" * 40
# Patterns a backtracking engine takes exponential time over, against A40 + "!" (named for ids).
PATHOLOGICAL = {"nested": "(a+)+", "nested-twice": "((a+)+)+", "alternation": "(a|aa)+$"}
# 10 kB, and exponential for a backtracking engine too (a?^n a^n).
TEN_KB = "a?" * 5000 + "a" * 40

REGEX_CS = {
    "resourceType": "CodeSystem", "id": "synthetic-regex", "url": SYSTEM, "version": "1.0.0",
    "name": "SyntheticRegex", "status": "active", "content": "complete", "caseSensitive": True,
    "property": [{"code": "tag", "type": "string", "description": "Synthetic text property"}],
    "concept": [
        {"code": A40, "display": "Synthetic all-a code", "property": [{"code": "tag", "valueString": A40}]},
        {"code": A40 + "!", "display": "Synthetic code ending in !",
         "property": [{"code": "tag", "valueString": A40 + "!"}]},
        {"code": A40 + "Y", "display": "Synthetic code ending in Y"},
        {"code": "zz-other", "display": "Synthetic other code"},
    ],
}  # fmt: skip


def regex_value_set(name: str, pattern: str, system: str = SYSTEM, prop: str = "code") -> dict:
    """Return a ValueSet (id ``synthetic-regex-{name}``) with one regex filter over ``system``."""
    return {
        "resourceType": "ValueSet", "id": f"synthetic-regex-{name}", "url": f"{VS_BASE}-{name}",
        "version": "1.0.0", "status": "active",
        "compose": {"include": [{"system": system, "filter": [{"property": prop, "op": "regex", "value": pattern}]}]},
    }  # fmt: skip


def regex_content(directory: Path, *value_sets: dict) -> Path:
    """Write the synthetic code system and ``value_sets`` into a content directory."""
    write_resource(directory, "synthetic-regex-cs.json", REGEX_CS)
    for value_set in value_sets:
        write_resource(directory, f"{value_set['id']}.json", value_set)
    return directory
