"""Order to charge: ServiceRequests to their CPT charge codes, with the bundling findings of the set.

POST /$order-to-charge
"""

from __future__ import annotations

from flask import Blueprint, current_app

from terminology.api.bundling_check import check_claim_lines
from terminology.api.http import fhir_response, json_body, registry
from terminology.engine.clock import today
from terminology.engine.systems import OWN_BASE
from terminology.errors import InvalidRequest
from terminology.fhir.bundling_mapping import (
    bundling_parameters,
    check_input,
    requested_date,
    validate_input,
)
from terminology.fhir.input_limits import request_lines
from terminology.fhir.orders import orders_input
from terminology.fhir.params import OperationParams

bp = Blueprint("orders", __name__)
ORDER_TO_CHARGE_OP = f"{OWN_BASE}/OperationDefinition/order-to-charge"


@bp.route("/$order-to-charge", methods=["POST"])
def order_to_charge_view():
    """Map each order to its charge code(s) and run the bundling rules on the resulting charges."""
    body = json_body()
    check_claim_lines(request_lines(body))
    params = OperationParams.from_body(body, ("ServiceRequest", "Bundle"))
    found = params.resource("resource")
    if found is None:
        raise InvalidRequest(
            "Send a ServiceRequest or a Bundle of them (body, or the 'resource' parameter)",
            expression="Parameters.parameter",
        )
    resource = found.value
    assert isinstance(resource, dict)
    validate_input(resource, found.path, ("ServiceRequest", "Bundle"))
    # Orders without occurrence or authoredOn are charged as of the 'date' parameter, else today.
    default_date = requested_date(params) or today().isoformat()
    orders, parsed = orders_input(resource, default_date, registry())
    result = check_input(current_app.extensions["terminology.bundling"], parsed)
    bundling = bundling_parameters(result, parsed.maps_used)
    return fhir_response({"resourceType": "Parameters", "parameter": [*orders, *bundling["parameter"]]})


def contribute_capability(statement: dict) -> None:
    """List $order-to-charge in the CapabilityStatement."""
    statement["rest"][0].setdefault("operation", []).append(
        {"name": "order-to-charge", "definition": ORDER_TO_CHARGE_OP}
    )


def init_app(app) -> None:
    """Register the route and its CapabilityStatement entry."""
    from terminology.api.metadata import add_capability

    add_capability(app, contribute_capability)
    app.register_blueprint(bp)


__all__ = ["bp", "init_app"]
