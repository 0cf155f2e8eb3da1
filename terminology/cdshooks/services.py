"""CDS Hooks service definitions and request reading: hook, context, draftOrders, selections."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from terminology.bundling.model import Finding, Line
from terminology.engine import clock
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, HCPCS, LOINC
from terminology.errors import InvalidRequest, NotFound, TerminologyError
from terminology.fhir.bundling_mapping import OrderLine, service_request_line, validate_input

_SHARED = (
    "Checks the ServiceRequests in context.draftOrders (CPT-coded, or LOINC-coded and translated to their "
    "CPT charge code through the ConceptMap loinc-to-cpt-order-charge) against the CPT combined-code and "
    "not-reported-together instructions and the imported NCCI procedure-to-procedure and MUE edits for the "
    "order date (occurrence, else authoredOn, else today). Orders are judged per performer; orders without a "
    "performer are judged with the other orders of their encounter."
)


@dataclass(frozen=True, slots=True)
class Service:
    """One CDS Service: its id, hook, title and description (as listed by discovery)."""

    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict:
        """Return the discovery entry of the service."""
        return {"hook": self.hook, "id": self.id, "title": self.title, "description": self.description}


SERVICES = {
    service.id: service
    for service in (
        Service(
            "bundling-order-select",
            "order-select",
            "Spine imaging bundling check while selecting orders",
            f"{_SHARED} Cards concern the selected orders (context.selections), judged against all draft "
            "orders.",
        ),
        Service(
            "bundling-order-sign",
            "order-sign",
            "Spine imaging bundling check before signing orders",
            f"{_SHARED} Cards concern every draft order about to be signed.",
        ),
    )
}
_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_CHECKED_SYSTEMS = (CPT, HCPCS, LOINC)


class HookRequestError(InvalidRequest):
    """A CDS Hooks request the service cannot read (400, OperationOutcome naming the field)."""


@dataclass(slots=True)
class DraftOrder:
    """A checked ServiceRequest of draftOrders: its reference, resource and line (or unmapped finding)."""

    reference: str | None
    resource: dict
    order: OrderLine

    @property
    def number(self) -> int:
        """Return the line number the bundling findings use for this order."""
        line = self.order.line or self.order.unmapped.lines[0]  # type: ignore[union-attr]
        return line.number


@dataclass(slots=True)
class HookRequest:
    """A parsed CDS Hooks call: the service, the checked orders and the selected ones."""

    service: Service
    hook_instance: str
    orders: list[DraftOrder] = field(default_factory=list)
    selected: set[int] | None = None  # order numbers in focus (order-select); None = all
    maps_used: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[Line]:
        """Return the lines the bundling rules check."""
        return [o.order.line for o in self.orders if o.order.line is not None]

    @property
    def unmapped(self) -> list[Finding]:
        """Return the findings for LOINC orders with no charge code."""
        return [o.order.unmapped for o in self.orders if o.order.unmapped is not None]

    def by_number(self) -> dict[int, DraftOrder]:
        """Return the orders keyed by their line number."""
        return {o.number: o for o in self.orders}


def service(service_id: str) -> Service:
    """Return the service with this id; 404 otherwise."""
    found = SERVICES.get(service_id)
    if found is None:
        raise NotFound(f"No CDS Service '{service_id}' (see GET /cds-services)", tx_code=None)
    return found


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise HookRequestError(f"{path} is required and must be a non-empty string", expression=path)
    return value


def _codes_we_check(resource: dict) -> bool:
    codings = (resource.get("code") or {}).get("coding") if isinstance(resource.get("code"), dict) else None
    return isinstance(codings, list) and any(
        isinstance(c, dict) and c.get("system") in _CHECKED_SYSTEMS for c in codings
    )


def read_request(svc: Service, body: object, registry: Registry, today: str | None = None) -> HookRequest:
    """Read a CDS Hooks call for ``svc``: 400 naming the field for a wrong hook, context or Bundle.

    ServiceRequests with no CPT, HCPCS or LOINC coding (or no code yet, as at order-select) and other
    request types (MedicationRequest...) are not checked.
    """
    if not isinstance(body, dict):
        raise HookRequestError("The request body must be a JSON object", expression="$")
    hook = _string(body.get("hook"), "hook")
    if hook != svc.hook:
        raise HookRequestError(
            f"The service '{svc.id}' answers the hook '{svc.hook}', not '{hook}'", expression="hook"
        )
    instance = _string(body.get("hookInstance"), "hookInstance")
    context = body.get("context")
    if not isinstance(context, dict):
        raise HookRequestError("context is required and must be an object", expression="context")
    _string(context.get("userId"), "context.userId")
    _string(context.get("patientId"), "context.patientId")
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise HookRequestError(
            "context.draftOrders is required and must be a FHIR Bundle", expression="context.draftOrders"
        )
    try:
        validate_input(bundle, "context.draftOrders", ("Bundle",))
    except TerminologyError as exc:
        # A malformed Bundle is a bad CDS Hooks request: 400, naming the element inside draftOrders.
        where = [f"context.draftOrders.{e.removeprefix('Bundle.')}" for e in exc.expression or []]
        raise HookRequestError(f"context.draftOrders: {exc.message}", expression=where or None) from None
    request = HookRequest(svc, instance)
    day = today or clock.today().isoformat()
    present: set[str] = set()
    number = 0
    for i, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        reference = f"{resource['resourceType']}/{resource['id']}" if resource.get("id") else None
        if reference:
            present.add(reference)
        if resource.get("resourceType") != "ServiceRequest" or not _codes_we_check(resource):
            continue
        number += 1
        order = service_request_line(
            resource, f"context.draftOrders.entry[{i}].resource", number, day, registry
        )
        if order.order_map and order.order_map not in request.maps_used:
            request.maps_used.append(order.order_map)
        request.orders.append(DraftOrder(reference, resource, order))
    if svc.hook == "order-select":
        selections = context.get("selections")
        if not isinstance(selections, list) or not selections:
            raise HookRequestError(
                "context.selections is required for order-select (references into draftOrders)",
                expression="context.selections",
            )
        for k, selection in enumerate(selections):
            path = f"context.selections[{k}]"
            if not isinstance(selection, str) or not _REFERENCE.match(selection):
                raise HookRequestError(
                    f"{path} must be a reference like 'ServiceRequest/123'", expression=path
                )
            if selection not in present:
                raise HookRequestError(f"{path} '{selection}' is not in context.draftOrders", expression=path)
        chosen = set(selections)
        request.selected = {o.number for o in request.orders if o.reference in chosen}
    return request
