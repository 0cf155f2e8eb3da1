"""Indexed ValueSet: compose rules evaluated into an ordered member list."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from terminology.caching import BoundedCache, approximate_size
from terminology.engine.patterns import ScanBudget, compile_pattern, property_text
from terminology.engine.resource import LoadedResource
from terminology.errors import UnprocessableRequest

if TYPE_CHECKING:
    from terminology.engine.codesystem import CodeSystemIndex, Concept
    from terminology.engine.registry import Registry


@dataclass(slots=True, frozen=True)
class Member:
    """One code of an expansion: the concept and the code system version it came from."""

    code_system: CodeSystemIndex
    concept: Concept

    @property
    def key(self) -> tuple[str, str]:
        """Return ``(system, code)``, the identity used for membership tests."""
        return (self.code_system.url, self.concept.code)


# What the registry's member cache may hold (estimated bytes): the members of the value sets in
# use, per version pinning. A full-CPT implicit value set (11,000 codes) takes about 2 MB.
MEMBER_CACHE_BYTES = 64 * 1024 * 1024
_BYTES_PER_MEMBER = 200  # the Member, its slot in the list and its entry in the (system, code) index


def _members_size(key: tuple, value: tuple[list[Member], dict]) -> int:
    return approximate_size(key[1]) + _BYTES_PER_MEMBER * len(value[0])


def member_cache() -> BoundedCache:
    """Build a registry's cache of evaluated value sets, keyed by (value set, version pins)."""
    return BoundedCache("valueset-members", MEMBER_CACHE_BYTES, sizeof=_members_size)


class ValueSetIndex(LoadedResource):
    """A loaded ValueSet; its compose is evaluated lazily and cached per code-system pinning."""

    resource_type = "ValueSet"
    bulky_elements = ("compose", "expansion", "text")

    def __init__(self, resource: dict, source: str = "") -> None:
        super().__init__(resource, source)
        self._members: dict[tuple, tuple[list[Member], dict[tuple[str, str], Member]]] = {}
        # Version pins arrive as {system: (mode, version)}; see pinned_version().

    def included_systems(self) -> list[tuple[str, str | None]]:
        """Return the (system, version) pairs the compose includes directly."""
        compose = self.resource.get("compose", {})
        return [
            (inc["system"], inc.get("version"))
            for inc in compose.get("include", []) + compose.get("exclude", [])
            if "system" in inc
        ]

    def members(
        self, registry: Registry, system_versions: dict[str, tuple[str, str]] | None = None
    ) -> tuple[list[Member], dict[tuple[str, str], Member]]:
        """Return the ordered members and a ``(system, code)`` index of them.

        ``system_versions`` pins code-system versions for includes that do not state one.
        """
        pins = tuple(sorted((system_versions or {}).items()))
        if registry.holds(self):
            # Pins are callers' input: the registry's cache is bounded, least recently used out.
            return registry.member_cache.get_or_compute((self, pins), partial(self._evaluate, registry, pins))
        # A value set sent with the request is remembered on itself, and goes when the call ends.
        cached = self._members.get(pins)
        if cached is None:
            cached = self._members[pins] = self._evaluate(registry, pins)
        return cached

    def _evaluate(self, registry: Registry, pins: tuple) -> tuple[list[Member], dict[tuple, Member]]:
        ordered = evaluate_compose(registry, self, dict(pins), set())
        return ordered, {m.key: m for m in ordered}


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


def _filter_predicate(code_system: CodeSystemIndex, flt: dict, budget: ScanBudget, element: str):
    prop, op, value = flt.get("property"), flt.get("op"), flt.get("value", "")
    if op in ("is-a", "descendent-of", "is-not-a", "generalizes") and prop == "concept":
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
            values = {str(v).lower() if isinstance(v, bool) else str(v) for v in c.property_values(prop)}
            return bool(values & wanted) is (op != "not-in")

        return match
    raise UnprocessableRequest(
        f"The filter '{prop} {op} {value}' is not supported for the CodeSystem '{code_system.url}'",
        tx_code="vs-invalid",
    )


def pinned_version(system: str, stated: str | None, pin: tuple[str, str] | None) -> str | None:
    """Apply an ``$expand``/``$validate-code`` version pin to an include's stated version.

    ``pin`` is ``(mode, version)``: ``default`` (system-version) fills in a missing version,
    ``force`` (force-system-version) overrides it, ``check`` (check-system-version) refuses a
    different stated version.
    """
    if pin is None:
        return stated
    mode, version = pin
    if mode == "force" or stated is None:
        return version
    if mode == "check" and stated != version:
        raise UnprocessableRequest(
            f"The value set uses version '{stated}' of the code system '{system}', "
            f"but check-system-version requires version '{version}'",
            tx_code="version-error",
        )
    return stated


def _select(
    registry: Registry,
    include: dict,
    pins: dict[str, tuple[str, str]],
    seen: set[str],
    budget: ScanBudget,
    element: str,
) -> list[Member]:
    selected: list[Member] | None = None
    if "system" in include:
        system = include["system"]
        version = pinned_version(system, include.get("version"), pins.get(system))
        code_system = registry.code_system(system, version)
        if "concept" in include:
            selected = []
            for ref in include["concept"]:
                concept = code_system.find(ref["code"])
                if concept is not None:
                    selected.append(Member(code_system, concept))
        else:
            predicates = [
                _filter_predicate(code_system, f, budget, f"{element}.filter[{j}]")
                for j, f in enumerate(include.get("filter", []))
            ]
            selected = [Member(code_system, c) for c in code_system.order if all(p(c) for p in predicates)]
    for vs_ref in include.get("valueSet", []):
        other = registry.value_set_by_canonical(vs_ref)
        if other.canonical in seen:
            raise UnprocessableRequest(
                f"Circular reference in value set '{other.canonical}'", issue_code="processing"
            )
        imported = evaluate_compose(registry, other, pins, seen | {other.canonical}, budget)
        if selected is None:
            selected = imported
        else:
            keys = {m.key for m in imported}
            selected = [m for m in selected if m.key in keys]
    return selected or []


def evaluate_compose(
    registry: Registry,
    value_set: ValueSetIndex,
    pins: dict[str, tuple[str, str]],
    seen: set[str],
    budget: ScanBudget | None = None,
) -> list[Member]:
    """Evaluate a ValueSet compose into an ordered, de-duplicated list of members.

    ``budget`` counts the codes regex filters test, across imported value sets too; a new one
    (``registry.pattern_limits``) starts with each evaluation.
    """
    if budget is None:
        budget = ScanBudget(registry.pattern_limits)
    importing, budget.value_set = budget.value_set, value_set.canonical
    compose = value_set.resource.get("compose", {})
    members: dict[tuple[str, str], Member] = {}
    for i, include in enumerate(compose.get("include", [])):
        here = f"ValueSet.compose.include[{i}]"
        for member in _select(registry, include, pins, seen | {value_set.canonical}, budget, here):
            members.setdefault(member.key, member)
    for i, exclude in enumerate(compose.get("exclude", [])):
        here = f"ValueSet.compose.exclude[{i}]"
        for member in _select(registry, exclude, pins, seen | {value_set.canonical}, budget, here):
            members.pop(member.key, None)
    budget.value_set = importing
    return list(members.values())
