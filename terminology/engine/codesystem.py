"""Indexed CodeSystem: concepts, designations, properties, hierarchy and CPT expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from terminology.engine.designations import DISPLAY_USE, Designation
from terminology.engine.resource import LoadedResource

_WORD = re.compile(r"[a-z0-9]+")
# Deprecated concepts are still active (a warning, not inactive), as tx.fhir.org judges them.
_INACTIVE_STATUSES = frozenset({"retired", "inactive"})
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
# The property `terminology import pctc` adds to CPT/HCPCS concepts (engine.pctc reads it).
PCTC_PROPERTY = "pctc-indicator"
# Property codes FHIR defines (the concept-properties code system), known by code even when a
# code system does not declare them; a declared property with one of these URIs means the same.
_KNOWN_MEANINGS = {
    "status": "status", "inactive": "inactive", "notSelectable": "notSelectable",
    "not-selectable": "notSelectable", "abstract": "notSelectable", "deprecated": "deprecated",
    "parent": "parent", "child": "child", "termination-date": "termination-date",
}  # fmt: skip


def words_of(text: str) -> list[str]:
    """Split text into the lowercase words that `$expand` filters match against."""
    return _WORD.findall(text.lower())


@dataclass(slots=True)
class PropertyValue:
    """One property of a concept; ``value_type`` is the FHIR value[x] suffix (Code, Boolean…)."""

    code: str
    value_type: str
    value: object


@dataclass(slots=True)
class Concept:
    """A concept of a code system, with everything the operations need precomputed."""

    code: str
    display: str | None
    definition: str | None = None
    designations: list[Designation] = field(default_factory=list)
    properties: list[PropertyValue] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    status: str | None = None
    inactive: bool = False
    abstract: bool = False
    deprecated: bool = False
    # Last date of use (YYYY-MM-DD) from a ``termination-date`` property (HCPCS TERM DT).
    termination: str | None = None
    words: tuple[str, ...] = ()
    extensions: list[dict] = field(default_factory=list)
    # The concept this one is nested in (``concept.concept``); hierarchical expansions follow it.
    tree_parent: str | None = None
    # Read from the properties once at load (every CPT expression asks): the HL7 CPT ``modifier``
    # property is true, and the fee-schedule PC/TC indicator (``pctc-indicator``) as text.
    modifier: bool = False
    pctc_indicator: str | None = None

    def inactive_on(self, day: str) -> bool:
        """Say whether the concept is inactive on ``day``: by status, or past its termination date.

        ``day`` is YYYY-MM-DD text, formatted once by the caller: an expansion asks every concept.
        """
        return self.inactive or (self.termination is not None and day > self.termination)

    def property_values(self, code: str) -> list[object]:
        """Return the values of property ``code`` on this concept."""
        return [p.value for p in self.properties if p.code == code]

    def displays(self) -> list[str]:
        """Return every text that is an acceptable display: the display and all designations."""
        texts = [self.display] if self.display else []
        texts.extend(d.value for d in self.designations if d.value not in texts)
        return texts

    def matches_filter(self, filter_words: list[str], filter_text: str) -> bool:
        """Say whether this concept matches an `$expand` text filter.

        The filter matches when it is a prefix of the code, or when every filter word is
        the prefix of some word of the display or a designation (case-insensitive).
        """
        if self.code.lower().startswith(filter_text):
            return True
        if not filter_words:
            return False
        return all(any(w.startswith(f) for w in self.words) for f in filter_words)

    def extension_value(self, url: str) -> object | None:
        """Return the value of the concept's first extension with this url, or None."""
        for ext in self.extensions:
            if ext.get("url") == url:
                return _value_of(ext)[1]
        return None


def _value_of(prop: dict) -> tuple[str, object]:
    for key, value in prop.items():
        if key.startswith("value"):
            return key[5:], value
    return "", None


def _designation(raw: dict, source: str | None = None) -> Designation:
    extensions = raw.get("extension", [])
    status = next((_value_of(e)[1] for e in extensions if e.get("url") == STANDARDS_STATUS), None)
    return Designation(
        raw.get("value", ""), raw.get("language"), raw.get("use"), source=source, status=status,
        extensions=extensions,
    )  # fmt: skip


