"""The one error handler: every failure becomes a FHIR OperationOutcome, never HTML."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from terminology.api.http import fhir_response
from terminology.errors import TerminologyError
from terminology.fhir.outcome import SERVER_ERROR_TEXT, error_outcome, status_outcome

log = logging.getLogger(__name__)


def _http_message(error: HTTPException) -> str:
    if error.code == 404:
        return f"No resource or operation is served at {request.method} {request.path}"
    if error.code == 405:
        allowed = ", ".join(sorted(error.valid_methods or []))
        return (
            f"Method {request.method} is not allowed on {request.path} (allowed: {allowed}); "
            "the service is read-only"
        )
    if error.code == 413:
        return "The request body is larger than this server accepts"
    return error.description or error.name


def handle_terminology_error(error: TerminologyError):
    """Render a domain error with its own status, issue code and headers (e.g. a Bearer challenge)."""
    return fhir_response(error_outcome(error), error.status, error.headers())


def handle_http_exception(error: HTTPException):
    """Render Werkzeug's routing and protocol errors (404, 405, 413…) as OperationOutcomes."""
    status = error.code or 500
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return fhir_response(status_outcome(status, _http_message(error)), status, headers)


def handle_unexpected(error: Exception):
    """Log the traceback and answer 500 with an OperationOutcome that leaks nothing."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return fhir_response(status_outcome(500, SERVER_ERROR_TEXT), 500)


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(TerminologyError, handle_terminology_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
