"""The ``terminology feedback export`` command: CDS Hooks feedback as JSON lines (SQLite or PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from terminology.storage import StoreUnavailable, open_store
from terminology.text import counted


def refuse_reason(out: Path) -> str | None:
    """Say why ``out`` must not receive an export (inside the repository or the package), else None.

    Feedback holds clinicians' free-text comments: it must not land where it could be committed or shipped.
    """
    from terminology.config import PACKAGE, REPOSITORY

    target = out.expanduser().resolve()
    for place in [PACKAGE] if REPOSITORY is None else [PACKAGE, REPOSITORY]:
        if target == place or place in target.parents:
            return f"--out {out} is inside {place}; write the export outside the source tree and the package"
    return None


def _write_atomically(out: Path, lines) -> int:
    """Write lines to a temporary file beside ``out`` (mode 0600), then rename it over ``out``."""
    out = out.expanduser()
    handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or ".")
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for line in lines:
                stream.write(line)
                count += 1
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count


def _export(args: argparse.Namespace) -> int:
    """Write every stored feedback entry as one JSON line (to --out or stdout)."""
    from terminology.config import load_settings

    settings = load_settings().flask_config()
    if args.database_url:
        settings["DATABASE_URL"] = args.database_url
    if args.data_dir:
        settings.update(DATABASE_URL="", FEEDBACK_DB="", DATA_DIR=args.data_dir)
    store = open_store(settings)
    if args.out is not None:
        reason = refuse_reason(args.out)
        if reason:
            print(f"error: {reason}", file=sys.stderr)
            return 2
        if not args.out.expanduser().parent.is_dir():
            print(f"error: --out {args.out}: the directory does not exist", file=sys.stderr)
            return 2
    if getattr(store, "path", None) is not None and not store.path.exists():
        print(f"error: no feedback database at {store.path}", file=sys.stderr)
        return 1
    lines = (json.dumps(entry, ensure_ascii=False) + "\n" for entry in store.feedback())
    try:
        if args.out is not None:
            count = _write_atomically(args.out, lines)
        else:
            count = 0
            for line in lines:
                sys.stdout.write(line)
                count += 1
    except StoreUnavailable as exc:
        print(f"error: {store.describe()}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    exported = counted(count, "feedback entry", "feedback entries")
    print(f"exported {exported} from {store.describe()}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    """Add ``terminology feedback export``."""
    feedback = subparsers.add_parser("feedback", help="CDS Hooks feedback stored by the service")
    commands = feedback.add_subparsers(dest="feedback_command", required=True)
    exporting = commands.add_parser(
        "export",
        help="write the stored feedback as JSON lines",
        description="Read the store the service uses (TERMINOLOGY_DATABASE_URL, else the SQLite file) and "
        "write every entry, oldest first, as one JSON line.",
    )
    exporting.add_argument(
        "--out", type=Path, help="file to write, outside the source tree (default: standard output)"
    )
    source = exporting.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir",
        help="read DIR/feedback.sqlite (default: TERMINOLOGY_DATABASE_URL, else TERMINOLOGY_FEEDBACK_DB, "
        "else TERMINOLOGY_DATA_DIR/feedback.sqlite)",
    )
    source.add_argument(
        "--database-url", help="read this PostgreSQL database (default: TERMINOLOGY_DATABASE_URL)"
    )
    exporting.set_defaults(handler=_export)
