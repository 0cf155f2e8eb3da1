"""The embedded SQLite index of NCCI editions: checked, locked, atomic imports and per-process readers."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import sys
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from terminology.caching import BoundedCache
from terminology.dates import iso_text, parse_day, timestamp_now
from terminology.errors import ImportFailure
from terminology.ncci.import_lock import ImportLock, temporary_path
from terminology.ncci.importers import (
    MUE_SETTINGS,
    PTP_SETTINGS,
    MueTable,
    Quarter,
    edition_name_problem,
    mue_file_effective,
    mue_file_setting,
    ptp_file_info,
    quarter_of_date,
    quarter_of_edition,
    read_mue,
    read_ptp,
)
from terminology.text import counted

log = logging.getLogger(__name__)

INDEX_FILE = "ncci.sqlite"
SCHEMA_VERSION = 1
# A re-import with more than this many percent fewer rows than the edition it replaces (or the one of
# the quarter before) needs --force: CMS tables change by a fraction of a percent from quarter to quarter.
DEFAULT_MAX_ROW_LOSS = 2.0
DEFAULT_LOCK_TIMEOUT = 600.0  # seconds an import waits for another one to finish
CMS_PTP_PARTS = 4  # CMS ships each quarter's practitioner and hospital PTP tables in four parts
_SETTINGS = {"ptp": PTP_SETTINGS, "mue": MUE_SETTINGS}
_BATCH = 50_000
# Pairs per row query: two codes each, under SQLite's oldest bound-variable limit (999).
_PAIRS_PER_QUERY = 400
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edition(
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, setting TEXT NOT NULL, name TEXT NOT NULL,
    start TEXT NOT NULL, end TEXT NOT NULL, rows INTEGER NOT NULL, pairs INTEGER NOT NULL,
    files TEXT NOT NULL, imported TEXT NOT NULL, UNIQUE(kind, setting, name));
CREATE TABLE IF NOT EXISTS rationale(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS ptp(
    edition INTEGER NOT NULL, col1 TEXT NOT NULL, col2 TEXT NOT NULL, prior INTEGER NOT NULL,
    effective INTEGER NOT NULL, deletion INTEGER NOT NULL, indicator INTEGER NOT NULL,
    rationale INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ptp_pair_set(edition INTEGER PRIMARY KEY, pairs BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mue(
    edition INTEGER NOT NULL, code TEXT NOT NULL, value INTEGER NOT NULL, mai INTEGER NOT NULL,
    rationale TEXT NOT NULL, PRIMARY KEY(edition, code)) WITHOUT ROWID;
"""
# Index name -> what it indexes; dropped before a PTP import's bulk insert, built again after it.
_PTP_INDEXES = {
    "ptp_col1": "ptp(edition, col1, col2)",
    "ptp_col2": "ptp(edition, col2)",
}
# Indexes of earlier versions, dropped by the next import (the pair sets do their work).
_RETIRED_INDEXES = ("ptp_pair",)
_NO_PAIR = np.iinfo(np.int64).max  # ends every loaded pair set: a search never runs off its end


class PtpRow(NamedTuple):
    """One PTP edit row: column 1 is paid, column 2 denied unless a modifier bypasses (indicator 1)."""

    column1: str
    column2: str
    prior_1996: int  # 1 when the file marks the edit as in existence before 1996
    effective: int  # YYYYMMDD
    deletion: int  # YYYYMMDD; terminology.dates.OPEN_ENDED for '*'
    indicator: int  # 0 = no modifier bypasses, 1 = an NCCI-associated modifier may, 9 = not applicable
    rationale: str

    def in_force(self, day: int) -> bool:
        """Say whether the edit applies on a YYYYMMDD date of service (indicator 9 never does)."""
        return self.effective <= day <= self.deletion and self.indicator != 9


class MueRow(NamedTuple):
    """One MUE row: the most units of service of a code, and how they are counted (MAI)."""

    value: int
    mai: int  # 1 = per line, 2 = per date (policy), 3 = per date (clinical)
    rationale: str


def code_number(code: str) -> int | None:
    """Return a five-character code read in base 36 (36**5 < 2**26); None for anything else.

    The PTP reader admits only such codes ([0-9A-Z]{5}), so None also means "has no PTP rows".
    """
    if len(code) == 5 and code.isascii() and code.isalnum():
        return int(code, 36)
    return None


