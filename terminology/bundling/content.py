"""The shipped bundling rules as typed data: modifier restrictions, CPT instruction parts, override reasons.

The rules live in content files a coder can audit (codesystems/ncci-modifier-rules.json,
codesystems/cpt-bundling-instructions.json, codesystems/cds-override-reason.json, and the
pairwise ConceptMaps cpt-combined-codes and cpt-not-reported-together). This module reads them
once at start-up into the types below and checks that they hold together: every reference
points at a concept that exists, every family code is described by its own parts, and every row
of the pairwise ConceptMaps says what the parts say. A broken rule file stops start-up with the
file and the element named, as any bad content file does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations

from terminology.engine.codesystem import CodeSystemIndex, Concept
from terminology.engine.concept_map_index import ConceptMapIndex
from terminology.engine.registry import Registry
from terminology.engine.systems import OWN_BASE
from terminology.errors import ContentError

BASE = OWN_BASE
MODIFIER_RULES = f"{BASE}/CodeSystem/ncci-modifier-rules"
INSTRUCTIONS = f"{BASE}/CodeSystem/cpt-bundling-instructions"
OVERRIDE_REASONS = f"{BASE}/CodeSystem/cds-override-reason"
COMBINED_CODES = f"{BASE}/ConceptMap/cpt-combined-codes"
NOT_REPORTED_TOGETHER = f"{BASE}/ConceptMap/cpt-not-reported-together"
COMBINED_COMPONENT = f"{COMBINED_CODES}#other-component"
SETTINGS = frozenset({"practitioner", "outpatient"})
# The kind of a rule source that is this project's own inference (neither a CMS/AMA text nor a restatement).
PROJECT_INFERENCE = "project-inference"
# What a finding is, for choosing the override reasons a card offers (cds-override-reason offered-for).
OFFERED_FOR = frozenset(
    {"ncci-ptp-indicator-1", "duplicate-line", "mue-line-edit", "mue-clinical", "once-per-encounter", "pc-tc"}
)


@dataclass(frozen=True, slots=True)
class RuleSource:
    """Where a rule comes from: a title, the kind of source, where to read it, and if it is secondary."""

    code: str
    title: str
    kind: str | None
    url: str | None
    secondary: bool

    def cite(self) -> str:
        """Return the source as a finding's rationale names it, saying when it is not a primary text."""
        where = f": {self.url}" if self.url else ""
        if self.kind == PROJECT_INFERENCE:
            return f"{self.title}{where} (not a CMS or AMA source)"
        return f"{self.title}{where}" + (" (secondary source)" if self.secondary else "")


@dataclass(frozen=True, slots=True)
class ModifierRule:
    """One modifier and the restrictions under which it bypasses an NCCI PTP edit."""

    code: str
    ncci_associated: bool
    circumstance: str | None
    asserts: str  # the circumstance as a sentence says it: "a separate encounter"
    bypass_group: str | None
    applies_to: frozenset[str]  # code kinds the modifier may be on; empty = any
    not_for: frozenset[str]
    setting: str | None  # the only setting where it applies; None = both
    anatomic_site: str | None
    same_line_conflicts: frozenset[str]
    override_reason: str | None
    mue_line_split: bool
    units_per_line: int | None
    sources: tuple[RuleSource, ...]
    definition: str

    @property
    def anatomic(self) -> bool:
        """Say whether this is an anatomic modifier (it names a site)."""
        return self.anatomic_site is not None


@dataclass(frozen=True, slots=True)
class CodeRange:
    """A numeric range of CPT codes that belong to one kind (a CPT section)."""

    first: int
    last: int
    kind: str


@dataclass(frozen=True, slots=True)
class EncounterLimit:
    """A CPT coding instruction on how many units of a code one encounter reports (62284: once)."""

    code: str
    units: int
    family: str  # the family (a concept under family) the code belongs to
    definition: str  # the code's definition, which states the instruction
    sources: tuple[RuleSource, ...]


