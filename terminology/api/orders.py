"""Order to charge: ServiceRequests to their CPT charge codes, with the bundling findings of the set.

POST /$order-to-charge
"""

from __future__ import annotations

from flask import Blueprint, current_app

from terminology.api.bundling_check import check_claim_lines
from terminology.api.http import fhir_response, json_body, registry
from terminology.bundling.model import CheckOptions
from terminology.engine.clock import today
from terminology.engine.systems import CPT, HCPCS, LOINC, OWN_BASE
from terminology.errors import InvalidRequest
from terminology.fhir.bundling_mapping import (
    ORDER_TO_CHARGE,
    BundlingInput,
    OrderLine,
    bundling_parameters,
    check_input,
    coding,
    requested_date,
    service_request_line,
    validate_input,
)
from terminology.fhir.input_limits import request_lines
from terminology.fhir.params import OperationParams

bp = Blueprint("orders", __name__)
ORDER_TO_CHARGE_OP = f"{OWN_BASE}/OperationDefinition/order-to-charge"


def _order_parameter(order: OrderLine, reference: str, path: str) -> dict:
    parts: list[dict] = [
        {"name": "order", "valueString": reference},
        {"name": "expression", "valueString": f"{path}.code"},
        {"name": "orderCode", "valueCoding": coding(order.order_system, order.order_code)},
    ]
    if order.order_system in (CPT, HCPCS):
        # Already a charge code: it is its own charge, no map involved.
        parts.append({"name": "mapped", "valueBoolean": True})
        parts.append({"name": "charge", "valueCoding": coding(order.order_system, order.order_code)})
    elif order.charges:
        parts.append({"name": "mapped", "valueBoolean": True})
        for target in order.charges:
            parts.append(
                {
                    "name": "charge",
                    "part": [
                        {
                            "name": "code",
                            "valueCoding": coding(
                                target.target_system, target.target_code, target.target_display
                            ),
                        },
                        {"name": "equivalence", "valueCode": target.equivalence},
                        {"name": "originMap", "valueCanonical": order.order_map},
                    ],
                }
            )
    else:
        parts.append({"name": "mapped", "valueBoolean": False})
        if order.order_map:
            parts.append({"name": "originMap", "valueCanonical": order.order_map})
        reason = (
            f"The LOINC order {order.order_code} has no CPT charge code in the order-to-charge ConceptMap"
            if order.order_system == LOINC
            else f"No order-to-charge map covers the code system '{order.order_system}' "
            f"(orders are mapped from LOINC; CPT and HCPCS orders are charge codes already)"
        )
        parts.append({"name": "message", "valueString": reason})
    if order.line is not None:
        parts.append({"name": "line", "valueInteger": order.line.number})
    return {"name": "order", "part": parts}


def _orders(resource: dict, path: str) -> list[tuple[dict, str, str]]:
    """Return (ServiceRequest, reference, FHIRPath) for each order of the input."""
    if resource["resourceType"] == "ServiceRequest":
        found = [(resource, path)]
    else:
        found = [
            (entry["resource"], f"{path}.entry[{i}].resource")
            for i, entry in enumerate(resource.get("entry", []))
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            and entry["resource"].get("resourceType") == "ServiceRequest"
        ]  # fmt: skip
        if not found:
            raise InvalidRequest("The Bundle holds no ServiceRequest", expression=f"{path}.entry")
    out = []
    for order, here in found:
        if order.get("code") is None:
            raise InvalidRequest(f"{here}.code is required to find a charge", expression=f"{here}.code")
        reference = f"ServiceRequest/{order['id']}" if order.get("id") else here
        out.append((order, reference, here))
    return out


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
    default = requested_date(params) or today().isoformat()
    out: list[dict] = []
    lines, unmapped, maps = [], [], []
    for number, (order, reference, here) in enumerate(_orders(resource, resource["resourceType"]), 1):
        read = service_request_line(order, here, number, default, registry())
        out.append(_order_parameter(read, reference, here))
        if read.line is not None:
            lines.append(read.line)
        if read.unmapped is not None:
            unmapped.append(read.unmapped)
        if read.order_map and read.order_map not in maps:
            maps.append(read.order_map)
    parsed = BundlingInput(lines, CheckOptions(), maps, unmapped)
    result = check_input(current_app.extensions["terminology.bundling"], parsed)
    bundling = bundling_parameters(result, maps)
    return fhir_response({"resourceType": "Parameters", "parameter": [*out, *bundling["parameter"]]})


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


__all__ = ["ORDER_TO_CHARGE", "bp", "init_app"]
