"""CLI: `terminology import cpt|hcpcs|pctc` (registered through cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse

from terminology.importers.common import import_group, run_import

OUT_HELP = "content directory to write (default: content/ in the data directory, TERMINOLOGY_DATA_DIR)"


def _run(action, args: argparse.Namespace) -> int:
    return run_import(lambda: action(args), "nothing was written")


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
