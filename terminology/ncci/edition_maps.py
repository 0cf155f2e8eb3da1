"""Each imported NCCI PTP edition published as a virtual ConceptMap (read, search and `$translate`)."""

from __future__ import annotations

from terminology.dates import day_number, day_text
from terminology.engine.concept_map_index import MapTarget
from terminology.engine.systems import CPT, OWN_BASE
from terminology.engine.versions import canonical
from terminology.ncci.index import Edition, NcciIndex

BASE = OWN_BASE
PROPERTY = f"{BASE}/ConceptMap/ncci-ptp#"
_SETTING_TITLES = {"practitioner": "practitioner", "outpatient": "hospital outpatient"}
_SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}


def ptp_concept_map_url(setting: str) -> str:
    """Return the canonical url of the PTP ConceptMaps of a setting (the edition is the version)."""
    return f"{BASE}/ConceptMap/ncci-ptp-{setting}"


def ptp_concept_map_canonical(edition: Edition) -> str:
    """Return ``url|version`` of an edition's ConceptMap."""
    return canonical(ptp_concept_map_url(edition.setting), edition.name)


class PtpEditionConceptMap:
    """A PTP edition as a ConceptMap: column 1 -> column 2 ('relatedto'), answered from the index.

    Reads and searches return the metadata only (the edition has millions of rows); `$translate`
    queries the index, optionally for one date of service.
    """

    resource_type = "ConceptMap"
    dated = True

    def __init__(self, edition: Edition, index: NcciIndex) -> None:
        self.edition = edition
        self.index = index
        self.id = f"ncci-ptp-{edition.setting}-{edition.name}"
        self.url = ptp_concept_map_url(edition.setting)
        self.version: str | None = edition.name
        setting = _SETTING_TITLES.get(edition.setting, edition.setting)
        self.name: str | None = f"NCCIPTP{edition.setting.capitalize()}{edition.name.upper()}"
        self.title: str | None = (
            f"NCCI procedure-to-procedure edits, {setting}, {edition.name} ({edition.quarter})"
        )
        self.status = "active"
        self.experimental = False
        self.source = f"NCCI index: {edition.files}"

    @property
    def canonical(self) -> str:
        """Return ``url|version``."""
        return canonical(self.url, self.version)

    @property
    def source_systems(self) -> set[str]:
        """Return the source systems (CPT; HCPCS codes share the column)."""
        return {CPT}

    def _current(self) -> Edition:
        # After a re-import the edition gets a new row id; find it again by name.
        for edition in self.index.editions("ptp", self.edition.setting):
            if edition.name == self.edition.name:
                self.edition = edition
                break
        return self.edition

    def translate(
        self, system: str, code: str, reverse: bool = False, date: str | None = None
    ) -> list[MapTarget]:
        """Return the edits with ``code`` in column 1 (reverse: column 2), in effect on ``date`` if given."""
        if system != CPT:
            return []
        day = day_number(date) if date else None
        targets = []
        for row in self.index.edits_of(self._current(), code, reverse, day):
            col1, col2, indicator = row.column1, row.column2, row.indicator
            start, end = day_text(row.effective), day_text(row.deletion)
            product = [
                {
                    "property": f"{PROPERTY}modifier-indicator",
                    "system": f"{PROPERTY}modifier-indicator",
                    "value": str(indicator),
                },
                {"property": f"{PROPERTY}effective-date", "value": start},
                {"property": f"{PROPERTY}deletion-date", "value": end or "*"},
            ]
            if row.prior_1996:
                product.append({"property": f"{PROPERTY}prior-1996", "value": "*"})
            comment = (
                f"NCCI PTP {self.edition.setting} {self.edition.name}: column 2 {col2} "
                "is not paid with column 1 "
                f"{col1}; modifier indicator {indicator}; effective {start}; deletion {end or '* (none)'}; "
                f"rationale: {row.rationale}"
            )
            targets.append(
                MapTarget(CPT, None, col1, None, CPT, None, col2, None, "relatedto", comment, [], product)
            )
        return targets

    def summary(self) -> dict:
        """Return the metadata of the map (no groups)."""
        edition = self._current()
        return {
            "resourceType": "ConceptMap",
            "id": self.id,
            "url": self.url,
            "version": self.version,
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "experimental": False,
            "date": edition.imported[:10],
            "publisher": "terminology project (imported from CMS NCCI files)",
            "description": (
                f"NCCI procedure-to-procedure edits, {edition.setting} table, version {edition.name}, "
                "in effect "
                f"{edition.start} to {edition.end}: {edition.rows:,} edit rows over "
                f"{edition.pairs:,} code pairs, "
                f"imported from {edition.files}. Each element maps a column 1 code to a column 2 code "
                "(equivalence 'relatedto': column 2 is not paid with column 1 unless the modifier indicator "
                "allows a bypass). The elements are not materialised in this resource: use $translate with "
                "code (column 1), or targetCode for column 2, and optionally date."
            ),
            "copyright": (
                "CPT only copyright American Medical Association. All rights reserved. NCCI edits are "
                "published by CMS."
            ),
            "sourceUri": f"{CPT}?fhir_vs",
            "targetUri": f"{CPT}?fhir_vs",
        }

    def to_fhir(self) -> dict:
        """Return the metadata, tagged SUBSETTED: millions of elements are served by $translate only."""
        resource = self.summary()
        resource["meta"] = {"tag": [_SUBSETTED]}
        return resource


def publish_editions(registry, index: NcciIndex, editions: list[Edition]) -> None:
    """Register a ConceptMap for every PTP edition not yet in the registry."""
    for edition in editions:
        if edition.kind != "ptp":
            continue
        if registry.find("ConceptMap", ptp_concept_map_url(edition.setting), edition.name) is None:
            registry.add(PtpEditionConceptMap(edition, index))
