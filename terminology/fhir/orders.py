"""`$order-to-charge` mapping: ServiceRequests (alone or in a Bundle) to lines; charges to Parameters."""

from __future__ import annotations

from terminology.bundling.model import CheckOptions
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, HCPCS, LOINC
from terminology.errors import InvalidRequest
from terminology.fhir.bundling_mapping import BundlingInput, OrderLine, coding, service_request_line


def order_parameter(order: OrderLine, reference: str, path: str) -> dict:
    """Render one order's ``order`` parameter: its code, whether it maps, its charge code(s) or why not."""
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


def read_orders(resource: dict, path: str) -> list[tuple[dict, str, str]]:
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


def orders_input(resource: dict, default_date: str, registry: Registry) -> tuple[list[dict], BundlingInput]:
    """Read every order: its ``order`` parameters, and the charge lines (with unmapped orders) to check.

    :param default_date: the date of orders without occurrence or authoredOn.
    """
    parameters: list[dict] = []
    lines, unmapped, maps = [], [], []
    for number, (order, reference, here) in enumerate(read_orders(resource, resource["resourceType"]), 1):
        read = service_request_line(order, here, number, default_date, registry)
        parameters.append(order_parameter(read, reference, here))
        if read.line is not None:
            lines.append(read.line)
        if read.unmapped is not None:
            unmapped.append(read.unmapped)
        if read.order_map and read.order_map not in maps:
            maps.append(read.order_map)
    return parameters, BundlingInput(lines, CheckOptions(), maps, unmapped)
