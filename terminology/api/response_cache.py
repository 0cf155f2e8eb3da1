"""Response cache in front of Flask: repeated GET $lookup, $validate-code and $expand answered from memory.

Content is loaded at start-up and read-only while serving, so the answer to a GET of one of
these operations depends only on the request (path, query string, the headers listed in
``service.keys.RESPONSE_VARY``) and today's date (``service.keys.response_key``). tx.fhir.org
and HAPI cache such answers too. A hit skips Flask's request machinery but keeps what callers
and operators see: access control, a fresh ``X-Request-Id``, the JSON log line (marked
``"cached": true``) and the metrics. The answers are kept in a byte-bounded ``BoundedCache``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable

from flask import Flask, request

from terminology.caching import BoundedCache
from terminology.errors import AccessDenied
from terminology.ops.access import access_policy
from terminology.ops.telemetry import OPERATION_KEY, REQUEST_ID_HEADER, Telemetry, request_id_of
from terminology.service.keys import response_key

CACHEABLE_KEY = "terminology.cacheable"
# Answers decided by the request alone: success, and the caller's own mistakes (bad parameters,
# unknown codes or systems). Refusals (401/403/406) and server trouble are never replayed.
REPLAYED_STATUSES = frozenset({200, 400, 404, 422})
# Bookkeeping per entry (key, headers, list node), added to the body size in the byte budget.
ENTRY_OVERHEAD = 600


def cacheable(view: Callable) -> Callable:
    """Mark a view whose GET answers the response cache may replay (they depend on the request only)."""

    @functools.wraps(view)
    def marked(*args, **kwargs):
        request._get_current_object().environ[CACHEABLE_KEY] = True
        return view(*args, **kwargs)

    return marked


class _Entry:
    __slots__ = ("body", "headers", "operation", "status", "status_line")

    def __init__(self, status_line: str, headers: list[tuple[str, str]], body: bytes, operation: str):
        self.status_line = status_line
        self.status = int(status_line[:3])
        self.headers = headers
        self.body = body
        self.operation = operation


def _entry_size(key: tuple, entry: _Entry) -> int:
    return len(entry.body) + ENTRY_OVERHEAD


class ResponseCache:
    """WSGI middleware: a per-worker, least-recently-used memo of GET answers within a byte budget."""

    def __init__(self, app: Flask, budget_bytes: int) -> None:
        self.wsgi_app = app.wsgi_app
        self.telemetry: Telemetry = app.extensions["terminology.telemetry"]
        self.access = access_policy(app)
        # One answer may take at most a sixteenth of the budget (large expansions are not kept).
        self.entries = BoundedCache("responses", budget_bytes, sizeof=_entry_size, largest=budget_bytes // 16)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        key = response_key(environ)
        # Counted here, not by the lookup: a hit is a replay the caller was allowed to have.
        entry = self.entries.lookup(key, count=False)
        if entry is not None:
            if self.access.active:
                try:
                    # The same rule as the router's: a replay is let in exactly when a fresh answer would be.
                    self.access.authorize(environ)
                except AccessDenied:
                    # Flask's access check refuses it again, and the error handler renders the refusal.
                    return self.wsgi_app(environ, start_response)
            self.entries.hits += 1
            return self._replay(entry, environ, start_response, started)
        self.entries.misses += 1  # statistics: an occasional lost update under threads does no harm
        return self._answer_and_keep(key, environ, start_response)

    def _replay(self, entry: _Entry, environ: dict, start_response: Callable, started: float) -> list[bytes]:
        request_id = request_id_of(environ)
        start_response(entry.status_line, [*entry.headers, (REQUEST_ID_HEADER, request_id)])
        path = environ.get("PATH_INFO", "").encode("latin-1", "replace").decode("utf-8", "replace")
        self.telemetry.record(
            environ, "GET", path, entry.operation, entry.status, started, request_id, cached=True
        )
        return [entry.body]

    def _answer_and_keep(self, key: tuple, environ: dict, start_response: Callable) -> Iterable[bytes]:
        seen: list = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None):
            seen[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body_iter = self.wsgi_app(environ, capture)
        # Flask has run the view by now, so the mark (set only by cacheable views) is known.
        if not environ.get(CACHEABLE_KEY) or not seen or int(seen[0][:3]) not in REPLAYED_STATUSES:
            return body_iter
        try:
            body = b"".join(body_iter)
        finally:
            close = getattr(body_iter, "close", None)
            if close is not None:
                close()
        headers = [(name, value) for name, value in seen[1] if name.lower() != "x-request-id"]
        self.entries.put(key, _Entry(seen[0], headers, body, environ.get(OPERATION_KEY, "unmatched")))
        return [body]


def init_app(app: Flask) -> None:
    """Put the response cache in front of the app, unless its budget (RESPONSE_CACHE_MB) is 0."""
    megabytes = app.config["RESPONSE_CACHE_MB"]
    if megabytes > 0:
        cache = ResponseCache(app, megabytes * 1024 * 1024)
        app.extensions["terminology.response_cache"] = cache
        app.wsgi_app = cache  # type: ignore[method-assign]
