"""Operation runners: parameters in, FHIR dict out (used by single and batch endpoints alike)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial

import orjson

from terminology.engine.clock import today
from terminology.engine.registry import Registry
from terminology.engine.validate import (
    validate_codings_in_code_system,
    validate_in_code_system,
    validate_in_value_set,
)
from terminology.engine.valueset import ImplicitValueSet
from terminology.errors import InvalidRequest, TerminologyError, TooCostly
from terminology.fhir.cache import NO_CACHE, ResultCache
from terminology.fhir.operation_inputs import (
    CODE_SYSTEM_CONTEXT_NAMES,
    VALUE_SET_CONTEXT_NAMES,
    ValidateContext,
    ValidateInput,
    code_system_context,
    code_system_validate_input,
    value_set_context,
    value_set_validate_input,
)
from terminology.fhir.outcome import error_outcome
from terminology.fhir.params import OperationParams
from terminology.fhir.render import validation_parameters


def _options_key(request: ValidateInput) -> tuple:
    options = request.options
    # Without a date, "today" decides whether a code past its termination date is still active.
    on = options.date or today()
    return (options.lenient_display, options.active_only, options.display_language, on)


def _codings_key(request: ValidateInput) -> tuple | None:
    if request.codeable_concept is not None:
        return None  # CodeableConcepts are rare and their echo is the caller's own dict: not cached
    return tuple((c.system, c.code, c.version, c.display, c.prefix) for c in request.codings)


def _run_code_system(registry: Registry, params: OperationParams, instance, context, cache) -> dict:
    request = code_system_validate_input(params, registry, instance, context)
    if request.codeable_concept is not None:
        result = validate_codings_in_code_system(
            registry, request.codings, request.options, request.codeable_concept
        )
        return validation_parameters(result)
    codings = _codings_key(request)
    key = ("cs-validate", codings, _options_key(request))
    return cache.get(
        key,
        lambda: validation_parameters(validate_in_code_system(registry, request.codings[0], request.options)),
    )


def _value_set_key(registry: Registry, request: ValidateInput) -> Hashable | None:
    value_set = request.value_set
    # Only value sets the registry holds are stable identities; inline ones are new every call.
    held = isinstance(value_set, ImplicitValueSet) or (
        registry.find("ValueSet", value_set.url, value_set.version) is value_set
    )
    codings = _codings_key(request)
    if not held or codings is None:
        return None
    pins = tuple(sorted(request.system_versions.items())) if request.system_versions else ()
    return ("vs-validate", value_set, pins, codings, _options_key(request))


def _run_value_set(registry: Registry, params: OperationParams, instance, context, cache) -> dict:
    request = value_set_validate_input(params, registry, instance, context)

    def compute() -> dict:
        result = validate_in_value_set(
            registry,
            request.value_set,
            request.codings,
            request.options,
            request.codeable_concept,
            request.system_versions,
        )
        return validation_parameters(result)

    return cache.get(_value_set_key(registry, request), compute)


@dataclass(frozen=True, slots=True)
class ValidateOperation:
    """A `$validate-code` flavour: how to read its shared context and how to run one call."""

    name: str
    context_names: frozenset[str]
    context: Callable[..., ValidateContext]
    run: Callable[..., dict]

    def __call__(
        self, registry: Registry, params: OperationParams, instance=None, cache: ResultCache = NO_CACHE
    ) -> dict:
        """Run one `$validate-code` call and render its Parameters."""
        return self.run(registry, params, instance, None, cache)


code_system_validate = ValidateOperation(
    "cs-validate", CODE_SYSTEM_CONTEXT_NAMES, code_system_context, _run_code_system
)
value_set_validate = ValidateOperation(
    "vs-validate", VALUE_SET_CONTEXT_NAMES, value_set_context, _run_value_set
)


def batch_validate(
    registry: Registry,
    params: OperationParams,
    operation: ValidateOperation,
    instance=None,
    limit: int = 10_000,
    cache: ResultCache = NO_CACHE,
) -> dict:
    """Run `$batch-validate-code`: one result per ``validation`` item, in order.

    Each item is a nested Parameters (``resource``, or ``part``) holding one `$validate-code`'s
    parameters; every other top-level parameter (``url``, ``displayLanguage``…) is shared by all
    items, and an item's own parameters win. The shared context (value set, options, pins) is
    read once; an item that names a context parameter gets its own. A failing item answers with
    an OperationOutcome and never fails the others.
    """
    items = params.all("validation")
    if not items:
        raise InvalidRequest("No 'validation' parameters were provided", expression="Parameters.parameter")
    if len(items) > limit:
        raise TooCostly(f"{len(items)} validations in one batch exceed the limit of {limit}")
    shared = params.without("validation")
    shared_context: ValidateContext | TerminologyError | None = None

    def run_item(item) -> dict:
        nonlocal shared_context
        own = item_params(item)
        merged = own.with_defaults(shared)
        context = None
        if not own.names() & operation.context_names:
            if shared_context is None:
                try:
                    shared_context = operation.context(shared, registry, instance)
                except TerminologyError as exc:
                    shared_context = exc
            if isinstance(shared_context, TerminologyError):
                raise shared_context
            context = shared_context
        return operation.run(registry, merged, instance, context, cache)

    # Validators send the same codings batch after batch: an item sent as a nested Parameters
    # resource is also remembered by its exact JSON, beside everything else its answer depends
    # on, so a repeat skips reading its parameters. Items sent as parts take the long way.
    scope = _batch_scope(operation, instance, shared)
    results: list[dict] = []
    for item in items:
        key = None
        if scope is not None and item.value_type == "resource":
            key = (scope, orjson.dumps(item.value))
        try:
            resource = cache.get(key, partial(run_item, item))
        except TerminologyError as exc:
            resource = error_outcome(exc)
        results.append({"name": "validation", "resource": resource})
    return {"resourceType": "Parameters", "parameter": results}


def _batch_scope(operation: ValidateOperation, instance, shared: OperationParams) -> tuple | None:
    """Return what every item's answer depends on besides the item itself (None: do not memoize)."""
    values = []
    for name in sorted(shared.names()):
        for found in shared.all(name):
            if found.value_type == "part":
                return None
            value = found.value
            values.append((name, found.value_type, value if isinstance(value, str) else orjson.dumps(value)))
    instance_key = None if instance is None else (type(instance).__name__, instance.canonical)
    # Without a date parameter, "today" decides whether codes past their end dates are active.
    return ("batch-item", operation.name, instance_key, today(), tuple(values))


def item_params(item) -> OperationParams:
    """Return the parameters of one batch item (a nested Parameters resource, or parts)."""
    if item.value_type == "part":
        return item.value
    if item.value_type == "resource" and item.value.get("resourceType") == "Parameters":
        return OperationParams.from_parameters(item.value)
    raise InvalidRequest(
        "Each 'validation' must carry a Parameters resource (or parts)", expression=item.path
    )
