"""The displays of a concept in every language ($expand, $validate-code, $lookup): pick one, judge one."""

from __future__ import annotations

from dataclasses import dataclass, field

from terminology.engine.languages import FULL, LANGUAGE, REGION, LanguagePreferences, tags_match

HL7_TERM_MAINT = "http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra"
SNOMED = "http://snomed.info/sct"
# The use a concept's own display carries when it is listed among its designations.
DISPLAY_USE = {"system": HL7_TERM_MAINT, "code": "preferredForLanguage", "display": "Preferred For Language"}
_DISPLAY_USES = {(HL7_TERM_MAINT, "preferredForLanguage"), (SNOMED, "900000000000548007")}
_PREFERRED_USES = _DISPLAY_USES | {(SNOMED, "900000000000013009")}
_INACTIVE_STATUSES = frozenset({"withdrawn", "inactive", "retired", "deprecated"})
# Designation extensions an answer carries (others are the content's own business).
_SHOWN_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
        "http://hl7.org/fhir/StructureDefinition/rendering-style",
        "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
        "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status",
        "http://hl7.org/fhir/StructureDefinition/codesystem-alternate",
    }
)


@dataclass(slots=True)
class Designation:
    """One designation of a concept: value plus optional language and use Coding.

    ``base`` marks the concept's own display; ``source`` is the canonical of the supplement a
    designation came from; ``status`` is its standards status (a withdrawn one is no longer a
    correct display).
    """

    value: str
    language: str | None = None
    use: dict | None = None
    base: bool = False
    source: str | None = None
    status: str | None = None
    extensions: list = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Say whether the designation is still a correct display."""
        return self.status not in _INACTIVE_STATUSES

    @property
    def is_display(self) -> bool:
        """Say whether the designation can stand as a display (no use, or a display use)."""
        return self.use is None or (self.use.get("system"), self.use.get("code")) in _DISPLAY_USES

    @property
    def is_preferred(self) -> bool:
        """Say whether the designation is a preferred display (SNOMED synonyms count)."""
        return self.use is None or (self.use.get("system"), self.use.get("code")) in _PREFERRED_USES

    def to_fhir(self) -> dict:
        """Render as a ``ValueSet.expansion.contains.designation`` element."""
        out: dict = {}
        if self.language:
            out["language"] = self.language
        if self.use:
            out["use"] = self.use
        out["value"] = self.value
        shown = [e for e in self.extensions if e.get("url") in _SHOWN_EXTENSIONS]
        if shown:
            out["extension"] = shown
        return out


def _language_ok(
    prefs: LanguagePreferences | None, language: str | None, depth: int, default: str | None
) -> bool:
    if default and language and tags_match(default, language, LANGUAGE):
        return True
    if language is None or prefs is None:
        return True
    return prefs.covers(language, depth)


def _same(a: str, b: str, normalised: bool) -> bool:
    if normalised:
        return " ".join(a.split()).lower() == " ".join(b.split()).lower()
    return a.lower() == b.lower()


class DisplayMatch:
    """How a display compares with a concept's designations: found, or equal once whitespace is normalised."""

    __slots__ = ("found", "whitespace_only")

    def __init__(self, found: bool, whitespace_only: bool = False) -> None:
        self.found = found
        self.whitespace_only = whitespace_only


def match_display(
    designations: list[Designation],
    prefs: LanguagePreferences | None,
    default: str | None,
    value: str,
    active_only: bool = False,
) -> DisplayMatch:
    """Say whether ``value`` is a display of the concept in a wanted language (case-insensitive)."""
    candidates = [
        d
        for d in designations
        if _language_ok(prefs, d.language, LANGUAGE, default) and (not active_only or d.active) and d.value
    ]
    if any(_same(value, d.value, False) for d in candidates):
        return DisplayMatch(True)
    return DisplayMatch(False, any(_same(value, d.value, True) for d in candidates))


def display_count(
    designations: list[Designation], prefs: LanguagePreferences | None, display_only: bool
) -> int:
    """Count the displays in the wanted languages: the closest match level that has any wins."""
    for depth in (FULL, REGION, LANGUAGE):
        count = sum(
            1
            for d in designations
            if (not display_only or d.is_display) and d.value and _language_ok(prefs, d.language, depth, None)
        )
        if count:
            return count
    return 0


def join_choices(items: list[str]) -> str:
    """Join ``'a', 'b' or 'c'`` the way tx.fhir.org lists alternatives."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def present(designations: list[Designation], prefs: LanguagePreferences | None) -> str:
    """List the valid displays for a message: ``'Display 1' (en) or 'Anzeige 1' (de)``."""

    def shown(d: Designation) -> str:
        return f"'{d.value}' ({d.language})" if d.language else f"'{d.value}'"

    wanted = [
        shown(d)
        for d in designations
        if d.is_display and d.value and _language_ok(prefs, d.language, LANGUAGE, None)
    ]
    if not wanted:
        wanted = [shown(d) for d in designations if d.is_display and d.value]
    return join_choices(wanted)


def preferred(designations: list[Designation], prefs: LanguagePreferences | None) -> Designation | None:
    """Pick the designation to show as the display for the wanted languages (None: no display).

    Without a preference the concept's own display wins. With one, each wanted language is
    tried in turn, active designations first, the closest tag match first, and within that a
    preferred designation, then any display, then anything in that language.
    """
    if not designations:
        return None
    if prefs is None:
        for test in (
            lambda d: d.is_preferred and d.active,
            lambda d: d.is_display and d.active,
            lambda d: d.is_display,
            lambda d: d.is_preferred,
        ):
            found = next((d for d in designations if test(d)), None)
            if found is not None:
                return found
        return designations[0]
    for wanted in prefs.wanted:
        for active_only in (True, False):
            for depth in (FULL, REGION, LANGUAGE):
                in_language = [
                    d
                    for d in designations
                    if (not active_only or d.active)
                    and (
                        wanted.tag == "*"
                        or (d.language is not None and tags_match(wanted.tag, d.language, depth))
                    )
                ]
                for test in (lambda d: d.is_preferred, lambda d: d.is_display, lambda d: True):
                    found = next((d for d in in_language if test(d)), None)
                    if found is not None:
                        return found
    return next((d for d in designations if d.language is None and d.is_display), None)


def include_concept_designations(ref: dict, language: str | None) -> list[Designation]:
    """Return what a ``compose.include.concept`` entry says of its concept: its display (in the value
    set's language) and its designations."""
    out = []
    if ref.get("display"):
        out.append(Designation(ref["display"].strip(), language, None))
    for d in ref.get("designation", []):
        out.append(
            Designation(
                d.get("value", "").strip(), d.get("language"), d.get("use"), extensions=d.get("extension", [])
            )
        )
    return out
