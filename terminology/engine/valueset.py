"""Indexed ValueSet: compose rules evaluated into an ordered member list ($expand, $validate-code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from terminology.caching import BoundedCache, approximate_size
from terminology.engine.patterns import ScanBudget, compile_pattern, property_text
from terminology.engine.resource import LoadedResource
from terminology.engine.versions import (
    VersionRule,
    failed_checks,
    has_wildcard,
    present_versions,
    rule_version,
    split_canonical,
    version_key,
    version_matches,
)
from terminology.errors import InvalidRequest, NotFound, TerminologyError, UnprocessableRequest

if TYPE_CHECKING:
    from terminology.engine.codesystem import CodeSystemIndex, Concept
    from terminology.engine.registry import Registry

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
VALUESET_SUPPLEMENT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"
EXPANSION_PARAMETER = (
    "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter",
    "http://hl7.org/fhir/tools/StructureDefinition/valueset-expansion-parameter",
)


@dataclass(slots=True, frozen=True)
class Member:
    """One code of an expansion: the concept, the code system version it came from, and the
    ``compose.include.concept`` entry that named it (its display and designations win)."""

    code_system: CodeSystemIndex
    concept: Concept
    ref: dict | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Return ``(system, code)``, the identity used for membership tests."""
        return (self.code_system.url, self.concept.code)


@dataclass(slots=True)
class Evaluation:
    """A value set's compose evaluated under one set of version rules.

    Besides the members it keeps what an expansion reports: the code systems, value sets and
    supplements used, warnings about the status of what was used, and the version rules that
    decided a version.
    """

    members: list[Member] = field(default_factory=list)
    index: dict[tuple[str, str], Member] = field(default_factory=dict)
    used_code_systems: list[str] = field(default_factory=list)
    used_value_sets: list[str] = field(default_factory=list)
    status_warnings: list[tuple[str, str]] = field(default_factory=list)
    used_rules: list[VersionRule] = field(default_factory=list)
    # Fragment code systems used: the expansion may miss codes (``valueset-unclosed``).
    fragments: list[CodeSystemIndex] = field(default_factory=list)
    # False once the members cannot be shown as a tree (imports, enumerations, several filters).
    can_nest: bool = True
    # True when one system is composed in more than one version (entries then name theirs).
    several_versions: bool = False
    # True when an include takes a whole code system (no concept list, no filter).
    whole_system: bool = False
    # True when codes are one whatever their version (``versionsMatch``): None when not decided here.
    versions_match: bool | None = None
    pair: tuple = ()  # (members, index), the form ``ValueSetIndex.members`` returns

    def note(self, items: list, value) -> None:
        """Append ``value`` to ``items`` once."""
        if value not in items:
            items.append(value)


# What the registry's member cache may hold (estimated bytes): the members of the value sets in
# use, per version rules. A full-CPT implicit value set (11,000 codes) takes about 2 MB.
MEMBER_CACHE_BYTES = 64 * 1024 * 1024
_BYTES_PER_MEMBER = 200  # the Member, its slot in the list and its entry in the (system, code) index


def _members_size(key: tuple, value: Evaluation) -> int:
    return approximate_size(key[1]) + _BYTES_PER_MEMBER * len(value.members)


def member_cache() -> BoundedCache:
    """Build a registry's cache of evaluated value sets, keyed by (value set, version rules)."""
    return BoundedCache("valueset-members", MEMBER_CACHE_BYTES, sizeof=_members_size)


