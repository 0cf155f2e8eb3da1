"""Indexed ConceptMap: source code → targets, and the reverse, for `$translate`."""

from __future__ import annotations

from dataclasses import dataclass, field

from terminology.engine.versions import canonical


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


class ConceptMapIndex:
    """A loaded ConceptMap indexed by (source system, code) and by (target system, code)."""

    resource_type = "ConceptMap"

    def __init__(self, resource: dict, source: str = "") -> None:
        self.resource = resource
        self.source = source
        self.id: str = resource.get("id", "")
        self.url: str = resource.get("url", "")
        self.version: str | None = resource.get("version")
        self.name: str | None = resource.get("name")
        self.title: str | None = resource.get("title")
        self.status: str = resource.get("status", "unknown")
        self.experimental: bool = bool(resource.get("experimental", False))
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
    def canonical(self) -> str:
        """Return ``url|version``."""
        return canonical(self.url, self.version)

    @property
    def source_systems(self) -> set[str]:
        """Return the source systems of this map's groups."""
        return {g.get("source", "") for g in self.resource.get("group", [])}

    def translate(self, system: str, code: str, reverse: bool = False) -> list[MapTarget]:
        """Return the mappings from (or, reversed, to) ``system#code``."""
        table = self.reverse if reverse else self.forward
        return table.get((system, code), [])

    def summary(self) -> dict:
        """Return the resource without its groups (for `_summary=true`)."""
        return {k: v for k, v in self.resource.items() if k not in ("group", "text")}

    def to_fhir(self) -> dict:
        """Return the resource as loaded."""
        return self.resource
