"""Readers of the CMS NCCI files (PTP edit tables, .TXT or zip; MUE tables, CSV): layout and completeness."""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from terminology.dates import OPEN_ENDED, calendar_day, ncci_day
from terminology.errors import ImportFailure

PTP_SETTINGS = ("practitioner", "outpatient")
MUE_SETTINGS = ("practitioner", "outpatient", "dme")
PREAMBLE_LINES = 6
_PTP_FILE = re.compile(r"(?i)(ccipra|ccioph)?[-_]?(v\d{3}r\d+)(?:[-_]f(\d+))?")
_EDITION = re.compile(r"^v(\d{2})(\d)r(\d+)$")
_PTP_PREFIX_SETTING = {"ccipra": "practitioner", "ccioph": "outpatient"}
_CODE = re.compile(r"^[0-9A-Z]{5}$")
_MUE_EFFECTIVE = re.compile(r"(?i)eff[-_ ]?(\d{2})[-_](\d{2})[-_](\d{4})")
_MUE_QUARTER = re.compile(r"(?i)(\d{4})[-_ ]?q([1-4])")
_MUE_VALUE_COLUMN = {
    "practitioner services mue values": "practitioner",
    "outpatient hospital services mue values": "outpatient",
    "dme supplier services mue values": "dme",
}
# An edition name becomes part of a ConceptMap id (ncci-ptp-<setting>-<name>, at most 64 characters)
# and a canonical version (url|name): FHIR id characters only, no path separators, no '|'.
_EDITION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,41}$")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# What a damaged zip member raises while it is read (CRC mismatch, bad deflate data, cut stream).
_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError)
_MUE_FILE_SETTING = (
    ("practitioner", "practitioner"),
    ("outpatienthospital", "outpatient"),
    ("outpatient", "outpatient"),
    ("dme", "dme"),
)


@dataclass(slots=True, frozen=True)
class Quarter:
    """A calendar quarter: the period an NCCI edition is in effect."""

    year: int
    quarter: int

    @property
    def start(self) -> date:
        """Return the first day of the quarter."""
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def end(self) -> date:
        """Return the last day of the quarter."""
        if self.quarter == 4:
            return date(self.year, 12, 31)
        return date.fromordinal(date(self.year, 3 * self.quarter + 1, 1).toordinal() - 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.quarter}"


def edition_name_problem(name: str) -> str | None:
    """Say what is wrong with an edition name, or None when it is safe to use as an id and a version."""
    if _EDITION_NAME.match(name):
        return None
    return (
        f"edition name {name!r} is not valid: an edition name has 1 to 42 letters, digits, '.' or '-' "
        "and starts with a letter or digit (such as v322r0)"
    )


def quarter_of_edition(name: str) -> Quarter | None:
    """Decode an NCCI version like ``v322r0`` (major = year - 1994, minor = quarter - 1)."""
    match = _EDITION.match(name)
    if not match or int(match.group(2)) > 3:
        return None
    return Quarter(1994 + int(match.group(1)), int(match.group(2)) + 1)


def quarter_of_date(day: date) -> Quarter:
    """Return the quarter holding a date."""
    return Quarter(day.year, (day.month - 1) // 3 + 1)


@dataclass(slots=True)
class PtpFileInfo:
    """What a PTP file name says: edition, setting and part number."""

    edition: str | None
    setting: str | None
    part: int | None


def ptp_file_info(path: str) -> PtpFileInfo:
    """Read the edition (``v322r0``), setting and part from a CMS PTP file name."""
    match = _PTP_FILE.search(Path(path).name)
    if not match:
        return PtpFileInfo(None, None, None)
    prefix = (match.group(1) or "").lower()
    return PtpFileInfo(
        match.group(2).lower(),
        _PTP_PREFIX_SETTING.get(prefix),
        int(match.group(3)) if match.group(3) else None,
    )


def _members(path: Path, suffix: str, single: bool = False) -> Iterator[tuple[str, io.TextIOBase]]:
    """Yield (name, Latin-1 text stream) for a file, or for each ``suffix`` member of a zip (``single``:
    the zip must hold exactly one).

    A file that starts like a zip but cannot be opened as one is a cut download, not a text file.
    """
    with open(path, "rb") as raw:
        is_zip = raw.read(4) in _ZIP_MAGIC
    if not is_zip:
        with open(path, "rb") as raw:
            yield str(path), io.TextIOWrapper(raw, encoding="latin-1", newline="")
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ImportFailure(
            str(path), None, f"not a complete zip archive ({exc}): the download is cut or damaged"
        ) from None
    with archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(suffix) and not n.endswith("/"))
        if not names or (single and len(names) > 1):
            raise ImportFailure(
                str(path),
                None,
                f"the zip must hold {'exactly one' if single else 'a'} {suffix} file, found {len(names)}",
            )
        for name in names:
            with archive.open(name) as raw:
                yield f"{path}!{name}", io.TextIOWrapper(raw, encoding="latin-1", newline="")


