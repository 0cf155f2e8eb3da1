"""`$translate` in the engine: forward, reverse, target system and dependsOn conditions."""

from __future__ import annotations

import pytest

from terminology.engine.translate import TranslateRequest, translate
from terminology.errors import NotFound
from tests.engine.conftest import MAP, OTHER, SYSTEM


def _targets(matches) -> list[str | None]:
    return [m.target.target_code for m in matches]


def test_forward_through_every_map_or_one(registry):
    assert _targets(translate(registry, TranslateRequest(SYSTEM, "one"))) == ["o-1"]
    assert _targets(translate(registry, TranslateRequest(SYSTEM, "one", map_url=MAP))) == ["o-1"]
    assert translate(registry, TranslateRequest(SYSTEM, "root")) == []


def test_reverse_finds_the_source(registry):
    (match,) = translate(registry, TranslateRequest(OTHER, "o-1", reverse=True))
    assert (match.target.source_code, match.concept_map.url) == ("one", MAP)


def test_target_system_filters_matches(registry):
    assert translate(registry, TranslateRequest(SYSTEM, "one", target_system="http://elsewhere.test")) == []


def test_depends_on_picks_the_target(registry):
    side = "http://example.org/fhir/side"
    assert _targets(translate(registry, TranslateRequest(SYSTEM, "two"))) == ["o-2", "o-3"]
    assert _targets(translate(registry, TranslateRequest(SYSTEM, "two", dependencies={side: "right"}))) == ["o-3"]


def test_an_unknown_map_is_not_found(registry):
    with pytest.raises(NotFound):
        translate(registry, TranslateRequest(SYSTEM, "one", map_url="http://example.org/fhir/ConceptMap/absent"))
