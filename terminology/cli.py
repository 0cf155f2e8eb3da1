"""The `terminology` command: serve, check, and the importers that register with it."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# Modules that add subcommands (each has ``register(subparsers)``).
COMMAND_MODULES: list[str] = [
    "terminology.importers.commands",
    "terminology.ncci.cli",
    "terminology.ops.access",
    "terminology.cdshooks.cli",
    "terminology.ops.fetch",
]


def _serve(args: argparse.Namespace) -> int:
    """Run gunicorn with the project's gunicorn configuration."""
    from gunicorn.app.wsgiapp import run

    config = Path(__file__).with_name("gunicorn_conf.py")
    argv = ["gunicorn", "--config", str(config)]
    if args.host or args.port:
        host = args.host or "0.0.0.0"
        port = args.port or 8000
        argv += ["--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    argv.append("terminology:create_app()")
    sys.argv = argv
    run()
    return 0


def _check(args: argparse.Namespace) -> int:
    """Validate content directories strictly; print every problem (exit 1) or a summary (exit 0)."""
    from terminology.bundling.content import RuleContent
    from terminology.config import load_settings
    from terminology.content.loader import load_registry
    from terminology.errors import ContentError
    from terminology.text import counted

    settings = load_settings()
    directories = args.dirs or settings.content_dirs
    try:
        registry = load_registry([Path(d) for d in directories], "strict", settings.pattern_limits())
        RuleContent.from_registry(registry)  # the bundling rule files hold together, as at start-up
    except ContentError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    counts = registry.counts()
    concepts = sum(len(cs.concepts) for cs in registry.resources("CodeSystem"))
    print(
        f"ok: {counted(counts['CodeSystem'], 'code system')} ({counted(concepts, 'concept')}), "
        f"{counted(counts['ValueSet'], 'value set')}, {counted(counts['ConceptMap'], 'concept map')} "
        f"in {counted(len(directories), 'directory', 'directories')}"
    )
    return 0


def _port(text: str) -> int:
    """Read a TCP port number (argparse type): 1-65535, or a usage error naming the value."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a TCP port (1-65535)")
    return port


def _positive(text: str) -> int:
    """Read a count of at least 1 (argparse type)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser, including subcommands registered by feature modules."""
    from terminology.version import __version__

    parser = argparse.ArgumentParser(
        prog="terminology",
        description="FHIR R4 terminology service for US procedure codes: serve it, check content, "
        "import CPT, HCPCS, PC/TC and NCCI files, export CDS Hooks feedback.",
    )
    parser.add_argument("--version", action="version", version=f"terminology {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service under gunicorn")
    serve.add_argument("--host", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--port", type=_port, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers", type=_positive, help="worker processes (default TERMINOLOGY_WORKERS or 2)"
    )
    serve.set_defaults(handler=_serve)
    check = commands.add_parser("check", help="validate content files and exit")
    check.add_argument("dirs", nargs="*", help="content directories (default TERMINOLOGY_CONTENT_DIRS)")
    check.set_defaults(handler=_check)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script.

    ``--version`` and ``--help`` answer while parsing and read no settings; every command checks all
    the settings first, so a bad TERMINOLOGY_* value stops it before it does anything.
    """
    args = build_parser().parse_args(argv)
    from terminology.config import load_settings

    load_settings()
    return args.handler(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
