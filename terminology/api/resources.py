"""Read and search of the published resources.

GET /CodeSystem, /ValueSet, /ConceptMap (search by url, version, name, title, status, _id; _summary, _count)
GET /CodeSystem/{id}, /ValueSet/{id}, /ConceptMap/{id} (read)
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, request

from terminology.api.http import base_url, fhir_response, registry
from terminology.engine.registry import RESOURCE_TYPES
from terminology.errors import InvalidRequest
from terminology.fhir.render import search_bundle, summarised

bp = Blueprint("resources", __name__)

_DEFAULT_COUNT = 50
_MAX_COUNT = 1000


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):  # isdigit alone lets '²' through to int()
        raise InvalidRequest(f"{name} must be a non-negative integer, not '{raw}'", expression=name)
    digits = raw.lstrip("0") or "0"
    # More digits than any maximum: no need to convert (int() refuses thousands of digits).
    return maximum if len(digits) > len(str(maximum)) else min(int(digits), maximum)


# Search parameters, with the modifiers each takes ("" is none); result parameters; and the
# parameters that only shape the response (not search parameters: never in the self link).
_SEARCH_PARAMETERS = {
    "url": {""}, "version": {""}, "status": {""}, "_id": {""},
    "name": {"", "exact", "contains"}, "title": {"", "exact", "contains"},
}  # fmt: skip
_RESULT_PARAMETERS = frozenset({"_summary", "_count", "_offset"})
_FORMAT_PARAMETERS = frozenset({"_format", "_pretty"})


def _strict_handling() -> bool:
    """Say whether the client asked for strict search handling (``Prefer: handling=strict``)."""
    prefer = request.headers.get("Prefer", "")
    return any(p.strip().replace(" ", "").lower() == "handling=strict" for p in prefer.split(";"))


def _used_parameters() -> list[tuple[str, str]]:
    """Return the query parameters this search uses, in order; unknown ones are left out.

    FHIR search ignores a parameter it does not know unless the client sends ``Prefer:
    handling=strict``, which makes it a 400 naming the parameter.
    """
    strict = _strict_handling()
    used = []
    for key, value in request.args.items(multi=True):
        name, _, modifier = key.partition(":")
        if name in _FORMAT_PARAMETERS:
            continue
        known = modifier in _SEARCH_PARAMETERS.get(name, ()) or (name in _RESULT_PARAMETERS and not modifier)
        if known:
            used.append((key, value))
        elif strict:
            raise InvalidRequest(
                f"The search parameter '{key}' is not supported for {request.path.strip('/')} "
                f"(supported: {', '.join([*_SEARCH_PARAMETERS, *sorted(_RESULT_PARAMETERS)])})",
                expression=key,
            )
    return used


def search(resource_type: str):
    """Search one resource type; the result is a searchset Bundle whose self link shows what was used."""
    used = _used_parameters()
    summary = request.args.get("_summary", "false")
    if summary not in ("true", "false", "count", "data"):
        raise InvalidRequest(
            f"_summary '{summary}' is not supported (true, false, count, data)", expression="_summary"
        )
    criteria = []
    for key, value in used:
        name, _, modifier = key.partition(":")
        if name in _SEARCH_PARAMETERS:
            criteria.append((name, modifier, value))
    found = registry().search(resource_type, criteria)
    count = _int_arg("_count", _DEFAULT_COUNT, _MAX_COUNT)
    offset = _int_arg("_offset", 0, len(found))
    page = [] if summary == "count" else found[offset : offset + count]
    base = base_url()
    self_url = f"{base}/{resource_type}" + (f"?{urlencode(used)}" if used else "")
    next_url = None
    if summary != "count" and offset + count < len(found):
        query = [(k, v) for k, v in used if k != "_offset"]
        next_url = f"{base}/{resource_type}?{urlencode([*query, ('_offset', offset + count)])}"
    resources = [summarised(item, summary) for item in page]
    return fhir_response(search_bundle(resources, len(found), self_url, next_url, base))


def read(resource_type: str, resource_id: str):
    """Read one resource by id (``_summary`` honoured)."""
    item = registry().read(resource_type, resource_id)
    return fhir_response(summarised(item, request.args.get("_summary", "false")))


for _type in RESOURCE_TYPES:
    bp.add_url_rule(f"/{_type}", f"search_{_type}", search, defaults={"resource_type": _type})
    bp.add_url_rule(f"/{_type}/<resource_id>", f"read_{_type}", read, defaults={"resource_type": _type})
