"""OperationOutcome as plain dicts: from engine issues, domain errors and HTTP error statuses."""

from __future__ import annotations

from http import HTTPStatus

from terminology.engine.issues import Issue

# The FHIR issue code of an error status answered without a domain error to word it: Werkzeug's
# routing and protocol errors, and the pages gunicorn answers itself.
STATUS_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    408: "timeout",
    413: "too-long",
    414: "too-long",
    415: "not-supported",
    417: "not-supported",
    429: "throttled",
    431: "too-long",
    500: "exception",
    501: "not-supported",
    503: "timeout",
}
# What an unexpected error says to the caller: never the exception, which may name a file.
SERVER_ERROR_TEXT = "An internal error occurred; it has been logged"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def operation_outcome(issues: list[Issue]) -> dict:
    """Build an OperationOutcome resource from issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def error_outcome(error) -> dict:
    """Render a TerminologyError as an OperationOutcome with one error issue."""
    return operation_outcome(
        [Issue("error", error.issue_code, error.message, error.tx_code, error.expression)]
    )


def status_outcome(status: int, text: str) -> dict:
    """Build the OperationOutcome of an error status that no domain error words (one error issue)."""
    return operation_outcome([Issue("error", STATUS_ISSUE_CODES.get(status, "processing"), text)])


def status_phrase(status: int) -> str:
    """Return the standard reason phrase of an HTTP status ("" for a status without one)."""
    return _PHRASES.get(status, "")
