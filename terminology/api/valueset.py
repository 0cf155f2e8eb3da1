"""ValueSet operations: $expand, $validate-code and $batch-validate-code.

GET|POST /ValueSet/$expand, /ValueSet/{id}/$expand
GET|POST /ValueSet/$validate-code, /ValueSet/{id}/$validate-code
POST     /ValueSet/$batch-validate-code, /ValueSet/{id}/$batch-validate-code
"""

from __future__ import annotations

from flask import Blueprint

from terminology.api.http import fhir_response, operation_params, reject_get_of_batch, service
from terminology.api.response_cache import cacheable

bp = Blueprint("valueset", __name__)
METHODS = ["GET", "POST"]


@bp.route("/ValueSet/$expand", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$expand", methods=METHODS)
@cacheable
def expand_view(resource_id: str | None = None):
    """Expand a value set with filter, paging and designations."""
    return fhir_response(service().expand(operation_params(), resource_id))


@bp.route("/ValueSet/$validate-code", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$validate-code", methods=METHODS)
@cacheable
def validate_code_view(resource_id: str | None = None):
    """Say whether a code, Coding or CodeableConcept is in a value set."""
    return fhir_response(service().validate_code("ValueSet", operation_params(), resource_id))


@bp.route("/ValueSet/$batch-validate-code", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$batch-validate-code", methods=METHODS)
def batch_validate_code_view(resource_id: str | None = None):
    """Validate many codes against value sets in one request (repeated ``validation`` Parameters)."""
    reject_get_of_batch()
    return fhir_response(service().batch_validate("ValueSet", operation_params(), resource_id))