class CodeSystemIndex(LoadedResource):
    """A loaded CodeSystem resource with its concepts indexed for the operations."""

    resource_type = "CodeSystem"
    bulky_elements = ("concept", "text")

    def __init__(self, resource: dict, source: str = "") -> None:
        super().__init__(resource, source)
        self.content: str = resource.get("content", "complete")
        self.case_sensitive: bool = bool(resource.get("caseSensitive", False))
        self.compositional: bool = bool(resource.get("compositional", False))
        self.version_needed: bool = bool(resource.get("versionNeeded", False))
        self.language: str | None = resource.get("language")
        # A supplement names the code system it adds to (``url`` or ``url|version``).
        self.supplements: str | None = resource.get("supplements")
        # The value set of the whole code system, made once by CodeSystem/$validate-code.
        self.internal_value_set: object | None = None
        self.property_defs: dict[str, dict] = {
            p["code"]: p for p in resource.get("property", []) if "code" in p
        }
        self.property_descriptions: dict[str, str] = {
            code: p["description"] for code, p in self.property_defs.items() if p.get("description")
        }
        # What each property code means to the engine: FHIR's own codes, or a declared URI.
        self.meanings: dict[str, str] = dict(_KNOWN_MEANINGS)
        for code, definition in self.property_defs.items():
            uri = definition.get("uri", "")
            meaning = uri[len(CONCEPT_PROPERTIES) :] if uri.startswith(CONCEPT_PROPERTIES) else None
            if meaning in _KNOWN_MEANINGS.values():
                self.meanings[code] = meaning
        self.concepts: dict[str, Concept] = {}
        self.order: list[Concept] = []
        self.roots: list[Concept] = []
        self._walk(resource.get("concept", []), None)
        self.folded: dict[str, str] = {} if self.case_sensitive else {c.lower(): c for c in self.concepts}

    @property
    def default_language(self) -> str:
        """Return the language of the concepts' displays (``en`` when the code system does not say)."""
        return self.language or "en"

    def property_uri(self, code: str) -> str | None:
        """Return the URI a property code is declared with (FHIR's own properties have theirs)."""
        definition = self.property_defs.get(code)
        if definition is not None:
            return definition.get("uri")
        if code in ("status", "inactive", "notSelectable", "deprecated", "parent", "child", "definition"):
            return CONCEPT_PROPERTIES + code
        return None

    def _walk(self, concepts: list[dict], parent: Concept | None) -> None:
        for raw in concepts:
            concept = self._build(raw)
            if parent is not None:
                concept.parents.append(parent.code)
                concept.tree_parent = parent.code
                parent.children.append(concept.code)
            else:
                self.roots.append(concept)
            self.concepts[concept.code] = concept
            self.order.append(concept)
            self._walk(raw.get("concept", []), concept)
        if parent is None:
            self._link_property_hierarchy()

    def _build(self, raw: dict) -> Concept:
        concept = Concept(code=raw["code"], display=raw.get("display"))
        concept.definition = raw.get("definition")
        concept.extensions = raw.get("extension", [])
        for d in raw.get("designation", []):
            concept.designations.append(_designation(d))
        meanings = self.meanings
        for p in raw.get("property", []):
            value_type, value = _value_of(p)
            concept.properties.append(PropertyValue(p["code"], value_type, value))
            meaning = meanings.get(p["code"])
            if meaning == "status" and isinstance(value, str):
                concept.status = value
                concept.inactive = value in _INACTIVE_STATUSES
                concept.deprecated = value == "deprecated"
            elif meaning == "inactive" and (value is True or value == "true"):
                concept.inactive = True
                concept.status = concept.status or "inactive"
            elif meaning == "notSelectable" and (value is True or value == "true"):
                concept.abstract = True
            elif meaning == "deprecated" and (value is True or value == "true"):
                concept.deprecated = True
            elif meaning == "termination-date" and isinstance(value, str):
                concept.termination = value[:10]
        concept.modifier = True in concept.property_values("modifier")
        indicators = concept.property_values(PCTC_PROPERTY)
        concept.pctc_indicator = str(indicators[0]) if indicators else None
        standards = concept.extension_value(STANDARDS_STATUS)
        if standards == "withdrawn":
            concept.inactive = True
        elif standards == "deprecated":
            concept.deprecated = True
        if standards and concept.status is None:
            concept.status = str(standards)
        text = " ".join(concept.displays())
        concept.words = tuple(dict.fromkeys(words_of(text)))
        return concept

    def _link_property_hierarchy(self) -> None:
        # Flat code systems may state their hierarchy with parent/child properties.
        for concept in self.order:
            for p in concept.properties:
                if (
                    self.meanings.get(p.code) == "parent"
                    and isinstance(p.value, str)
                    and p.value not in concept.parents
                ):
                    concept.parents.append(p.value)
                    if p.value in self.concepts:
                        self.concepts[p.value].children.append(concept.code)
                        if concept in self.roots:
                            self.roots.remove(concept)

    def find(self, code: str) -> Concept | None:
        """Return the concept with exactly this code, or None."""
        return self.concepts.get(code)

    def find_folded(self, code: str) -> Concept | None:
        """Return the concept whose code differs only by case (case-insensitive systems)."""
        real = self.folded.get(code.lower())
        return self.concepts.get(real) if real else None

    def is_modifier(self, concept: Concept) -> bool:
        """Say whether a concept is a modifier (the HL7 CPT ``modifier`` property)."""
        return concept.modifier

    def descendants(self, code: str) -> set[str]:
        """Return the codes below ``code`` in the hierarchy (not including it)."""
        seen: set[str] = set()
        stack = list(self.concepts[code].children) if code in self.concepts else []
        while stack:
            child = stack.pop()
            if child not in seen:
                seen.add(child)
                stack.extend(self.concepts[child].children if child in self.concepts else [])
        return seen

    def designations_of(
        self, concept: Concept, supplements: tuple[CodeSystemIndex, ...] = ()
    ) -> list[Designation]:
        """Return every designation of a concept: its display first, then its own, then the supplements'."""
        out: list[Designation] = []
        if concept.display:
            out.append(Designation(concept.display, self.language, DISPLAY_USE, base=True))
        out.extend(concept.designations)
        for supplement in supplements:
            extra = supplement.find(concept.code)
            if extra is None:
                continue
            if extra.display:
                out.append(Designation(extra.display, supplement.language, None, source=supplement.canonical))
            for d in extra.designations:
                out.append(Designation(d.value, d.language, d.use, source=supplement.canonical,
                                       status=d.status, extensions=d.extensions))  # fmt: skip
        return out
