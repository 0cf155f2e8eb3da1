"""ConceptMap operations: $translate.

GET|POST /ConceptMap/$translate, /ConceptMap/{id}/$translate
"""

from __future__ import annotations

from flask import Blueprint

from terminology.api.http import fhir_response, operation_params, service

bp = Blueprint("conceptmap", __name__)
METHODS = ["GET", "POST"]


@bp.route("/ConceptMap/$translate", methods=METHODS)
@bp.route("/ConceptMap/<resource_id>/$translate", methods=METHODS)
def translate_view(resource_id: str | None = None):
    """Translate a code through one concept map, or every map whose source matches."""
    return fhir_response(service().translate(operation_params(), resource_id))