@dataclass(slots=True)
class Family:
    """Codes whose service parts combine into one another (myelography; cervical spine CT)."""

    code: str
    title: str
    instruction: str
    override_reasons: tuple[str, ...]
    sources: tuple[RuleSource, ...]
    parts_of: dict[str, frozenset[str]] = field(default_factory=dict)  # code -> its parts
    sources_of: dict[str, tuple[RuleSource, ...]] = field(default_factory=dict)  # code -> its sources
    # Part -> the parts of which two or more, performed together, are that part.
    collectors: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    # Normalised parts -> every smallest set of codes describing exactly those parts.
    covers: dict[frozenset[str], list[tuple[str, ...]]] = field(default_factory=dict)

    def normalise(self, parts: frozenset[str]) -> frozenset[str]:
        """Fold two or more single-region parts (or one beside the 2-or-more part) into that part."""
        for collector, members in self.collectors:
            present = parts & members
            if len(present) >= 2 or (present and collector in parts):
                parts = (parts - members) | {collector}
        return parts

    def parts(self, codes) -> frozenset[str]:
        """Return the normalised parts of a set of the family's codes."""
        found: frozenset[str] = frozenset()
        for code in codes:
            found |= self.parts_of[code]
        return self.normalise(found)

    def best(self, codes) -> tuple[str, ...]:
        """Return the fewest codes describing what ``codes`` describe, preferring codes already there."""
        present = set(codes)
        wanted = self.parts(present)
        candidates = self.covers.get(wanted)
        if candidates is None:  # more parts than build_covers tried: search once, then remember
            candidates = self.covers[wanted] = self._search(wanted)
        if len(candidates) == 1:
            return candidates[0]
        return min(candidates, key=lambda cover: (-len(present.intersection(cover)), cover))

    def _search(self, wanted: frozenset[str]) -> list[tuple[str, ...]]:
        codes = sorted(self.parts_of)
        for size in range(1, len(codes) + 1):
            found = [chosen for chosen in combinations(codes, size) if self.parts(chosen) == wanted]
            if found:
                return found
        raise ValueError(f"no codes describe {sorted(wanted)}")  # the codes' own parts always do

    def build_covers(self) -> None:
        """Find, for every set of parts the codes can describe, the smallest sets of codes describing it."""
        codes = sorted(self.parts_of)
        universe = frozenset().union(*self.parts_of.values())
        for size in range(1, len(universe) + 1):
            for chosen in combinations(codes, size):
                parts = self.parts(chosen)
                found = self.covers.setdefault(parts, [])
                if not found or len(found[0]) == size:
                    found.append(chosen)