def _damaged(name: str, exc: Exception) -> ImportFailure:
    # No line is named: the stream is read in blocks, so where the check failed says nothing of a line.
    return ImportFailure(name, None, f"the zip member is damaged ({exc}): fetch the file again")


def parse_ptp_line(line: str, file: str, number: int) -> tuple:
    """Parse one data line into (col1, col2, prior, effective, deletion, indicator, rationale)."""
    fields = line.split("\t")
    if len(fields) != 7:
        raise ImportFailure(file, number, f"expected 7 tab-separated fields, found {len(fields)}")
    col1, col2, prior, effective, deletion, indicator, rationale = fields
    if not _CODE.match(col1):
        raise ImportFailure(file, number, f"column 1 '{col1}' is not a 5-character HCPCS/CPT code")
    if not _CODE.match(col2):
        raise ImportFailure(file, number, f"column 2 '{col2}' is not a 5-character HCPCS/CPT code")
    if prior not in ("", "*"):
        raise ImportFailure(file, number, f"the prior-1996 flag must be '*' or empty, not '{prior}'")
    start = ncci_day(effective)
    if start is None:
        raise ImportFailure(file, number, f"effective date '{effective}' is not YYYYMMDD")
    end = OPEN_ENDED if deletion == "*" else ncci_day(deletion)  # "*": no end
    if end is None:
        raise ImportFailure(file, number, f"deletion date '{deletion}' is not YYYYMMDD or '*'")
    if indicator not in ("0", "1", "9"):
        raise ImportFailure(file, number, f"modifier indicator '{indicator}' is not 0, 1 or 9")
    return col1, col2, prior == "*", start, end, int(indicator), rationale.strip()


def read_ptp(path: Path) -> Iterator[tuple[str, int, tuple]]:
    """Yield (file, line number, row tuple) for every edit of a PTP .TXT or zip, checking the layout.

    A file (or zip member) that is not whole fails: a zip that fails its CRC check, and a last line
    cut short (see _ptp_rows).
    """
    for name, stream in _members(path, ".txt"):
        for number, row in _ptp_rows(stream, name):
            yield name, number, row


