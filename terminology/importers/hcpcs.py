"""`terminology import hcpcs`: turn the CMS HCPCS Level II alpha-numeric file into a CodeSystem."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from terminology.dates import iso_text
from terminology.engine.clock import today
from terminology.engine.systems import HCPCS
from terminology.errors import ImportFailure
from terminology.importers.common import (
    ImportReport,
    output_dir,
    parse_date,
    read_text_lines,
    write_resources,
)

# Fixed-width record (1-based, inclusive), from the CMS record layout HCPC<YYYY>_recordlayout.txt
# shipped in every quarterly zip (320-character "HCPCS Contractor Record"): code 1-5 (a modifier is
# right-aligned in 4-5), sequence number 6-10, record id 11, long description 12-91, short description
# 92-119, code added date 269-276, action effective date 277-284, termination date 285-292, action
# code 293. Record ids: 3 = first line of a procedure, 4 = continuation of its long description,
# 7 = first line of a modifier, 8 = continuation of its long description.
FIELDS = {
    "code": (1, 5),
    "seq": (6, 10),
    "recid": (11, 11),
    "long": (12, 91),
    "short": (92, 119),
    "add": (269, 276),
    "act": (277, 284),
    "term": (285, 292),
    "action": (293, 293),
}
FIRST = {"3": False, "7": True}  # record id -> is a modifier
CONTINUATION = {"4": "3", "8": "7"}
XLSX_HEADERS = {
    "code": "HCPC",
    "seq": "SEQNUM",
    "recid": "RECID",
    "long": "LONG DESCRIPTION",
    "short": "SHORT DESCRIPTION",
    "add": "ADD DT",
    "act": "ACT EFF DT",
    "term": "TERM DT",
    "action": "ACTION CD",
}
_CODE = re.compile(r"^(?:[A-Z0-9]{5}|[A-Z0-9]{2})$")

PROPERTIES = [
    ("modifier", "boolean", "Whether code is a modifier code (record id 7/8 in the CMS file)"),
    ("add-date", "dateTime", "Date the code was added to HCPCS (CMS field ADD DT)"),
    ("action-effective-date", "dateTime", "Effective date of the last action on the code (ACT EFF DT)"),
    (
        "termination-date",
        "dateTime",
        "Last date the code may be used (TERM DT, inclusive); the code is inactive for dates after it",
    ),
    ("action-code", "code", "Last change made to the code (ACTION CD: A add, D discontinue, N none, ...)"),
]


@dataclass
class _Row:
    line: int
    code: str
    recid: str
    long: str
    short: str
    add: object
    act: object
    term: object
    action: str


def _text_rows(path: Path, report: ImportReport) -> list[_Row]:
    rows = []
    for number, raw in enumerate(read_text_lines(path, report), start=1):
        if not raw.strip():
            continue
        if len(raw) < 11:
            raise ImportFailure(path, number, "record shorter than 11 characters (no record id)")
        line = raw.ljust(320)

        def cut(name: str, line: str = line) -> str:
            start, end = FIELDS[name]
            return line[start - 1 : end]

        rows.append(
            _Row(
                number, cut("code").strip(), cut("recid"), cut("long").strip(), cut("short").strip(),
                cut("add"), cut("act"), cut("term"), cut("action").strip(),
            )
        )  # fmt: skip
    return rows


def _xlsx_rows(path: Path) -> list[_Row]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for damaged files
        raise ImportFailure(path, None, f"cannot be read as xlsx: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        columns: dict[str, int] | None = None
        rows = []
        for number, raw in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = ["" if v is None else v for v in raw]
            if columns is None:
                names = [str(c).strip().upper() for c in cells]
                if "HCPC" in names and "LONG DESCRIPTION" in names:
                    missing = [h for h in XLSX_HEADERS.values() if h not in names]
                    if missing:
                        raise ImportFailure(path, number, f"header lacks column(s) {', '.join(missing)}")
                    columns = {key: names.index(header) for key, header in XLSX_HEADERS.items()}
                continue
            if not any(str(c).strip() for c in cells):
                continue
            values = {key: cells[i] if i < len(cells) else "" for key, i in columns.items()}
            recid = values["recid"]
            recid = str(int(recid)) if isinstance(recid, int | float) else str(recid).strip()
            text = {key: str(values[key]).strip() for key in ("code", "long", "short", "action")}
            rows.append(
                _Row(
                    number, text["code"], recid, text["long"], text["short"],
                    values["add"], values["act"], values["term"], text["action"],
                )
            )  # fmt: skip
        if columns is None:
            raise ImportFailure(path, None, "no header row with HCPC and LONG DESCRIPTION columns")
        return rows
    finally:
        workbook.close()


def _concepts(path: Path, rows: list[_Row]) -> list[dict]:
    concepts: list[dict] = []
    by_code: dict[str, dict] = {}
    last: tuple[str, str] | None = None  # (code, record id of its first line)
    for row in rows:
        if row.recid in CONTINUATION:
            if last is None or last[0] != row.code or CONTINUATION[row.recid] != last[1]:
                raise ImportFailure(
                    path, row.line, f"continuation record for {row.code} follows no record of it"
                )
            if row.long:
                by_code[row.code]["display"] += " " + row.long
            continue
        if row.recid not in FIRST:
            raise ImportFailure(path, row.line, f"record id '{row.recid}' is not 3, 4, 7 or 8")
        if not _CODE.match(row.code):
            raise ImportFailure(path, row.line, f"'{row.code}' is not a HCPCS code or modifier")
        if row.code in by_code:
            raise ImportFailure(path, row.line, f"code {row.code} appears twice")
        if not row.long:
            raise ImportFailure(path, row.line, f"code {row.code} has no long description")
        concept: dict = {"code": row.code, "display": row.long}
        if row.short:
            concept["designation"] = [
                {
                    "use": {"system": HCPCS, "code": "short", "display": "Short description"},
                    "value": row.short,
                }
            ]
        props = [{"code": "modifier", "valueBoolean": FIRST[row.recid]}]
        for key, code in (
            ("add", "add-date"),
            ("act", "action-effective-date"),
            ("term", "termination-date"),
        ):
            value = parse_date(path, row.line, getattr(row, key), XLSX_HEADERS[key])
            if value:
                props.append({"code": code, "valueDateTime": value})
        if row.action:
            props.append({"code": "action-code", "valueCode": row.action})
        concept["property"] = props
        concepts.append(concept)
        by_code[row.code] = concept
        last = (row.code, row.recid)
    if not concepts:
        raise ImportFailure(path, None, "no HCPCS records found")
    return concepts


def build_code_system(path: Path, version: str, report: ImportReport) -> dict:
    """Read the CMS file (fixed-width .txt or .xlsx) and return the CodeSystem (nothing is written)."""
    if not re.match(r"^\d{4}(-(0[1-9]|1[0-2]))?$", version):
        raise ImportFailure(path, None, f"--version must be YYYY or YYYY-MM (e.g. 2026-10), not '{version}'")
    if not path.is_file():
        raise ImportFailure(path, None, "file not found")
    rows = _xlsx_rows(path) if path.suffix.lower() == ".xlsx" else _text_rows(path, report)
    concepts = _concepts(path, rows)
    return {
        "resourceType": "CodeSystem",
        "id": f"hcpcs-{version}",
        "url": HCPCS,
        "version": version,
        "name": "HCPCSLevelII",
        "title": f"HCPCS Level II, {version} release",
        "status": "active",
        "experimental": False,
        "date": iso_text(today()),
        "publisher": "Centers for Medicare & Medicaid Services",
        "description": (
            f"HCPCS Level II {version}, imported by `terminology import hcpcs` from the CMS alpha-numeric "
            f"file {path.name}. Displays are the long descriptions; modifiers are codes with modifier=true."
        ),
        "copyright": (
            "HCPCS Level II codes are maintained by the Centers for Medicare & Medicaid Services and are in "
            "the public domain. D codes are copyright the American Dental Association."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "property": [{"code": c, "description": d, "type": t} for c, t, d in PROPERTIES],
        "concept": concepts,
    }


def import_hcpcs(path: Path | str, version: str, out: Path | str | None = None) -> ImportReport:
    """Import the CMS HCPCS file; write ``hcpcs-<version>.json`` into the content directory."""
    report = ImportReport()
    resource = build_code_system(Path(path), version, report)
    target = output_dir(out) / f"hcpcs-{version}.json"
    report.written = write_resources([(resource, target)])
    report.concepts = len(resource["concept"])
    return report
