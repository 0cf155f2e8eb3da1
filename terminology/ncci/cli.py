"""`terminology import ncci-ptp` and `terminology import mue`: load CMS NCCI tables into the index."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from terminology.ncci.importers import MUE_SETTINGS, PTP_SETTINGS, ImportFailure


def _data_dir() -> str:
    from terminology.config import load_settings

    return load_settings().data_dir


def _report(run) -> int:
    """Run an import; print its summary (exit 0) or the failing file and line (exit 1)."""
    try:
        summary = run()
    except ImportFailure as exc:
        print(f"error: {exc}; the previous index is unchanged", file=sys.stderr)
        return 1
    print(summary)
    return 0


def _import_ptp(args: argparse.Namespace) -> int:
    """Import PTP edit files into the index."""
    from terminology.ncci.index import import_ptp

    return _report(lambda: import_ptp(_data_dir(), args.files, args.setting, args.edition))


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _import_mue(args: argparse.Namespace) -> int:
    """Import an MUE table into the index."""
    from terminology.ncci.index import import_mue

    return _report(lambda: import_mue(_data_dir(), args.file, args.setting, args.effective))


def register(commands) -> None:
    """Add `import ncci-ptp` and `import mue` under the shared `import` command."""
    from terminology.cli import import_group

    group = import_group(commands)
    ptp = group.add_parser(
        "ncci-ptp",
        help="import CMS NCCI procedure-to-procedure edit files (.TXT or .zip, several parts)",
        description="Import one NCCI PTP edition (all its parts) into the index at TERMINOLOGY_DATA_DIR.",
    )
    ptp.add_argument("files", nargs="+", metavar="FILE", help="ccipra-v322r0-f1.TXT ... or the CMS zips")
    ptp.add_argument("--setting", choices=PTP_SETTINGS, help="default: from the file name, else practitioner")
    ptp.add_argument("--edition", help="edition name (default: from the file name, e.g. v322r0)")
    ptp.set_defaults(handler=_import_ptp)
    mue = group.add_parser(
        "mue",
        help="import a CMS medically unlikely edits table (CSV or its zip)",
        description="Import one MUE table into the index at TERMINOLOGY_DATA_DIR.",
    )
    mue.add_argument("file", metavar="FILE", help="MCR_MUE_PractitionerServices_Eff_07-01-2026.csv")
    mue.add_argument("--setting", choices=MUE_SETTINGS, help="default: from the file's value column")
    mue.add_argument("--effective", type=_iso_date, help="effective date (default: from the file name)")
    mue.set_defaults(handler=_import_mue)
