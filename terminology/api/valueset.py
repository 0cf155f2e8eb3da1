"""ValueSet operations.

GET|POST /ValueSet/$expand, /ValueSet/{id}/$expand
GET|POST /ValueSet/$validate-code, /ValueSet/{id}/$validate-code
POST     /ValueSet/$batch-validate-code, /ValueSet/{id}/$batch-validate-code
"""

from __future__ import annotations

from flask import Blueprint, current_app

from terminology.api.http import fhir_response, operation_params, registry, reject_get_of_batch, results
from terminology.api.response_cache import cacheable
from terminology.engine.expand import expand
from terminology.fhir.operation_inputs import expand_input
from terminology.fhir.operations import batch_validate, value_set_validate
from terminology.fhir.render import expansion_value_set

bp = Blueprint("valueset", __name__)
METHODS = ["GET", "POST"]


def _instance(resource_id: str | None):
    return registry().read("ValueSet", resource_id) if resource_id else None


@bp.route("/ValueSet/$expand", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$expand", methods=METHODS)
@cacheable
def expand_view(resource_id: str | None = None):
    """Expand a value set with filter, paging and designations."""
    value_set, options, echoed = expand_input(operation_params(), registry(), _instance(resource_id))
    expansion = expand(registry(), value_set, options, current_app.config["EXPANSION_LIMIT"])
    return fhir_response(expansion_value_set(expansion, echoed))


@bp.route("/ValueSet/$validate-code", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$validate-code", methods=METHODS)
@cacheable
def validate_code_view(resource_id: str | None = None):
    """Say whether a code, Coding or CodeableConcept is in a value set."""
    return fhir_response(
        value_set_validate(registry(), operation_params(), _instance(resource_id), results())
    )


@bp.route("/ValueSet/$batch-validate-code", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$batch-validate-code", methods=METHODS)
def batch_validate_code_view(resource_id: str | None = None):
    """Validate many codes against value sets in one request (repeated ``validation`` Parameters)."""
    reject_get_of_batch()
    limit = current_app.config["BATCH_LIMIT"]
    instance = _instance(resource_id)
    return fhir_response(
        batch_validate(registry(), operation_params(), value_set_validate, instance, limit, results())
    )
