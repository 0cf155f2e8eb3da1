"""`$translate`: map a code through the loaded ConceptMaps (forward or reverse)."""

from __future__ import annotations

from dataclasses import dataclass

from terminology.engine.concept_map_index import ConceptMapIndex, MapTarget
from terminology.engine.registry import Registry


@dataclass(slots=True)
class TranslateRequest:
    """What to translate and through which maps."""

    system: str
    code: str
    map_url: str | None = None
    map_version: str | None = None
    target_system: str | None = None
    reverse: bool = False
    dependencies: dict[str, str] | None = None  # dependsOn property (or system) -> code
    date: str | None = None  # date of service, for maps whose rows carry dates (NCCI editions)


@dataclass(slots=True)
class TranslateMatch:
    """One match: the mapping and the map it came from."""

    target: MapTarget
    concept_map: ConceptMapIndex


def _depends_satisfied(target: MapTarget, dependencies: dict[str, str] | None) -> bool:
    if not dependencies or not target.depends_on:
        return True
    for condition in target.depends_on:
        given = dependencies.get(condition.get("property", "")) or dependencies.get(
            condition.get("system", "")
        )
        if given is not None and given != condition.get("value"):
            return False
    return True


def translate(registry: Registry, request: TranslateRequest, concept_map=None) -> list[TranslateMatch]:
    """Return the matches for a code; several maps are searched when none is named."""
    if concept_map is not None:
        maps = [concept_map]
    elif request.map_url:
        maps = [registry.concept_map(request.map_url, request.map_version)]
    else:
        maps = registry.concept_maps()
    matches: list[TranslateMatch] = []
    for cmap in maps:
        if getattr(cmap, "dated", False):
            targets = cmap.translate(request.system, request.code, request.reverse, date=request.date)
        else:
            targets = cmap.translate(request.system, request.code, request.reverse)
        for target in targets:
            other_system = target.source_system if request.reverse else target.target_system
            if request.target_system and other_system != request.target_system:
                continue
            if _depends_satisfied(target, request.dependencies):
                matches.append(TranslateMatch(target, cmap))
    return matches