@dataclass(slots=True)
class RuleContent:
    """Every shipped rule the checker applies, read from the content files."""

    modifiers: dict[str, ModifierRule] = field(default_factory=dict)
    code_ranges: list[CodeRange] = field(default_factory=list)
    region_sites: dict[str, frozenset[str]] = field(default_factory=dict)  # body region -> its sites
    region_sources: dict[str, tuple[RuleSource, ...]] = field(default_factory=dict)  # body region -> sources
    families: dict[str, Family] = field(default_factory=dict)
    family_of: dict[str, Family] = field(default_factory=dict)  # code -> its family
    encounter_limits: dict[str, EncounterLimit] = field(default_factory=dict)  # code -> its limit
    reasons_for: dict[str, tuple[str, ...]] = field(default_factory=dict)  # offered-for -> reasons
    reason_displays: dict[str, str] = field(default_factory=dict)
    modifier_canonical: str | None = None
    instructions_canonical: str | None = None
    # Pair of codes -> canonical of the pairwise ConceptMap that has a row for it.
    pair_maps: dict[frozenset[str], str] = field(default_factory=dict)
    maps_used: list[str] = field(default_factory=list)

    def kinds_of(self, code: str) -> frozenset[str]:
        """Return the kinds (CPT sections) of a code; empty for codes outside every range."""
        if len(code) != 5 or not code.isdigit():
            return frozenset()
        number = int(code)
        return frozenset(r.kind for r in self.code_ranges if r.first <= number <= r.last)

    @classmethod
    def from_registry(cls, registry: Registry) -> RuleContent:
        """Read and check the rule files loaded in the registry (absent files: no such rules)."""
        content = cls()
        reasons = registry.find("CodeSystem", OVERRIDE_REASONS)
        if reasons is not None:
            content._read_reasons(reasons)  # type: ignore[arg-type]
        rules = registry.find("CodeSystem", MODIFIER_RULES)
        if rules is not None:
            content._read_modifiers(rules)  # type: ignore[arg-type]
        instructions = registry.find("CodeSystem", INSTRUCTIONS)
        if instructions is not None:
            content._read_instructions(instructions)  # type: ignore[arg-type]
        for url in (COMBINED_CODES, NOT_REPORTED_TOGETHER):
            found = registry.find("ConceptMap", url)
            if found is not None:
                content._check_pairwise_map(found)  # type: ignore[arg-type]
        return content

    # --- reading ------------------------------------------------------------------------------

    def _read_reasons(self, code_system: CodeSystemIndex) -> None:
        offered: dict[str, list[str]] = {}
        for path, concept in _concepts(code_system):
            self.reason_displays[concept.code] = concept.display or concept.code
            for kind in _values(code_system, path, concept, "offered-for", OFFERED_FOR):
                offered.setdefault(kind, []).append(concept.code)
        self.reasons_for = {kind: tuple(codes) for kind, codes in offered.items()}

    def _read_modifiers(self, code_system: CodeSystemIndex) -> None:
        self.modifier_canonical = code_system.canonical
        groups = _children_by_parent(code_system)
        sources = _sources(code_system, groups.get("source", []))
        kinds = {c.code for _path, c in groups.get("code-kind", [])}
        sites = {c.code for _path, c in groups.get("anatomic-site", [])}
        modifiers = {c.code for _path, c in groups.get("modifier", [])}
        circumstances = {c.code: c.display or c.code for _path, c in groups.get("circumstance", [])}
        for path, concept in groups.get("code-kind", []):
            for text in _values(code_system, path, concept, "code-range"):
                first, _, last = str(text).partition("-")
                if not (first.isdigit() and last.isdigit() and len(first) == len(last) == 5):
                    raise _error(
                        code_system, path, f"code-range '{text}' is not FIRST-LAST (five digits each)"
                    )
                self.code_ranges.append(CodeRange(int(first), int(last), concept.code))
        for path, concept in groups.get("body-region", []):
            self.region_sites[concept.code] = frozenset(
                _values(code_system, path, concept, "anatomic-site", sites)
            )
            self.region_sources[concept.code] = _source_list(code_system, path, concept, sources)
        for path, concept in groups.get("modifier", []):
            value = _one_value_reader(code_system, path, concept)
            setting = value("setting", SETTINGS)
            units = value("units-per-line")
            circumstance = value("circumstance", set(circumstances))
            self.modifiers[concept.code] = ModifierRule(
                code=concept.code,
                ncci_associated=value("ncci-associated") is True,
                circumstance=circumstance,
                asserts=circumstances.get(circumstance, "a distinct service"),
                bypass_group=value("bypass-group"),
                applies_to=frozenset(_values(code_system, path, concept, "applies-to", kinds)),
                not_for=frozenset(_values(code_system, path, concept, "not-for", kinds)),
                setting=setting,
                anatomic_site=value("anatomic-site", sites),
                same_line_conflicts=frozenset(
                    _values(code_system, path, concept, "same-line-conflict", modifiers)
                ),
                override_reason=value("override-reason", self._reason_codes()),
                mue_line_split=value("mue-line-split") is True,
                units_per_line=units if isinstance(units, int) else None,
                sources=_source_list(code_system, path, concept, sources),
                definition=concept.definition or "",
            )

    def _reason_codes(self) -> set[str] | None:
        return set(self.reason_displays) if self.reason_displays else None

    def _read_instructions(self, code_system: CodeSystemIndex) -> None:
        self.instructions_canonical = code_system.canonical
        groups = _children_by_parent(code_system)
        sources = _sources(code_system, groups.get("source", []))
        parts = {c.code for _path, c in groups.get("service-part", [])}
        for path, concept in groups.get("family", []):
            self.families[concept.code] = Family(
                concept.code,
                concept.display or concept.code,
                concept.definition or "",
                tuple(_values(code_system, path, concept, "override-reason", self._reason_codes())),
                _source_list(code_system, path, concept, sources),
            )
        for path, concept in groups.get("service-part", []):
            family = self._family_ref(code_system, path, concept)
            members = frozenset(_values(code_system, path, concept, "two-or-more-of", parts))
            if members:
                family.collectors.append((concept.code, members))
        for path, concept in groups.get("code", []):
            family = self._family_ref(code_system, path, concept)
            code_parts = frozenset(_values(code_system, path, concept, "part", parts))
            if not code_parts:
                raise _error(code_system, path, f"code {concept.code} names no part")
            family.parts_of[concept.code] = code_parts
            family.sources_of[concept.code] = _source_list(code_system, path, concept, sources)
            self.family_of[concept.code] = family
            self._read_encounter_limit(code_system, path, concept, family, sources)
        for family in self.families.values():
            family.build_covers()
        described: dict[tuple[str, frozenset[str]], str] = {}
        for path, concept in groups.get("code", []):
            family = self.family_of[concept.code]
            parts_of_code = family.parts([concept.code])
            twin = described.setdefault((family.code, parts_of_code), concept.code)
            if twin != concept.code:
                raise _error(
                    code_system,
                    path,
                    f"{concept.code} and {twin} describe the same parts: one service, two codes",
                )
            if family.best([concept.code]) != (concept.code,):
                raise _error(
                    code_system,
                    path,
                    f"the parts of {concept.code} are described by fewer or other codes "
                    f"({' + '.join(family.best([concept.code]))}): the parts contradict each other",
                )

    def _read_encounter_limit(
        self,
        code_system: CodeSystemIndex,
        path: str,
        concept: Concept,
        family: Family,
        sources: dict[str, RuleSource],
    ) -> None:
        value = _one_value_reader(code_system, path, concept)
        units = value("units-per-encounter")
        source = value("units-source", set(sources))
        if units is None:
            if source is not None:
                raise _error(
                    code_system, path, f"{concept.code} has a units-source but no units-per-encounter"
                )
            return
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise _error(
                code_system, path, f"units-per-encounter of {concept.code} is not a positive whole number"
            )
        if source is None:
            raise _error(
                code_system,
                path,
                f"units-per-encounter of {concept.code} names no units-source: "
                "every rule says where it comes from",
            )
        self.encounter_limits[concept.code] = EncounterLimit(
            concept.code, units, family.code, concept.definition or "", (sources[source],)
        )

    def _family_ref(self, code_system: CodeSystemIndex, path: str, concept: Concept) -> Family:
        name = _one_value_reader(code_system, path, concept)("family", set(self.families))
        if name is None:
            raise _error(code_system, path, f"{concept.code} names no family")
        return self.families[name]

    def _check_pairwise_map(self, concept_map: ConceptMapIndex) -> None:
        """Check each row of a pairwise ConceptMap against the parts; remember which pairs it holds."""
        combined = concept_map.url == COMBINED_CODES
        self.maps_used.append(concept_map.canonical)
        for g, group in enumerate(concept_map.resource.get("group", [])):
            for e, element in enumerate(group.get("element", [])):
                for t, target in enumerate(element.get("target", [])):
                    path = f"ConceptMap.group[{g}].element[{e}].target[{t}]"
                    source, code = element.get("code", ""), target.get("code", "")
                    others = [
                        d.get("value", "")
                        for d in target.get("dependsOn", [])
                        if d.get("property") == COMBINED_COMPONENT
                    ]
                    family = self.family_of.get(source)
                    known = family is not None and all(
                        self.family_of.get(c) is family for c in (code, *others)
                    )
                    if not known:
                        raise ContentError(
                            concept_map.source,
                            path,
                            f"{source} -> {code}: codes outside one instruction family",
                        )
                    assert family is not None
                    components = (source, *others)
                    expected = (code,) if combined else (source,)
                    best = family.best(components if combined else (source, code))
                    if set(best) != set(expected):
                        what = " + ".join(components if combined else (source, code))
                        raise ContentError(
                            concept_map.source,
                            path,
                            f"{what}: the parts in {INSTRUCTIONS} give {' + '.join(best)}, "
                            f"not {' + '.join(expected)}",
                        )
                    for other in (*others, code if not combined else None):
                        if other:
                            self.pair_maps.setdefault(frozenset((source, other)), concept_map.canonical)


