"""Registry of loaded content keyed by type, id and canonical url|version; the per-request overlay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from typing import Protocol

from terminology.engine.codesystem import CodeSystemIndex
from terminology.engine.concept_map_index import ConceptMapIndex
from terminology.engine.patterns import PatternLimits
from terminology.engine.valueset import ImplicitValueSet, ValueSetIndex, member_cache
from terminology.engine.versions import split_canonical, version_for_date, version_key, version_period
from terminology.errors import NotFound, TerminologyError, UnusableResource

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


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """A problem found in a resource while loading it: where (file and element) and what.

    ``refused``: the resource cannot be served; otherwise it is served, degraded. ``issue_code`` and
    ``tx_code`` are what a request that needs a refused resource is answered with.
    """

    source: str
    element: str
    message: str
    refused: bool = True
    resource_type: str | None = None
    url: str | None = None
    version: str | None = None
    issue_code: str = "invalid"
    tx_code: str = "invalid-data"
    # The domain error behind the problem, when there is one (a regex RE2 cannot run...): a request
    # that needs the resource answers with it, its status and issue code.
    cause: TerminologyError | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.element}: {self.message}"

    def error(self) -> TerminologyError:
        """Return the 4xx a request that needs this refused resource gets."""
        if self.cause is not None:
            return self.cause
        if self.tx_code != "invalid-data":
            text = self.message  # already in tx.fhir.org's words
        else:
            shown = f"{self.url}|{self.version}" if self.version else self.url
            origin = PurePath(self.source).name if "/" in self.source else self.source
            where = f"{self.element}: {self.message}"
            text = f"The {self.resource_type} '{shown}' could not be loaded ({origin}): {where}"
        return UnusableResource(
            text, expression=self.element, tx_code=self.tx_code, issue_code=self.issue_code
        )


class Registry:
    """All served resources. Built once at start-up, then read-only.

    Resources are keyed by ``url|version``; several may share an ``id`` (packages do that), and
    a read by id gets the first one loaded. ``refused`` remembers the resources the lenient policy
    set aside, so that a request naming one gets its problem instead of "not found".
    """

    def __init__(self, pattern_limits: PatternLimits | None = None) -> None:
        # How much work regex filters may do when a value set of (or sent to) this registry is evaluated.
        self.pattern_limits = pattern_limits or PatternLimits()
        self.by_id: dict[str, dict[str, Published]] = {t: {} for t in RESOURCE_TYPES}
        self.by_url: dict[str, dict[str, dict[str | None, Published]]] = {t: {} for t in RESOURCE_TYPES}
        self._latest: dict[str, dict[str, Published]] = {t: {} for t in RESOURCE_TYPES}
        self._implicit: dict[str, ImplicitValueSet] = {}
        self.member_cache = member_cache()
        self.refused: dict[tuple[str, str], dict[str | None, LoadProblem]] = {}
        self.problems: list[LoadProblem] = []

    def add(self, item: Published) -> Published | None:
        """Register a resource; return the one already holding its url|version, if any."""
        rtype = item.resource_type
        versions = self.by_url[rtype].setdefault(item.url, {})
        clash = versions.get(item.version)
        if clash is not None:
            return clash
        versions[item.version] = item
        if item.id:
            self.by_id[rtype].setdefault(item.id, item)
        latest = max(versions.values(), key=lambda r: version_key(r.version))
        self._latest[rtype][item.url] = latest
        return None

    def refuse(self, problem: LoadProblem) -> None:
        """Remember a resource that could not be loaded, by its url (and version) when it has one."""
        if problem.resource_type in RESOURCE_TYPES and problem.url:
            self.refused.setdefault((problem.resource_type, problem.url), {})[problem.version] = problem

    def refusal(self, resource_type: str, url: str, version: str | None = None) -> LoadProblem | None:
        """Return why the resource with this url (and version) was refused, if it was."""
        found = self.refused.get((resource_type, url))
        if not found:
            return None
        return found.get(version) if version is not None else next(iter(found.values()))

    def replace(self, old: Published, new: Published) -> None:
        """Put ``new`` in the place of ``old`` (a complete CodeSystem superseding a fragment)."""
        rtype = old.resource_type
        if self.by_id[rtype].get(old.id) is old:
            del self.by_id[rtype][old.id]
        versions = self.by_url[rtype].get(old.url, {})
        if versions.get(old.version) is old:
            del versions[old.version]
        if not versions:
            self.by_url[rtype].pop(old.url, None)
            self._latest[rtype].pop(old.url, None)
        if self.add(new) is not None:
            raise ValueError(f"'{new.canonical}' clashes with another resource (replacing {old.canonical})")

    def resources(self, resource_type: str) -> Iterable[Published]:
        """Return every resource of a type, in id order (then url and version)."""
        every = [item for versions in self.by_url[resource_type].values() for item in versions.values()]
        return sorted(every, key=lambda r: (r.id or "", r.url, version_key(r.version)))

    def search(self, resource_type: str, criteria: list[tuple[str, str, str]]) -> list[Published]:
        """Return the resources of a type that meet every (name, modifier, value) search criterion.

        url, version, status and _id match exactly (status and _id take comma-separated lists); name
        and title as FHIR string search: a case-insensitive prefix, or ``:exact`` and ``:contains``.
        """
        return [item for item in self.resources(resource_type) if _matches(item, criteria)]

    def read(self, resource_type: str, resource_id: str) -> Published:
        """Return a resource by logical id or raise NotFound."""
        item = self.by_id.get(resource_type, {}).get(resource_id)
        if item is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known", tx_code=None)
        return item

    def find(self, resource_type: str, url: str, version: str | None = None) -> Published | None:
        """Return the resource with this url (and version; latest when none), or None.

        :raise UnusableResource: (4xx) when the content held this resource but it was refused
            (lenient policy, or sent broken with the request): the request needs it.
        """
        if version is None:
            found = self._latest[resource_type].get(url)
        else:
            found = self.by_url[resource_type].get(url, {}).get(version)
        if found is None and self.refused:
            problem = self.refusal(resource_type, url, version)
            if problem is not None:
                raise problem.error()
        return found

    def loaded(self, resource_type: str, url: str, version: str | None = None) -> Published | None:
        """Return the resource with this url (and version; latest when none), or None (never raises)."""
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
        return {t: sum(len(v) for v in self.by_url[t].values()) for t in RESOURCE_TYPES}


def _string_match(modifier: str, wanted: str, value: str | None) -> bool:
    if value is None:
        return False
    if modifier == "exact":
        return value == wanted
    if modifier == "contains":
        return wanted.lower() in value.lower()
    return value.lower().startswith(wanted.lower())


def _matches(item: Published, criteria: list[tuple[str, str, str]]) -> bool:
    for name, modifier, wanted in criteria:
        if name == "url" and item.url != wanted:
            return False
        if name == "version" and item.version != wanted:
            return False
        if name == "status" and item.status not in wanted.split(","):
            return False
        if name in ("name", "title") and not _string_match(modifier, wanted, getattr(item, name)):
            return False
        if name == "_id" and item.id not in wanted.split(","):
            return False
    return True


class RegistryOverlay(Registry):
    """What one request sees: the loaded registry plus the resources the request sent (tx-resource).

    The overlay holds only the request's own resources; every lookup falls back to ``base``. A
    resource of the request takes the place of a loaded one with the same url|version, and counts
    as a newer version otherwise. Value sets evaluated under an overlay keep their members here,
    never in the shared value-set objects, so nothing a request sent outlives it.
    """

    def __init__(self, base: Registry) -> None:
        super().__init__(base.pattern_limits)
        self.base = base
        # Members of the value sets this request evaluates: computed over the overlay, gone with it.
        self.member_cache = RequestMembers()

    def loaded(self, resource_type: str, url: str, version: str | None = None) -> Published | None:
        if version is not None:
            own = self.by_url[resource_type].get(url, {}).get(version)
            return own if own is not None else self.base.loaded(resource_type, url, version)
        own = self._latest[resource_type].get(url)
        loaded = self.base.loaded(resource_type, url)
        if own is None or loaded is None:
            return own or loaded
        return loaded if version_key(loaded.version) > version_key(own.version) else own

    def find(self, resource_type: str, url: str, version: str | None = None) -> Published | None:
        found = self.loaded(resource_type, url, version)
        if found is None:
            problem = self.refusal(resource_type, url, version)
            if problem is not None:
                raise problem.error()
        return found

    def versions_of(self, resource_type: str, url: str) -> list[str]:
        own = super().versions_of(resource_type, url)
        return sorted({*own, *self.base.versions_of(resource_type, url)}, key=version_key)

    def has_system(self, url: str) -> bool:
        return url in self._latest["CodeSystem"] or self.base.has_system(url)

    def resources(self, resource_type: str) -> Iterable[Published]:
        own = list(super().resources(resource_type))
        keys = {(r.url, r.version) for r in own}
        loaded = [r for r in self.base.resources(resource_type) if (r.url, r.version) not in keys]
        return sorted([*own, *loaded], key=lambda r: (r.id or "", r.url, version_key(r.version)))

    def read(self, resource_type: str, resource_id: str) -> Published:
        own = self.by_id.get(resource_type, {}).get(resource_id)
        return own if own is not None else self.base.read(resource_type, resource_id)

    def refusal(self, resource_type: str, url: str, version: str | None = None) -> LoadProblem | None:
        return super().refusal(resource_type, url, version) or self.base.refusal(resource_type, url, version)

    def concept_maps(self) -> list[ConceptMapIndex]:
        urls = sorted({*self._latest["ConceptMap"], *self.base._latest["ConceptMap"]})
        return [self.find("ConceptMap", u) for u in urls]  # type: ignore[misc]


class RequestMembers(dict):
    """The value-set member cache of one request's overlay: a plain dict that lives with the request."""

    def get_or_compute(self, key, compute):
        """Return the members for ``key``, evaluating them on first use."""
        found = self.get(key)
        if found is None:
            found = self[key] = compute()
        return found
