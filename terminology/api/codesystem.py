"""CodeSystem operations.

GET|POST /CodeSystem/$lookup, /CodeSystem/{id}/$lookup
GET|POST /CodeSystem/$validate-code, /CodeSystem/{id}/$validate-code
"""

from __future__ import annotations

from flask import Blueprint

from terminology.api.http import fhir_response, operation_params, registry
from terminology.engine.lookup import lookup
from terminology.engine.validate import validate_codings_in_code_system, validate_in_code_system
from terminology.fhir.render import lookup_parameters, validation_parameters
from terminology.fhir.requests import code_system_validate_input, lookup_input

bp = Blueprint("codesystem", __name__)
METHODS = ["GET", "POST"]


def _instance(resource_id: str | None):
    return registry().read("CodeSystem", resource_id) if resource_id else None


@bp.route("/CodeSystem/$lookup", methods=METHODS)
@bp.route("/CodeSystem/<resource_id>/$lookup", methods=METHODS)
def lookup_view(resource_id: str | None = None):
    """Look up a code: display, designations and properties (404 for unknown codes)."""
    request = lookup_input(operation_params(), _instance(resource_id))
    result = lookup(
        registry(), request.system, request.code, request.version, request.properties, request.date
    )
    return fhir_response(lookup_parameters(result))


@bp.route("/CodeSystem/$validate-code", methods=METHODS)
@bp.route("/CodeSystem/<resource_id>/$validate-code", methods=METHODS)
def validate_code_view(resource_id: str | None = None):
    """Validate a code, Coding or CodeableConcept against its code system."""
    request = code_system_validate_input(operation_params(), _instance(resource_id))
    if request.codeable_concept is not None:
        result = validate_codings_in_code_system(
            registry(), request.codings, request.options, request.codeable_concept
        )
    else:
        result = validate_in_code_system(registry(), request.codings[0], request.options)
    return fhir_response(validation_parameters(result))
