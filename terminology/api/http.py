"""Shared HTTP plumbing: content negotiation, request bodies, FHIR JSON responses."""

from __future__ import annotations

from functools import lru_cache

import orjson
from flask import Flask, Request, Response, current_app, request
from werkzeug.exceptions import HTTPException

from terminology.engine.registry import Registry
from terminology.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from terminology.fhir.input_limits import check_json_depth
from terminology.fhir.operation_inputs import ACCEPT_LANGUAGE
from terminology.fhir.params import OperationParams
from terminology.service.operations import TerminologyService

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
# Media ranges of an Accept header we answer, and the Content-Type each gets (FHIR JSON, or plain
# JSON for a client that asked for plain JSON by name).
_ANSWERS = {
    "application/fhir+json": FHIR_JSON,
    "application/json+fhir": FHIR_JSON,  # the DSTU2 name, still sent by older clients
    "application/json": "application/json",
    "application/*": FHIR_JSON,
    "*/*": FHIR_JSON,
}


# Per request, Flask's context proxies (request, current_app) are reached once through
# _get_current_object(): every attribute read through a proxy costs about 5,000 instructions.


def registry() -> Registry:
    """Return the registry loaded at start-up."""
    return current_app._get_current_object().extensions["terminology.registry"]


def service() -> TerminologyService:
    """Return the app's terminology service (the operations and their answer cache)."""
    return current_app._get_current_object().extensions["terminology.service"]


def base_url() -> str:
    """Return the public base URL of the service (configured, or taken from the request)."""
    return current_app.config["BASE_URL"] or request.host_url.rstrip("/")


# Per-request values kept in the WSGI environ: cheaper to reach than flask.g through its proxy.
MIMETYPE_KEY = "terminology.mimetype"


def negotiate() -> str:
    """Pick the response media type from ``_format`` and ``Accept``; 406 for anything but JSON."""
    req = request._get_current_object()
    args = req.args
    # Membership first: MultiDict.get builds an exception object for every missing key.
    if "_format" in args:
        wanted = args["_format"]
        if wanted.split(";")[0].strip().lower() not in _JSON_FORMATS:
            raise NotAcceptable(f"_format '{wanted}' is not supported; this server speaks FHIR JSON only")
        return FHIR_JSON
    accept = req.environ.get("HTTP_ACCEPT")
    if not accept:
        return FHIR_JSON
    best = accepted_media_type(accept)
    if best is None:
        raise NotAcceptable(f"Cannot produce any of '{accept}'; this server speaks FHIR JSON only")
    return best


@lru_cache(maxsize=256)
def accepted_media_type(accept: str) -> str | None:
    """Return the media type to answer an Accept header with, or None when it allows no JSON we speak.

    Parameters of a media range are honoured as FHIR clients send them: ``q`` weighs it,
    ``fhirVersion`` must name R4 (4.0), and any other (``charset=utf-8``...) does not stop a match:
    we always answer UTF-8. Of equal weights, the first range sent wins. (Clients send a handful of
    distinct headers, so each is parsed once per worker.)
    """
    best, best_q = None, 0.0
    for item in accept.split(","):
        media, *parameters = item.split(";")
        answer = _ANSWERS.get(media.strip().lower())
        if answer is None:
            continue
        q = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key == "fhirversion" and not value.startswith("4.0"):
                q = 0.0
        if q > best_q:
            best, best_q = answer, q
    return best


def fhir_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    """Serialise a resource with orjson as FHIR JSON (``_pretty=true`` indents it)."""
    req = request._get_current_object()
    args = req.args
    option = orjson.OPT_INDENT_2 if "_pretty" in args and args["_pretty"] == "true" else 0
    # Error responses (including 406 itself) fall back to FHIR JSON.
    mimetype = req.environ.get(MIMETYPE_KEY, FHIR_JSON)
    response = Response(
        orjson.dumps(payload, option=option), status=status, headers=headers,
        content_type=f"{mimetype}; charset=utf-8",
    )  # fmt: skip
    return response


def json_body() -> object:
    """Parse the request body as JSON; 415 for other media types, 400 for malformed JSON."""
    return parse_json(json_body_bytes())


