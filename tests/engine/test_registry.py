"""The registry: versions side by side, the latest by natural order, reads, implicit value sets, clashes."""

from __future__ import annotations

from datetime import date

import pytest

from terminology.engine.codesystem import CodeSystemIndex
from terminology.engine.registry import Registry
from terminology.engine.valueset import ValueSetIndex
from terminology.errors import NotFound
from tests.engine.conftest import SYSTEM, VS, code_system, value_set


def test_versions_live_side_by_side_and_the_latest_is_the_default(registry):
    assert registry.versions_of("CodeSystem", SYSTEM) == ["1", "2"]
    assert registry.code_system(SYSTEM).version == "2"
    assert registry.code_system(SYSTEM, "1").version == "1"
    assert registry.has_system(SYSTEM) and not registry.has_system("http://example.org/absent")


def test_read_by_id_and_counts(registry):
    assert registry.read("ValueSet", "engine-is-a").url == f"{VS}is-a"
    with pytest.raises(NotFound):
        registry.read("ValueSet", "absent")
    assert registry.counts() == {"CodeSystem": 2, "ValueSet": 15, "ConceptMap": 1}


def test_a_clash_of_url_and_version_is_reported():
    fresh = Registry()
    first = CodeSystemIndex(code_system("1"))
    assert fresh.add(first) is None
    assert fresh.add(CodeSystemIndex(dict(code_system("1"), id="another"))) is first


def test_the_version_in_force_on_a_date():
    dated = Registry()
    for version in ("2025", "2026"):
        dated.add(CodeSystemIndex(dict(code_system(version), id=f"dated-{version}")))
    assert dated.code_system_for_date(SYSTEM, date(2025, 7, 1)).version == "2025"
    assert dated.code_system_for_date(SYSTEM, date(2026, 1, 1)).version == "2026"
    with pytest.raises(NotFound, match="in force on 2024-12-31"):
        dated.code_system_for_date(SYSTEM, date(2024, 12, 31))


def test_implicit_value_sets_are_made_once_and_held(registry):
    implicit = registry.value_set(f"{SYSTEM}?fhir_vs")
    assert registry.value_set(f"{SYSTEM}?fhir_vs") is implicit and registry.holds(implicit)
    with pytest.raises(NotFound):
        registry.value_set("http://example.org/absent?fhir_vs")


def test_only_its_own_value_sets_are_held(registry):
    assert registry.holds(registry.value_set(f"{VS}all"))
    assert not registry.holds(ValueSetIndex(value_set("all", {"system": SYSTEM})))


def test_a_missing_included_value_set_says_so(registry):
    with pytest.raises(NotFound, match="Unable to find included value set") as caught:
        registry.value_set_by_canonical(f"{VS}absent|1")
    assert caught.value.status == 422