def _concepts(code_system: CodeSystemIndex) -> Iterator[tuple[str, Concept]]:
    """Yield (element path, concept) for every concept, in file order."""
    yield from _walk(code_system, code_system.resource.get("concept", []), "CodeSystem")


def _walk(code_system: CodeSystemIndex, raw: list[dict], prefix: str) -> Iterator[tuple[str, Concept]]:
    for i, entry in enumerate(raw):
        path = f"{prefix}.concept[{i}]"
        yield path, code_system.concepts[entry["code"]]
        yield from _walk(code_system, entry.get("concept", []), path)


def _children_by_parent(code_system: CodeSystemIndex) -> dict[str, list[tuple[str, Concept]]]:
    """Group the concepts of a grouped-by CodeSystem under their top-level concept."""
    groups: dict[str, list[tuple[str, Concept]]] = {}
    for i, entry in enumerate(code_system.resource.get("concept", [])):
        groups[entry["code"]] = list(_walk(code_system, entry.get("concept", []), f"CodeSystem.concept[{i}]"))
    return groups


def _error(code_system: CodeSystemIndex, path: str, message: str) -> ContentError:
    return ContentError(code_system.source or code_system.canonical, path, message)


def _values(
    code_system: CodeSystemIndex,
    path: str,
    concept: Concept,
    name: str,
    allowed: set | frozenset | None = None,
) -> list:
    """Return the values of property ``name``; each must be one of ``allowed`` when that is given."""
    values = []
    for k, prop in enumerate(concept.properties):
        if prop.code != name:
            continue
        if allowed is not None and prop.value not in allowed:
            raise _error(
                code_system, f"{path}.property[{k}]", f"{name} '{prop.value}' names nothing this file defines"
            )
        values.append(prop.value)
    return values