class ValueSetIndex(LoadedResource):
    """A loaded ValueSet; its compose is evaluated lazily and cached per version rules."""

    resource_type = "ValueSet"
    bulky_elements = ("compose", "expansion", "text")

    def __init__(self, resource: dict, source: str = "") -> None:
        super().__init__(resource, source)
        self._evaluations: dict[tuple, Evaluation] = {}
        self.language: str | None = resource.get("language")
        compose = resource.get("compose") or {}
        self.compose: dict = compose
        # The includes in the order they are tried: for one system, the latest stated version first.
        self.ordered_includes: list[dict] = by_version_descending(compose.get("include", []))
        # The versions the includes state, per system.
        self.stated_versions: dict[str, set[str]] = {}
        for include in compose.get("include", []):
            if include.get("system") and include.get("version"):
                self.stated_versions.setdefault(include["system"], set()).add(include["version"])
        self._contained: dict[str, ValueSetIndex] = {}
        # compose.inactive = false: inactive codes are not members.
        self.excludes_inactive: bool = compose.get("inactive") is False
        self.supplements: list[str] = [
            str(v) for v in (_extension_values(resource, VALUESET_SUPPLEMENT)) if v
        ]
        # Default expansion parameters the value set states (valueset-expansion-parameter).
        self.parameters: dict[str, object] = {}
        for ext in compose.get("extension", []):
            if ext.get("url") in EXPANSION_PARAMETER:
                name = _extension_value(ext, "name")
                value = _extension_value(ext, "value")
                if name and value is not None:
                    self.parameters.setdefault(str(name), value)

    @property
    def shown(self) -> str:
        """Return ``url|version`` for messages, or ``(unidentified)`` for a value set without a url."""
        return self.canonical if self.url else "(unidentified)"

    @property
    def pathway_name(self) -> str:
        """Return how the value set appears in a chain of imports: ``url|version``, else ``#id``."""
        if self.url:
            return self.canonical
        return f"#{self.id}" if self.id else "(unidentified)"

    def contained_value_set(self, reference: str) -> ValueSetIndex | None:
        """Return the contained value set a ``#id`` reference names, or None."""
        found = self._contained.get(reference)
        if found is None:
            raw = next(
                (
                    c for c in self.resource.get("contained", [])
                    if c.get("resourceType") == "ValueSet" and f"#{c.get('id')}" == reference
                ),
                None,
            )  # fmt: skip
            if raw is not None:
                found = self._contained[reference] = ValueSetIndex(raw, self.source)
        return found

    def included_systems(self) -> list[tuple[str, str | None]]:
        """Return the (system, version) pairs the compose includes directly."""
        return [
            (inc["system"], inc.get("version"))
            for inc in self.compose.get("include", []) + self.compose.get("exclude", [])
            if "system" in inc
        ]

    def evaluation(self, registry: Registry, rules: tuple[VersionRule, ...] = ()) -> Evaluation:
        """Evaluate the compose under version rules (cached: content is read-only while serving)."""
        if registry.holds(self):
            # Rules are callers' input: the registry's cache is bounded, least recently used out.
            return registry.member_cache.get_or_compute(
                (self, rules), partial(evaluate, registry, self, rules)
            )
        # A value set sent with the request is remembered on itself, and goes when the call ends.
        found = self._evaluations.get(rules)
        if found is None:
            found = self._evaluations[rules] = evaluate(registry, self, rules)
        return found

    def members(
        self, registry: Registry, rules: tuple[VersionRule, ...] | None = None
    ) -> tuple[list[Member], dict[tuple[str, str], Member]]:
        """Return the ordered members and a ``(system, code)`` index of them."""
        found = self.evaluation(registry, rules or ())
        return found.pair


class ImplicitValueSet(ValueSetIndex):
    """The implicit value set of a whole code system (``{system}?fhir_vs``)."""

    def __init__(self, code_system: CodeSystemIndex) -> None:
        super().__init__(
            {
                "resourceType": "ValueSet",
                "url": f"{code_system.url}?fhir_vs",
                "version": code_system.version,
                "status": code_system.status,
                "name": code_system.name,
                "title": code_system.title,
                "compose": {
                    "include": [
                        {"system": code_system.url, "version": code_system.version}
                        if code_system.version
                        else {"system": code_system.url}
                    ]
                },
            }
        )
        self.resource = {k: v for k, v in self.resource.items() if v is not None}
        self.code_system_canonical = code_system.canonical


def _extension_values(element: dict, url: str) -> list:
    return [
        next((v for k, v in ext.items() if k.startswith("value")), None)
        for ext in element.get("extension", [])
        if ext.get("url") == url
    ]


def _extension_value(element: dict, url: str):
    values = _extension_values(element, url)
    return values[0] if values else None


