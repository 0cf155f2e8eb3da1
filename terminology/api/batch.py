"""Batch Bundles of operation requests.

POST / (Bundle.type = batch → batch-response; transaction → 422, the service is read-only)
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from flask import Blueprint, current_app, request

from terminology.api.http import FHIR_JSON, base_url, fhir_response, json_body
from terminology.engine.issues import Issue
from terminology.errors import InvalidRequest, NotSupported, TooCostly
from terminology.fhir.outcome import operation_outcome

bp = Blueprint("batch", __name__)

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            406: "Not Acceptable", 413: "Payload Too Large", 415: "Unsupported Media Type",
            422: "Unprocessable Entity", 500: "Internal Server Error"}  # fmt: skip


def _entry_error(status: int, text: str, expression: str) -> dict:
    outcome = operation_outcome(
        [Issue("error", "invalid" if status == 400 else "not-supported", text, None, [expression])]
    )
    return {"response": {"status": f"{status} {_REASONS.get(status, '')}".strip(), "outcome": outcome}}


def _dispatch(method: str, url: str, resource: dict | None) -> tuple[int, dict]:
    """Run one entry's request through the app's routing and error handlers (no outer hooks).

    Authentication, logging and metrics apply to the batch request as a whole, so the entries
    are dispatched without the before/after-request hooks.
    """
    parts = urlsplit(url)
    path = "/" + parts.path.lstrip("/")
    body = orjson.dumps(resource) if resource is not None else None
    app = current_app._get_current_object()
    with app.test_request_context(
        path,
        method=method,
        query_string=parts.query,
        data=body,
        content_type=FHIR_JSON if body is not None else None,
        headers={"Accept-Language": request.headers.get("Accept-Language", "")},
    ):
        try:
            response = app.make_response(app.dispatch_request())
        except Exception as exc:  # the app's error handlers decide the response
            response = app.make_response(app.handle_user_exception(exc))
        return response.status_code, orjson.loads(response.get_data())


def _run_entry(index: int, entry: object) -> dict:
    here = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        return _entry_error(400, f"{here}.request is required in a batch", f"{here}.request")
    method = entry["request"].get("method")
    url = entry["request"].get("url")
    if isinstance(method, str) and method not in ("GET", "POST"):
        return _entry_error(
            405,
            f"{here}.request.method {method} is not allowed: the service is read-only",
            f"{here}.request.method",
        )
    # An entry may not target the batch endpoint itself: nested batches are not processed.
    if method is None or not isinstance(url, str) or not urlsplit(url).path.strip("/"):
        return _entry_error(
            400, f"{here}.request needs a GET or POST of an operation, read or search URL", f"{here}.request"
        )
    if urlsplit(url).scheme:
        # An absolute URL must point at this server; it is then run as the relative path.
        base = base_url()
        if not url.startswith(f"{base}/"):
            return _entry_error(
                400, f"{here}.request.url '{url}' is not on this server ({base})", f"{here}.request.url"
            )
        url = url[len(base) :]
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        return _entry_error(400, f"{here}.resource must be a FHIR resource", f"{here}.resource")
    status, body = _dispatch(method, url, resource if method == "POST" else None)
    reply: dict = {"response": {"status": f"{status} {_REASONS.get(status, '')}".strip()}}
    if status < 400:
        reply["resource"] = body
    else:
        reply["response"]["outcome"] = body
    return reply


@bp.route("/", methods=["POST"])
def batch_view():
    """Answer a batch Bundle with a batch-response Bundle: one entry per request, in order."""
    bundle = json_body()
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("POST / takes a FHIR Bundle of type batch", expression="resourceType")
    kind = bundle.get("type")
    if kind == "transaction":
        raise NotSupported(
            "Transactions are not supported: this terminology service is read-only. "
            "Send a Bundle of type 'batch' whose entries are operation requests",
            expression="Bundle.type",
        )
    if kind != "batch":
        raise InvalidRequest(f"Bundle.type must be 'batch', not '{kind}'", expression="Bundle.type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidRequest("Bundle.entry must be an array", expression="Bundle.entry")
    limit = current_app.config["BATCH_LIMIT"]
    if len(entries) > limit:
        raise TooCostly(f"{len(entries)} entries in one batch exceed the limit of {limit}")
    replies = [_run_entry(i, entry) for i, entry in enumerate(entries)]
    return fhir_response({"resourceType": "Bundle", "type": "batch-response", "entry": replies})
