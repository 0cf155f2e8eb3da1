"""Importers' shared helpers: the `terminology import` group, the one CLI runner, reading, atomic writes."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson

from terminology.config import REPOSITORY, bundled_content_dirs, load_settings
from terminology.content.loader import read_json, validate_resource
from terminology.dates import file_date_text
from terminology.errors import ContentError, ImportFailure

CODE_SYSTEM_PROPERTY = "http://hl7.org/fhir/concept-properties#"
# Imported content files: readable by everyone (the serving UID may differ), written by the owner.
CONTENT_FILE_MODE = 0o644


@dataclass
class ImportReport:
    """What an import wrote and what it noticed (missing optional files, skipped rows)."""

    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    concepts: int = 0

    def note(self, text: str) -> None:
        """Record something the operator should read."""
        self.notes.append(text)

    def summary_lines(self, seconds: float) -> list[str]:
        """Return what the CLI prints after a successful import: the files written and a hint."""
        lines = [f"wrote {path}" for path in self.written]
        lines.append(f"{self.concepts} concepts in {seconds:.1f} s")
        if self.written:
            # The bundled folders as this installation has them (a checkout, or inside the package).
            dirs = ":".join([str(self.written[0].parent), *bundled_content_dirs()])
            lines.append(
                "serve it by adding the directory to TERMINOLOGY_CONTENT_DIRS, e.g.\n"
                f"  export TERMINOLOGY_CONTENT_DIRS={dirs}"
            )
        return lines


class ImportOutcome(Protocol):
    """What every importer returns: notes for the operator and the lines of its summary."""

    notes: list[str]

    def summary_lines(self, seconds: float) -> list[str]:
        """Return the lines printed on success."""
        ...


class _Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives during an import."""


def _terminated(signum, frame) -> None:
    raise _Terminated


def run_import(action: Callable[[], ImportOutcome], unchanged: str) -> int:
    """Run one import for the CLI (content importers and NCCI alike); return the exit status.

    Prints the notes and the summary (exit 0), or ``error: FILE:LINE: what`` followed by
    ``unchanged`` (exit 1). SIGTERM (``kubectl delete``, ``docker stop``) stops the import the way
    Ctrl-C does, so it removes its temporary files and releases its lock instead of leaving them.
    """
    started = time.perf_counter()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        result = action()
    except ImportFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(unchanged, file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Terminated) as exc:
        print(f"interrupted: {unchanged}", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for line in result.summary_lines(time.perf_counter() - started):
        print(line)
    return 0


def default_content_dir() -> Path:
    """Return where imported content goes: ``content/`` in the data directory (TERMINOLOGY_DATA_DIR).

    The data directory's default is git-ignored in a checkout (``data/``) and outside it otherwise:
    licensed CPT content must never be committed.
    """
    return Path(load_settings().data_dir) / "content"


def output_dir(requested: str | Path | None) -> Path:
    """Resolve and create the output directory; refuse directories inside the repository.

    The repository's ``data/`` folder is git-ignored and therefore allowed.
    """
    out = Path(requested) if requested else default_content_dir()
    resolved = out.expanduser().resolve()
    repository = REPOSITORY.resolve() if REPOSITORY is not None else None
    if (
        repository is not None
        and resolved.is_relative_to(repository)
        and not resolved.is_relative_to(repository / "data")
    ):
        raise ImportFailure(
            resolved, None, "imported content must not be written inside the repository (use --out elsewhere)"
        )
    resolved.mkdir(parents=True, exist_ok=True)
    return resolved


def read_text_lines(path: Path, report: ImportReport | None = None) -> list[str]:
    """Read a text file as lines (UTF-8, BOM tolerated).

    Our sources do not say which encoding the AMA and CMS text files use; a file that is not valid
    UTF-8 is read as Windows-1252 (an assumption), and the report says so.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        if report is not None:
            report.note(f"{path.name} is not UTF-8; read as Windows-1252")
    return text.splitlines()


def after_header_block(path: Path, lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` after the header block and the blank line that ends it.

    AMA's SHORTU/MEDU/LONGULT files start with a notice block ended by a blank line; blank lines
    after that are ignored.
    """
    for index, line in enumerate(lines):
        if not line.strip():
            start = index + 1
            break
    else:
        raise ImportFailure(
            path, None, "no blank line ends the header block (is this an AMA descriptor file?)"
        )
    for index in range(start, len(lines)):
        if lines[index].strip():
            yield index + 1, lines[index]


_CODE = re.compile(r"^[0-9A-Z]{5}$")


def check_code(path: Path, line: int, code: str) -> str:
    """Return a five-character CPT/HCPCS code, or raise naming the line."""
    if not _CODE.match(code):
        raise ImportFailure(path, line, f"'{code}' is not a five-character code")
    return code


def parse_date(path: Path, line: int, value: object, what: str) -> str | None:
    """Turn a YYYYMMDD (or YYYY-MM-DD, M/D/YYYY, spreadsheet date) value into YYYY-MM-DD; blank is None."""
    try:
        return file_date_text(value)
    except ValueError as bad:
        text = bad.args[0]
        raise ImportFailure(path, line, f"{what} '{text}' is not a date (expected YYYYMMDD)") from None


def find_file(root: Path, name: str) -> Path | None:
    """Find a file by name (case-insensitive) anywhere under ``root``; raise when it is ambiguous."""
    wanted = name.lower()
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower() == wanted)
    if len(found) > 1:
        raise ImportFailure(root, None, f"{name} found more than once: {', '.join(map(str, found))}")
    return found[0] if found else None


