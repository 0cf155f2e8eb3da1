"""`terminology import ncci-ptp|mue` (load CMS NCCI tables into the index) and `terminology ncci list`."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import date
from pathlib import Path

from terminology.dates import parse_day
from terminology.ncci.importers import MUE_SETTINGS, PTP_SETTINGS

UNCHANGED = "the index is unchanged"


def _settings():
    from terminology.config import load_settings

    return load_settings()


def _checks(args: argparse.Namespace):
    """Build the import's checks from the options and the settings (TERMINOLOGY_IMPORT_*)."""
    from terminology.ncci.index import ImportChecks

    settings = _settings()
    timeout = settings.import_lock_timeout if args.lock_timeout is None else args.lock_timeout
    return ImportChecks(
        replace=args.replace,
        force=args.force,
        max_row_loss=settings.import_max_row_loss,
        lock_timeout=timeout,
    )


def _import_ptp(args: argparse.Namespace) -> int:
    """Import PTP edit files into the index."""
    from terminology.importers.common import run_import
    from terminology.ncci.index import import_ptp

    return run_import(
        lambda: import_ptp(
            _settings().data_dir, args.files, args.setting, args.edition, checks=_checks(args)
        ),
        UNCHANGED,
    )


def _iso_date(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds (0 or more)")
    return value


def _import_mue(args: argparse.Namespace) -> int:
    """Import an MUE table into the index."""
    from terminology.importers.common import run_import
    from terminology.ncci.index import import_mue

    return run_import(
        lambda: import_mue(
            _settings().data_dir, args.file, args.setting, args.effective, checks=_checks(args)
        ),
        UNCHANGED,
    )


def _list(args: argparse.Namespace) -> int:
    """Print the editions of the index (a table, or JSON), and what killed imports left beside it."""
    from terminology.ncci.import_lock import describe_leftovers, import_running
    from terminology.ncci.index import index_path, read_editions

    target = index_path(args.data_dir or _settings().data_dir)
    leftovers = describe_leftovers(target)
    running = import_running(target)
    if not target.exists():
        editions = []
    else:
        try:
            editions = read_editions(target, unsafe=True, strict=True)
        except sqlite3.DatabaseError as exc:
            print(f"error: {target}: not a readable NCCI index ({exc})", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(_as_json(target, editions, leftovers, running), indent=2))
        return 0
    if not target.exists():
        print(f"no NCCI index at {target} (import one with `terminology import ncci-ptp` or `mue`)")
    else:
        size = target.stat().st_size / 1e6
        print(f"{target}: {len(editions)} edition{'s' * (len(editions) != 1)}, {size:,.1f} MB")
        if editions:
            print(_table(editions))
    if running:
        print(f"an import is running: {running}")
    for line in leftovers:
        print(f"temporary file {line}")
    return 0


_COLUMNS = ("kind", "setting", "edition", "quarter", "in effect", "rows", "imported at", "files")


def _row(edition) -> tuple[str, ...]:
    name = edition.name if edition.safe else f"{edition.name!r} (unsafe name: not served)"
    return (
        edition.kind,
        edition.setting,
        name,
        edition.quarter,
        f"{edition.start} to {edition.end}",
        f"{edition.rows:,}",
        edition.imported,
        edition.files,
    )


def _table(editions) -> str:
    rows = [_COLUMNS, *(_row(e) for e in editions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i == 5 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


def _as_json(target: Path, editions, leftovers: list[str], running: str | None) -> dict:
    return {
        "index": str(target),
        "editions": [
            {
                "kind": e.kind,
                "setting": e.setting,
                "edition": e.name,
                "served": e.safe,
                "quarter": e.quarter,
                "start": e.start,
                "end": e.end,
                "rows": e.rows,
                "pairs": e.pairs,
                "importedAt": e.imported,
                "files": e.files.split(" ") if e.files else [],
            }
            for e in editions
        ],
        "importRunning": running,
        "temporaryFiles": leftovers,
    }


def _add_import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replace", action="store_true", help="replace the edition of the same name if the index holds one"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="import even with more rows lost than TERMINOLOGY_IMPORT_MAX_ROW_LOSS (percent, default 2) "
        "against the edition replaced or followed, or with parts missing",
    )
    parser.add_argument(
        "--lock-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="wait this long for another import to finish (default TERMINOLOGY_IMPORT_LOCK_TIMEOUT, 600; "
        "0: fail at once)",
    )


def register(commands) -> None:
    """Add `import ncci-ptp` and `import mue` under the shared `import` command, and `ncci list`."""
    from terminology.importers.common import import_group

    group = import_group(commands)
    ptp = group.add_parser(
        "ncci-ptp",
        help="import CMS NCCI procedure-to-procedure edit files (.TXT or .zip, several parts)",
        description="Import one NCCI PTP edition (all its parts) into the index at TERMINOLOGY_DATA_DIR.",
    )
    ptp.add_argument("files", nargs="+", metavar="FILE", help="ccipra-v322r0-f1.TXT ... or the CMS zips")
    ptp.add_argument("--setting", choices=PTP_SETTINGS, help="default: from the file name, else practitioner")
    ptp.add_argument("--edition", help="edition name (default: from the file name, e.g. v322r0)")
    _add_import_options(ptp)
    ptp.set_defaults(handler=_import_ptp)
    mue = group.add_parser(
        "mue",
        help="import a CMS medically unlikely edits table (CSV or its zip)",
        description="Import one MUE table into the index at TERMINOLOGY_DATA_DIR.",
    )
    mue.add_argument("file", metavar="FILE", help="MCR_MUE_PractitionerServices_Eff_07-01-2026.csv")
    mue.add_argument("--setting", choices=MUE_SETTINGS, help="default: from the file's value column")
    mue.add_argument("--effective", type=_iso_date, help="effective date (default: from the file name)")
    _add_import_options(mue)
    mue.set_defaults(handler=_import_mue)

    ncci = commands.add_parser("ncci", help="the NCCI index: what it holds")
    ncci_commands = ncci.add_subparsers(dest="ncci_command", required=True, metavar="COMMAND")
    listing = ncci_commands.add_parser(
        "list",
        help="list the imported editions (kind, setting, edition, quarter, rows, imported at)",
        description="List the editions of the NCCI index, any running import, and files killed imports left.",
    )
    listing.add_argument(
        "--data-dir", help="data directory holding ncci.sqlite (default TERMINOLOGY_DATA_DIR)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=_list)
