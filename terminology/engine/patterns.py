"""Regex filters of value sets (``op = regex``): RE2 patterns run in linear time, within limits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

import re2

from terminology.errors import InvalidPattern, TerminologyError, TooCostly

# Compiled patterns each worker keeps (least recently used out; the binding keeps its own 128 most
# recent too). RE2 bounds the memory of each one (8 MiB by default, program and DFA cache
# together), so the cache is bounded; in practice a pattern over short codes takes kilobytes.
PATTERN_CACHE_SIZE = 256
# Shown in messages instead of a whole pattern longer than this.
_SHOWN = 60


@dataclass(frozen=True, slots=True)
class PatternLimits:
    """How much regex work the service accepts: per pattern, and per value-set evaluation."""

    # Longest pattern accepted, in characters (TERMINOLOGY_REGEX_MAX_LENGTH).
    max_length: int = 1000
    # Most codes (or property values) the regex filters of one value-set evaluation may test
    # (TERMINOLOGY_REGEX_MAX_CODES). An `$expand` or `$validate-code` evaluates a value set once.
    max_codes: int = 100_000


# Perl features RE2 lacks on purpose (they need backtracking), by the operator RE2 names in
# "invalid perl operator: …". Everything else RE2 refuses is an invalid pattern.
_PERL_OPERATORS = {
    "(?=": "a lookahead",
    "(?!": "a negative lookahead",
    "(?<=": "a lookbehind",
    "(?<!": "a negative lookbehind",
    "(?>": "an atomic group",
    "(?(": "a conditional",
    "(?P": "a named backreference",
}
_TOO_LARGE = "pattern too large"
# Codes the regex filters of the current request have tested, across every value set it evaluates
# (a batch Bundle evaluates one per entry); None outside a request_allowance() block.
_REQUEST_SPENT: ContextVar[list[int] | None] = ContextVar("regex_request_spent", default=None)


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # refusals are reported to the caller, not printed to stderr
    options.never_capture = True  # a filter only asks whether the whole value matches
    return options


_OPTIONS = _options()


def shown(pattern: str) -> str:
    """Return the pattern as messages quote it (long ones cut, with their length)."""
    if len(pattern) <= _SHOWN:
        return pattern
    return f"{pattern[:_SHOWN]}… ({len(pattern)} characters)"


@lru_cache(maxsize=PATTERN_CACHE_SIZE)
def _compiled(pattern: str):
    """Compile a pattern with RE2 once (failures are not cached: they are refused anyway)."""
    return re2.compile(pattern, _OPTIONS)


def compile_pattern(pattern: str, limits: PatternLimits, element: str | None = None):
    """Compile a regex filter's pattern with RE2, or refuse it naming ``element`` and saying why.

    Raises InvalidPattern (422 ``invalid``, or ``not-supported`` for a Perl feature RE2 lacks)
    and TooCostly (422 ``too-costly``) for a pattern over the length limit or RE2's memory bound.
    """
    if not isinstance(pattern, str):
        kind = type(pattern).__name__
        raise InvalidPattern(f"The regex filter value must be a string, not a {kind}", expression=element)
    if len(pattern) > limits.max_length:
        raise TooCostly(
            f"The regex filter '{shown(pattern)}' is longer than the {limits.max_length} characters "
            "this server evaluates",
            expression=element,
        )
    try:
        return _compiled(pattern)
    except re2.error as exc:
        reason = _reason(exc)
    if reason.startswith(_TOO_LARGE):
        raise TooCostly(
            f"The regex filter '{shown(pattern)}' is too large to evaluate within this server's "
            "memory bound for one pattern",
            expression=element,
        )
    feature = _missing_feature(reason)
    if feature is not None:
        raise InvalidPattern(
            f"The regex filter '{shown(pattern)}' uses {feature}, which this server does not "
            "support: regex filters are evaluated with RE2, in time linear in the length of "
            "the code, and RE2 has no backreferences or lookaround",
            expression=element,
            issue_code="not-supported",
        )
    raise InvalidPattern(
        f"The regex filter '{shown(pattern)}' is not a valid expression: {reason}", expression=element
    )


def _missing_feature(reason: str) -> str | None:
    """Name the Perl feature an RE2 error is about, or None when the pattern is simply invalid."""
    kind, _, operator = reason.partition(": ")
    if kind == "invalid escape sequence" and (operator[1:].isdigit() or operator == "\\k"):
        return "a backreference"
    if kind == "invalid perl operator":
        return _PERL_OPERATORS.get(operator)
    if kind == "bad repetition operator" and len(operator) == 2 and operator.endswith("+"):
        return "a possessive quantifier"
    return None


def _reason(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else ""
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def property_text(value: object) -> str:
    """Return a property value as the text a pattern is matched against (FHIR's lexical form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # a Coding: its code
        return str(value.get("code", ""))
    return str(value)


class ScanBudget:
    """Counts the codes the regex filters of one value-set evaluation test, up to the limit.

    ``value_set`` is the canonical of the value set being evaluated (an import's, while it is).
    Inside request_allowance(), every evaluation is charged to the request's one allowance too.
    """

    __slots__ = ("limits", "spent", "value_set")

    def __init__(self, limits: PatternLimits) -> None:
        self.limits = limits
        self.spent = 0
        self.value_set = ""

    def spend(self, codes: int, code_system: str, element: str) -> None:
        """Charge a filter's scan before it runs; refuse (too-costly) past the limit."""
        self.spent += codes
        if self.spent > self.limits.max_codes:
            raise TooCostly(
                f"The regex filters of the value set '{self.value_set}' would test {self.spent} codes "
                f"({element} scans {codes} codes of '{code_system}'); this server tests at most "
                f"{self.limits.max_codes} codes for one request",
                expression=element,
            )
        account = _REQUEST_SPENT.get()
        if account is not None:
            account[0] += codes
            if account[0] > self.limits.max_codes:
                raise TooCostly(
                    f"The regex filters of this request would test {account[0]} codes ({element} of the "
                    f"value set '{self.value_set}' scans {codes} codes of '{code_system}'); this server "
                    f"tests at most {self.limits.max_codes} codes for one request",
                    expression=element,
                )


@contextmanager
def request_allowance() -> Iterator[None]:
    """Charge the regex filters of every value set evaluated in the block to one allowance.

    One request may evaluate many value sets (a batch Bundle, one per entry): each evaluation within
    the limit must not add up to a request that scans without limit.
    """
    if _REQUEST_SPENT.get() is not None:  # already inside one (a batch entry that is itself a batch)
        yield
        return
    token = _REQUEST_SPENT.set([0])
    try:
        yield
    finally:
        _REQUEST_SPENT.reset(token)


def regex_filters(value_set: dict) -> Iterator[tuple[str, str]]:
    """Yield ``(element, pattern)`` for every regex filter of a ValueSet's compose."""
    compose = value_set.get("compose") or {}
    if not isinstance(compose, dict):
        return
    for kind in ("include", "exclude"):
        for i, include in enumerate(compose.get(kind) or []):
            if not isinstance(include, dict):
                continue
            for j, flt in enumerate(include.get("filter") or []):
                if isinstance(flt, dict) and flt.get("op") == "regex":
                    yield f"ValueSet.compose.{kind}[{i}].filter[{j}].value", flt.get("value", "")


def pattern_problems(value_set: dict, limits: PatternLimits) -> list[TerminologyError]:
    """Return one error per regex filter RE2 cannot run within the limits (each names its element)."""
    problems: list[TerminologyError] = []
    for element, pattern in regex_filters(value_set):
        try:
            compile_pattern(pattern, limits, element)
        except (InvalidPattern, TooCostly) as exc:
            problems.append(exc)
    return problems
