"""CLI: `terminology import cpt|hcpcs|pctc` (registered through cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import sys
import time

from terminology.cli import import_group
from terminology.config import bundled_content_dirs
from terminology.importers.common import ImportProblem, ImportReport

OUT_HELP = "content directory to write (default: content/ in the data directory, TERMINOLOGY_DATA_DIR)"


def _run(action, args: argparse.Namespace) -> int:
    """Run an import; print its notes and what it wrote, or the problem (exit 1)."""
    started = time.perf_counter()
    try:
        report: ImportReport = action(args)
    except ImportProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return 1
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    elapsed = time.perf_counter() - started
    for path in report.written:
        print(f"wrote {path}")
    print(f"{report.concepts} concepts in {elapsed:.1f} s")
    if report.written:
        directory = report.written[0].parent
        # The bundled folders as this installation has them (a checkout, or inside the package).
        dirs = ":".join([str(directory), *bundled_content_dirs()])
        print(
            "serve it by adding the directory to TERMINOLOGY_CONTENT_DIRS, e.g.\n"
            f"  export TERMINOLOGY_CONTENT_DIRS={dirs}"
        )
    return 0


def _cpt(args: argparse.Namespace) -> int:
    from terminology.importers.cpt import import_cpt

    return _run(lambda a: import_cpt(a.dir, a.version, a.out, a.telemedicine), args)


def _hcpcs(args: argparse.Namespace) -> int:
    from terminology.importers.hcpcs import import_hcpcs

    return _run(lambda a: import_hcpcs(a.file, a.version, a.out), args)


def _pctc(args: argparse.Namespace) -> int:
    from terminology.importers.pctc import import_pctc

    return _run(lambda a: import_pctc(a.file, a.out, a.cpt_version, a.hcpcs_version), args)


def register(commands: argparse._SubParsersAction) -> None:
    """Add `import cpt`, `import hcpcs` and `import pctc` to the `import` group."""
    group = import_group(commands)

    cpt = group.add_parser("cpt", help="import a licensee's AMA CPT release folder")
    cpt.add_argument(
        "dir", help="folder of the AMA distribution (LONGULT.txt, MEDU.txt, SHORTU.txt, MODUL.txt...)"
    )
    cpt.add_argument("--version", required=True, help="CPT release year, e.g. 2026")
    cpt.add_argument("--out", help=OUT_HELP)
    cpt.add_argument(
        "--telemedicine",
        help="text file of CPT codes (one a line) to mark telemedicine=true, e.g. from Appendix P",
    )
    cpt.set_defaults(handler=_cpt)

    hcpcs = group.add_parser("hcpcs", help="import the CMS HCPCS Level II alpha-numeric file (.txt or .xlsx)")
    hcpcs.add_argument("file", help="HCPC<YYYY>_<MON>_ANWEB*.txt (fixed width) or the .xlsx")
    hcpcs.add_argument("--version", required=True, help="release, e.g. 2026-10 (October 2026 quarter)")
    hcpcs.add_argument("--out", help=OUT_HELP)
    hcpcs.set_defaults(handler=_hcpcs)

    pctc = group.add_parser("pctc", help="add PC/TC indicators from the PPRRVU fee-schedule CSV")
    pctc.add_argument("file", help="PPRRVU<YY>_<MON>.csv from the CMS RVU release zip")
    pctc.add_argument("--out", help="content directory holding the imported CPT/HCPCS (default as for cpt)")
    pctc.add_argument("--cpt-version", help="CPT version to update (default: the latest in the directory)")
    pctc.add_argument(
        "--hcpcs-version", help="HCPCS version to update (default: the latest in the directory)"
    )
    pctc.set_defaults(handler=_pctc)
