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
# A detail may be a list: its first text is the check's result, each further one a warning.
READINESS = "terminology.readiness"
ReadinessCheck = Callable[[], tuple[bool, str | list[str]]]


def content_loaded() -> tuple[bool, str | list[str]]:
    """Check that the content registry is loaded and holds at least one code system.

    Under the lenient content policy, every resource set aside or served degraded is listed too
    (one warning each, with its file and element): ready, but an operator should look.
    """
    registry = current_app.extensions.get("terminology.registry")
    if registry is None:
        return False, "content is not loaded"
    counts = registry.counts()
    if not counts.get("CodeSystem"):
        return False, "no code system is loaded"
    summary = (
        f"content loaded: {counts['CodeSystem']} code systems, {counts.get('ValueSet', 0)} value sets, "
        f"{counts.get('ConceptMap', 0)} concept maps"
    )
    problems = getattr(registry, "problems", [])
    if not problems:
        return True, summary
    refused = sum(p.refused for p in problems)
    summary += f"; {len(problems)} content problems ({refused} refusing a resource, the rest degrading one)"
    return True, [summary, *(f"{'refused' if p.refused else 'degraded'}: {p}" for p in problems)]


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
        first, *more = detail if isinstance(detail, list) else [detail]
        issues.append(Issue("information" if ok else "error", "informational" if ok else "transient", first))
        issues.extend(Issue("warning", "informational", text) for text in more)
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