def _ptp_rows(stream: io.TextIOBase, name: str) -> Iterator[tuple[int, tuple]]:
    """Yield (line number, row) after the 6-line preamble.

    Every row CMS ships ends with CRLF. A last line without a line end is where a cut file stops: it
    is accepted only when it parses and its rationale is one an earlier row of the file used (the
    rationales are a short list of fixed texts, so a line cut anywhere but after its last character
    is refused), which also admits a file whose last row simply lacks the final CRLF.
    """
    number = 0
    try:
        for number, raw in enumerate(stream, 1):
            if number == 3 and not raw.startswith("Column 1\tColumn 2"):
                raise ImportFailure(
                    name, number, "not an NCCI PTP file: line 3 must start with 'Column 1<TAB>Column 2'"
                )
            if number == PREAMBLE_LINES:
                break
        if number < PREAMBLE_LINES:
            raise ImportFailure(name, number or None, "the file ends inside the 6-line preamble")
        rationales: set[str] = set()
        add = rationales.add
        for number, raw in enumerate(stream, PREAMBLE_LINES + 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            row = parse_ptp_line(line, name, number)
            if raw[-1] != "\n" and (not row[6] or row[6] not in rationales):
                raise _cut_line(name, number, row[6])
            add(row[6])
            yield number, row
    except _DAMAGED_ZIP as exc:
        raise _damaged(name, exc) from None


def _cut_line(name: str, number: int, rationale: str) -> ImportFailure:
    return ImportFailure(
        name,
        number,
        f"the file ends in the middle of this line (no line end, and its rationale {rationale!r} is on "
        "no earlier line): the file is cut; fetch it again",
    )


@dataclass(slots=True)
class MueTable:
    """The header facts of an MUE CSV: its setting (from the value column) and where rows start."""

    setting: str | None


def mue_file_effective(path: str) -> date | None:
    """Read the effective date from an MUE file name (``..._Eff_07-01-2024`` or ``2026-q3``)."""
    name = Path(path).name
    match = _MUE_EFFECTIVE.search(name)
    if match:
        month, day, year = (int(g) for g in match.groups())
        return calendar_day(year, month, day)
    match = _MUE_QUARTER.search(name)
    if match:
        return Quarter(int(match.group(1)), int(match.group(2))).start
    return None


def mue_file_setting(path: str) -> str | None:
    """Read the setting from an MUE file name (PractitionerServices, OutpatientHospital, DME)."""
    name = re.sub(r"[^a-z]", "", Path(path).name.lower())
    for word, setting in _MUE_FILE_SETTING:
        if word in name:
            return setting
    return None


class _Lines:
    """The physical lines of a stream, for csv.reader, remembering the last one read."""

    __slots__ = ("last", "stream")

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.last = "\n"

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.last = line
            yield line


def _mue_rows(stream: io.TextIOBase, file: str, table: MueTable) -> Iterator[tuple[int, tuple]]:
    """Yield (line number, row) after the header record; the notice record before it is skipped.

    Quoting is read strictly, so a file cut inside a quoted field fails. As in PTP files, a last
    record without a line end is accepted only when its rationale is one an earlier row used.
    """
    lines = _Lines(stream)
    reader = csv.reader(lines, strict=True)
    header_seen = False
    columns = 4
    rationales: set[str] = set()
    number = 0
    try:
        for record in reader:
            number = reader.line_num
            if not header_seen:
                first = re.sub(r"\s+", "", record[0]).upper() if record else ""
                if first == "HCPCS/CPTCODE":
                    if len(record) < 4:
                        raise ImportFailure(file, number, "the MUE header must have 4 columns")
                    table.setting = _MUE_VALUE_COLUMN.get(" ".join(record[1].split()).lower())
                    columns = len(record)
                    header_seen = True
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != columns or any(cell.strip() for cell in record[4:]):
                raise ImportFailure(
                    file,
                    number,
                    f"expected {columns} comma-separated fields as in the header, found {len(record)}",
                )
            code, value, indicator, rationale = (cell.strip() for cell in record[:4])
            if not _CODE.match(code):
                raise ImportFailure(file, number, f"'{code}' is not a 5-character HCPCS/CPT code")
            if not value.isdigit():
                raise ImportFailure(file, number, f"MUE value '{value}' is not a whole number")
            mai = indicator.split(" ", 1)[0]
            if mai not in ("1", "2", "3"):
                raise ImportFailure(
                    file, number, f"MUE adjudication indicator '{indicator}' does not start with 1, 2 or 3"
                )
            if not lines.last.endswith("\n") and (not rationale or rationale not in rationales):
                raise _cut_line(file, number, rationale)
            rationales.add(rationale)
            yield number, (code, int(value), int(mai), rationale)
    except csv.Error as exc:
        raise ImportFailure(
            file, reader.line_num, f"not well-formed CSV ({exc}): a file that ends inside quotes is cut"
        ) from None
    except _DAMAGED_ZIP as exc:
        raise _damaged(file, exc) from None
    if not header_seen:
        raise ImportFailure(file, None, "not an MUE table: no 'HCPCS/CPT Code' header record was found")


def read_mue(path: Path, table: MueTable) -> Iterator[tuple[str, int, tuple]]:
    """Yield (file, line, (code, value, mai, rationale)) for every row of an MUE CSV (or zip holding one)."""
    for name, stream in _members(path, ".csv", single=True):
        for number, row in _mue_rows(stream, name, table):
            yield name, number, row
