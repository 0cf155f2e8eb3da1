"""ValueSet operations.

GET|POST /ValueSet/$expand, /ValueSet/{id}/$expand
GET|POST /ValueSet/$validate-code, /ValueSet/{id}/$validate-code
"""

from __future__ import annotations

from flask import Blueprint, current_app

from terminology.api.http import fhir_response, operation_params, registry
from terminology.engine.expand import expand
from terminology.engine.validate import validate_in_value_set
from terminology.fhir.render import expansion_value_set, validation_parameters
from terminology.fhir.requests import expand_input, value_set_validate_input

bp = Blueprint("valueset", __name__)
METHODS = ["GET", "POST"]


def _instance(resource_id: str | None):
    return registry().read("ValueSet", resource_id) if resource_id else None


@bp.route("/ValueSet/$expand", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$expand", methods=METHODS)
def expand_view(resource_id: str | None = None):
    """Expand a value set with filter, paging and designations."""
    value_set, options, echoed = expand_input(operation_params(), registry(), _instance(resource_id))
    expansion = expand(registry(), value_set, options, current_app.config["EXPANSION_LIMIT"])
    return fhir_response(expansion_value_set(expansion, echoed))


@bp.route("/ValueSet/$validate-code", methods=METHODS)
@bp.route("/ValueSet/<resource_id>/$validate-code", methods=METHODS)
def validate_code_view(resource_id: str | None = None):
    """Say whether a code, Coding or CodeableConcept is in a value set."""
    request = value_set_validate_input(operation_params(), registry(), _instance(resource_id))
    result = validate_in_value_set(
        registry(),
        request.value_set,
        request.codings,
        request.options,
        request.codeable_concept,
        request.system_versions,
    )
    return fhir_response(validation_parameters(result))
