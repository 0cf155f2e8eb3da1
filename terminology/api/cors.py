"""CORS for browser-based callers (EHR sandboxes): preflight answers and Access-Control-* headers.

OPTIONS preflights on every route, when TERMINOLOGY_CORS_ORIGINS lists the caller's origin.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from terminology.config import comma_list

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Accept, Accept-Language, X-Request-Id"
EXPOSED_HEADERS = "WWW-Authenticate, X-Request-Id, Location"
MAX_AGE = "600"


def parse_origins(raw: str) -> frozenset[str]:
    """Parse the comma-separated origin list (``*`` allows any origin; checked with the settings)."""
    return frozenset(origin.rstrip("/") for origin in comma_list(raw))


def _allowed(origin: str | None) -> bool:
    origins = current_app.extensions["terminology.cors"]
    return origin is not None and ("*" in origins or origin in origins)


def _preflight():
    """Answer a preflight from an allowed origin with 204; others fall through to normal routing."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = request.headers.get("Origin")
    if not _allowed(origin):
        return None
    response = Response(status=204)
    del response.headers["Content-Type"]  # no body, so no media type
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = MAX_AGE
    return response


def _headers(response: Response) -> Response:
    """Echo an allowed Origin (never ``*``, so caches must vary on Origin)."""
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if _allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response


def init_app(app: Flask) -> None:
    """Turn CORS on when TERMINOLOGY_CORS_ORIGINS (the CORS_ORIGINS setting) lists origins."""
    raw = app.config["CORS_ORIGINS"]
    origins = parse_origins(raw) if isinstance(raw, str) else frozenset(raw)
    if not origins:
        return
    app.extensions["terminology.cors"] = origins
    app.before_request(_preflight)
    app.after_request(_headers)
