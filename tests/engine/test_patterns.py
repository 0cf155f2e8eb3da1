"""engine.patterns: RE2 compilation with FHIR whole-match semantics, refusals, limits and the cache."""

from __future__ import annotations

import pytest

from terminology.engine import patterns
from terminology.engine.patterns import (
    PATTERN_CACHE_SIZE,
    PatternLimits,
    ScanBudget,
    compile_pattern,
    pattern_problems,
    property_text,
    regex_filters,
)
from terminology.errors import InvalidPattern, TooCostly

LIMITS = PatternLimits()
ELEMENT = "ValueSet.compose.include[0].filter[0].value"
A40 = "a" * 40
# A 10 kB pattern that backtracking engines take exponential time over (a?^n a^n).
TEN_KB = "a?" * 5000 + "a" * 40


def matches(pattern: str, text: str, limits: PatternLimits = LIMITS) -> bool:
    return compile_pattern(pattern, limits).fullmatch(text) is not None


@pytest.mark.parametrize("pattern", ["(a+)+", "((a+)+)+", "(a|aa)+$", "(a|a)+", "(.*a){20}"])
def test_pathological_patterns_answer_in_linear_time(pattern):
    assert matches(pattern, A40)
    assert not matches(pattern, A40 + "!")
    assert not matches(pattern, A40 + "Y")


def test_a_10kb_pattern_runs_when_the_length_limit_allows_it():
    roomy = PatternLimits(max_length=20_000)
    assert matches(TEN_KB, A40, roomy)
    assert not matches(TEN_KB, A40 + "!", roomy)


@pytest.mark.parametrize(
    ("pattern", "code", "matched"),
    [
        ("7212.", "72126", True),
        ("7212.", "721265", False),  # FHIR: the whole code must match, not a prefix
        ("7212.", "172126", False),
        ("^722[4-7]0$", "72240", True),
        ("^722[4-7]0$", "72255", False),
        ("722[4-7]0", "x72240", False),
        ("[0-9]{5}(:[0-9A-Z]{2})*", "72126:26", True),
        ("(?i)tc", "TC", True),
        ("\\d+", "72126", True),
    ],
)  # fmt: skip
def test_whole_code_must_match(pattern, code, matched):
    assert matches(pattern, code) is matched


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        ("(a)\\1", "a backreference"),
        ("(?P<x>a)(?P=x)", "a named backreference"),
        ("(?P<x>a)\\k<x>", "a backreference"),
        ("a(?=b)", "a lookahead"),
        ("a(?!b)", "a negative lookahead"),
        ("(?<=a)b", "a lookbehind"),
        ("(?<!a)b", "a negative lookbehind"),
        ("(?>a+)b", "an atomic group"),
        ("a++b", "a possessive quantifier"),
        ("(a)?(?(1)b|c)", "a conditional"),
    ],
)
def test_features_re2_lacks_are_refused_naming_the_feature_and_element(pattern, feature):
    with pytest.raises(InvalidPattern) as caught:
        compile_pattern(pattern, LIMITS, ELEMENT)
    error = caught.value
    assert (error.status, error.issue_code, error.tx_code) == (422, "not-supported", "vs-invalid")
    assert error.expression == [ELEMENT]
    assert f"uses {feature}, which this server does not support" in error.message
    assert "RE2" in error.message


@pytest.mark.parametrize("pattern", ["(", "[z-a]", "a{2,1}", "*a", "\\p{Nope}"])
def test_invalid_patterns_are_refused_with_re2s_reason(pattern):
    with pytest.raises(InvalidPattern) as caught:
        compile_pattern(pattern, LIMITS, ELEMENT)
    error = caught.value
    assert (error.status, error.issue_code, error.tx_code) == (422, "invalid", "vs-invalid")
    assert error.message.startswith(f"The regex filter '{pattern}' is not a valid expression: ")
    assert error.expression == [ELEMENT]


def test_a_pattern_over_the_length_limit_is_too_costly_and_quoted_short():
    with pytest.raises(TooCostly) as caught:
        compile_pattern(TEN_KB, LIMITS, ELEMENT)
    error = caught.value
    assert (error.status, error.issue_code) == (422, "too-costly")
    assert error.expression == [ELEMENT]
    assert "longer than the 1000 characters" in error.message
    assert "(10040 characters)" in error.message and len(error.message) < 300


def test_a_pattern_over_re2s_memory_bound_is_too_costly():
    huge = "(?:[\\p{L}\\p{N}]{0,100}x){0,10}[\\p{L}]{50}"
    with pytest.raises(TooCostly, match="memory bound"):
        compile_pattern(huge, LIMITS, ELEMENT)


def test_a_non_string_value_is_invalid():
    with pytest.raises(InvalidPattern, match="must be a string"):
        compile_pattern(["a"], LIMITS, ELEMENT)


def test_compiled_patterns_are_cached_with_a_bound():
    patterns._compiled.cache_clear()
    first = compile_pattern("7212.", LIMITS)
    assert compile_pattern("7212.", LIMITS) is first
    for n in range(PATTERN_CACHE_SIZE + 10):
        compile_pattern(f"x{n}", LIMITS)
    info = patterns._compiled.cache_info()
    assert info.currsize == PATTERN_CACHE_SIZE == info.maxsize


def test_scan_budget_refuses_past_the_limit_naming_value_set_system_and_element():
    budget = ScanBudget(PatternLimits(max_codes=10))
    budget.value_set = "http://example.org/vs|1"
    budget.spend(6, "http://example.org/cs|1", "ValueSet.compose.include[0].filter[0].value")
    with pytest.raises(TooCostly) as caught:
        budget.spend(6, "http://example.org/cs|1", "ValueSet.compose.include[1].filter[0].value")
    error = caught.value
    assert error.expression == ["ValueSet.compose.include[1].filter[0].value"]
    assert "'http://example.org/vs|1' would test 12 codes" in error.message
    assert "at most 10 codes" in error.message


def test_regex_filters_and_problems_name_each_element():
    value_set = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [
                {"system": "s", "filter": [{"property": "code", "op": "=", "value": "x"},
                                           {"property": "code", "op": "regex", "value": "(a)\\1"}]},
                {"system": "s", "filter": [{"property": "code", "op": "regex", "value": "(a+)+"}]},
            ],
            "exclude": [{"system": "s", "filter": [{"property": "code", "op": "regex", "value": "("}]}],
        },
    }  # fmt: skip
    assert list(regex_filters(value_set)) == [
        ("ValueSet.compose.include[0].filter[1].value", "(a)\\1"),
        ("ValueSet.compose.include[1].filter[0].value", "(a+)+"),
        ("ValueSet.compose.exclude[0].filter[0].value", "("),
    ]
    problems = pattern_problems(value_set, LIMITS)
    assert [p.expression for p in problems] == [
        ["ValueSet.compose.include[0].filter[1].value"],
        ["ValueSet.compose.exclude[0].filter[0].value"],
    ]
    assert pattern_problems({"resourceType": "ValueSet", "compose": "junk"}, LIMITS) == []


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (False, "false"), (3, "3"), ({"code": "x"}, "x"), ("CT", "CT")]
)
def test_property_values_are_matched_in_their_fhir_lexical_form(value, text):
    assert property_text(value) == text
