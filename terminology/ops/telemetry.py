"""Per-request JSON log line and Prometheus metrics (requests, latency, caches): GET /metrics."""

from __future__ import annotations

import os
import re
import sys
import time

import orjson
from flask import Flask, Response, current_app, request

from terminology.caching import cache_totals
from terminology.version import __version__

REQUEST_ID_HEADER = "X-Request-Id"
# Per-request values live in the WSGI environ: cheaper to reach than flask.g through its proxy.
STARTED_KEY = "terminology.started"
REQUEST_ID_KEY = "terminology.request_id"
SUBJECT_KEY = "terminology.subject"  # the authenticated caller, set by ops.access
OPERATION_KEY = "terminology.operation"  # the operation name, set once the request is answered
# Accept a caller's request id only if it is short and cannot break a log line or a header.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# Latency buckets in seconds: point lookups take well under a millisecond, expansions longer.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED = "unmatched"
# Cache counts are copied into the metrics at most this often per worker (and before each scrape).
CACHE_PUBLISH_SECONDS = 1.0


def new_request_id() -> str:
    """Return a random 128-bit request id as 32 hex digits (uuid4's entropy, without its object)."""
    return os.urandom(16).hex()


class _Clock:
    """Format UTC timestamps with milliseconds, re-formatting the date part once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        """Return the current time like ``2026-11-21T09:40:01.123+00:00``."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}+00:00"


def write_log_line(entry: dict) -> None:
    """Write one JSON log line to stdout and flush it (one write per line keeps workers' lines whole).

    The logging module is bypassed on purpose: its caller lookup and record building cost more than
    the rest of a point lookup.
    """
    stream = sys.stdout
    stream.write(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE).decode())
    stream.flush()


def operation_name(rule: str) -> str:
    """Name the FHIR interaction a URL rule serves, e.g. ``CodeSystem/$lookup`` or ``ValueSet/read``."""
    parts = [p for p in rule.strip("/").split("/") if p and not (p.startswith("<") and p.endswith(">"))]
    if not parts:
        return "root"
    if len(parts) == 1 and parts[0][:1].isupper():
        # /CodeSystem is a search, /CodeSystem/<id> a read.
        return f"{parts[0]}/{'read' if rule.rstrip('/').endswith('>') else 'search'}"
    return "/".join(parts)


class Telemetry:
    """Time each request, log it as one JSON line and count it in Prometheus metrics."""

    def __init__(self, app: Flask) -> None:
        self.log_requests = bool(app.config["ACCESS_LOG"])
        self.metrics = Metrics() if app.config["METRICS"] else None
        self._operations: dict[str, str] = {}
        self._clock = _Clock()

    def operation(self, req) -> str:
        """Return the operation name of a request (cached per URL rule)."""
        rule = req.url_rule
        if rule is None:
            return UNMATCHED
        name = self._operations.get(rule.rule)
        if name is None:
            name = self._operations[rule.rule] = operation_name(rule.rule)
        return name

    def before_request(self) -> None:
        """Start the clock and settle the request id."""
        environ = request._get_current_object().environ
        environ[STARTED_KEY] = time.perf_counter()
        environ[REQUEST_ID_KEY] = request_id_of(environ)

    def after_request(self, response: Response) -> Response:
        """Echo the request id, then record the request in the log and the metrics."""
        req = request._get_current_object()
        environ = req.environ
        started = environ.get(STARTED_KEY)
        request_id = environ.get(REQUEST_ID_KEY)
        if started is None:
            # The request failed before our before_request ran (another hook raised first).
            started, request_id = time.perf_counter(), new_request_id()
        response.headers[REQUEST_ID_HEADER] = request_id
        operation = environ[OPERATION_KEY] = self.operation(req)
        self.record(environ, req.method, req.path, operation, response.status_code, started, request_id)
        return response

    def record(
        self,
        environ: dict,
        method: str,
        path: str,
        operation: str,
        status: int,
        started: float,
        request_id: str,
        cached: bool = False,
    ) -> None:
        """Count one answered request in the metrics and write its log line.

        :param started: ``time.perf_counter()`` when the request arrived.
        :param cached: the answer came from the response cache (marked in the log line).
        """
        duration = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(operation, status, duration)
        if self.log_requests:
            entry = {
                "time": self._clock.now(),
                "method": method,
                "path": path,
                "operation": operation,
                "status": status,
                "duration_ms": round(duration * 1000, 3),
                "request_id": request_id,
            }
            subject = environ.get(SUBJECT_KEY)
            if subject:
                entry["subject"] = subject
            if cached:
                entry["cached"] = True
            write_log_line(entry)


def request_id_of(environ: dict) -> str:
    """Return the caller's X-Request-Id when it is safe to echo, else a new id."""
    given = environ.get("HTTP_X_REQUEST_ID")
    return given if given and _SAFE_REQUEST_ID.fullmatch(given) else new_request_id()


