"""Cache keys: what each cached answer depends on, every key of the service built in this one module.

The rule to review against: a key holds every input that can change the answer, and nothing
that cannot. Content is loaded once and read-only while a worker serves, so the content itself is
never part of a key; "today" (``engine.clock.today``, UTC) is, wherever an answer judges whether
a code is active and the caller gave no ``date``.

Request-scoped content (``tx-resource``): a key here assumes the worker's shared registry. An
answer computed against resources sent with the request (a registry overlay) must never be cached
under these keys: the service passes ``shared=False`` for such calls, and every function here then
returns None, which the caches read as "do not cache". Anyone adding an input that changes answers
adds it to the key here, or returns None.

Memos inside the engine hold facts derived from content alone, keyed where they live: value-set
members by the code-system version pins (``engine.valueset``), and the bundling checker's
terminology issues by (system, code) (``bundling.rules``).
"""

from __future__ import annotations

from collections.abc import Hashable

import orjson

from terminology.engine.clock import today
from terminology.engine.registry import Registry
from terminology.engine.valueset import ImplicitValueSet
from terminology.fhir.operation_inputs import LookupInput, ValidateInput
from terminology.fhir.params import OperationParams

# Everything in a GET request that can change the answer the response cache replays: the URL, the
# negotiated format, the language, the CORS origin echoed back and the host a base URL may be
# derived from (WSGI environ names).
RESPONSE_VARY = (
    "PATH_INFO",
    "QUERY_STRING",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_ORIGIN",
    "HTTP_HOST",
    "SCRIPT_NAME",
    "wsgi.url_scheme",
)


def response_key(environ: dict) -> tuple:
    """Key of a replayed GET answer: today's date and the request parts in ``RESPONSE_VARY``."""
    return (today(), *[environ.get(name) for name in RESPONSE_VARY])


def lookup_key(request: LookupInput, shared: bool = True) -> Hashable | None:
    """Key of a `$lookup` answer: system, code, version, properties and the day activity is judged on."""
    if not shared:
        return None
    return ("lookup", request.system, request.code, request.version, tuple(request.properties),
            request.date or today(), request.use_supplements)  # fmt: skip


def _options_key(request: ValidateInput) -> tuple:
    # Every option the engine reads (languages, version rules…); "today" stands in for a missing date.
    return request.options.cache_key(today())


def _codings_key(request: ValidateInput) -> tuple | None:
    if request.codeable_concept is not None:
        return None  # CodeableConcepts are rare and their echo is the caller's own dict: not cached
    return tuple((c.system, c.code, c.version, c.display, c.prefix) for c in request.codings)


def code_system_validate_key(request: ValidateInput, shared: bool = True) -> Hashable | None:
    """Key of a CodeSystem/`$validate-code` answer: the codings (display and form included) and options."""
    codings = _codings_key(request)
    if not shared or codings is None:
        return None
    return ("cs-validate", codings, _options_key(request))


def value_set_validate_key(
    registry: Registry, request: ValidateInput, shared: bool = True
) -> Hashable | None:
    """Key of a ValueSet/`$validate-code` answer: the value set, version pins, codings and options."""
    value_set = request.value_set
    # Only value sets the registry holds are stable identities; inline ones are new every call.
    held = isinstance(value_set, ImplicitValueSet) or (
        registry.find("ValueSet", value_set.url, value_set.version) is value_set
    )
    codings = _codings_key(request)
    if not shared or not held or codings is None:
        return None
    return ("vs-validate", value_set, codings, _options_key(request))


def batch_scope(
    operation: str, instance, shared_params: OperationParams, shared: bool = True
) -> tuple | None:
    """Return what every batch item's answer depends on besides the item itself (None: do not memoize).

    That is the operation, the instance it is called on, today, and every shared (top-level)
    parameter by its exact value; shared parameters given as parts are not memoized.
    """
    if not shared:
        return None
    values = []
    for name in sorted(shared_params.names()):
        for found in shared_params.all(name):
            if found.value_type == "part":
                return None
            value = found.value
            values.append((name, found.value_type, value if isinstance(value, str) else orjson.dumps(value)))
    instance_key = None if instance is None else (type(instance).__name__, instance.canonical)
    # Without a date parameter, "today" decides whether codes past their end dates are active.
    return ("batch-item", operation, instance_key, today(), tuple(values))


def batch_item_key(scope: tuple | None, item_json: bytes | None) -> Hashable | None:
    """Key of one batch item sent as a nested Parameters resource: the scope and the item's exact JSON.

    Validators send the same codings batch after batch: a repeat then skips reading its parameters.
    Items sent as parts (``item_json`` None) are not remembered this way (their answers still are,
    by their codings).
    """
    if scope is None or item_json is None:
        return None
    return (scope, item_json)
