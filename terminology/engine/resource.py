"""What every loaded conformance resource shares: identity, status and its source file."""

from __future__ import annotations

from terminology.engine.versions import canonical

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


class LoadedResource:
    """A resource loaded from a content file, indexed by its subclass for one operation family."""

    resource_type = ""
    # Elements that `_summary=true` leaves out (the bulky, non-summary ones).
    bulky_elements: tuple[str, ...] = ("text",)

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
        # The standards status extension (deprecated, withdrawn, draft…) of the resource itself.
        self.standards_status: str | None = next(
            (e.get("valueCode") for e in resource.get("extension", []) if e.get("url") == STANDARDS_STATUS),
            None,
        )
        # What a reference to this resource is flagged as (see valueset.status_warning), or None.
        self.status_flag: str | None = (
            self.standards_status
            if self.standards_status in ("deprecated", "withdrawn")
            else "retired"
            if self.status == "retired"
            else "experimental"
            if self.experimental
            else "draft"
            if "draft" in (self.status, self.standards_status)
            else None
        )

    @property
    def canonical(self) -> str:
        """Return ``url|version`` (or the bare url when unversioned)."""
        return canonical(self.url, self.version)

    def summary(self) -> dict:
        """Return the resource without its bulky elements (for `_summary=true`)."""
        return {k: v for k, v in self.resource.items() if k not in self.bulky_elements}

    def to_fhir(self) -> dict:
        """Return the resource as loaded."""
        return self.resource
