"""The ``terminology feedback export`` command: CDS Hooks feedback as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from terminology.cdshooks.feedback import export, feedback_location, feedback_path


def _export(args: argparse.Namespace) -> int:
    """Write every stored feedback entry as one JSON line (to --out or stdout)."""
    from terminology.config import load_settings

    if args.data_dir:
        path = feedback_path(args.data_dir)
    else:
        path = feedback_location(load_settings().flask_config())
    if not path.exists():
        print(f"error: no feedback database at {path}", file=sys.stderr)
        return 1
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    count = 0
    try:
        for entry in export(path):
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if args.out:
            out.close()
    print(f"exported {count} feedback entries from {path}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    """Add ``terminology feedback export``."""
    feedback = subparsers.add_parser("feedback", help="CDS Hooks feedback stored by the service")
    commands = feedback.add_subparsers(dest="feedback_command", required=True)
    exporting = commands.add_parser("export", help="write the stored feedback as JSON lines")
    exporting.add_argument("--out", type=Path, help="file to write (default: standard output)")
    exporting.add_argument(
        "--data-dir",
        help="read DIR/feedback.sqlite (default: TERMINOLOGY_FEEDBACK_DB, else TERMINOLOGY_DATA_DIR)",
    )
    exporting.set_defaults(handler=_export)