def write_resources(resources: list[tuple[dict, Path]]) -> list[Path]:
    """Validate every resource with the content loader's rules, then write each atomically.

    Nothing is written unless every resource is valid; each file is written to a temporary file
    in the same directory and moved into place, so a reader never sees half a file.
    """
    for resource, target in resources:
        try:
            validate_resource(resource, str(target))
        except ContentError as exc:
            raise ImportFailure(target, None, f"would not load: {exc.element}: {exc.message}") from None
    written = []
    for resource, target in resources:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            # mkstemp makes the file 0600; content is read by the serving user, often another UID.
            os.fchmod(handle, CONTENT_FILE_MODE)
            with os.fdopen(handle, "wb") as out:
                out.write(orjson.dumps(resource, option=orjson.OPT_INDENT_2))
                out.write(b"\n")
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def read_code_system(path: Path) -> dict:
    """Read a CodeSystem written by an importer."""
    try:
        resource = read_json(path)
    except ContentError as exc:
        raise ImportFailure(path, None, exc.message) from None
    if not isinstance(resource, dict):
        raise ImportFailure(path, None, "not a JSON object")
    return resource


def set_property(concept: dict, code: str, value_key: str, value: object) -> None:
    """Set a concept property to one value, replacing any earlier value of that property."""
    props = [p for p in concept.get("property", []) if p.get("code") != code]
    props.append({"code": code, value_key: value})
    concept["property"] = props


def declare_property(resource: dict, code: str, kind: str, description: str, uri: str | None = None) -> None:
    """Declare a CodeSystem property (replacing an earlier declaration of the same code)."""
    definition = {"code": code}
    if uri:
        definition["uri"] = uri
    definition.update({"description": description, "type": kind})
    props = [p for p in resource.get("property", []) if p.get("code") != code]
    props.append(definition)
    resource["property"] = props


def import_group(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Return the subcommands of `terminology import`, creating the `import` group on first use.

    Every importer module registers its `terminology import <kind>` parser here, so the group is
    made once whichever module registers first.
    """
    parser = commands.choices.get("import")
    if parser is None:
        parser = commands.add_parser(
            "import", help="turn vendor files (CPT, HCPCS, fee schedules...) into content"
        )
        parser.import_commands = parser.add_subparsers(dest="import_kind", required=True, metavar="KIND")
    return parser.import_commands
