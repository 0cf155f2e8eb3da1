"""Operations settings: the TERMINOLOGY_* variables for metrics, request logs and access control."""

from __future__ import annotations

import os
from collections.abc import Mapping

AUTH_MODES = ("none", "static", "jwt")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    """Parse a boolean environment value (true/false, 1/0, yes/no, on/off); exit on anything else."""
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SystemExit(f"{name} must be true or false, not {raw!r}")


def metrics_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Say whether /metrics is on (TERMINOLOGY_METRICS, default true); gunicorn_conf asks too."""
    environ = os.environ if environ is None else environ
    return parse_bool("TERMINOLOGY_METRICS", environ.get("TERMINOLOGY_METRICS"), True)


def ops_settings_from_env(environ: Mapping[str, str] | None = None) -> dict:
    """Read the operations settings from the environment, with defaults for local use."""
    environ = os.environ if environ is None else environ
    mode = environ.get("TERMINOLOGY_AUTH_MODE", "none").strip().lower() or "none"
    if mode not in AUTH_MODES:
        raise SystemExit(f"TERMINOLOGY_AUTH_MODE must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
    leeway = environ.get("TERMINOLOGY_AUTH_LEEWAY_SECONDS", "30")
    try:
        leeway_seconds = int(leeway)
    except ValueError:
        raise SystemExit(f"TERMINOLOGY_AUTH_LEEWAY_SECONDS must be an integer, not {leeway!r}") from None
    return {
        "METRICS": metrics_enabled(environ),
        # Leave /metrics open when access control is on (for scrapers that cannot send a token).
        "METRICS_OPEN": parse_bool(
            "TERMINOLOGY_METRICS_OPEN", environ.get("TERMINOLOGY_METRICS_OPEN"), False
        ),
        "ACCESS_LOG": parse_bool("TERMINOLOGY_ACCESS_LOG", environ.get("TERMINOLOGY_ACCESS_LOG"), True),
        "AUTH_MODE": mode,
        "AUTH_TOKENS_FILE": environ.get("TERMINOLOGY_AUTH_TOKENS_FILE", ""),
        "AUTH_JWKS": environ.get("TERMINOLOGY_AUTH_JWKS", ""),
        "AUTH_ISSUER": environ.get("TERMINOLOGY_AUTH_ISSUER", ""),
        "AUTH_AUDIENCE": environ.get("TERMINOLOGY_AUTH_AUDIENCE", ""),
        "AUTH_ALGORITHMS": environ.get("TERMINOLOGY_AUTH_ALGORITHMS", "RS256,ES256"),
        "AUTH_REQUIRED_SCOPE": environ.get("TERMINOLOGY_AUTH_REQUIRED_SCOPE", ""),
        "AUTH_LEEWAY_SECONDS": leeway_seconds,
    }
