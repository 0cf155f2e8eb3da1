"""`$expand`: filtered, paged, hierarchical expansions of value sets (including implicit ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from terminology.engine.clock import today
from terminology.engine.codesystem import CONCEPT_PROPERTIES, CodeSystemIndex, words_of
from terminology.engine.designations import Designation, include_concept_designations, preferred
from terminology.engine.languages import LanguagePreferences
from terminology.engine.registry import Registry
from terminology.engine.valueset import (
    Evaluation,
    Member,
    ValueSetIndex,
    required_supplements,
    supplements_of,
)
from terminology.engine.versions import VersionRule
from terminology.errors import TerminologyError, TooCostly

LABEL = (
    "http://hl7.org/fhir/StructureDefinition/codesystem-label",
    "http://hl7.org/fhir/StructureDefinition/valueset-label",
)
ORDER = (
    "http://hl7.org/fhir/StructureDefinition/codesystem-conceptOrder",
    "http://hl7.org/fhir/StructureDefinition/valueset-conceptOrder",
)
WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
# Concept extensions an expansion carries over from the code system, and from the value set.
_CODE_SYSTEM_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
        "http://hl7.org/fhir/StructureDefinition/rendering-style",
        "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
        "http://hl7.org/fhir/StructureDefinition/codesystem-alternate",
    }
)
_VALUE_SET_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/valueset-supplement",
        "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        STANDARDS_STATUS,
        "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
        "http://hl7.org/fhir/StructureDefinition/rendering-style",
        "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
    }
)
_LANGUAGE_SYSTEM = "urn:ietf:bcp:47"


@dataclass(slots=True)
class ExpandOptions:
    """What the caller asked of the expansion."""

    filter: str | None = None
    count: int | None = None
    offset: int = 0
    offset_given: bool = False  # an ``offset`` parameter was sent (the expansion then states its offset)
    # ``includeDefinition``: the expansion carries the value set's definition (publisher, extensions).
    include_definition: bool = False
    active_only: bool = False
    # The day activity is judged on (codes past a termination date are inactive); default today.
    date: date | None = None
    include_designations: bool = False
    properties: list[str] = field(default_factory=list)
    system_versions: tuple[VersionRule, ...] = ()
    exclude_nested: bool = False
    display_language: str | None = None
    accept_language: str | None = None
    # ``designation`` parameters: ``system|code`` of a use, or ``urn:ietf:bcp:47|lang``.
    designations: list[str] = field(default_factory=list)
    use_supplements: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ExpandedConcept:
    """One entry of ``expansion.contains``, with the entries nested under it."""

    member: Member
    display: str | None
    designations: list[Designation]
    properties: list[tuple[str, str, object]]  # (code, value[x] suffix, value)
    extensions: list[dict]
    inactive: bool
    version: str | None = None
    children: list[ExpandedConcept] = field(default_factory=list)


@dataclass(slots=True)
class Expansion:
    """One page of an expansion, plus what was used to make it."""

    value_set: ValueSetIndex
    total: int
    contains: list[ExpandedConcept]
    used_code_systems: list[str]
    options: ExpandOptions
    on: str  # the day activity was judged on, YYYY-MM-DD
    used_value_sets: list[str] = field(default_factory=list)
    used_supplements: list[str] = field(default_factory=list)
    status_warnings: list[tuple[str, str]] = field(default_factory=list)
    rule_parameters: list[tuple[str, str]] = field(default_factory=list)
    # (code, uri) of every property the entries carry.
    property_definitions: list[tuple[str, str | None]] = field(default_factory=list)
    display_language: str | None = None
    versions_match: bool | None = None
    fragments: list[CodeSystemIndex] = field(default_factory=list)


def display_languages(options: ExpandOptions, value_set: ValueSetIndex) -> LanguagePreferences | None:
    """Return the languages displays are shown in: displayLanguage, Accept-Language or the value set's.

    An expansion falls back to any language (``*``) unless the list forbids it with ``*; q=0``.

    :raise TerminologyError: when ``displayLanguage`` is not a language list (400).
    """
    text = options.display_language or value_set.parameters.get("displayLanguage")
    for source in (text, options.accept_language, value_set.language):
        if not source:
            continue
        try:
            return LanguagePreferences.parse(str(source), any_last=True)
        except ValueError:
            if source is text:
                raise TerminologyError(
                    f"Invalid displayLanguage: '{text}'", tx_code="invalid-display", issue_code="processing"
                ) from None
    return None


def _value(ext: dict):
    return next((v for k, v in ext.items() if k.startswith("value")), None)


def _first_extension(extensions: list[dict], urls) -> object | None:
    for ext in extensions:
        if ext.get("url") in urls:
            return _value(ext)
    return None


def _best_value(designations: list[Designation], languages: LanguagePreferences | None) -> str | None:
    best = preferred(designations, languages)
    return best.value if best is not None else None


class _Builder:
    """Turns members into expansion entries: display, designations, properties and extensions."""

    def __init__(
        self,
        options: ExpandOptions,
        languages: LanguagePreferences | None,
        supplements: list[CodeSystemIndex],
        value_set: ValueSetIndex,
        on: str,
    ) -> None:
        self.options = options
        self.languages = languages
        self.supplements = supplements
        self.value_set = value_set
        self.on = on
        self.definitions: dict[str, str | None] = {}
        self.used_supplements: list[str] = []
        self._by_system: dict[int, tuple[CodeSystemIndex, ...]] = {}

    def supplements_for(self, code_system: CodeSystemIndex) -> tuple[CodeSystemIndex, ...]:
        key = id(code_system)
        found = self._by_system.get(key)
        if found is None:
            found = self._by_system[key] = supplements_of(code_system, self.supplements)
            for supplement in found:
                if supplement.canonical not in self.used_supplements:
                    self.used_supplements.append(supplement.canonical)
        return found

    def _property(self, out: list, code: str, uri: str | None, value_type: str, value: object) -> None:
        if value is None:
            return
        known = self.definitions.get(code)
        if code not in self.definitions or (known is None and uri):
            self.definitions[code] = uri
        out.append((code, value_type, value))

    def build(self, member: Member) -> ExpandedConcept:
        code_system, concept, ref = member.code_system, member.concept, member.ref
        supplements = self.supplements_for(code_system) if self.supplements else ()
        shown: list[Designation] = []
        if (
            self.languages is None
            and not supplements
            and ref is None
            and not self.options.include_designations
        ):
            # The common case: the concept's own display, which preferred() would pick first.
            display = concept.display or _best_value(code_system.designations_of(concept), None)
        else:
            designations = code_system.designations_of(concept, supplements)
            if ref is not None:
                designations.extend(include_concept_designations(ref, self.value_set.language))
            best = preferred(designations, self.languages)
            display = best.value if best is not None else None
            if self.options.include_designations:
                shown = [d for d in designations if d is not best and self._wanted(d)]
        cs_extensions = concept.extensions
        if supplements:
            cs_extensions = [*cs_extensions] + [
                ext
                for s in supplements
                for c in [s.find(concept.code)]
                if c is not None
                for ext in c.extensions
            ]
        vs_extensions = ref.get("extension", []) if ref is not None else []
        properties: list[tuple[str, str, object]] = []
        status = concept.status or (
            _first_extension(cs_extensions, (STANDARDS_STATUS,)) if cs_extensions else None
        )
        if status and str(status).lower() != "active":
            self._property(properties, "status", CONCEPT_PROPERTIES + "status", "Code", status)
        elif concept.deprecated:
            self._property(properties, "status", CONCEPT_PROPERTIES + "status", "Code", "deprecated")
        if cs_extensions or vs_extensions:
            label = _first_extension(vs_extensions, LABEL[1:]) or _first_extension(cs_extensions, LABEL[:1])
            self._property(properties, "label", CONCEPT_PROPERTIES + "label", "String", label)
            order = _first_extension(vs_extensions, ORDER[1:])
            if order is None:
                order = _first_extension(cs_extensions, ORDER[:1])
            self._property(properties, "order", CONCEPT_PROPERTIES + "order", "Decimal", order)
            weight = _first_extension(vs_extensions, (WEIGHT,))
            if weight is None:
                weight = _first_extension(cs_extensions, (WEIGHT,))
            self._property(properties, "weight", CONCEPT_PROPERTIES + "itemWeight", "Decimal", weight)
        wanted = self.options.properties
        for name in wanted:
            if name == "definition":
                self._property(
                    properties, "definition", CONCEPT_PROPERTIES + "definition", "String", concept.definition
                )
                continue
            for source in (code_system, *supplements):
                found = concept if source is code_system else source.find(concept.code)
                for p in found.properties if found is not None else ():
                    if name in ("*", p.code):
                        self._property(properties, p.code, source.property_uri(p.code), p.value_type, p.value)
        extensions = (
            [e for e in cs_extensions if e.get("url") in _CODE_SYSTEM_EXTENSIONS]
            + [e for e in vs_extensions if e.get("url") in _VALUE_SET_EXTENSIONS]
            if cs_extensions or vs_extensions
            else []
        )
        return ExpandedConcept(
            member,
            display,
            shown,
            properties,
            extensions,
            concept.inactive_on(self.on),
        )

    def _wanted(self, designation: Designation) -> bool:
        if not self.options.designations:
            return True
        for wanted in self.options.designations:
            system, _, code = wanted.partition("|")
            use = designation.use or {}
            if use.get("system") == system and use.get("code") == code:
                return True
            if system == _LANGUAGE_SYSTEM and designation.language == code:
                return True
        return False


def _nest(entries: list[ExpandedConcept]) -> list[ExpandedConcept]:
    """Put each entry under its nearest ancestor in the expansion, following the code system's nesting.

    Parents stated only by a ``parent`` property do not nest (tx.fhir.org shows those flat).
    """
    placed: dict[tuple[int, str], ExpandedConcept] = {}
    roots: list[ExpandedConcept] = []
    for entry in entries:
        code_system = entry.member.code_system
        parent = None
        above = entry.member.concept.tree_parent
        while above is not None and parent is None:
            parent = placed.get((id(code_system), above))
            concept = code_system.find(above)
            above = concept.tree_parent if concept is not None else None
        (parent.children if parent is not None else roots).append(entry)
        placed[(id(code_system), entry.member.concept.code)] = entry
    return roots


def expand(registry: Registry, value_set: ValueSetIndex, options: ExpandOptions, limit: int) -> Expansion:
    """Expand a value set; refuse (too-costly) when more than ``limit`` codes would be returned."""
    evaluation: Evaluation = value_set.evaluation(registry, options.system_versions)
    supplements = required_supplements(registry, [*value_set.supplements, *options.use_supplements])
    members = evaluation.members
    if options.filter:
        text = options.filter.strip().lower()
        filter_words = words_of(text)
        members = [m for m in members if m.concept.matches_filter(filter_words, text)]
    on = (options.date or today()).isoformat()
    if options.active_only:
        members = [m for m in members if not m.concept.inactive_on(on)]
    total = len(members)
    returned = max(0, min(total - options.offset, options.count if options.count is not None else total))
    if returned > limit:
        raise TooCostly(
            f"The value set '{value_set.shown}' expansion has too many codes to produce (>{limit})",
        )
    languages = display_languages(options, value_set)
    builder = _Builder(options, languages, supplements, value_set, on)
    nest = (
        not options.exclude_nested
        and evaluation.can_nest
        # A text filter over a whole code system lists its matches flat (tx.fhir.org's search path).
        and not (options.filter and evaluation.whole_system)
        and options.offset <= 0
        and (options.count is None or options.count > total)
    )
    if nest:
        entries = [builder.build(m) for m in members]
        contains = _nest(entries)
    else:
        contains = [builder.build(m) for m in members[options.offset : options.offset + returned]]
    if evaluation.several_versions:
        _mark_versions(contains)
    used = list(evaluation.used_code_systems) or sorted(
        {f"{s}|{v}" if v else s for s, v in value_set.included_systems()}
    )
    used_supplements = list(builder.used_supplements)
    for supplement in supplements:
        if supplement.canonical not in used_supplements:
            used_supplements.append(supplement.canonical)
    echoed_language = None
    if languages is not None:
        source = options.display_language or value_set.parameters.get("displayLanguage")
        echoed_language = (
            LanguagePreferences.parse(str(source)).text  # type: ignore[union-attr]
            if source
            else LanguagePreferences.parse(options.accept_language or value_set.language).text  # type: ignore[union-attr]
        )
    return Expansion(
        value_set,
        total,
        contains,
        used,
        options,
        on,
        used_value_sets=list(evaluation.used_value_sets),
        used_supplements=used_supplements,
        status_warnings=_warnings(value_set, evaluation),
        rule_parameters=list(dict.fromkeys(r.parameter for r in evaluation.used_rules)),
        versions_match=evaluation.versions_match,
        fragments=list(evaluation.fragments),
        property_definitions=list(builder.definitions.items()),
        display_language=echoed_language,
    )


def _mark_versions(entries: list[ExpandedConcept]) -> None:
    for entry in entries:
        entry.version = entry.member.code_system.version
        _mark_versions(entry.children)


def _warnings(value_set: ValueSetIndex, evaluation: Evaluation) -> list[tuple[str, str]]:
    from terminology.engine.valueset import status_warning

    own = status_warning(value_set, value_set)
    return ([own] if own else []) + [w for w in evaluation.status_warnings if w != own]