def _one_value_reader(code_system: CodeSystemIndex, path: str, concept: Concept):
    """Return a reader of single-valued properties (a second value is an error)."""

    def value(name: str, allowed: set | frozenset | None = None):
        found = _values(code_system, path, concept, name, allowed)
        if len(found) > 1:
            raise _error(
                code_system, path, f"{concept.code} has {len(found)} values of {name}; one is allowed"
            )
        return found[0] if found else None

    return value


def _sources(code_system: CodeSystemIndex, concepts: list[tuple[str, Concept]]) -> dict[str, RuleSource]:
    sources = {}
    for path, concept in concepts:
        value = _one_value_reader(code_system, path, concept)
        sources[concept.code] = RuleSource(
            concept.code,
            concept.display or concept.code,
            value("source-kind"),
            value("url")
            if len(concept.property_values("url")) < 2
            else " ".join(concept.property_values("url")),
            value("secondary") is True,
        )
    return sources


def _source_list(
    code_system: CodeSystemIndex, path: str, concept: Concept, sources: dict[str, RuleSource]
) -> tuple[RuleSource, ...]:
    found = tuple(sources[code] for code in _values(code_system, path, concept, "source", set(sources)))
    if not found:
        raise _error(
            code_system, path, f"{concept.code} names no source: every rule says where it comes from"
        )
    return found
