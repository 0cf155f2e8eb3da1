"""`terminology import cpt`: turn a licensee's AMA CPT distribution folder into one CodeSystem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from terminology.dates import iso_text
from terminology.engine.clock import today
from terminology.engine.systems import CPT
from terminology.errors import ImportFailure
from terminology.importers.common import (
    CODE_SYSTEM_PROPERTY,
    ImportReport,
    after_header_block,
    check_code,
    find_file,
    output_dir,
    parse_date,
    read_text_lines,
    write_resources,
)

COPYRIGHT = (
    "CPT © Copyright {year} American Medical Association. All rights reserved. "
    "AMA and CPT are registered trademarks of the American Medical Association."
)

# Designation kinds and their ``use`` codes, as HL7's CPTImporter names them (domain.md §4.2).
USES = {
    "upper": "Uppercase variant of the display (LONGUT.txt)",
    "med": "Medium length variant of the display (MEDU.txt)",
    "short": "Short length variant of the display (SHORTU.txt)",
    "consumer": "Consumer friendly descriptor (ConsumerDescriptor.txt)",
    "clinician": "Clinician descriptor (ClinicianDescriptor.txt; can be more than one per code)",
}

PROPERTIES = [
    ("modifier", "boolean", "Whether code is a modifier code", None),
    (
        "modified",
        "boolean",
        "Whether code has been modified (all base codes are not modified); true only for "
        "post-coordinated expressions (base:modifier)",
        None,
    ),
    (
        "kind",
        "code",
        "Kind of Code (HL7 CPT kinds: code, cat-1, cat-2, physical-status, general, hcpcs, metadata)",
        None,
    ),
]
TELEMEDICINE = (
    "telemedicine",
    "boolean",
    "Whether code is appropriate for use with telemedicine (and the telemedicine modifier 95); "
    "from the operator's --telemedicine list",
    None,
)
STATUS = ("status", "code", "Status of the code: retired for deleted codes", CODE_SYSTEM_PROPERTY + "status")
RETIRED = (
    "retirementDate",
    "dateTime",
    "Date the code was deleted from CPT (Deleted_DTK_tab.txt date_deleted)",
    CODE_SYSTEM_PROPERTY + "retirementDate",
)

# MODUL.txt section headings (as the AMA's own parser recognises them) and the HL7 kind they give.
SECTIONS = {
    "appendix a": "general",
    "anesthesia physical status": "physical-status",
    "cpt level i modifiers": "cat-1",
    "category ii modifiers": "cat-2",
    "level ii (hcpcs/national) modifiers": "hcpcs",
}
# Paragraph sections: a modifier starts a line and its text runs to the next blank line.
_PARAGRAPH_START = {
    "general": re.compile(r"^(\d{2})\s+(\S.*)$"),
    "cat-1": re.compile(r"^(\d{2})\s+(\S.*)$"),
    "cat-2": re.compile(r"^(\d[A-Z])\s+(\S.*)$"),
}
# One-line sections.
_LINE = {
    "physical-status": re.compile(r"^.*?\b(P\d)\s*:\s*(\S.*)$"),
    "hcpcs": re.compile(r"^([A-Z][0-9A-Z])\s+(\S.*)$"),
}


@dataclass
class _Modifier:
    code: str
    display: str
    definition: str | None
    kinds: list[str] = field(default_factory=list)


def _use(code: str) -> dict:
    return {"system": CPT, "code": code, "display": USES[code]}


def _base_kind(code: str) -> str:
    # Category II codes are four digits and an F (CPT code structure). HL7's importer calls every
    # non-numeric code cat-2, which would also catch Category III (T) and PLA (U) codes; we do not.
    return "cat-2" if code.endswith("F") else "code"


def _long_descriptors(path: Path, report: ImportReport) -> dict[str, str]:
    """Read LONGULT.txt/LONGUT.txt: header block, blank line, then ``code<TAB>descriptor``."""
    found: dict[str, str] = {}
    for number, line in after_header_block(path, read_text_lines(path, report)):
        code, tab, text = line.partition("\t")
        if not tab:
            raise ImportFailure(path, number, "expected 'code<TAB>descriptor'")
        code = check_code(path, number, code.strip())
        if not text.strip():
            raise ImportFailure(path, number, f"code {code} has an empty descriptor")
        if code in found:
            raise ImportFailure(path, number, f"code {code} appears twice")
        found[code] = text.strip()
    return found


def _fixed_width(path: Path, report: ImportReport) -> dict[str, str]:
    """Read SHORTU.txt/MEDU.txt: code in characters 1-5, descriptor from character 7."""
    found: dict[str, str] = {}
    for number, line in after_header_block(path, read_text_lines(path, report)):
        if len(line) < 7 or line[5] not in " \t":
            raise ImportFailure(path, number, "expected the code in characters 1-5 and the descriptor from 7")
        code = check_code(path, number, line[:5])
        if code in found:
            raise ImportFailure(path, number, f"code {code} appears twice")
        found[code] = line[6:].strip()
    return found


def _tab_rows(
    path: Path, columns: int, report: ImportReport, code_column: int
) -> list[tuple[int, list[str]]]:
    """Read a tab-delimited AMA file; leading title/column-header lines (at most two) are skipped."""
    rows: list[tuple[int, list[str]]] = []
    lines = read_text_lines(path, report)
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        cells = line.split("\t", columns - 1)
        is_data = len(cells) == columns and re.match(r"^[0-9A-Z]{5}$", cells[code_column].strip())
        if not is_data and not rows and index < 2:
            continue  # the title and column-header lines AMA puts first
        if len(cells) != columns:
            raise ImportFailure(
                path, index + 1, f"expected {columns} tab-separated columns, found {len(cells)}"
            )
        check_code(path, index + 1, cells[code_column].strip())
        rows.append((index + 1, [c.strip() for c in cells]))
    return rows


def parse_modifiers(path: Path, report: ImportReport) -> dict[str, _Modifier]:
    """Parse MODUL.txt's free-text sections into modifiers with their HL7 kinds.

    The section headings and line patterns follow the AMA's own MODUL.txt parser (domain.md §4.1).
    MODUL.txt is free text, so lines that do not start a modifier are treated as prose and skipped.
    Where a modifier's text reads "Name: definition" the name is the display and the whole text
    the definition; that split is our reading of the CPT style, not documented by the AMA.
    """
    modifiers: dict[str, _Modifier] = {}
    kind: str | None = None
    current: list[str] = []
    current_code: str | None = None
    start_line = 0
    seen_sections: set[str] = set()

    def add(code: str, text: str, number: int) -> None:
        text = " ".join(text.split())
        if not text:
            raise ImportFailure(path, number, f"modifier {code} has no descriptor")
        name, colon, rest = text.partition(":")
        display, definition = (
            (name.strip(), text) if colon and rest.strip() and kind != "physical-status" else (text, None)
        )
        existing = modifiers.get(code)
        if existing is None:
            modifiers[code] = _Modifier(code, display, definition, [kind])  # type: ignore[list-item]
        elif kind in existing.kinds:
            report.note(
                f"{path.name}:{number}: modifier {code} appears twice in one section; the first is kept"
            )
        else:
            existing.kinds.append(kind)  # type: ignore[arg-type]

    def flush() -> None:
        nonlocal current_code, current
        if current_code is not None:
            add(current_code, " ".join(current), start_line)
        current_code, current = None, []

    for number, raw in enumerate(read_text_lines(path, report), start=1):
        line = raw.strip()
        heading = SECTIONS.get(line.lower())
        if heading is not None:
            flush()
            kind = heading
            seen_sections.add(heading)
            continue
        if kind is None:
            continue  # notice text before Appendix A
        if not line:
            flush()
            continue
        if kind in _LINE:
            match = _LINE[kind].match(line)
            if match:
                add(match.group(1), match.group(2), number)
            continue
        match = _PARAGRAPH_START[kind].match(line)
        if current_code is None and match:
            current_code, current, start_line = match.group(1), [match.group(2)], number
        elif current_code is not None:
            current.append(line)
    flush()
    if "general" not in seen_sections:
        raise ImportFailure(path, None, "no 'Appendix A' heading: is this the AMA MODUL.txt file?")
    for heading, section_kind in SECTIONS.items():
        if section_kind not in seen_sections:
            report.note(f"{path.name}: no '{heading}' section found")
    return modifiers


def _read_telemedicine(path: Path, report: ImportReport) -> list[tuple[int, str]]:
    codes = []
    for number, raw in enumerate(read_text_lines(path, report), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            codes.append((number, check_code(path, number, line)))
    return codes


def _property(code: str, value_key: str, value: object) -> dict:
    return {"code": code, value_key: value}


def _declare(definitions: list[tuple]) -> list[dict]:
    out = []
    for code, kind, description, uri in definitions:
        entry = {"code": code}
        if uri:
            entry["uri"] = uri
        entry.update({"description": description, "type": kind})
        out.append(entry)
    return out


def build_code_system(
    source: Path, version: str, report: ImportReport, telemedicine: Path | None = None
) -> dict:
    """Read the AMA distribution folder and return the CodeSystem resource (nothing is written)."""
    if not re.match(r"^\d{4}$", version):
        raise ImportFailure(source, None, f"--version must be the CPT release year (YYYY), not '{version}'")
    if not source.is_dir():
        raise ImportFailure(source, None, "not a directory (give the folder of the AMA distribution)")

    def required(name: str) -> Path:
        path = find_file(source, name)
        if path is None:
            raise ImportFailure(source, None, f"required file {name} not found under this folder")
        return path

    def optional(name: str) -> Path | None:
        path = find_file(source, name)
        if path is None:
            report.note(f"optional file {name} not found; skipped")
        return path

    longult = _long_descriptors(required("LONGULT.txt"), report)
    upper_path = optional("LONGUT.txt")
    upper = _long_descriptors(upper_path, report) if upper_path else {}
    medium = _fixed_width(required("MEDU.txt"), report)
    short = _fixed_width(required("SHORTU.txt"), report)
    modifiers = parse_modifiers(required("MODUL.txt"), report)

    consumer: dict[str, str] = {}
    consumer_path = optional("ConsumerDescriptor.txt")
    if consumer_path:
        for _, cells in _tab_rows(consumer_path, 3, report, 1):
            consumer[cells[1]] = cells[2]
    clinician: dict[str, list[str]] = {}
    clinician_path = optional("ClinicianDescriptor.txt")
    if clinician_path:
        for _, cells in _tab_rows(clinician_path, 4, report, 1):
            clinician.setdefault(cells[1], []).append(cells[3])
    for name in ("ConsumerDescriptor.xlsx", "ClinicianDescriptor.xlsx"):
        if find_file(source, name) and not find_file(source, name.replace(".xlsx", ".txt")):
            report.note(f"{name} is not read; export it as tab-delimited .txt to import it")
    deleted: dict[str, tuple[str, str]] = {}
    deleted_path = optional("Deleted_DTK_tab.txt")
    if deleted_path:
        for number, cells in _tab_rows(deleted_path, 5, report, 1):
            when = parse_date(deleted_path, number, cells[2], "date_deleted")
            if when is None:
                raise ImportFailure(deleted_path, number, "date_deleted is empty")
            if cells[1] not in deleted or when > deleted[cells[1]][0]:
                deleted[cells[1]] = (when, cells[4])
    for name in ("History_DTK_tab.txt", "HistoryModifiers_DTK_tab.txt"):
        if find_file(source, name):
            report.note(f"{name} is not used (change history; deleted codes come from Deleted_DTK_tab.txt)")

    for label, table in (("LONGUT.txt", upper), ("MEDU.txt", medium), ("SHORTU.txt", short)):
        extra = sorted(set(table) - set(longult))
        if extra:
            report.note(f"{label}: {len(extra)} codes not in LONGULT.txt were skipped (first: {extra[0]})")
    for label, table in (("ConsumerDescriptor.txt", consumer), ("ClinicianDescriptor.txt", clinician)):
        extra = sorted(set(table) - set(longult))
        if extra:
            report.note(f"{label}: {len(extra)} codes not in LONGULT.txt were skipped (first: {extra[0]})")

    concepts: list[dict] = []
    by_code: dict[str, dict] = {}
    for code, display in longult.items():
        designations = []
        for use, table in (("upper", upper), ("med", medium), ("short", short), ("consumer", consumer)):
            if code in table:
                designations.append({"use": _use(use), "value": table[code]})
        designations.extend({"use": _use("clinician"), "value": text} for text in clinician.get(code, []))
        concept = {"code": code, "display": display}
        if designations:
            concept["designation"] = designations
        concept["property"] = [
            _property("modifier", "valueBoolean", False),
            _property("modified", "valueBoolean", False),
            _property("kind", "valueCode", _base_kind(code)),
        ]
        concepts.append(concept)
        by_code[code] = concept
    for modifier in modifiers.values():
        concept = {"code": modifier.code, "display": modifier.display}
        if modifier.definition:
            concept["definition"] = modifier.definition
        concept["property"] = [
            _property("modifier", "valueBoolean", True),
            _property("modified", "valueBoolean", False),
            *(_property("kind", "valueCode", k) for k in modifier.kinds),
        ]
        concepts.append(concept)
        by_code[modifier.code] = concept
    still_current = 0
    for code, (when, description) in sorted(deleted.items()):
        if code in by_code:
            still_current += 1
            continue
        concept = {
            "code": code,
            "display": description or f"Deleted CPT code {code}",
            "property": [
                _property("modifier", "valueBoolean", False),
                _property("modified", "valueBoolean", False),
                _property("kind", "valueCode", _base_kind(code)),
                _property("status", "valueCode", "retired"),
                _property("retirementDate", "valueDateTime", when),
            ],
        }
        concepts.append(concept)
        by_code[code] = concept
    if still_current:
        report.note(f"Deleted_DTK_tab.txt: {still_current} listed codes are in this release and stay active")

    definitions = list(PROPERTIES)
    if telemedicine is not None:
        definitions.append(TELEMEDICINE)
        for number, code in _read_telemedicine(telemedicine, report):
            if code not in by_code:
                raise ImportFailure(telemedicine, number, f"telemedicine code {code} is not in this release")
            by_code[code]["property"].append(_property("telemedicine", "valueBoolean", True))
    else:
        report.note(
            "no --telemedicine list given: the AMA descriptor files do not mark telemedicine codes "
            "(Appendix P), so no code has the telemedicine property"
        )
    if deleted_path:
        definitions.extend([STATUS, RETIRED])

    return {
        "resourceType": "CodeSystem",
        "id": f"cpt-{version}",
        "url": CPT,
        "version": version,
        "name": "CPT",
        "title": f"Current Procedural Terminology (CPT) {version}",
        "status": "active",
        "experimental": False,
        "date": iso_text(today()),
        "publisher": "American Medical Association",
        "description": (
            f"CPT {version} imported by `terminology import cpt` from the licensee's AMA data files "
            f"({source.name}). Displays are the long descriptors (LONGULT.txt); designations carry the "
            "other descriptor kinds; deleted codes are retired. Licensed content: do not redistribute."
        ),
        "copyright": COPYRIGHT.format(year=version),
        "caseSensitive": True,
        "compositional": True,
        "content": "complete",
        "count": len(concepts),
        "property": _declare(definitions),
        "concept": concepts,
    }


def import_cpt(
    source: Path | str, version: str, out: Path | str | None = None, telemedicine: Path | str | None = None
) -> ImportReport:
    """Import an AMA CPT distribution folder; write ``cpt-<version>.json`` into the content directory."""
    report = ImportReport()
    resource = build_code_system(Path(source), version, report, Path(telemedicine) if telemedicine else None)
    target = output_dir(out) / f"cpt-{version}.json"
    report.written = write_resources([(resource, target)])
    report.concepts = len(resource["concept"])
    return report
