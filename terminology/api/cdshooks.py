"""CDS Hooks 2.0 endpoints.

GET /cds-services (discovery)
POST /cds-services/{id} (order-select, order-sign bundling cards)
POST /cds-services/{id}/feedback
"""

from __future__ import annotations

import logging

import orjson
from flask import Blueprint, Flask, Response, current_app, g, has_request_context
from werkzeug.wsgi import get_current_url

from terminology import storage
from terminology.api.bundling_check import check_claim_lines
from terminology.api.http import base_url, json_body, registry
from terminology.bundling.model import CheckOptions
from terminology.cdshooks.cards import cards
from terminology.cdshooks.feedback import read_feedback
from terminology.cdshooks.services import SERVICES, read_request, service
from terminology.config import comma_list
from terminology.errors import AccessDenied
from terminology.fhir.bundling_mapping import BundlingInput, check_input
from terminology.fhir.input_limits import request_lines
from terminology.ops.access import Guard, JwtVerifier, add_guard
from terminology.storage.base import deadline_after

log = logging.getLogger(__name__)
bp = Blueprint("cdshooks", __name__)
# app.extensions key of the shared store (feedback, the jti replay list).
STORE = "terminology.store"
# flask.g attribute: when the store calls of the current request must be done.
REQUEST_DEADLINE = "store_deadline"
PREFIX = "/cds-services"


def _json(payload: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


def _ehr_guard(app: Flask, verifier: JwtVerifier) -> Guard:
    """Return the access guard of the CDS routes: the EHR's signed JWT, its aud the endpoint called."""
    config = app.config

    def check(environ: dict, path: str) -> str:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AccessDenied(401, "CDS Hooks calls must carry the EHR's signed JWT (Authorization: Bearer)")
        # aud must be the endpoint called: discovery, the service, or (feedback) the service it reports on.
        base = config.get("CDS_SERVICE_URL") or (
            (config["BASE_URL"] or get_current_url(environ, host_only=True).rstrip("/")) + PREFIX
        )
        endpoint = f"{base}{path[len(PREFIX) :]}"
        audiences = [endpoint]
        if endpoint.endswith("/feedback"):
            audiences.append(endpoint.removesuffix("/feedback"))
        return verifier.authenticate(token.strip(), audiences)

    return check


@bp.route(PREFIX, methods=["GET"])
def discovery_view():
    """List the CDS Services (one for order-select, one for order-sign)."""
    return _json({"services": [s.discovery() for s in SERVICES.values()]})


@bp.route(f"{PREFIX}/<service_id>", methods=["POST"])
def service_view(service_id: str):
    """Answer a hook call with bundling cards for the draft orders (empty cards when all is well)."""
    svc = service(service_id)
    body = json_body()
    check_claim_lines(request_lines(body))  # context.draftOrders
    hook = read_request(svc, body, registry())
    result = check_input(
        current_app.extensions["terminology.bundling"],
        BundlingInput(hook.lines, CheckOptions(), hook.maps_used, []),
    )
    return _json({"cards": cards(hook, result, registry(), base_url())})


@bp.route(f"{PREFIX}/<service_id>/feedback", methods=["POST"])
def feedback_view(service_id: str):
    """Store feedback entries durably (committed before the 200; 503 when the store is down)."""
    svc = service(service_id)
    entries = read_feedback(json_body())
    stored = current_app.extensions[STORE].add_feedback(svc.id, entries)
    return _json({"stored": stored})


def _build_verifier(app: Flask, store: storage.Store) -> JwtVerifier | None:
    config = app.config
    if not config["CDS_JWKS"]:
        return None
    algorithms = comma_list(config["CDS_ALGORITHMS"])  # asymmetric only: checked with the settings
    issuers = comma_list(config["CDS_ISSUERS"])
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


def request_deadline(seconds: float) -> float:
    """Return when the store calls of the current request must be done: ``seconds`` after the first one.

    A request may call the store twice (the EHR JWT's jti, then the feedback write); sharing one deadline
    keeps its whole wait for the database within TERMINOLOGY_DATABASE_TIMEOUT, well inside gunicorn's
    TERMINOLOGY_TIMEOUT (the settings require at most half of it).
    """
    if not has_request_context():
        return deadline_after(seconds)
    return g.setdefault(REQUEST_DEADLINE, deadline_after(seconds))


def open_app_store(app: Flask) -> storage.Store:
    """Open the store, migrate it now (a store that is down is retried on use), add its readiness check."""
    store = storage.open_store(app.config)
    store.deadline_for = request_deadline
    try:
        version = store.migrate()
        log.info("feedback store %s at schema version %d", store.describe(), version)
    except storage.StoreUnavailable:
        log.warning("feedback store %s is unavailable at start-up; /readyz answers 503 until it is back",
                    store.describe())  # fmt: skip
    app.extensions[STORE] = store
    app.extensions.setdefault("terminology.readiness", []).append(store.ready)
    return store


def init_app(app: Flask) -> None:
    """Attach the shared store (feedback, jti replay list) and the optional EHR JWT verifier."""
    store = open_app_store(app)
    verifier = _build_verifier(app, store)
    if verifier is not None:
        app.extensions["terminology.cds_auth"] = verifier
        # The EHR's JWT replaces the service-wide credentials on the CDS routes.
        add_guard(app, PREFIX, _ehr_guard(app, verifier))
    app.register_blueprint(bp)
