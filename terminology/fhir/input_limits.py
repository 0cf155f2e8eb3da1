"""Limits on what one request may carry: JSON nesting depth, resource types, lines per claim, batch work.

Each check looks at the JSON as sent, before anything costly (fhir.resources validation, the
bundling rules) runs on it, and refuses with an error naming the element: 400 for nesting deeper
than the limit, 422 for a resource type that is not one, 422 ``too-costly`` for more lines or work
than the limits allow.
"""

from __future__ import annotations

from functools import lru_cache

from terminology.errors import InvalidRequest, TooCostly, UnprocessableRequest

# Lines a request body asks to check, by what it is (see request_lines).
_ONE_LINE = frozenset({"ServiceRequest", "ChargeItem"})


def check_json_depth(document: object, raw: bytes, limit: int) -> None:
    """Refuse (400) JSON nested deeper than ``limit`` arrays and objects, naming the element.

    Parsers and validators recurse over nested JSON; bounding the depth once, where the body is
    parsed, keeps every one of them within the interpreter's stack. A body with no more brackets
    than the limit cannot be too deep, so the usual small request is not looked at again; a larger
    one is measured on its bytes (``raw`` is the text ``document`` was parsed from).
    """
    if raw.count(b"{") + raw.count(b"[") <= limit or not deeper_than(raw, limit):
        return
    path = _first_path_deeper_than(document, limit)
    raise InvalidRequest(
        f"{path} is nested deeper than {limit} levels of JSON objects and arrays, more than this server "
        "reads",
        expression=path,
    )


# bytes.translate tables: keep only brackets and quotes, with both kinds of bracket as one.
_BRACKETS_ONLY = bytes.maketrans(b"[]", b"{}")
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'{}[]"'))


def deeper_than(raw: bytes, limit: int) -> bool:
    """Say whether valid JSON text nests arrays and objects deeper than ``limit`` levels.

    Measured with bytes operations (no Python step per element): strings are dropped (escaped
    backslashes and quotes first), every bracket becomes ``{`` or ``}``, and each pass of
    ``replace("{}", "")`` removes the innermost level (the containers that are empty by then), so
    the text is empty after exactly as many passes as it is deep. ``raw`` must be valid JSON (it
    has been parsed).
    """
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"")
    if b"\\" in raw:
        raw = raw.replace(b'\\"', b"")
    text = raw.translate(_BRACKETS_ONLY, _NOT_STRUCTURE)
    # What is left of a string is its quotes around the brackets it held: two adjacent quotes hold
    # nothing structural between them, so they go first (the usual case: no string holds a bracket).
    text = text.replace(b'""', b"")
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    if text.count(b"{") <= limit:
        return False
    if b"{" * (limit + 1) in text:
        return True
    for _ in range(limit):
        text = text.replace(b"{}", b"")
        if not text:
            return False
    return True


def _first_path_deeper_than(document: object, limit: int) -> str:
    """Return the FHIRPath-like path of the first container below the limit (only when there is one)."""
    root = document.get("resourceType") if isinstance(document, dict) else None
    stack: list[tuple[object, int, str]] = [(document, 1, root if isinstance(root, str) else "$")]
    while stack:
        value, depth, path = stack.pop()
        if depth > limit:
            return path
        if isinstance(value, dict):
            items = [(f"{path}.{key}", child) for key, child in value.items()]
        else:
            items = [(f"{path}[{i}]", child) for i, child in enumerate(value)]  # type: ignore[arg-type]
        for child_path, child in reversed(items):
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, child_path))
    return root if isinstance(root, str) else "$"


