"""Value-set evaluation called directly: every compose filter, imports, excludes, pins, circular references."""

from __future__ import annotations

import pytest

from terminology.content.loader import load_registry
from terminology.engine.versions import VersionRule, rule_version
from terminology.errors import NotFound, TerminologyError, UnprocessableRequest
from tests.conftest import SYNTHETIC_CS, write_resource
from tests.engine.conftest import SYSTEM, VS


def rules(mode: str, version: str) -> tuple[VersionRule, ...]:
    return (VersionRule(SYSTEM, version, mode),)


def codes(registry, name: str, pins=None) -> list[str]:
    members, index = registry.value_set(f"{VS}{name}").members(registry, pins)
    assert set(index) == {(SYSTEM, m.concept.code) for m in members}
    return [m.concept.code for m in members]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("is-a", ["one", "one-a"]),
        ("descendent-of", ["one", "one-a", "two"]),  # below root, root itself excluded
        ("is-not-a", ["root", "two", "retired", "ended", "late"]),
        ("generalizes", ["root", "one", "one-a"]),  # one-a and everything above it
        ("regex", ["one", "one-a"]),  # the whole code must match o.*
        ("regex-property", ["one-a"]),  # colour blue matches bl.e; red does not
        ("listed", ["two", "retired"]),
        ("all", ["root", "one", "one-a", "two", "retired", "ended", "late"]),
    ],
)
def test_compose_filters(registry, name, expected):
    assert codes(registry, name) == expected


def test_an_imported_value_set_with_an_exclude(registry):
    assert codes(registry, "imports") == ["one-a"]


def test_a_system_include_with_a_value_set_is_their_intersection(registry):
    # descendent-of root ∩ is-a one
    assert codes(registry, "both") == ["one", "one-a"]


@pytest.mark.parametrize("name", ["circular-a", "self"])
def test_circular_references_are_refused(registry, name):
    with pytest.raises(TerminologyError, match="Found a circularity pointing to") as caught:
        codes(registry, name)
    assert caught.value.status == 422 and caught.value.tx_code == "vs-invalid"


def test_include_versions_and_pins(registry):
    # No version stated: the latest (2) holds "late"; a system-version pin picks version 1.
    assert codes(registry, "unpinned") == ["root", "late"]
    assert codes(registry, "unpinned", rules("default", "1")) == ["root"]
    # A stated version wins over a default pin, but not over a force pin.
    members, _ = registry.value_set(f"{VS}pinned").members(registry, rules("override", "2"))
    assert [m.code_system.version for m in members] == ["2"]
    with pytest.raises(TerminologyError, match="required to be '2' by a version-check parameter"):
        registry.value_set(f"{VS}pinned").members(registry, rules("check", "2"))
    # A version range picks the latest version in it.
    assert codes(registry, "unpinned", rules("default", "x")) == ["root", "late"]


def test_rule_version_modes():
    assert rule_version((), SYSTEM, None) is None
    assert rule_version(rules("default", "2"), SYSTEM, "1") == "1"
    assert rule_version(rules("default", "2"), SYSTEM, None) == "2"
    assert rule_version(rules("override", "2"), SYSTEM, "1") == "2"
    assert rule_version(rules("check", "2"), SYSTEM, None) == "2"
    assert rule_version(rules("check", "2"), SYSTEM, "1") == "1"  # the check itself comes later


def test_an_unknown_pinned_version_is_not_found(registry):
    with pytest.raises(NotFound, match="Valid versions: 1 or 2"):
        codes(registry, "unpinned", rules("default", "9"))


def test_unsupported_filters_are_refused(registry):
    from terminology.engine.valueset import ValueSetIndex
    from tests.engine.conftest import filtered, value_set

    children = ValueSetIndex(value_set("children", filtered("child-of", "root")))
    assert [m.concept.code for m in children.members(registry)[0]] == ["one", "two"]
    odd = ValueSetIndex(value_set("odd", filtered("generalizes", "x", prop="colour")))
    with pytest.raises(UnprocessableRequest, match="not supported"):
        odd.members(registry)


def test_members_are_remembered_per_pinning_in_the_bounded_cache(registry):
    value_set = registry.value_set(f"{VS}is-a")
    first = value_set.members(registry)
    assert value_set.members(registry) is first
    assert value_set.members(registry, rules("default", "1")) is not first
    assert registry.member_cache.currsize <= registry.member_cache.maxsize


def test_property_filters_evaluate(tmp_path):
    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    vs = {
        "resourceType": "ValueSet", "id": "v", "url": "http://example.org/v", "status": "active",
        "compose": {"include": [{"system": SYNTHETIC_CS["url"], "filter": [{"property": "colour", "op": "exists", "value": "true"}]}]},
    }  # fmt: skip
    write_resource(tmp_path, "vs.json", vs)
    registry = load_registry([tmp_path])
    members, _ = registry.value_set("http://example.org/v").members(registry)
    assert [m.concept.code for m in members] == ["zz-child"]