def parse_json(raw: bytes) -> object:
    """Parse a request body read by json_body_bytes(); 400 for malformed or too deeply nested JSON."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    check_json_depth(document, raw, current_app._get_current_object().config["MAX_JSON_DEPTH"])
    return document


def json_body_bytes() -> bytes:
    """Return the request body of a JSON request as sent; 415 for other media types, 400 if empty."""
    req = request._get_current_object()
    # The usual Content-Type headers are taken as they are; anything else is parsed by Werkzeug.
    if req.environ.get("CONTENT_TYPE") not in _USUAL_JSON_HEADERS and req.mimetype not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{req.content_type or ''}' is not supported; send application/fhir+json"
        )
    raw = _body_bytes(req)
    if not raw:
        raise InvalidRequest("The request body is empty")
    return raw


_USUAL_JSON_HEADERS = frozenset(
    [
        *_JSON_TYPES,
        *(f"{media}; charset=utf-8" for media in _JSON_TYPES),
        *(f"{media};charset=utf-8" for media in _JSON_TYPES),
    ]
)


def _body_bytes(req: Request) -> bytes:
    """Read the whole request body (413 above MAX_CONTENT_LENGTH, through Werkzeug)."""
    length = req.content_length
    limit = req.max_content_length
    if length is None:
        # A chunked body: Werkzeug's stream stops at the limit, and anything left past it is too much.
        try:
            raw = req.get_data(cache=False)
            too_large = limit is not None and len(raw) >= limit and req.environ["wsgi.input"].read(1)
        except HTTPException:
            raise
        except Exception as exc:
            # The server's chunked reader refused the body (a bad chunk size, a missing CRLF...) or the
            # client went away: the caller's mistake, not ours. Each server raises its own types.
            raise InvalidRequest(f"The request body cannot be read: {str(exc)[:200]}") from None
        if too_large:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
        return raw
    if limit is not None and length > limit:
        return req.get_data(cache=False)  # Werkzeug answers 413
    # A body with its length declared may be read straight from the server: Werkzeug's stream
    # would read it through a fresh 64 KiB buffer, which costs more than the rest of a small POST.
    try:
        raw = req.environ["wsgi.input"].read(length)
    except (OSError, ValueError):
        raw = b""
    if len(raw) != length:
        raise InvalidRequest(
            f"The request body ended after {len(raw)} of the {length} bytes its Content-Length declares"
        )
    return raw


def reject_get_of_batch() -> None:
    """Refuse GET on $batch-validate-code with 405 (its items are nested resources: POST only)."""
    if request._get_current_object().method != "POST":
        raise MethodNotAllowed("$batch-validate-code takes POST with a Parameters body")


def operation_params() -> OperationParams:
    """Read an operation's parameters from the query string (GET) or the body (POST).

    An ``Accept-Language`` header travels with them: it picks the display language when the
    request has no ``displayLanguage``.
    """
    req = request._get_current_object()
    if req.method == "GET":
        params = OperationParams.from_query(req.args.items(multi=True))
    elif req.mimetype == "application/x-www-form-urlencoded":
        params = OperationParams.from_query(req.form.items(multi=True))
    elif not req.content_length and not req.mimetype:
        # A body-less POST carries its parameters in the query string.
        params = OperationParams.from_query(req.args.items(multi=True))
    else:
        params = OperationParams.from_parameters(json_body())
    language = req.environ.get("HTTP_ACCEPT_LANGUAGE")
    if language:
        params = params.with_defaults(OperationParams.from_query([(ACCEPT_LANGUAGE, language)]))
    return params


# app.extensions key of the names of the app's blueprints that speak FHIR (health and metrics
# routes negotiate on their own).
FHIR_BLUEPRINTS_KEY = "terminology.fhir_blueprints"


def fhir_blueprints() -> frozenset[str]:
    """Return the names of this app's blueprints that speak FHIR."""
    return current_app.extensions[FHIR_BLUEPRINTS_KEY]


def options_response() -> Response | None:
    """Answer OPTIONS on a route: 204 with the methods it allows (``Allow``), no body.

    A CORS preflight from an allowed origin has been answered before this (api.cors); an unknown
    path goes on to the 404 OperationOutcome.
    """
    req = request._get_current_object()
    if req.method != "OPTIONS" or req.routing_exception is not None or req.url_rule is None:
        return None
    response = Response(status=204)
    del response.headers["Content-Type"]  # no body, so no media type (not an empty text/html page)
    response.headers["Allow"] = ", ".join(sorted(req.url_rule.methods or ()))
    return response


def init_app(app: Flask, fhir_blueprint_names: list[str]) -> None:
    """Negotiate the response format before every FHIR request (406 for non-JSON); answer OPTIONS."""
    names = app.extensions[FHIR_BLUEPRINTS_KEY] = frozenset(fhir_blueprint_names)

    def negotiate_before_request() -> Response | None:
        req = request._get_current_object()
        if req.environ["REQUEST_METHOD"] == "OPTIONS":
            return options_response()
        if req.blueprint in names:
            req.environ[MIMETYPE_KEY] = negotiate()
        return None

    app.before_request(negotiate_before_request)
