"""Indexed ConceptMap: source code → targets, and the reverse, for `$translate`."""

from __future__ import annotations

from dataclasses import dataclass, field

from terminology.engine.resource import LoadedResource


@dataclass(slots=True)
class MapTarget:
    """One mapping from a source code to a target code, with its conditions."""

    source_system: str
    source_version: str | None
    source_code: str
    source_display: str | None
    target_system: str
    target_version: str | None
    target_code: str | None
    target_display: str | None
    equivalence: str
    comment: str | None = None
    depends_on: list[dict] = field(default_factory=list)
    product: list[dict] = field(default_factory=list)


class ConceptMapIndex(LoadedResource):
    """A loaded ConceptMap indexed by (source system, code) and by (target system, code)."""

    resource_type = "ConceptMap"
    bulky_elements = ("group", "text")

    def __init__(self, resource: dict, source: str = "") -> None:
        super().__init__(resource, source)
        self.forward: dict[tuple[str, str], list[MapTarget]] = {}
        self.reverse: dict[tuple[str, str], list[MapTarget]] = {}
        for group in resource.get("group", []):
            for element in group.get("element", []):
                for target in element.get("target", []):
                    mapped = MapTarget(
                        source_system=group.get("source", ""),
                        source_version=group.get("sourceVersion"),
                        source_code=element.get("code", ""),
                        source_display=element.get("display"),
                        target_system=group.get("target", ""),
                        target_version=group.get("targetVersion"),
                        target_code=target.get("code"),
                        target_display=target.get("display"),
                        equivalence=target.get("equivalence", "equivalent"),
                        comment=target.get("comment"),
                        depends_on=target.get("dependsOn", []),
                        product=target.get("product", []),
                    )
                    self.forward.setdefault((mapped.source_system, mapped.source_code), []).append(mapped)
                    if mapped.target_code:
                        self.reverse.setdefault((mapped.target_system, mapped.target_code), []).append(mapped)

    @property
    def source_systems(self) -> set[str]:
        """Return the source systems of this map's groups."""
        return {g.get("source", "") for g in self.resource.get("group", [])}

    def translate(self, system: str, code: str, reverse: bool = False) -> list[MapTarget]:
        """Return the mappings from (or, reversed, to) ``system#code``."""
        table = self.reverse if reverse else self.forward
        return table.get((system, code), [])
