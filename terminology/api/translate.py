"""ConceptMap operations.

GET|POST /ConceptMap/$translate, /ConceptMap/{id}/$translate
"""

from __future__ import annotations

from flask import Blueprint

from terminology.api.http import fhir_response, operation_params, registry
from terminology.engine.translate import translate
from terminology.fhir.operation_inputs import translate_input
from terminology.fhir.render import translate_parameters

bp = Blueprint("conceptmap", __name__)
METHODS = ["GET", "POST"]


@bp.route("/ConceptMap/$translate", methods=METHODS)
@bp.route("/ConceptMap/<resource_id>/$translate", methods=METHODS)
def translate_view(resource_id: str | None = None):
    """Translate a code through one concept map, or every map whose source matches."""
    instance = registry().read("ConceptMap", resource_id) if resource_id else None
    request, asked = translate_input(operation_params(), instance)
    matches = translate(registry(), request, instance)
    return fhir_response(translate_parameters(matches, request.reverse, asked))