def _filter_predicate(code_system: CodeSystemIndex, flt: dict, budget: ScanBudget, element: str):
    prop, op, value = flt.get("property"), flt.get("op"), flt.get("value", "")
    if not value:
        raise InvalidRequest(
            f"The system {code_system.url} filter with property = {prop}, op = {op} has no value",
            tx_code="vs-invalid",
            expression=element,
        )
    if op == "child-of" and prop in ("concept", "code"):
        concept = code_system.find(value)
        children = set(concept.children) if concept is not None else set()
        return lambda c: c.code in children
    if op in ("is-a", "descendent-of", "is-not-a", "generalizes") and prop in ("concept", "code"):
        below = code_system.descendants(value)
        if op == "is-a":
            return lambda c: c.code == value or c.code in below
        if op == "descendent-of":
            return lambda c: c.code in below
        if op == "is-not-a":
            return lambda c: not (c.code == value or c.code in below)
        return lambda c: c.code == value or value in code_system.descendants(c.code)
    if prop in ("code", "concept") and op == "in":
        wanted = {v.strip() for v in value.split(",")}
        return lambda c: c.code in wanted
    if op == "regex":
        # RE2 runs in time linear in the text; FHIR semantics: the whole code (or value) must match.
        pattern = compile_pattern(value, budget.limits, f"{element}.value")
        budget.spend(len(code_system.order), code_system.canonical, f"{element}.value")
        if prop == "code":
            return lambda c: pattern.fullmatch(c.code) is not None
        return lambda c: any(pattern.fullmatch(property_text(v)) for v in c.property_values(prop))
    if op == "exists":
        want = value.lower() == "true"
        return lambda c: bool(c.property_values(prop)) is want
    if op in ("=", "in", "not-in"):
        wanted = {v.strip() for v in value.split(",")} if op != "=" else {value}
        if prop == "display":
            return lambda c: (c.display in wanted) is (op != "not-in")

        def match(c) -> bool:
            # Booleans are written true/false: a filter value "TRUE" matches nothing (tx.fhir.org).
            values = {str(v).lower() if isinstance(v, bool) else str(v) for v in c.property_values(prop)}
            return bool(values & wanted) is (op != "not-in")

        return match
    raise UnprocessableRequest(
        f"The filter '{prop} {op} {value}' is not supported for the CodeSystem '{code_system.url}'",
        tx_code="vs-invalid",
    )


class MissingImport(NotFound):
    """A value set a compose imports is not loaded; ``reference`` is the ``url|version`` looked for."""

    def __init__(self, message: str, reference: str, status: int) -> None:
        super().__init__(message, status=status)
        self.reference = reference


def referenced_value_set(
    registry: Registry,
    reference: str,
    source: ValueSetIndex,
    rules: tuple[VersionRule, ...] = (),
    used: list[VersionRule] | None = None,
) -> ValueSetIndex:
    """Resolve a ``compose.include.valueSet`` reference: ``url[|version]``, or ``#id`` of a contained one.

    ``default-valueset-version`` / ``force-valueset-version`` rules pick the version of a reference
    that does not pin one (the ones that decide are appended to ``used``).

    :raise NotFound: when it names nothing loaded.
    :raise TerminologyError: (422) when a ``check-valueset-version`` rule refuses the version used.
    """
    if reference.startswith("#"):
        found = source.contained_value_set(reference)
        if found is None:
            raise NotFound(f"A definition for the value Set '{reference}' could not be found")
        return found
    url, version = split_canonical(reference)
    value_set_rules = tuple(r for r in rules if r.value_set)
    pinned = rule_version(value_set_rules, url, version, used)
    try:
        found = registry.value_set_by_canonical(f"{url}|{pinned}" if pinned else url)
    except NotFound as exc:
        # A missing import is "not found" (the HL7 suite), whether or not a version was pinned.
        raise MissingImport(exc.message, f"{url}|{pinned}" if pinned else url, exc.status) from None
    # check-valueset-version: an import that names another version is an error, not a silent swap.
    for rule in failed_checks(value_set_rules, url, found.version):
        raise version_refused("value set", url, found.version, rule)
    return found


def version_refused(kind: str, url: str, actual: str | None, rule: VersionRule) -> TerminologyError:
    """Return the 422 for a version a ``check-system-version``/``check-valueset-version`` rule refuses."""
    return TerminologyError(
        f"The version '{actual}' is not allowed for {kind} '{url}': required to be '{rule.version}' by a "
        "version-check parameter",
        tx_code="version-error", issue_code="exception", status=422,
    )  # fmt: skip


def required_supplements(registry: Registry, references: list[str]) -> list[CodeSystemIndex]:
    """Return the supplements a request (``useSupplement``) or value set (``valueset-supplement``) requires.

    :raise NotFound: naming the first one that is not loaded (tx.fhir.org's wording).
    """
    found: list[CodeSystemIndex] = []
    for reference in references:
        url, _, version = reference.partition("|")
        supplement = registry.find("CodeSystem", url, version or None)
        if supplement is None or getattr(supplement, "content", None) != "supplement":
            raise NotFound(f"Required supplement not found: {reference}", issue_code="not-found")
        if supplement not in found:
            found.append(supplement)  # type: ignore[arg-type]
    return found


def supplements_of(
    code_system: CodeSystemIndex, supplements: list[CodeSystemIndex]
) -> tuple[CodeSystemIndex, ...]:
    """Return those of ``supplements`` that supplement this code system (version)."""
    out = []
    for supplement in supplements:
        base_url, _, base_version = (supplement.supplements or "").partition("|")
        if base_url == code_system.url and (not base_version or base_version == code_system.version):
            out.append(supplement)
    return tuple(out)