class _PairNumbers:
    """Number the code pairs of PTP rows: column 1 code << 26 | column 2 code.

    Most code pairs on a claim have no PTP edit. Each edition keeps the sorted numbers of the
    (column 1, column 2) pairs that have rows (ptp_pair_set, 8 bytes a pair), so a reader finds the
    ordered pairs of a claim that have edits with one vectorised search, and reads rows only for
    those: one probe each.
    """

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._numbers = array("q")

    def add(self, rows: Iterable[tuple]) -> None:
        """Number the pairs of (edition, col1, col2, ...) rows; their codes are checked PTP codes."""
        codes, append = self._codes, self._numbers.append
        for row in rows:
            first, second = codes.get(row[1]), codes.get(row[2])
            if first is None:
                first = codes[row[1]] = code_number(row[1])
            if second is None:
                second = codes[row[2]] = code_number(row[2])
            append(first << 26 | second)

    def blob(self) -> bytes:
        """Return the distinct pair numbers, sorted, as little-endian int64."""
        return np.unique(np.frombuffer(self._numbers, dtype=np.int64)).astype("<i8").tobytes()


def _store_pair_set(conn: sqlite3.Connection, edition_id: int, numbers: _PairNumbers) -> int:
    """Store an edition's pair set; return how many distinct (column 1, column 2) pairs it holds."""
    blob = numbers.blob()
    conn.execute("INSERT OR REPLACE INTO ptp_pair_set VALUES (?, ?)", (edition_id, blob))
    return len(blob) // 8


_ORDERED_PAIRS: dict[int, tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]] = {}


