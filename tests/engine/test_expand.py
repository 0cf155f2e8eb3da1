"""`$expand` in the engine: text filters, paging, active-only as of a date, the size limit."""

from __future__ import annotations

from datetime import date

import pytest

from terminology.engine.expand import ExpandOptions, expand
from terminology.errors import TooCostly
from tests.engine.conftest import SYSTEM, VS


def _codes(expansion) -> list[str]:
    """The codes of an expansion in document order, nested entries after their parent."""

    def walk(entries):
        for entry in entries:
            yield entry.member.concept.code
            yield from walk(entry.children)

    return list(walk(expansion.contains))


def test_a_whole_expansion_names_the_code_system_versions_used(registry):
    expansion = expand(registry, registry.value_set(f"{VS}all"), ExpandOptions(), limit=100)
    assert expansion.total == 7 and _codes(expansion)[0] == "root"
    assert expansion.used_code_systems == [f"{SYSTEM}|2"]


def test_text_filter_matches_code_prefixes_and_display_words(registry):
    value_set = registry.value_set(f"{VS}all")
    assert _codes(expand(registry, value_set, ExpandOptions(filter="one"), 100)) == ["one", "one-a"]
    assert _codes(expand(registry, value_set, ExpandOptions(filter="synth ret"), 100)) == ["retired"]


def test_count_and_offset_page_through_the_total(registry):
    value_set = registry.value_set(f"{VS}all")
    page = expand(registry, value_set, ExpandOptions(count=2, offset=2), limit=100)
    assert page.total == 7 and _codes(page) == ["one-a", "two"]
    assert _codes(expand(registry, value_set, ExpandOptions(count=5, offset=6), 100)) == ["late"]


def test_active_only_as_of_a_date(registry):
    value_set = registry.value_set(f"{VS}all")
    early = expand(registry, value_set, ExpandOptions(active_only=True, date=date(2019, 1, 1)), 100)
    late = expand(registry, value_set, ExpandOptions(active_only=True, date=date(2021, 1, 1)), 100)
    assert "retired" not in _codes(early) and "ended" in _codes(early)
    assert "ended" not in _codes(late) and late.on == "2021-01-01"


def test_more_codes_than_the_limit_without_paging_is_too_costly(registry):
    value_set = registry.value_set(f"{VS}all")
    with pytest.raises(TooCostly):
        expand(registry, value_set, ExpandOptions(), limit=3)
    assert len(expand(registry, value_set, ExpandOptions(count=3), limit=3).contains) == 3


def test_the_implicit_value_set_of_a_code_system(registry):
    implicit = registry.value_set(f"{SYSTEM}?fhir_vs", "1")
    assert "late" not in _codes(expand(registry, implicit, ExpandOptions(), 100))
    assert registry.holds(implicit)
