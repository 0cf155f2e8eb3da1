"""`$lookup` in the engine: display, properties, hierarchy, versions, dates and what is not found."""

from __future__ import annotations

from datetime import date

import pytest

from terminology.engine.lookup import lookup
from terminology.errors import NotFound
from tests.engine.conftest import SYSTEM


def _props(result) -> dict[str, list]:
    found: dict[str, list] = {}
    for prop in result.properties:
        found.setdefault(prop.code, []).append(prop.value)
    return found


def test_a_code_with_its_hierarchy_and_properties(registry):
    result = lookup(registry, SYSTEM, "one")
    assert result.concept.display == "Synthetic one" and result.code_system.version == "2"
    props = _props(result)
    assert props["parent"] == ["root"] and props["child"] == ["one-a"] and props["inactive"] == [False]
    assert result.include_designations is True


def test_asked_properties_only(registry):
    result = lookup(registry, SYSTEM, "one-a", wanted_properties=["colour"])
    assert _props(result) == {"colour": ["blue"]}
    assert result.include_designations is False


def test_a_version_is_honoured(registry):
    assert lookup(registry, SYSTEM, "late").code_system.version == "2"
    with pytest.raises(NotFound, match="late"):
        lookup(registry, SYSTEM, "late", version="1")


def test_inactive_by_status_and_by_termination_date(registry):
    assert _props(lookup(registry, SYSTEM, "retired"))["inactive"] == [True]
    assert _props(lookup(registry, SYSTEM, "ended", on=date(2019, 12, 31)))["inactive"] == [False]
    assert _props(lookup(registry, SYSTEM, "ended", on=date(2020, 1, 2)))["inactive"] == [True]


def test_case_is_folded_for_a_case_insensitive_system(registry):
    assert lookup(registry, SYSTEM, "ONE").code == "one"


@pytest.mark.parametrize(
    ("system", "code", "version", "message"),
    [
        (SYSTEM, "nope", None, "Unknown code 'nope'"),
        ("http://example.org/fhir/CodeSystem/absent", "one", None, "could not be found"),
        (SYSTEM, "one", "9", "Valid versions: [1,2]"),
    ],
)
def test_what_is_not_found(registry, system, code, version, message):
    with pytest.raises(NotFound, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        lookup(registry, system, code, version)
    assert caught.value.status == 404
