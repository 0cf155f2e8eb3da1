"""Indexed CodeSystem: concepts, designations, properties, hierarchy and CPT expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from terminology.engine.resource import LoadedResource

_WORD = re.compile(r"[a-z0-9]+")
_INACTIVE_STATUSES = frozenset({"retired", "deprecated", "inactive"})


def words_of(text: str) -> list[str]:
    """Split text into the lowercase words that `$expand` filters match against."""
    return _WORD.findall(text.lower())


@dataclass(slots=True)
class Designation:
    """One designation of a concept: value plus optional language and use Coding."""

    value: str
    language: str | None = None
    use: dict | None = None


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
    # Last date of use (YYYY-MM-DD) from a ``termination-date`` property (HCPCS TERM DT).
    termination: str | None = None
    words: tuple[str, ...] = ()

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


def _value_of(prop: dict) -> tuple[str, object]:
    for key, value in prop.items():
        if key.startswith("value"):
            return key[5:], value
    return "", None


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
        self.property_defs: dict[str, dict] = {
            p["code"]: p for p in resource.get("property", []) if "code" in p
        }
        self.property_descriptions: dict[str, str] = {
            code: p["description"] for code, p in self.property_defs.items() if p.get("description")
        }
        self.concepts: dict[str, Concept] = {}
        self.order: list[Concept] = []
        self._walk(resource.get("concept", []), None)
        self.folded: dict[str, str] = {} if self.case_sensitive else {c.lower(): c for c in self.concepts}

    def _walk(self, concepts: list[dict], parent: Concept | None) -> None:
        for raw in concepts:
            concept = self._build(raw)
            if parent is not None:
                concept.parents.append(parent.code)
                parent.children.append(concept.code)
            self.concepts[concept.code] = concept
            self.order.append(concept)
            self._walk(raw.get("concept", []), concept)
        if parent is None:
            self._link_property_hierarchy()

    def _build(self, raw: dict) -> Concept:
        concept = Concept(code=raw["code"], display=raw.get("display"))
        concept.definition = raw.get("definition")
        for d in raw.get("designation", []):
            concept.designations.append(Designation(d["value"], d.get("language"), d.get("use")))
        for p in raw.get("property", []):
            value_type, value = _value_of(p)
            concept.properties.append(PropertyValue(p["code"], value_type, value))
            if p["code"] == "status" and isinstance(value, str):
                concept.status = value
                concept.inactive = value in _INACTIVE_STATUSES
            elif p["code"] == "inactive" and value is True:
                concept.inactive = True
                concept.status = concept.status or "inactive"
            elif p["code"] == "notSelectable" and value is True:
                concept.abstract = True
            elif p["code"] == "termination-date" and isinstance(value, str):
                concept.termination = value[:10]
        text = " ".join(concept.displays())
        concept.words = tuple(dict.fromkeys(words_of(text)))
        return concept

    def _link_property_hierarchy(self) -> None:
        # Flat code systems may state their hierarchy with parent/child properties.
        for concept in self.order:
            for p in concept.properties:
                if p.code == "parent" and isinstance(p.value, str) and p.value not in concept.parents:
                    concept.parents.append(p.value)
                    if p.value in self.concepts:
                        self.concepts[p.value].children.append(concept.code)

    def find(self, code: str) -> Concept | None:
        """Return the concept with exactly this code, or None."""
        return self.concepts.get(code)

    def find_folded(self, code: str) -> Concept | None:
        """Return the concept whose code differs only by case (case-insensitive systems)."""
        real = self.folded.get(code.lower())
        return self.concepts.get(real) if real else None

    def is_modifier(self, concept: Concept) -> bool:
        """Say whether a concept is a modifier (the HL7 CPT ``modifier`` property)."""
        return True in concept.property_values("modifier")

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
