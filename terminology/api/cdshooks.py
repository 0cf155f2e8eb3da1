"""CDS Hooks 2.0 endpoints.

GET /cds-services (discovery)
POST /cds-services/{id} (order-select, order-sign bundling cards)
POST /cds-services/{id}/feedback
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Flask, Response, current_app, g, request

from terminology.api.http import base_url, json_body, registry
from terminology.bundling.model import CheckOptions
from terminology.cdshooks.cards import cards
from terminology.cdshooks.feedback import FeedbackStore, feedback_location, read_feedback
from terminology.cdshooks.services import SERVICES, read_request, service
from terminology.fhir.bundling_mapping import BundlingInput, check_input
from terminology.ops.telemetry import SUBJECT_KEY

bp = Blueprint("cdshooks", __name__)
PREFIX = "/cds-services"
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA")


def _json(payload: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


def _verify() -> None:
    """Verify the EHR's JWT when CDS JWT verification is configured (401 otherwise)."""
    verifier = current_app.extensions.get("terminology.cds_auth")
    if verifier is None:
        return
    from terminology.ops.access import AccessDenied, _refuse

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    # aud must be the endpoint called: discovery, the service, or (for feedback) the service it reports on.
    endpoint = f"{_cds_base()}{request.path[len(PREFIX) :]}".rstrip("/")
    audiences = [endpoint]
    if endpoint.endswith("/feedback"):
        audiences.append(endpoint.removesuffix("/feedback"))
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise AccessDenied(401, "CDS Hooks calls must carry the EHR's signed JWT (Authorization: Bearer)")
        request.environ[SUBJECT_KEY] = verifier.authenticate(token.strip(), audiences)
    except AccessDenied as denied:
        g.cds_refusal = _refuse(denied)


def _cds_base() -> str:
    return current_app.config.get("CDS_SERVICE_URL") or f"{base_url()}{PREFIX}"


@bp.before_request
def _guard():
    """Refuse calls without a valid EHR JWT when verification is configured."""
    _verify()
    return g.pop("cds_refusal", None)


@bp.route(PREFIX, methods=["GET"])
def discovery_view():
    """List the CDS Services (one for order-select, one for order-sign)."""
    return _json({"services": [s.discovery() for s in SERVICES.values()]})


@bp.route(f"{PREFIX}/<service_id>", methods=["POST"])
def service_view(service_id: str):
    """Answer a hook call with bundling cards for the draft orders (empty cards when all is well)."""
    svc = service(service_id)
    hook = read_request(svc, json_body(), registry())
    result = check_input(
        current_app.extensions["terminology.bundling"],
        BundlingInput(hook.lines, CheckOptions(), hook.maps_used, []),
    )
    return _json({"cards": cards(hook, result, registry(), base_url())})


@bp.route(f"{PREFIX}/<service_id>/feedback", methods=["POST"])
def feedback_view(service_id: str):
    """Store feedback entries durably (committed before the 200)."""
    svc = service(service_id)
    entries = read_feedback(json_body())
    stored = current_app.extensions["terminology.cds_feedback"].add(svc.id, entries)
    return _json({"stored": stored})


def _build_verifier(app: Flask, store: FeedbackStore):
    from terminology.ops.access import JwtVerifier

    config = app.config
    if not config["CDS_JWKS"]:
        return None
    algorithms = [a.strip() for a in config["CDS_ALGORITHMS"].split(",") if a.strip()]
    weak = [a for a in algorithms if a not in _ASYMMETRIC]
    if weak:
        # CDS Hooks forbids 'none' and symmetric (HMAC) algorithms.
        raise SystemExit(f"TERMINOLOGY_CDS_ALGORITHMS: {', '.join(weak)} not allowed (asymmetric only)")
    issuers = [i.strip() for i in config["CDS_ISSUERS"].split(",") if i.strip()]
    return JwtVerifier(
        jwks=config["CDS_JWKS"],
        issuer=issuers,  # type: ignore[arg-type]  # PyJWT accepts a list of allowed issuers
        audience=config["CDS_SERVICE_URL"] or "per-request",
        algorithms=algorithms,
        required_scopes=[],
        leeway=config["CDS_LEEWAY_SECONDS"],
        settings_prefix="TERMINOLOGY_CDS",
        required_claims=("exp", "iat", "iss", "aud", "jti"),
        replay_check=store.first_use_of,
    )


def init_app(app: Flask) -> None:
    """Attach the feedback store (opened lazily per process) and the optional EHR JWT verifier."""
    store = FeedbackStore(feedback_location(app.config))
    app.extensions["terminology.cds_feedback"] = store
    verifier = _build_verifier(app, store)
    if verifier is not None:
        app.extensions["terminology.cds_auth"] = verifier
        # The EHR's JWT replaces the service-wide credentials on the CDS routes.
        app.extensions.setdefault("terminology.auth_delegated", []).append(PREFIX)
    app.register_blueprint(bp)
