"""`terminology import pctc`: add fee-schedule PC/TC indicators (PPRRVU file) to imported CPT/HCPCS."""

from __future__ import annotations

import csv
from pathlib import Path

from terminology.engine.codesystem import PCTC_PROPERTY
from terminology.engine.systems import CPT, HCPCS
from terminology.engine.versions import version_key
from terminology.errors import ImportFailure
from terminology.importers.common import (
    ImportReport,
    declare_property,
    output_dir,
    read_code_system,
    read_text_lines,
    set_property,
    write_resources,
)
from terminology.text import counted

# PPRRVU CSV (domain.md §5.2): caption lines, then a header spread over several rows whose last row
# starts "HCPCS,MOD,..."; PCTC IND is the 14th column. Rows are keyed by HCPCS + MOD; the indicator
# of the row without a modifier is the code's indicator (26/TC rows describe the split components).
PCTC_COLUMN = 13
INDICATORS = frozenset("0123456789")


def read_indicators(path: Path, report: ImportReport) -> dict[str, str]:
    """Return {code: PC/TC indicator} from the rows of the PPRRVU CSV that have no modifier."""
    if not path.is_file():
        raise ImportFailure(path, None, "file not found")
    lines = read_text_lines(path, report)
    header_at = None
    captions: list[list[str]] = []
    for index, row in enumerate(csv.reader(lines)):
        cells = [c.strip() for c in row]
        if len(cells) > 1 and cells[0].upper() == "HCPCS" and cells[1].upper() == "MOD":
            header_at = index
            captions.append(cells)
            break
        captions.append(cells)
    if header_at is None:
        raise ImportFailure(path, None, "no header row starting 'HCPCS,MOD' (is this the PPRRVU CSV?)")
    # The column title is split over the caption rows ("PCTC" above "IND"), or given whole.
    title = " ".join(r[PCTC_COLUMN] for r in captions if len(r) > PCTC_COLUMN and r[PCTC_COLUMN]).upper()
    if title.split()[-2:] != ["PCTC", "IND"]:
        raise ImportFailure(path, header_at + 1, f"column 14 is '{title}', not PCTC IND")
    indicators: dict[str, str] = {}
    skipped_modifier_rows = 0
    for index, row in enumerate(csv.reader(lines[header_at + 1 :]), start=header_at + 2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        code = cells[0]
        if not code:
            continue  # footnote lines carry no code
        if len(cells) <= PCTC_COLUMN:
            raise ImportFailure(
                path, index, f"row for {code} has {len(cells)} columns; PCTC IND is column 14"
            )
        if cells[PCTC_COLUMN] not in INDICATORS:
            raise ImportFailure(path, index, f"PCTC IND '{cells[PCTC_COLUMN]}' of {code} is not 0-9")
        if cells[1]:
            skipped_modifier_rows += 1
            continue
        if code in indicators and indicators[code] != cells[PCTC_COLUMN]:
            raise ImportFailure(
                path, index, f"{code} has two rows without a modifier, with different indicators"
            )
        indicators[code] = cells[PCTC_COLUMN]
    if not indicators:
        raise ImportFailure(path, None, "no rows with a PC/TC indicator")
    if skipped_modifier_rows:
        verb = "was" if skipped_modifier_rows == 1 else "were"
        report.note(f"{counted(skipped_modifier_rows, 'row')} with a modifier (e.g. 26, TC) {verb} not used")
    return indicators


def _targets(directory: Path, versions: dict[str, str | None]) -> list[tuple[Path, dict]]:
    """Find the CPT and HCPCS CodeSystems of the content directory to update (latest, or as asked)."""
    found: dict[str, list[tuple[Path, dict]]] = {CPT: [], HCPCS: []}
    for path in sorted(directory.glob("*.json")):
        resource = read_code_system(path)
        if resource.get("resourceType") == "CodeSystem" and resource.get("url") in found:
            found[resource["url"]].append((path, resource))
    chosen = []
    for url, candidates in found.items():
        wanted = versions.get(url)
        if wanted:
            match = [c for c in candidates if c[1].get("version") == wanted]
            if not match:
                raise ImportFailure(directory, None, f"no CodeSystem {url}|{wanted} in this directory")
            chosen.extend(match)
        elif candidates:
            chosen.append(max(candidates, key=lambda c: version_key(c[1].get("version"))))
    if not chosen:
        raise ImportFailure(
            directory, None, "no imported CPT or HCPCS CodeSystem here: run `import cpt/hcpcs` first"
        )
    return chosen


def import_pctc(
    path: Path | str,
    out: Path | str | None = None,
    cpt_version: str | None = None,
    hcpcs_version: str | None = None,
) -> ImportReport:
    """Add ``pctc-indicator`` to the CPT/HCPCS CodeSystems of the content directory (latest versions)."""
    report = ImportReport()
    source = Path(path)
    indicators = read_indicators(source, report)
    directory = output_dir(out)
    updates = []
    for target, resource in _targets(directory, {CPT: cpt_version, HCPCS: hcpcs_version}):
        declare_property(
            resource,
            PCTC_PROPERTY,
            "code",
            "PC/TC indicator of the Medicare Physician Fee Schedule (PPRRVU 'PCTC IND'; "
            f"from {source.name}): 1 allows modifiers 26 and TC, 6 allows 26 only, 0/2/3/4/5/9 allow neither",
        )
        matched = 0
        for concept in resource.get("concept", []):
            indicator = indicators.get(concept.get("code"))
            if indicator is not None:
                set_property(concept, PCTC_PROPERTY, "valueCode", indicator)
                matched += 1
        concepts = counted(len(resource.get("concept", [])), "concept")
        verb = "has" if matched == 1 else "have"
        report.note(f"{target.name}: {matched:,} of {concepts} {verb} a PC/TC indicator")
        report.concepts += matched
        updates.append((resource, target))
    report.written = write_resources(updates)
    return report
