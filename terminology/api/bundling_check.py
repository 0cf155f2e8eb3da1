"""Bundling check and its definition.

POST /$bundling-check
GET /OperationDefinition, /OperationDefinition/{id}
"""

from __future__ import annotations

from pathlib import Path

import orjson
from flask import Blueprint, Flask, current_app, request

from terminology.api.http import base_url, fhir_response, json_body_bytes, parse_json, registry
from terminology.bundling.rules import BundlingChecker
from terminology.engine.systems import OWN_BASE
from terminology.errors import NotFound
from terminology.fhir.bundling_items import read_item_parameters
from terminology.fhir.bundling_mapping import bundling_input, bundling_parameters, check_input
from terminology.fhir.input_limits import check_lines, request_lines
from terminology.fhir.params import OperationParams
from terminology.fhir.render import search_bundle
from terminology.ncci.edition_maps import publish_editions
from terminology.ncci.index import NcciIndex, index_path, read_editions

bp = Blueprint("bundling", __name__)
OPERATION_DEFINITIONS = Path(__file__).resolve().parent.parent / "operationdefinitions"
BUNDLING_CHECK = f"{OWN_BASE}/OperationDefinition/bundling-check"


def _checker() -> BundlingChecker:
    return current_app._get_current_object().extensions["terminology.bundling"]


@bp.route("/$bundling-check", methods=["POST"])
def bundling_check_view():
    """Check claim lines or orders for NCCI PTP/MUE edits and CPT combined-code rules."""
    raw = json_body_bytes()
    # The usual item Parameters are decoded straight into lines; everything else, errors
    # included, goes through the general parser.
    parsed = read_item_parameters(raw)
    if parsed is None:
        document = parse_json(raw)
        check_claim_lines(request_lines(document))  # before a Claim or Bundle is validated
        params = OperationParams.from_body(document, ("Claim", "Bundle"))
        parsed = bundling_input(params, registry())
    else:
        check_claim_lines(len(parsed.lines))
    result = check_input(_checker(), parsed)
    return fhir_response(bundling_parameters(result, parsed.maps_used))


def check_claim_lines(count: int) -> None:
    """Refuse (422 too-costly) more claim lines than TERMINOLOGY_MAX_CLAIM_LINES, before the rules run."""
    check_lines(count, current_app._get_current_object().config["MAX_CLAIM_LINES"])


def _definitions() -> dict[str, dict]:
    found = current_app.extensions.get("terminology.operation_definitions")
    if found is None:
        found = {}
        for path in sorted(OPERATION_DEFINITIONS.glob("*.json")):
            resource = orjson.loads(path.read_bytes())
            found[resource["id"]] = resource
        current_app.extensions["terminology.operation_definitions"] = found
    return found


@bp.route("/OperationDefinition/<resource_id>", methods=["GET"])
def operation_definition_view(resource_id: str):
    """Serve one of the service's own OperationDefinitions."""
    found = _definitions().get(resource_id)
    if found is None:
        raise NotFound(f"OperationDefinition/{resource_id} is not known", tx_code=None)
    return fhir_response(found)


@bp.route("/OperationDefinition", methods=["GET"])
def operation_definition_search():
    """List the service's own OperationDefinitions (searchset Bundle; url filter)."""
    wanted = request.args.get("url")
    found = [r for r in _definitions().values() if wanted is None or r.get("url") == wanted]
    base = base_url()
    return fhir_response(search_bundle(found, len(found), f"{base}/OperationDefinition", None, base))


def contribute_capability(statement: dict) -> None:
    """List $bundling-check and the OperationDefinition resource in the CapabilityStatement."""
    rest = statement["rest"][0]
    rest.setdefault("operation", []).append({"name": "bundling-check", "definition": BUNDLING_CHECK})
    rest["resource"].append(
        {"type": "OperationDefinition", "interaction": [{"code": "read"}, {"code": "search-type"}]}
    )


def index_ready(app: Flask) -> tuple[bool, str]:
    """Readiness of the NCCI index: (ok, detail)."""
    return app.extensions["terminology.ncci"].ready()


def init_app(app: Flask) -> None:
    """Attach the NCCI index (opened lazily per worker), publish its editions and register the routes."""
    from terminology.api.metadata import add_capability

    reg = app.extensions["terminology.registry"]
    path = index_path(app.config["DATA_DIR"])
    index = NcciIndex(path)
    # Listing editions uses a short-lived connection: the master opens nothing it keeps across fork.
    publish_editions(reg, index, read_editions(path))
    index.listeners.append(lambda editions: publish_editions(reg, index, editions))
    # Any request may name an edition (a ConceptMap read, search or $translate), so each one first
    # lets this worker see a newly imported index: a clock read, and a stat at most once a second.
    app.before_request(index.refresh)
    app.extensions["terminology.ncci"] = index
    app.extensions["terminology.bundling"] = BundlingChecker(reg, index)
    add_capability(app, contribute_capability)
    app.extensions.setdefault("terminology.readiness", []).append(lambda: index_ready(app))
    app.register_blueprint(bp)