def _ordered_pairs(count: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Return the index pairs (i, j), i != j, of ``count`` items: as two arrays and as tuples."""
    found = _ORDERED_PAIRS.get(count)
    if found is None:
        first, second = np.nonzero(~np.eye(count, dtype=bool))
        found = (first, second, list(zip(first.tolist(), second.tolist(), strict=True)))
        if count <= 64:  # claims are short; keep the common sizes
            _ORDERED_PAIRS[count] = found
    return found


def index_path(data_dir: str | os.PathLike) -> Path:
    """Return the index file inside the data directory."""
    return Path(data_dir) / INDEX_FILE


@dataclass(slots=True, frozen=True)
class Edition:
    """One imported table: a PTP edition or an MUE table, with the quarter it is in effect."""

    id: int
    kind: str  # "ptp" or "mue"
    setting: str
    name: str
    start: str  # ISO dates
    end: str
    rows: int
    pairs: int
    files: str
    imported: str

    def covers(self, day: str) -> bool:
        """Say whether the edition is in effect on an ISO date."""
        return self.start <= day <= self.end

    @property
    def quarter(self) -> str:
        """Return the quarter label, e.g. ``2026Q3``."""
        return _quarter_label(self.start)

    @property
    def safe(self) -> bool:
        """Say whether name and setting may become a ConceptMap id (files of older versions may hold any)."""
        return self.setting in _SETTINGS.get(self.kind, ()) and edition_name_problem(self.name) is None

    def describe(self) -> str:
        """Say which edition this is, for messages: kind, setting, name, quarter, rows, import time."""
        return (
            f"{self.kind} {self.setting} edition {self.name} ({self.quarter}, {self.rows:,} rows, "
            f"imported {self.imported})"
        )


@lru_cache(maxsize=256)
def _quarter_label(start: str) -> str:
    return str(quarter_of_date(parse_day(start)))


@dataclass(slots=True)
class ImportSummary:
    """What an import did, for the final summary line."""

    kind: str
    setting: str
    edition: str
    quarter: str
    rows: int
    pairs: int
    editions: int
    seconds: float
    index: Path
    notes: list[str] = field(default_factory=list)

    def summary_lines(self, seconds: float) -> list[str]:
        """Return what the CLI prints on success (the import measures its own time)."""
        return [str(self)]

    def __str__(self) -> str:
        pairs = counted(self.pairs, "pair" if self.kind == "ptp" else "code")
        return (
            f"imported {self.kind} {self.setting} {self.edition} ({self.quarter}): "
            f"{counted(self.rows, 'row')}, {pairs}; {counted(self.editions, 'edition')} in {self.index}; "
            f"{self.seconds:.1f} s"
        )


class Progress:
    """Print rows and rows/s to stderr about once a second during long imports."""

    def __init__(self, label: str, stream=None, interval: float = 1.0) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self.last = self.started
        self.rows = 0

    def add(self, count: int) -> None:
        """Count rows and report when the interval has passed."""
        self.rows += count
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.rows / max(now - self.started, 1e-9)
            print(f"{self.label}: {self.rows:,} rows ({rate:,.0f} rows/s)", file=self.stream, flush=True)


def _read_editions(conn: sqlite3.Connection, unsafe: bool = False) -> list[Edition]:
    """Read the editions; those whose name or setting is not safe to serve are left out unless asked for."""
    rows = conn.execute(
        "SELECT id, kind, setting, name, start, end, rows, pairs, files, imported FROM edition "
        "ORDER BY kind, setting, start, name"
    ).fetchall()
    editions = [Edition(*row) for row in rows]
    return editions if unsafe else [e for e in editions if e.safe]


@dataclass(slots=True, frozen=True)
class ImportChecks:
    """What an import may do to the index, beyond adding an edition.

    ``replace``: replace an edition of the same kind, setting and name (else the import fails naming
    it). ``force``: import even with more than ``max_row_loss`` percent fewer rows than the edition it
    replaces or follows, or with PTP parts missing. ``lock_timeout``: seconds to wait for another import.
    """

    replace: bool = False
    force: bool = False
    max_row_loss: float = DEFAULT_MAX_ROW_LOSS
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


@contextmanager
def _import_lock(target: Path, checks: ImportChecks, stream, notes: list[str]) -> Iterator[None]:
    """Hold the index's import lock; once it is held, remove what killed imports left behind."""
    stream = stream if stream is not None else sys.stderr
    with ImportLock(target, checks.lock_timeout, lambda text: print(text, file=stream, flush=True)) as lock:
        notes += lock.remove_leftovers()
        yield


def _check_replacement(target: Path, kind: str, setting: str, name: str, checks: ImportChecks, notes) -> None:
    """Refuse to replace an existing edition unless asked to (--replace); say what is replaced."""
    existing = next(
        (
            e
            for e in read_editions(target, unsafe=True)
            if (e.kind, e.setting, e.name) == (kind, setting, name)
        ),
        None,
    )
    if existing is None:
        return
    if not checks.replace:
        raise ImportFailure(
            target, None, f"{existing.describe()} is already in the index; pass --replace to replace it"
        )
    notes.append(f"replaced {existing.describe()}")


def _reference_edition(
    conn: sqlite3.Connection, kind: str, setting: str, name: str, start: date
) -> tuple[Edition, str] | None:
    """Return the edition a new one is compared with: the one it replaces, else the latest of this or the
    quarter before (the one it follows), with the word for how they relate."""
    same = [e for e in _read_editions(conn, unsafe=True) if e.kind == kind and e.setting == setting]
    for edition in same:
        if edition.name == name:
            return edition, "replaces"
    quarter = quarter_of_date(start)
    previous = (
        Quarter(quarter.year - 1, 4) if quarter.quarter == 1 else Quarter(quarter.year, quarter.quarter - 1)
    )
    before = iso_text(previous.start)
    earlier = [e for e in same if before <= e.start <= iso_text(start)]
    if earlier:
        return max(earlier, key=lambda e: (e.start, e.name)), "follows"
    return None


def _check_row_loss(
    reference: tuple[Edition, str] | None, rows: int, checks: ImportChecks, file: Path | str, notes
) -> None:
    """Refuse an import that lost more than the allowed share of rows (a cut file, a missing part)."""
    if reference is None or reference[0].rows <= 0:
        return
    edition, relation = reference
    loss = 100 * (edition.rows - rows) / edition.rows
    if loss <= checks.max_row_loss:
        return
    text = f"{rows:,} rows is {loss:.1f} % fewer than the {edition.describe()}, which this import {relation}"
    if not checks.force:
        raise ImportFailure(
            file,
            None,
            f"{text}; more than {checks.max_row_loss:g} % fewer looks like a cut file or a missing part: "
            "check the files, or pass --force to import them anyway",
        )
    notes.append(f"{text}; imported anyway (--force)")


def _named(paths: list[Path]) -> str:
    """Name every file of an import, for an error about all of them: ``folder/{a.TXT,b.TXT}``."""
    if len(paths) == 1:
        return str(paths[0])
    if len({p.parent for p in paths}) > 1:
        return " ".join(map(str, paths))
    return f"{paths[0].parent}/{{{','.join(p.name for p in paths)}}}"


def _check_parts(paths: list[Path], checks: ImportChecks, notes: list[str]) -> None:
    """Refuse a part given twice, and (unless forced) a gap in the part numbers of the file names."""
    parts: dict[int, Path] = {}
    for path in paths:
        part = ptp_file_info(str(path)).part
        if part is None:
            return  # names without part numbers: nothing to compare
        if part in parts:
            raise ImportFailure(
                path,
                None,
                f"part f{part} is given twice ({parts[part].name} and {path.name}): "
                "its rows would be imported twice",
            )
        parts[part] = path
    missing = [f"f{n}" for n in range(1, max(parts) + 1) if n not in parts]
    if missing:
        text = f"part {', '.join(missing)} is missing (given: {', '.join(f'f{n}' for n in sorted(parts))})"
        if not checks.force:
            raise ImportFailure(
                _named(paths), None, f"{text}; pass every part, or --force to import them anyway"
            )
        notes.append(f"{text}; imported anyway (--force)")
    elif max(parts) < CMS_PTP_PARTS:
        given = "part f1" if max(parts) == 1 else f"parts f1-f{max(parts)}"
        notes.append(f"{given} only: CMS ships each PTP table in {CMS_PTP_PARTS} parts")


class _Writer:
    """Build a new index file next to the old one, then swap it in with os.replace.

    Whatever goes wrong, the temporary file is removed and the index is left as it was; SQLite errors
    (an index that is not one, a full disk) become an ImportFailure naming the file.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.temp = temporary_path(target)
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._open()
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise  # only reached when __exit__ did not turn it into an ImportFailure

    def _open(self) -> sqlite3.Connection:
        if self.target.exists():
            shutil.copyfile(self.target, self.temp)
        elif self.temp.exists():
            self.temp.unlink()
        self.conn = conn = sqlite3.connect(self.temp, isolation_level=None)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.executescript(_SCHEMA)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        conn.execute("BEGIN")
        # Files from earlier versions have PTP editions without a pair set: number them now.
        missing = conn.execute(
            "SELECT id FROM edition WHERE kind = 'ptp' AND id NOT IN (SELECT edition FROM ptp_pair_set)"
        ).fetchall()
        for (edition_id,) in missing:
            numbers = _PairNumbers()
            numbers.add(conn.execute("SELECT edition, col1, col2 FROM ptp WHERE edition = ?", (edition_id,)))
            _store_pair_set(conn, edition_id, numbers)
        return conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
            self.conn.close()
            # The file was written without syncs (fast); make it durable before it replaces the index,
            # and the rename after it, so a crash or power cut leaves one whole index or the other.
            with open(self.temp, "rb") as written:
                os.fsync(written.fileno())
            # Readers holding the old file keep it until they reopen; new readers see the new one.
            os.replace(self.temp, self.target)
            directory = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            return
        if self.conn is not None:
            self.conn.close()
        self.temp.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            raise ImportFailure(
                self.target, None, f"not a readable NCCI index ({exc}): move it aside to start a new one"
            ) from exc
        if isinstance(exc, sqlite3.Error) or (
            isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
        ):
            raise ImportFailure(self.temp, None, f"the new index could not be written ({exc})") from exc


def _replace_edition(conn: sqlite3.Connection, kind: str, setting: str, name: str) -> None:
    old = conn.execute(
        "SELECT id FROM edition WHERE kind = ? AND setting = ? AND name = ?", (kind, setting, name)
    ).fetchone()
    if old is not None:
        conn.execute(f"DELETE FROM {kind} WHERE edition = ?", (old[0],))
        if kind == "ptp":
            conn.execute("DELETE FROM ptp_pair_set WHERE edition = ?", (old[0],))
        conn.execute("DELETE FROM edition WHERE id = ?", (old[0],))


def _new_edition(
    conn: sqlite3.Connection, kind: str, setting: str, name: str, quarter: Quarter, files
) -> int:
    cursor = conn.execute(
        "INSERT INTO edition(kind, setting, name, start, end, rows, pairs, files, imported) "
        "VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)",
        (
            kind,
            setting,
            name,
            iso_text(quarter.start),
            iso_text(quarter.end),
            " ".join(Path(f).name for f in files),
            timestamp_now(),
        ),
    )
    return cursor.lastrowid


def _batched(rows: Iterator, size: int = _BATCH) -> Iterator[list]:
    batch: list = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def resolve_ptp_edition(
    files: list[Path], edition: str | None, setting: str | None
) -> tuple[str, str, Quarter]:
    """Decide the edition name, setting and quarter of PTP files from the options and file names."""
    infos = [ptp_file_info(str(f)) for f in files]
    named = {i.edition for i in infos if i.edition}
    if edition is not None and (problem := edition_name_problem(edition)):
        raise ImportFailure("--edition", None, problem)
    if edition is None:
        if len(named) != 1:
            shown = ", ".join(sorted(named)) or "none"
            raise ImportFailure(
                str(files[0]),
                None,
                f"cannot tell the edition from the file names (found: {shown}); pass --edition NAME",
            )
        edition = named.pop()
    quarter = quarter_of_edition(edition) or next(
        (q for q in (quarter_of_edition(n) for n in sorted(named)) if q), None
    )
    if quarter is None:
        raise ImportFailure(
            str(files[0]),
            None,
            f"cannot derive the quarter of edition '{edition}': use a CMS version name like v322r0 "
            "(v322 = 2026 Q3) or keep the CMS file names",
        )
    settings = {i.setting for i in infos if i.setting}
    if setting is None:
        setting = settings.pop() if len(settings) == 1 else "practitioner"
    return edition, setting, quarter


def import_ptp(
    data_dir: str | os.PathLike,
    files: Iterable[str | os.PathLike],
    setting: str | None = None,
    edition: str | None = None,
    progress_stream=None,
    checks: ImportChecks = ImportChecks(),
) -> ImportSummary:
    """Import CMS PTP edit files (one edition, several parts) into the index, atomically.

    One import at a time (the index's import lock); a file that is not whole, an edition that exists
    (without ``checks.replace``) or one that lost rows (without ``checks.force``) leaves the index as it was.
    """
    started = time.monotonic()
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise ImportFailure(str(path), None, "no such file")
    name, setting, quarter = resolve_ptp_edition(paths, edition, setting)
    notes: list[str] = []
    _check_parts(paths, checks, notes)
    target = index_path(data_dir)
    progress = Progress(f"ncci-ptp {setting} {name}", progress_stream)
    rationale_ids: dict[str, int] = {}
    with _import_lock(target, checks, progress_stream, notes):
        _check_replacement(target, "ptp", setting, name, checks, notes)
        with _Writer(target) as conn:
            reference = _reference_edition(conn, "ptp", setting, name, quarter.start)
            for row in conn.execute("SELECT id, text FROM rationale"):
                rationale_ids[row[1]] = row[0]
            _replace_edition(conn, "ptp", setting, name)
            for index_name in (*_PTP_INDEXES, *_RETIRED_INDEXES):
                conn.execute(f"DROP INDEX IF EXISTS {index_name}")
            edition_id = _new_edition(conn, "ptp", setting, name, quarter, paths)

            def rows() -> Iterator[tuple]:
                for path in paths:
                    for _file, _line, (col1, col2, prior, start, end, indicator, text) in read_ptp(path):
                        rid = rationale_ids.get(text)
                        if rid is None:
                            rid = conn.execute("INSERT INTO rationale(text) VALUES (?)", (text,)).lastrowid
                            rationale_ids[text] = rid
                        yield edition_id, col1, col2, int(prior), start, end, indicator, rid

            total = 0
            numbers = _PairNumbers()
            for batch in _batched(rows()):
                conn.executemany("INSERT INTO ptp VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
                numbers.add(batch)
                total += len(batch)
                progress.add(len(batch))
            if total == 0:
                raise ImportFailure(str(paths[0]), None, "no PTP edit rows were found")
            _check_row_loss(reference, total, checks, _named(paths), notes)
            for index_name, indexed in _PTP_INDEXES.items():
                conn.execute(f"CREATE INDEX IF NOT EXISTS {index_name} ON {indexed}")
            pairs = _store_pair_set(conn, edition_id, numbers)
            conn.execute("UPDATE edition SET rows = ?, pairs = ? WHERE id = ?", (total, pairs, edition_id))
            editions = conn.execute("SELECT COUNT(*) FROM edition").fetchone()[0]
    return ImportSummary(
        "ptp", setting, name, str(quarter), total, pairs, editions, time.monotonic() - started, target, notes
    )


def import_mue(
    data_dir: str | os.PathLike,
    file: str | os.PathLike,
    setting: str | None = None,
    effective: date | None = None,
    progress_stream=None,
    checks: ImportChecks = ImportChecks(),
) -> ImportSummary:
    """Import a CMS MUE table (CSV, or the zip holding it) into the index, atomically (as import_ptp)."""
    started = time.monotonic()
    path = Path(file)
    if not path.is_file():
        raise ImportFailure(str(path), None, "no such file")
    effective = effective or mue_file_effective(str(path))
    if effective is None:
        raise ImportFailure(
            str(path),
            None,
            "the file name carries no effective date (e.g. _Eff_07-01-2026); pass --effective",
        )
    quarter = quarter_of_date(effective)
    table = MueTable(setting=None)
    target = index_path(data_dir)
    name = iso_text(effective)
    parsed = list(read_mue(path, table))  # MUE tables are small (~15,000 rows)
    chosen = setting or table.setting or mue_file_setting(str(path)) or "practitioner"
    if setting and table.setting and setting != table.setting:
        raise ImportFailure(
            str(path), None, f"--setting {setting} contradicts the file's value column ({table.setting})"
        )
    if not parsed:
        raise ImportFailure(str(path), None, "no MUE rows were found")
    progress = Progress(f"mue {chosen} {name}", progress_stream)
    seen: dict[str, int] = {}
    for file_name, number, (code, *_rest) in parsed:
        if code in seen:
            raise ImportFailure(file_name, number, f"code {code} already appears on line {seen[code]}")
        seen[code] = number
    notes: list[str] = []
    with _import_lock(target, checks, progress_stream, notes):
        _check_replacement(target, "mue", chosen, name, checks, notes)
        with _Writer(target) as conn:
            _check_row_loss(
                _reference_edition(conn, "mue", chosen, name, effective), len(parsed), checks, path, notes
            )
            _replace_edition(conn, "mue", chosen, name)
            edition_id = _new_edition(conn, "mue", chosen, name, quarter, [path])
            conn.executemany(
                "INSERT INTO mue VALUES (?, ?, ?, ?, ?)", [(edition_id, *row) for _f, _n, row in parsed]
            )
            progress.add(len(parsed))
            conn.execute(
                "UPDATE edition SET start = ?, rows = ?, pairs = ? WHERE id = ?",
                (iso_text(effective), len(parsed), len(parsed), edition_id),
            )
            editions = conn.execute("SELECT COUNT(*) FROM edition").fetchone()[0]
    return ImportSummary(
        "mue",
        chosen,
        name,
        str(quarter),
        len(parsed),
        len(parsed),
        editions,
        time.monotonic() - started,
        target,
        notes,
    )


def _picks() -> BoundedCache:
    """The edition picked per (kind, setting, date, name): dates are callers' input, so bounded."""
    return BoundedCache("ncci-edition-picks", 4096)


class NcciIndex:
    """Read-only access to the index, opened lazily in each process (after gunicorn forks)."""

    CHECK_INTERVAL = 1.0  # seconds between checks for a newly imported index file

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pid: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0
        self._editions: list[Edition] = []
        self._rationales: dict[int, str] = {}
        # Edition id -> its loaded pair set (None: the file has none), least recently used first.
        self._pair_sets: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self._mue: dict[int, dict[str, MueRow]] = {}
        self._picked = _picks()
        # Counts the times this process opened the index: what was derived from its editions
        # (picks, plans) holds only while it stays the same.
        self.generation = 0
        self.listeners: list[Callable[[list[Edition]], None]] = []
        self.error: str | None = None

    def _file_stamp(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _open(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._editions, self._rationales, self.error = None, [], {}, None
        self._mue = {}
        self._picked = _picks()
        self.generation += 1
        self._pair_sets.clear()
        self._stamp = self._file_stamp()
        self._pid = os.getpid()
        if self._stamp is None:
            return
        try:
            # immutable: an import never writes to a file readers have open (it replaces the file),
            # so SQLite may skip the locking and change checks it would make for every statement.
            conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            # A serving worker needs little page cache: lookups touch a handful of index pages.
            conn.execute("PRAGMA cache_size=-2000")
            self._editions = _read_editions(conn)
            self._rationales = dict(conn.execute("SELECT id, text FROM rationale").fetchall())
        except sqlite3.DatabaseError as exc:
            # The log names the file; /readyz, open to anyone, says only what is wrong.
            log.error("the NCCI index %s cannot be read: %s", self.path, exc)
            self.error = "the NCCI index cannot be read (the server log names the file and the error)"
            return
        self._conn = conn
        for listener in self.listeners:
            listener(self._editions)

    def refresh(self) -> None:
        """Open the index in this process, and reopen it when an import has replaced the file."""
        now = time.monotonic()
        if self._pid != os.getpid():
            self._open()
            self._checked = now
        elif now - self._checked >= self.CHECK_INTERVAL:
            self._checked = now
            if self._file_stamp() != self._stamp:
                self._open()

    def close(self) -> None:
        """Close this process's connection (the next use reopens it)."""
        if self._conn is not None:
            self._conn.close()
        self._conn, self._pid = None, None

    def editions(self, kind: str | None = None, setting: str | None = None) -> list[Edition]:
        """Return the imported editions (optionally one kind and setting)."""
        self.refresh()
        return [
            e
            for e in self._editions
            if (kind is None or e.kind == kind) and (setting is None or e.setting == setting)
        ]

    def edition_for(
        self, kind: str, setting: str, day: str, name: str | None = None
    ) -> tuple[Edition | None, bool]:
        """Pick the edition for a date of service: (edition, whether it covers the date).

        A named edition is used as asked. Otherwise the newest revision whose quarter covers
        the date; failing that the closest edition (the latest that started before the date,
        else the earliest), reported as not covering the date.
        """
        self.refresh()
        # Claims name the same few dates over and over; the pick changes only with the file.
        return self._picked.get_or_compute(
            (kind, setting, day, name), partial(self._pick_edition, kind, setting, day, name)
        )

    def _pick_edition(
        self, kind: str, setting: str, day: str, name: str | None
    ) -> tuple[Edition | None, bool]:
        candidates = self.editions(kind, setting)
        if name is not None:
            found = next((e for e in candidates if e.name == name), None)
            return found, bool(found and found.covers(day))
        covering = [e for e in candidates if e.covers(day)]
        if covering:
            return max(covering, key=lambda e: (e.start, e.name)), True
        if not candidates:
            return None, False
        before = [e for e in candidates if e.start <= day]
        if before:
            return max(before, key=lambda e: (e.start, e.name)), False
        return min(candidates, key=lambda e: (e.start, e.name)), False

    # At most this many bytes of pair sets per process (a set is 8 bytes a pair, ~21 MB for a full
    # practitioner edition); the least recently used ones are let go, and read again when needed.
    PAIR_SET_BUDGET = 64 * 1024 * 1024

    def _pair_set(self, edition: Edition) -> np.ndarray | None:
        """Return the edition's sorted pair numbers, ending in _NO_PAIR (None for older files)."""
        sets = self._pair_sets
        if edition.id in sets:
            sets.move_to_end(edition.id)
            return sets[edition.id]
        try:
            row = self._conn.execute(
                "SELECT pairs FROM ptp_pair_set WHERE edition = ?", (edition.id,)
            ).fetchone()
        except sqlite3.OperationalError:  # a file imported before pair sets existed
            row = None
        pairs = None
        if row is not None:
            pairs = np.concatenate((np.frombuffer(row[0], dtype="<i8"), [_NO_PAIR]))
        sets[edition.id] = pairs
        while len(sets) > 1 and sum(p.nbytes for p in sets.values() if p is not None) > self.PAIR_SET_BUDGET:
            sets.popitem(last=False)
        return pairs

    def ptp_rows(self, edition: Edition, codes: list[str]) -> list[PtpRow]:
        """Return the edits between any two of ``codes``, in column 1, column 2, effective order."""
        self.refresh()
        distinct = sorted(set(codes))
        if self._conn is None or len(distinct) < 2:
            return []
        pair_set = self._pair_set(edition)
        if pair_set is None:
            # An edition imported by an earlier version: every pair is looked up, both ways round.
            pairs = [(a, b) for a in distinct for b in distinct if a != b]
        else:
            pairs = _pairs_in(pair_set, distinct)
        rows: list[tuple] = []
        for start in range(0, len(pairs), _PAIRS_PER_QUERY):
            chunk = pairs[start : start + _PAIRS_PER_QUERY]
            # One probe on ptp_col1 (edition, col1, col2) per (column 1, column 2) pair.
            rows += self._conn.execute(
                f"WITH pair(c1, c2) AS (VALUES {','.join(['(?,?)'] * len(chunk))}) "
                "SELECT col1, col2, prior, effective, deletion, indicator, rationale "
                "FROM pair CROSS JOIN ptp ON ptp.edition = ? AND ptp.col1 = pair.c1 AND ptp.col2 = pair.c2",
                (*[code for pair in chunk for code in pair], edition.id),
            ).fetchall()
        names = self._rationales
        return [PtpRow(*row[:6], names.get(row[6], "")) for row in sorted(rows)]

    def edits_of(
        self, edition: Edition, code: str, reverse: bool = False, day: int | None = None
    ) -> list[PtpRow]:
        """Return the edits of ``code`` in column 1 (column 2 if reversed), in effect on ``day`` if given."""
        self.refresh()
        if self._conn is None:
            return []
        column = "col2" if reverse else "col1"
        sql = (
            "SELECT col1, col2, prior, effective, deletion, indicator, rationale FROM ptp "
            f"WHERE edition = ? AND {column} = ?"
        )
        args: list = [edition.id, code]
        if day is not None:
            sql += " AND effective <= ? AND deletion >= ? AND indicator != 9"
            args += [day, day]
        rows = self._conn.execute(sql + " ORDER BY col1, col2, effective", args).fetchall()
        names = self._rationales
        return [PtpRow(*row[:6], names.get(row[6], "")) for row in rows]

    def mue_table(self, edition: Edition) -> Mapping[str, MueRow]:
        """Return the MUE table: code -> its row (read-only; empty without an index)."""
        self.refresh()
        if self._conn is None:
            return {}
        table = self._mue.get(edition.id)
        if table is None:
            # An MUE table is small (~15,000 rows, a few MB): each worker keeps the ones it uses.
            rows = self._conn.execute(
                "SELECT code, value, mai, rationale FROM mue WHERE edition = ?", (edition.id,)
            ).fetchall()
            table = self._mue[edition.id] = {
                code: MueRow(value, mai, text) for code, value, mai, text in rows
            }
        return table

    def ready(self) -> tuple[bool, str]:
        """Say whether the index can serve: readable (or absent: the shipped rules still work)."""
        self.refresh()
        if self.error:
            return False, self.error
        if self._stamp is None:
            return True, "no NCCI index is installed; only the shipped CPT rules apply"
        ptp = sum(1 for e in self._editions if e.kind == "ptp")
        mue = sum(1 for e in self._editions if e.kind == "mue")
        return True, f"NCCI index: {counted(ptp, 'PTP edition')}, {counted(mue, 'MUE table')}"


def _pairs_in(pair_set: np.ndarray, distinct: list[str]) -> list[tuple[str, str]]:
    """Return the (column 1, column 2) pairs of ``distinct`` codes whose numbers are in ``pair_set``."""
    coded, numbers = [], []
    for code in distinct:
        number = code_number(code)
        if number is not None:
            coded.append(code)
            numbers.append(number)
    if len(coded) < 2:
        return []
    first, second, index_pairs = _ordered_pairs(len(coded))
    values = np.array(numbers, dtype=np.int64)
    wanted = (values << 26)[first] | values[second]
    # Array methods, not the np.* functions: those add a Python dispatch layer to every call.
    found = (pair_set[pair_set.searchsorted(wanted)] == wanted).nonzero()[0].tolist()
    return [(coded[i], coded[j]) for i, j in map(index_pairs.__getitem__, found)]


def read_editions(path: Path, unsafe: bool = False, strict: bool = False) -> list[Edition]:
    """List the editions of an index file with a short-lived connection (safe before forking).

    ``unsafe``: include editions whose name or setting is not served; ``strict``: raise
    sqlite3.DatabaseError for a file that is not a readable index (else: no editions).
    """
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _read_editions(conn, unsafe)
    except sqlite3.DatabaseError:
        if strict:
            raise
        return []
    finally:
        conn.close()
