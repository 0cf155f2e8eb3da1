"""Registry of loaded content keyed by type, id and canonical url|version."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from terminology.engine.codesystem import CodeSystemIndex
from terminology.engine.concept_map_index import ConceptMapIndex
from terminology.engine.patterns import PatternLimits
from terminology.engine.valueset import ImplicitValueSet, ValueSetIndex, member_cache
from terminology.engine.versions import split_canonical, version_for_date, version_key, version_period
from terminology.errors import NotFound

RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")


class Published(Protocol):
    """What every served resource offers, whether it is a loaded file or a virtual resource."""

    resource_type: str
    id: str
    url: str
    version: str | None
    name: str | None
    title: str | None
    status: str

    def summary(self) -> dict: ...

    def to_fhir(self) -> dict: ...


def unknown_system_message(url: str, version: str | None, known: list[str]) -> str:
    """Return tx.fhir.org's wording for a code system (version) that is not loaded."""
    if version and known:
        return (
            f"A definition for CodeSystem '{url}' version '{version}' could not be found, "
            f"so the code cannot be validated. Valid versions: [{','.join(known)}]"
        )
    return f"A definition for CodeSystem '{url}' could not be found, so the code cannot be validated"


class Registry:
    """All served resources. Built once at start-up, then read-only."""

    def __init__(self, pattern_limits: PatternLimits | None = None) -> None:
        # How much work regex filters may do when a value set of (or sent to) this registry is evaluated.
        self.pattern_limits = pattern_limits or PatternLimits()
        self.by_id: dict[str, dict[str, Published]] = {t: {} for t in RESOURCE_TYPES}
        self.by_url: dict[str, dict[str, dict[str | None, Published]]] = {t: {} for t in RESOURCE_TYPES}
        self._latest: dict[str, dict[str, Published]] = {t: {} for t in RESOURCE_TYPES}
        self._implicit: dict[str, ImplicitValueSet] = {}
        self.member_cache = member_cache()

    def add(self, item: Published) -> Published | None:
        """Register a resource; return the one already holding its id or url|version, if any."""
        rtype = item.resource_type
        versions = self.by_url[rtype].setdefault(item.url, {})
        clash = versions.get(item.version) or self.by_id[rtype].get(item.id)
        if clash is not None:
            return clash
        versions[item.version] = item
        self.by_id[rtype][item.id] = item
        latest = max(versions.values(), key=lambda r: version_key(r.version))
        self._latest[rtype][item.url] = latest
        return None

    def replace(self, old: Published, new: Published) -> None:
        """Put ``new`` in the place of ``old`` (a complete CodeSystem superseding a fragment)."""
        rtype = old.resource_type
        self.by_id[rtype].pop(old.id, None)
        versions = self.by_url[rtype].get(old.url, {})
        if versions.get(old.version) is old:
            del versions[old.version]
        if not versions:
            self.by_url[rtype].pop(old.url, None)
            self._latest[rtype].pop(old.url, None)
        if self.add(new) is not None:
            raise ValueError(f"'{new.canonical}' clashes with another resource (replacing {old.canonical})")

    def resources(self, resource_type: str) -> Iterable[Published]:
        """Return every resource of a type, in id order."""
        return (self.by_id[resource_type][k] for k in sorted(self.by_id[resource_type]))

    def read(self, resource_type: str, resource_id: str) -> Published:
        """Return a resource by logical id or raise NotFound."""
        item = self.by_id.get(resource_type, {}).get(resource_id)
        if item is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known", tx_code=None)
        return item

    def find(self, resource_type: str, url: str, version: str | None = None) -> Published | None:
        """Return the resource with this url (and version; latest when none), or None."""
        if version is None:
            return self._latest[resource_type].get(url)
        return self.by_url[resource_type].get(url, {}).get(version)

    def versions_of(self, resource_type: str, url: str) -> list[str]:
        """Return the known versions of a canonical url, oldest first."""
        return sorted((v for v in self.by_url[resource_type].get(url, {}) if v is not None), key=version_key)

    def has_system(self, url: str) -> bool:
        """Say whether any version of a code system is loaded."""
        return url in self._latest["CodeSystem"]

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex:
        """Return a code system (version) or raise NotFound with tx.fhir.org's wording."""
        found = self.find("CodeSystem", url, version)
        if found is None:
            known = self.versions_of("CodeSystem", url)
            raise NotFound(unknown_system_message(url, version, known))
        return found  # type: ignore[return-value]

    def code_system_for_date(self, url: str, on: date) -> CodeSystemIndex:
        """Return the code system version in force on a date (CPT ``2026`` holds every day of 2026).

        Systems whose versions are not dates (LOINC ``2.77``) answer with their latest version.
        """
        known = self.versions_of("CodeSystem", url)
        if not any(version_period(v) for v in known):
            return self.code_system(url)
        chosen = version_for_date(known, on)
        if chosen is None:
            raise NotFound(
                f"A definition for CodeSystem '{url}' in force on {on.isoformat()} could not be found, "
                f"so the code cannot be validated. Valid versions: [{','.join(known)}]"
            )
        return self.code_system(url, chosen)

    def holds(self, value_set: ValueSetIndex) -> bool:
        """Say whether a value set is one this registry serves (not one sent with a request)."""
        if isinstance(value_set, ImplicitValueSet):
            return self._implicit.get(value_set.code_system_canonical) is value_set
        return self.find("ValueSet", value_set.url, value_set.version) is value_set

    def value_set(self, url: str, version: str | None = None) -> ValueSetIndex:
        """Return a value set by url and version, including implicit code-system value sets."""
        found = self.find("ValueSet", url, version)
        if found is None and url.endswith("?fhir_vs"):
            code_system = self.find("CodeSystem", url[: -len("?fhir_vs")], version)
            if code_system is not None:
                found = self._implicit.get(code_system.canonical)
                if found is None:
                    found = ImplicitValueSet(code_system)  # type: ignore[arg-type]
                    self._implicit[code_system.canonical] = found
        if found is None:
            shown = f"{url}|{version}" if version else url
            raise NotFound(f"A definition for the value Set '{shown}' could not be found")
        return found  # type: ignore[return-value]

    def value_set_by_canonical(self, reference: str) -> ValueSetIndex:
        """Resolve a ``url|version`` value-set reference (compose.include.valueSet)."""
        url, version = split_canonical(reference)
        try:
            return self.value_set(url, version)
        except NotFound:
            shown = f" version '{version}'" if version else ""
            raise NotFound(
                f"Unable to find included value set '{url}'{shown}",
                issue_code="unknown" if version else "not-found",
                status=422 if version else 404,
            ) from None

    def concept_maps(self) -> list[ConceptMapIndex]:
        """Return the latest version of every concept map."""
        return [self._latest["ConceptMap"][u] for u in sorted(self._latest["ConceptMap"])]  # type: ignore[misc]

    def concept_map(self, url: str, version: str | None = None) -> ConceptMapIndex:
        """Return a concept map by url (and version) or raise NotFound."""
        found = self.find("ConceptMap", url, version)
        if found is None:
            shown = f"{url}|{version}" if version else url
            raise NotFound(f"A definition for the ConceptMap '{shown}' could not be found")
        return found  # type: ignore[return-value]

    def counts(self) -> dict[str, int]:
        """Return how many resources of each type are loaded."""
        return {t: len(self.by_id[t]) for t in RESOURCE_TYPES}
