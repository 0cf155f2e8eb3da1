"""CodeSystem operations.

GET|POST /CodeSystem/$lookup, /CodeSystem/{id}/$lookup
GET|POST /CodeSystem/$validate-code, /CodeSystem/{id}/$validate-code
POST     /CodeSystem/$batch-validate-code
"""

from __future__ import annotations

from flask import Blueprint, current_app

from terminology.api.http import fhir_response, operation_params, registry, reject_get_of_batch, results
from terminology.api.response_cache import cacheable
from terminology.engine.clock import today
from terminology.engine.lookup import lookup
from terminology.fhir.operation_inputs import lookup_input
from terminology.fhir.operations import batch_validate, code_system_validate
from terminology.fhir.render import lookup_parameters

bp = Blueprint("codesystem", __name__)
METHODS = ["GET", "POST"]


def _instance(resource_id: str | None):
    return registry().read("CodeSystem", resource_id) if resource_id else None


@bp.route("/CodeSystem/$lookup", methods=METHODS)
@bp.route("/CodeSystem/<resource_id>/$lookup", methods=METHODS)
@cacheable
def lookup_view(resource_id: str | None = None):
    """Look up a code: display, designations and properties (404 for unknown codes)."""
    request = lookup_input(operation_params(), _instance(resource_id))
    reg = registry()
    # Without a date, "today" decides whether a code past its termination date is still active.
    key = ("lookup", request.system, request.code, request.version, tuple(request.properties),
           request.date or today())  # fmt: skip
    return fhir_response(
        results().get(
            key,
            lambda: lookup_parameters(
                lookup(reg, request.system, request.code, request.version, request.properties, request.date)
            ),
        )
    )


@bp.route("/CodeSystem/$validate-code", methods=METHODS)
@bp.route("/CodeSystem/<resource_id>/$validate-code", methods=METHODS)
@cacheable
def validate_code_view(resource_id: str | None = None):
    """Validate a code, Coding or CodeableConcept against its code system."""
    return fhir_response(
        code_system_validate(registry(), operation_params(), _instance(resource_id), results())
    )


@bp.route("/CodeSystem/$batch-validate-code", methods=METHODS)
def batch_validate_code_view():
    """Validate many codes in one request (repeated ``validation`` Parameters)."""
    reject_get_of_batch()
    limit = current_app.config["BATCH_LIMIT"]
    return fhir_response(
        batch_validate(registry(), operation_params(), code_system_validate, limit=limit, cache=results())
    )