@lru_cache(maxsize=256)
def is_resource_type(name: str) -> bool:
    """Say whether ``name`` is a FHIR R4 resource type (fhir.resources' R4B models know them all)."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except (ValueError, KeyError, TypeError):
        return False


# How a JSON value that is not a string is named in a message (ints and floats are numbers).
_JSON_KINDS = {bool: "a boolean", type(None): "null", list: "an array", dict: "an object"}


def check_resource_types(resource: dict, path: str) -> None:
    """Refuse (422) a ``resourceType`` anywhere in ``resource`` that is not a string naming a resource type.

    fhir.resources fails on such a value with a KeyError or TypeError instead of a validation error,
    so it is checked first, naming the element (``Bundle.entry[3].resource.resourceType``).
    """
    stack: list[tuple[object, str]] = [(resource, path)]
    while stack:
        value, here = stack.pop()
        if isinstance(value, dict):
            if "resourceType" in value:
                kind = value["resourceType"]
                if not isinstance(kind, str):
                    raise UnprocessableRequest(
                        f"{here}.resourceType must be a string naming a FHIR R4 resource type, "
                        f"not {_JSON_KINDS.get(type(kind), 'a number')}",
                        expression=f"{here}.resourceType",
                    )
                if not is_resource_type(kind):
                    raise UnprocessableRequest(
                        f"{here}.resourceType '{kind}' is not a FHIR R4 resource type",
                        expression=f"{here}.resourceType",
                    )
            stack.extend(
                (child, f"{here}.{key}") for key, child in value.items() if isinstance(child, dict | list)
            )
        else:
            stack.extend(
                (child, f"{here}[{i}]") for i, child in enumerate(value) if isinstance(child, dict | list)
            )  # type: ignore[arg-type]


def request_lines(body: object) -> int:
    """Count the claim lines a request asks to check, from its JSON alone (nothing is validated here).

    Parameters ``item``s, a Claim's items, a Bundle's entries (a Claim in it counts its items), one
    per ServiceRequest or ChargeItem, a CDS Hooks call's draft orders; a Parameters ``resource``
    counts what it holds.
    """
    if not isinstance(body, dict):
        return 0
    kind = body.get("resourceType")
    if not isinstance(kind, str | None):
        return 0
    if kind == "Parameters":
        count = 0
        for parameter in _list(body.get("parameter")):
            if isinstance(parameter, dict):
                if parameter.get("name") == "item":
                    count += 1
                elif "resource" in parameter:
                    count += request_lines(parameter["resource"])
        return count
    if kind == "Claim":
        return len(_list(body.get("item")))
    if kind == "Bundle":
        return sum(
            max(request_lines(entry.get("resource")), 1)
            for entry in _list(body.get("entry"))
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
        )
    if kind in _ONE_LINE:
        return 1
    context = body.get("context")
    if kind is None and isinstance(context, dict):  # a CDS Hooks call
        return request_lines(context.get("draftOrders"))
    return 0


# Up to this many lines, checking a claim costs about the same per line; beyond, the pairs of lines
# the rules compare (and the findings they can report) dominate, so the cost grows with lines².
PAIRWISE_LINES = 50


def request_work(body: object) -> int:
    """Count the units of work a request body asks for: its lines and its $batch-validate-code items.

    A claim of n lines counts n units up to PAIRWISE_LINES lines, n²/PAIRWISE_LINES above: one
    300-line claim costs what 36 claims of 50 lines cost, which is what it takes to check them.
    """
    validations = 0
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        validations = sum(
            1 for p in _list(body.get("parameter")) if isinstance(p, dict) and p.get("name") == "validation"
        )
    lines = request_lines(body)
    return max(lines, -(-lines * lines // PAIRWISE_LINES)) + validations


def check_lines(count: int, limit: int, expression: str = "Parameters") -> None:
    """Refuse (422 too-costly) a request that asks to check more than ``limit`` claim lines."""
    if count > limit:
        raise TooCostly(
            f"The request holds {count} claim lines (items, Claim items, Bundle entries or draft orders); "
            f"this server checks at most {limit} per request (TERMINOLOGY_MAX_CLAIM_LINES)",
            expression=expression,
        )


def _list(value: object) -> list:
    return value if isinstance(value, list) else []
