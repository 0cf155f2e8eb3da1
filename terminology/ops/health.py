"""Health probes outside the FHIR paths: GET /livez, GET /readyz."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from flask import Blueprint, Flask, Response, current_app

from terminology.engine.issues import Issue
from terminology.fhir.outcome import operation_outcome

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

# app.extensions key of the readiness checks: callables returning (ok, detail). Features append theirs.
READINESS = "terminology.readiness"
ReadinessCheck = Callable[[], tuple[bool, str]]


def content_loaded() -> tuple[bool, str]:
    """Check that the content registry is loaded and holds at least one code system."""
    registry = current_app.extensions.get("terminology.registry")
    if registry is None:
        return False, "content is not loaded"
    counts = registry.counts()
    if not counts.get("CodeSystem"):
        return False, "no code system is loaded"
    return True, (
        f"content loaded: {counts['CodeSystem']} code systems, {counts.get('ValueSet', 0)} value sets, "
        f"{counts.get('ConceptMap', 0)} concept maps"
    )


def run_checks(checks: list[ReadinessCheck]) -> tuple[bool, list[Issue]]:
    """Run every readiness check; a check that raises counts as not ready."""
    ready = True
    issues = []
    for check in checks:
        try:
            ok, detail = check()
        except Exception:
            # The log has the exception; /readyz is open to anyone, so it says no more (no paths).
            log.exception("readiness check %r failed", check)
            name = getattr(check, "__name__", "unnamed")
            ok, detail = False, f"readiness check {name} failed (the server log has the error)"
        ready = ready and bool(ok)
        issues.append(Issue("information" if ok else "error", "informational" if ok else "transient", detail))
    return ready, issues


def _outcome(issues: list[Issue], status: int = 200, headers: dict | None = None) -> Response:
    # The probes answer FHIR JSON without content negotiation (they are not FHIR interactions),
    # so they need nothing of the api package's rendering: ops stays below api.
    body = orjson.dumps(operation_outcome(issues))
    return Response(body, status=status, headers=headers, content_type="application/fhir+json; charset=utf-8")


@bp.route("/livez", methods=["GET"])
def livez():
    """Answer 200 while the process can serve requests (the liveness probe)."""
    return _outcome([Issue("information", "informational", "alive")])


@bp.route("/readyz", methods=["GET"])
def readyz():
    """Answer 200 when content and every registered readiness check pass, else 503."""
    ready, issues = run_checks(current_app.extensions[READINESS])
    return _outcome(issues, 200 if ready else 503, {"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Register the probes and the content readiness check (other features append their own checks)."""
    checks = app.extensions.setdefault(READINESS, [])
    checks.insert(0, content_loaded)
    app.register_blueprint(bp)
