"""CodeSystem operations: $lookup, $validate-code and $batch-validate-code.

GET|POST /CodeSystem/$lookup, /CodeSystem/{id}/$lookup
GET|POST /CodeSystem/$validate-code, /CodeSystem/{id}/$validate-code
POST     /CodeSystem/$batch-validate-code
"""

from __future__ import annotations

from flask import Blueprint

from terminology.api.http import fhir_response, operation_params, reject_get_of_batch, service
from terminology.api.response_cache import cacheable

bp = Blueprint("codesystem", __name__)
METHODS = ["GET", "POST"]


@bp.route("/CodeSystem/$lookup", methods=METHODS)
@bp.route("/CodeSystem/<resource_id>/$lookup", methods=METHODS)
@cacheable
def lookup_view(resource_id: str | None = None):
    """Look up a code: display, designations and properties (404 for unknown codes)."""
    return fhir_response(service().lookup(operation_params(), resource_id))


@bp.route("/CodeSystem/$validate-code", methods=METHODS)
@bp.route("/CodeSystem/<resource_id>/$validate-code", methods=METHODS)
@cacheable
def validate_code_view(resource_id: str | None = None):
    """Validate a code, Coding or CodeableConcept against its code system."""
    return fhir_response(service().validate_code("CodeSystem", operation_params(), resource_id))


@bp.route("/CodeSystem/$batch-validate-code", methods=METHODS)
def batch_validate_code_view():
    """Validate many codes in one request (repeated ``validation`` Parameters)."""
    reject_get_of_batch()
    return fhir_response(service().batch_validate("CodeSystem", operation_params()))