def find_code_system(registry: Registry, url: str, version: str | None) -> CodeSystemIndex | None:
    """Return the code system version that ``version`` names (a range picks its latest), or None.

    Supplements are never returned: they are not code systems a code can belong to.
    """
    found = registry.find("CodeSystem", url, version)
    if found is None and has_wildcard(version):
        matching = [v for v in registry.versions_of("CodeSystem", url) if version_matches(version, v)]
        if matching:
            found = registry.find("CodeSystem", url, max(matching, key=version_key))
    if found is None or getattr(found, "content", None) == "supplement":
        return None
    return found  # type: ignore[return-value]


def unknown_system_text(registry: Registry, url: str, version: str | None, purpose: str) -> str:
    """Return tx.fhir.org's wording for a code system (version) that is not loaded.

    ``purpose`` is ``the code cannot be validated`` or ``the value set cannot be expanded``.
    """
    if not version:
        return f"A definition for CodeSystem '{url}' could not be found, so {purpose}"
    known = [v for v in registry.versions_of("CodeSystem", url)]
    listed = (
        f"Valid versions: {present_versions(known)}" if known else "No versions of this code system are known"
    )
    return (
        f"A definition for CodeSystem '{url}' version '{version}' could not be found, so {purpose}. {listed}"
    )


def status_warning(resource: LoadedResource, source: LoadedResource) -> tuple[str, str] | None:
    """Say how a referenced resource's status should be flagged, as (kind, canonical), or None.

    Deprecated and withdrawn (standards status) and retired content is always flagged; experimental
    and draft content only when the value set using it is not itself experimental or draft.
    """
    kind = resource.status_flag
    if kind is None:
        return None
    if kind == "experimental" and source.experimental:
        return None
    if kind == "draft" and "draft" in (source.status, source.standards_status):
        return None
    return kind, resource.canonical


def include_version(
    registry: Registry, include: dict, rules: tuple[VersionRule, ...], used: list[VersionRule] | None
) -> tuple[str | None, CodeSystemIndex | None]:
    """Return the version an include uses under the rules, and that code system version (or None)."""
    system = include["system"]
    version = rule_version(tuple(r for r in rules if not r.value_set), system, include.get("version"), used)
    return version, find_code_system(registry, system, version)


def by_version_descending(includes: list[dict]) -> list[dict]:
    """Order includes so that, for one system, the latest stated version comes first (as tx.fhir.org).

    Includes of other systems, and includes without a version, keep their places.
    """
    if sum(1 for include in includes if include.get("version")) < 2:
        return list(includes)
    result = list(includes)
    slots: dict[str, list[int]] = {}
    for position, include in enumerate(includes):
        if include.get("system") and include.get("version"):
            slots.setdefault(include["system"], []).append(position)
    for positions in slots.values():
        ordered = sorted(
            (includes[p] for p in positions), key=lambda i: version_key(i["version"]), reverse=True
        )
        for position, include in zip(positions, ordered, strict=True):
            result[position] = include
    return result


def _select(
    registry: Registry,
    value_set: ValueSetIndex,
    include: dict,
    rules: tuple[VersionRule, ...],
    pathway: tuple[str, ...],
    out: Evaluation,
    budget: ScanBudget,
    element: str,
) -> list[Member]:
    selected: list[Member] | None = None
    if include.get("valueSet") or include.get("concept") or len(include.get("filter", [])) > 1:
        out.can_nest = False
    if "system" in include:
        system = include["system"]
        version, code_system = include_version(registry, include, rules, out.used_rules)
        if code_system is None:
            raise NotFound(unknown_system_text(registry, system, version, "the value set cannot be expanded"))
        for rule in failed_checks(rules, system, code_system.version):
            raise version_refused("system", system, code_system.version, rule)
        if code_system.content == "not-present":
            raise UnprocessableRequest(
                f"The code system definition for {system} has no content, so this expansion cannot be "
                "performed",
                issue_code="business-rule", tx_code="invalid",
            )  # fmt: skip
        out.note(out.used_code_systems, code_system.canonical)
        if code_system.content == "fragment":
            out.note(out.fragments, code_system)
        warning = status_warning(code_system, value_set)
        if warning is not None:
            out.note(out.status_warnings, warning)
        if "concept" not in include and "filter" not in include:
            out.whole_system = True
        if "concept" in include:
            selected = []
            for ref in include["concept"]:
                concept = code_system.find(ref["code"])
                if concept is not None:
                    selected.append(Member(code_system, concept, ref))
        else:
            predicates = [
                _filter_predicate(code_system, f, budget, f"{element}.filter[{j}]")
                for j, f in enumerate(include.get("filter", []))
            ]
            selected = [Member(code_system, c) for c in code_system.order if all(p(c) for p in predicates)]
    for vs_ref in include.get("valueSet", []):
        other = referenced_value_set(registry, vs_ref, value_set, rules, out.used_rules)
        check_circularity(other, pathway)
        inner = evaluate(registry, other, rules, pathway, budget)
        if not vs_ref.startswith("#"):
            out.note(out.used_value_sets, other.canonical)
        for used in inner.used_code_systems:
            out.note(out.used_code_systems, used)
        for used in inner.used_value_sets:
            out.note(out.used_value_sets, used)
        for fragment in inner.fragments:
            out.note(out.fragments, fragment)
        for warning in inner.status_warnings:
            out.note(out.status_warnings, warning)
        warning = status_warning(other, value_set)
        if warning is not None:
            out.note(out.status_warnings, warning)
        if selected is None:
            selected = list(inner.members)
        else:
            keys = {m.key for m in inner.members}
            selected = [m for m in selected if m.key in keys]
    return selected or []


