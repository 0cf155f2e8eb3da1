"""The code-system index: text filters and the hierarchy."""

from __future__ import annotations

from terminology.engine.codesystem import CodeSystemIndex, words_of
from tests.conftest import SYNTHETIC_CS


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
