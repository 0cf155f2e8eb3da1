"""Engine helpers without HTTP: version ordering, text filters, compose filters."""

from __future__ import annotations

import pytest

from terminology.content.loader import load_registry
from terminology.engine.codesystem import CodeSystemIndex, words_of
from terminology.engine.versions import canonical, split_canonical, version_key
from tests.conftest import SYNTHETIC_CS


@pytest.mark.parametrize(
    ("older", "newer"), [("2025", "2026"), ("1.9", "1.10"), ("1.0.0", "1.0.1"), (None, "1")]
)
def test_versions_order_naturally(older, newer):
    assert version_key(older) < version_key(newer)


def test_canonical_round_trip():
    assert split_canonical(canonical("http://x", "2026")) == ("http://x", "2026")
    assert split_canonical("http://x") == ("http://x", None)


def test_text_filter_matches_word_prefixes_and_code_prefix():
    index = CodeSystemIndex(SYNTHETIC_CS)
    child = index.find("zz-child")
    assert child.matches_filter(words_of("synth chi"), "synth chi")
    assert not child.matches_filter(words_of("parent"), "parent")
    assert child.matches_filter([], "zz-ch")


def test_hierarchy_and_descendants():
    index = CodeSystemIndex(SYNTHETIC_CS)
    assert index.find("zz-child").parents == ["zz-parent"]
    assert index.descendants("zz-parent") == {"zz-child"}


def test_property_filters_evaluate(tmp_path):
    from tests.conftest import write_resource

    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    vs = {
        "resourceType": "ValueSet", "id": "v", "url": "http://example.org/v", "status": "active",
        "compose": {"include": [{"system": SYNTHETIC_CS["url"], "filter": [{"property": "colour", "op": "exists", "value": "true"}]}]},
    }  # fmt: skip
    write_resource(tmp_path, "vs.json", vs)
    registry = load_registry([tmp_path])
    members, _ = registry.value_set("http://example.org/v").members(registry)
    assert [m.concept.code for m in members] == ["zz-child"]
