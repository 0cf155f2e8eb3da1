"""Settings: defaults, the TERMINOLOGY_* environment variables, and the test config mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_CONTENT_DIRS = [str(REPOSITORY / name) for name in ("codesystems", "valuesets", "conceptmaps")]


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {raw!r}") from None


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict:
    """Read the service settings from the environment, with defaults for local use."""
    environ = os.environ if environ is None else environ
    dirs = environ.get("TERMINOLOGY_CONTENT_DIRS")
    return {
        "CONTENT_DIRS": [d for d in dirs.split(":") if d] if dirs else list(DEFAULT_CONTENT_DIRS),
        "DATA_DIR": environ.get("TERMINOLOGY_DATA_DIR", str(REPOSITORY / "data")),
        # CDS Hooks feedback database; default DATA_DIR/feedback.sqlite.
        "FEEDBACK_DB": environ.get("TERMINOLOGY_FEEDBACK_DB", ""),
        # Largest request body accepted (bytes); larger bodies get 413.
        "MAX_CONTENT_LENGTH": _int(environ, "TERMINOLOGY_MAX_BODY_BYTES", 5 * 1024 * 1024),
        # Most codes one $expand may return without count/offset paging (422 too-costly above it).
        "EXPANSION_LIMIT": _int(environ, "TERMINOLOGY_EXPANSION_LIMIT", 1000),
        # Most entries one batch Bundle or $batch-validate-code request may carry (422 too-costly above).
        "BATCH_LIMIT": _int(environ, "TERMINOLOGY_BATCH_LIMIT", 10_000),
        # Rendered $lookup/$validate-code answers each worker keeps (least recently used out; 0 = off).
        "RESULT_CACHE_SIZE": _int(environ, "TERMINOLOGY_RESULT_CACHE_SIZE", 20_000),
        # Memory (MB) per worker for replaying repeated GET $lookup/$validate-code/$expand answers (0 = off).
        "RESPONSE_CACHE_MB": _int(environ, "TERMINOLOGY_RESPONSE_CACHE_MB", 16),
        # Public base URL used in CapabilityStatement and Bundle fullUrls; derived from the request if unset.
        "BASE_URL": environ.get("TERMINOLOGY_BASE_URL", "").rstrip("/"),
    }