def check_circularity(value_set: ValueSetIndex, pathway: tuple[str, ...]) -> None:
    """Refuse a value set that imports itself, naming the chain of imports (tx.fhir.org's wording).

    :raise TerminologyError: 422 processing / vs-invalid.
    """
    if value_set.pathway_name in pathway:
        raise TerminologyError(
            f"Found a circularity pointing to {value_set.pathway_name} processing ValueSet with pathway "
            f"[{', '.join(pathway)}]",
            issue_code="processing", tx_code="vs-invalid", status=422,
        )  # fmt: skip


def evaluate(
    registry: Registry,
    value_set: ValueSetIndex,
    rules: tuple[VersionRule, ...],
    pathway: tuple[str, ...] = (),
    budget: ScanBudget | None = None,
) -> Evaluation:
    """Evaluate a ValueSet compose into an ordered, de-duplicated list of members.

    ``pathway`` is the chain of value sets importing this one (a circularity is refused);
    ``budget`` counts the codes regex filters test, across imported value sets too; a new one
    (``registry.pattern_limits``) starts with each evaluation.
    """
    if budget is None:
        budget = ScanBudget(registry.pattern_limits)
    importing, budget.value_set = budget.value_set, value_set.canonical
    out = Evaluation()
    compose = value_set.compose
    members: dict[tuple[str, str | None, str], Member] = {}
    here = (*pathway, value_set.pathway_name)
    includes, excludes = compose.get("include", []), compose.get("exclude", [])
    out.versions_match = _versions_match(value_set, includes, excludes)

    def key_of(member: Member) -> tuple[str, str | None, str]:
        version = None if out.versions_match else member.code_system.version
        return (member.code_system.url, version, member.concept.code)

    for include in value_set.ordered_includes:
        element = f"ValueSet.compose.include[{_position(includes, include)}]"
        for member in _select(registry, value_set, include, rules, here, out, budget, element):
            if value_set.excludes_inactive and member.concept.inactive:
                continue
            key = key_of(member)
            if key in members:
                out.can_nest = False
                continue
            members[key] = member
    for i, exclude in enumerate(excludes):
        element = f"ValueSet.compose.exclude[{i}]"
        for member in _select(registry, value_set, exclude, rules, here, out, budget, element):
            members.pop(key_of(member), None)
    budget.value_set = importing
    # Entries name their version when one system is composed in more than one version.
    stated: dict[str, set] = {}
    for item in [*includes, *excludes]:
        if item.get("system"):
            stated.setdefault(item["system"], set()).add(item.get("version"))
    out.several_versions = any(len(v) > 1 for v in stated.values())
    out.members = list(members.values())
    out.index = {}
    for member in out.members:
        out.index.setdefault(member.key, member)
    out.pair = (out.members, out.index)
    return out


def _versions_match(value_set: ValueSetIndex, includes: list[dict], excludes: list[dict]) -> bool | None:
    """Say whether codes match across versions (``versionsMatch``): as the value set says, or, when it is
    silent and it excludes other versions of the one system it includes, True (tx.fhir.org)."""
    stated = value_set.parameters.get("versionsMatch")
    if stated is not None:
        return None if str(stated).lower() != "true" else True
    if not includes or not excludes:
        return None
    system = includes[0].get("system")
    every = [*includes, *excludes]
    if not all(i.get("system") == system and i.get("version") for i in every):
        return None
    overlap = {i["version"] for i in includes} & {e["version"] for e in excludes}
    return None if overlap else True


def _position(items: list, item) -> int:
    return next(i for i, candidate in enumerate(items) if candidate is item)
