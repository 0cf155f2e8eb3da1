"""Batch Bundles of operation requests.

POST / (Bundle.type = batch → batch-response; transaction → 422, the service is read-only)
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson
from flask import Blueprint, current_app, request

from terminology.api.http import FHIR_JSON, base_url, fhir_blueprints, fhir_response, json_body
from terminology.engine.issues import Issue
from terminology.engine.patterns import request_allowance
from terminology.errors import InvalidRequest, NotSupported, TooCostly
from terminology.fhir.input_limits import request_work
from terminology.fhir.outcome import operation_outcome, status_phrase
from terminology.ops.access import access_policy, normal_path

bp = Blueprint("batch", __name__)
_JSON_MEDIA_TYPES = frozenset({FHIR_JSON, "application/json"})


def _entry_error(status: int, text: str, expression: str) -> dict:
    outcome = operation_outcome(
        [Issue("error", "invalid" if status == 400 else "not-supported", text, None, [expression])]
    )
    return {"response": {"status": f"{status} {status_phrase(status)}".strip(), "outcome": outcome}}


def _dispatch(
    method: str, path: str, query: str, resource: dict | None
) -> tuple[int, dict | orjson.Fragment]:
    """Run one entry's request through the access rule, the app's routing and its error handlers.

    The entry is judged by the same ``authorize`` as a direct call, with the batch's own
    ``Authorization`` header: an entry can reach nothing its caller could not reach directly.
    Logging and metrics count the batch request as a whole, so the other before/after-request
    hooks do not run per entry.
    """
    outer = request._get_current_object()
    body = orjson.dumps(resource) if resource is not None else None
    headers = {"Accept-Language": outer.headers.get("Accept-Language", "")}
    if "Authorization" in outer.headers:
        headers["Authorization"] = outer.headers["Authorization"]
    app = current_app._get_current_object()
    with app.test_request_context(
        path,
        base_url=outer.url_root,  # the same scheme, host and script root as the batch itself
        method=method,
        query_string=query,
        data=body,
        content_type=FHIR_JSON if body is not None else None,
        headers=headers,
    ):
        entry_request = request._get_current_object()
        try:
            access_policy(app).authorize(entry_request.environ)
            if entry_request.url_rule is not None and entry_request.blueprint not in _batch_blueprints():
                raise InvalidRequest(
                    f"{method} {path} is not a FHIR or CDS Hooks interaction: call it directly, "
                    "not in a batch"
                )
            response = app.make_response(app.dispatch_request())
        except Exception as exc:  # the app's error handlers decide the response
            response = app.make_response(app.handle_user_exception(exc))
        status = response.status_code
        if response.mimetype not in _JSON_MEDIA_TYPES:
            # Not JSON (a routing redirect, say): the entry cannot carry it.
            text = f"{method} {path} answered {status} without a FHIR resource"
            return 400, operation_outcome([Issue("error", "not-supported", text)])
        # The entry's answer goes into the batch-response as the bytes it was rendered to: parsing
        # it back only to serialise it again would double the work and the memory of large answers.
        return status, orjson.Fragment(response.get_data())


def _batch_blueprints() -> frozenset[str]:
    return frozenset({*fhir_blueprints(), "cdshooks"})


def _run_entry(index: int, entry: object) -> dict:
    here = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        return _entry_error(400, f"{here}.request is required in a batch", f"{here}.request")
    method = entry["request"].get("method")
    url = entry["request"].get("url")
    if not isinstance(method, str):
        return _entry_error(400, f"{here}.request.method must be GET or POST", f"{here}.request.method")
    if method not in ("GET", "POST"):
        return _entry_error(
            405,
            f"{here}.request.method {method} is not allowed: the service is read-only",
            f"{here}.request.method",
        )
    if not isinstance(url, str):
        return _entry_error(400, f"{here}.request.url must be a string", f"{here}.request.url")
    try:
        absolute = bool(urlsplit(url).scheme)
    except ValueError as exc:
        return _entry_error(400, f"{here}.request.url '{url}' is not a URL: {exc}", f"{here}.request.url")
    if absolute:
        # An absolute URL must point at this server; it is then run as the relative path.
        base = base_url()
        if not url.startswith(f"{base}/"):
            return _entry_error(
                400, f"{here}.request.url '{url}' is not on this server ({base})", f"{here}.request.url"
            )
        url = url[len(base) :]
    # The rest is a path and a query, whatever it starts with ('//x' is a path here, not a host).
    target, _, query = url.partition("#")[0].partition("?")
    path = normal_path("/" + target)
    # An entry may not target the batch endpoint itself: nested batches are not processed.
    if path == "/":
        return _entry_error(
            400, f"{here}.request needs a GET or POST of an operation, read or search URL", f"{here}.request"
        )
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        return _entry_error(400, f"{here}.resource must be a FHIR resource", f"{here}.resource")
    status, body = _dispatch(method, path, query, resource if method == "POST" else None)
    reply: dict = {"response": {"status": f"{status} {status_phrase(status)}".strip()}}
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
    # The work of the whole batch is counted before any of it runs: no half-done batch.
    work = sum(1 + request_work(entry.get("resource")) for entry in entries if isinstance(entry, dict))
    budget = current_app.config["BATCH_WORK_LIMIT"]
    if work > budget:
        raise TooCostly(
            f"The batch asks for {work} units of work (one per entry, claim line and validation); this "
            f"server does at most {budget} per batch (TERMINOLOGY_BATCH_WORK_LIMIT): split it",
            expression="Bundle.entry",
        )
    # The entries are one request: their regex filters share TERMINOLOGY_REGEX_MAX_CODES.
    with request_allowance():
        replies = [_run_entry(i, entry) for i, entry in enumerate(entries)]
    return fhir_response({"resourceType": "Bundle", "type": "batch-response", "entry": replies})