class Metrics:
    """Prometheus request metrics; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
        from prometheus_client.values import ValueClass

        # The *_created series exist only in single-process mode; drop them so both modes match.
        disable_created_metrics()

        # prometheus_client picks multiprocess mode at import time from PROMETHEUS_MULTIPROC_DIR.
        self.multiprocess = bool(getattr(ValueClass, "_multiprocess", False))
        # One registry per app, so several apps in one process (tests) do not clash.
        self.registry = CollectorRegistry()
        labels = ("operation", "status")
        self.requests = Counter(
            "terminology_requests",
            "HTTP requests answered, by operation and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "terminology_request_duration_seconds",
            "Time spent answering HTTP requests, by operation and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple] = {}
        cache = ("cache",)
        self.cache_counters = {
            "hits": Counter("terminology_cache_hits", "Cache lookups answered from the cache.", cache,
                            registry=self.registry),
            "misses": Counter("terminology_cache_misses", "Cache lookups that computed the answer.", cache,
                              registry=self.registry),
            "evictions": Counter("terminology_cache_evictions", "Entries let go to stay within the bound.",
                                 cache, registry=self.registry),
        }  # fmt: skip
        # livesum: the sum over the live workers (a dead worker's caches are gone with it).
        self.cache_size = Gauge(
            "terminology_cache_size", "What the caches hold now, in their unit (bytes or entries).",
            ("cache", "unit"), multiprocess_mode="livesum", registry=self.registry,
        )  # fmt: skip
        self.cache_limit = Gauge(
            "terminology_cache_limit", "The bound of the caches, in their unit (bytes or entries).",
            ("cache", "unit"), multiprocess_mode="livesum", registry=self.registry,
        )  # fmt: skip
        self._published: dict[str, dict[str, int]] = {}
        self._next_publish = 0.0

    def observe(self, operation: str, status: int, seconds: float) -> None:
        """Count one request and its latency (and, once a second, copy the cache counts)."""
        children = self._children.get((operation, status))
        if children is None:
            code = str(status)
            children = (self.requests.labels(operation, code), self.latency.labels(operation, code))
            self._children[(operation, status)] = children
        children[0].inc()
        children[1].observe(seconds)
        if time.monotonic() >= self._next_publish:
            self.publish_caches()

    def publish_caches(self) -> None:
        """Copy this worker's cache counts into the metrics (counters grow by what happened since)."""
        self._next_publish = time.monotonic() + CACHE_PUBLISH_SECONDS
        for totals in cache_totals():
            last = self._published.setdefault(totals.name, {})
            for field, counter in self.cache_counters.items():
                value = getattr(totals, field)
                # A count that went down belongs to caches that are gone (a dropped app): start over.
                if value > last.get(field, 0):
                    counter.labels(totals.name).inc(value - last.get(field, 0))
                last[field] = value
            self.cache_size.labels(totals.name, totals.unit).set(totals.size)
            self.cache_limit.labels(totals.name, totals.unit).set(totals.maxsize)

    def exposition(self, content_registry) -> tuple[bytes, str]:
        """Render every metric (all workers' in multiprocess mode) in the Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        self.publish_caches()
        if self.multiprocess:
            scrape = CollectorRegistry()
            MultiProcessCollector(scrape)
        else:
            scrape = self.registry
        body = generate_latest(scrape) + generate_latest(_info_registry(content_registry))
        return body, CONTENT_TYPE_LATEST


def _info_registry(content_registry):
    """Build a registry with the build and content-version info gauges of this process."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily

    class _InfoCollector:
        def collect(self):
            build = GaugeMetricFamily(
                "terminology_build_info", "Service version (always 1).", labels=["version"]
            )
            build.add_metric([__version__], 1)
            yield build
            content = GaugeMetricFamily(
                "terminology_content_info",
                "Content loaded by this service, one series per resource (always 1).",
                labels=["type", "url", "version"],
            )
            for resource_type in ("CodeSystem", "ValueSet", "ConceptMap"):
                for item in content_registry.resources(resource_type):
                    content.add_metric([resource_type, item.url, item.version or ""], 1)
            yield content

    info = CollectorRegistry(auto_describe=False)
    info.register(_InfoCollector())
    return info


def metrics_view():
    """Serve the Prometheus metrics."""
    telemetry: Telemetry = current_app.extensions["terminology.telemetry"]
    body, content_type = telemetry.metrics.exposition(current_app.extensions["terminology.registry"])
    return Response(body, status=200, content_type=content_type)


def init_app(app: Flask) -> None:
    """Install the request hooks and, when metrics are on, the /metrics route."""
    telemetry = Telemetry(app)
    app.extensions["terminology.telemetry"] = telemetry
    app.before_request(telemetry.before_request)
    app.after_request(telemetry.after_request)
    if telemetry.metrics is not None:
        app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
