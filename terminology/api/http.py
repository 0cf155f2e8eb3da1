"""Shared HTTP plumbing: content negotiation, request bodies, FHIR JSON responses."""

from __future__ import annotations

import orjson
from flask import Flask, Response, current_app, g, request

from terminology.engine.registry import Registry
from terminology.errors import InvalidRequest, MethodNotAllowed, NotAcceptable, UnsupportedMediaType
from terminology.fhir.params import OperationParams

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
_OFFERED = [FHIR_JSON, "application/json"]


def registry() -> Registry:
    """Return the registry loaded at start-up."""
    return current_app.extensions["terminology.registry"]


def base_url() -> str:
    """Return the public base URL of the service (configured, or taken from the request)."""
    return current_app.config["BASE_URL"] or request.host_url.rstrip("/")


def negotiate() -> str:
    """Pick the response media type from ``_format`` and ``Accept``; 406 for anything but JSON."""
    wanted = request.args.get("_format")
    if wanted is not None:
        if wanted.split(";")[0].strip().lower() not in _JSON_FORMATS:
            raise NotAcceptable(f"_format '{wanted}' is not supported; this server speaks FHIR JSON only")
        return FHIR_JSON
    accept = request.headers.get("Accept")
    if not accept:
        return FHIR_JSON
    best = request.accept_mimetypes.best_match(_OFFERED)
    if best is None:
        raise NotAcceptable(f"Cannot produce any of '{accept}'; this server speaks FHIR JSON only")
    return best


def fhir_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    """Serialise a resource with orjson as FHIR JSON (``_pretty=true`` indents it)."""
    option = orjson.OPT_INDENT_2 if request.args.get("_pretty") == "true" else 0
    # Error responses (including 406 itself) fall back to FHIR JSON.
    mimetype = g.get("mimetype", FHIR_JSON)
    response = Response(orjson.dumps(payload, option=option), status=status, headers=headers)
    response.headers["Content-Type"] = f"{mimetype}; charset=utf-8"
    return response


def json_body() -> object:
    """Parse the request body as JSON; 415 for other media types, 400 for malformed JSON."""
    mimetype = request.mimetype
    if mimetype not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{request.content_type or ''}' is not supported; send application/fhir+json"
        )
    raw = request.get_data(cache=False)
    if not raw:
        raise InvalidRequest("The request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None


def reject_get_of_batch() -> None:
    """Refuse GET on $batch-validate-code with 405 (its items are nested resources: POST only)."""
    if request.method != "POST":
        raise MethodNotAllowed("$batch-validate-code takes POST with a Parameters body")


def operation_params() -> OperationParams:
    """Read an operation's parameters from the query string (GET) or the body (POST)."""
    if request.method == "GET":
        return OperationParams.from_query(request.args.items(multi=True))
    if request.mimetype == "application/x-www-form-urlencoded":
        return OperationParams.from_query(request.form.items(multi=True))
    if not request.content_length and not request.mimetype:
        # A body-less POST carries its parameters in the query string.
        return OperationParams.from_query(request.args.items(multi=True))
    return OperationParams.from_parameters(json_body())


# Blueprints that speak FHIR; health and metrics routes negotiate on their own.
FHIR_BLUEPRINTS: set[str] = set()


def _negotiate_before_request() -> None:
    if request.blueprint in FHIR_BLUEPRINTS:
        g.mimetype = negotiate()


def init_app(app: Flask, fhir_blueprints: list[str]) -> None:
    """Negotiate the response format before every FHIR request (406 for non-JSON)."""
    FHIR_BLUEPRINTS.update(fhir_blueprints)
    app.before_request(_negotiate_before_request)
