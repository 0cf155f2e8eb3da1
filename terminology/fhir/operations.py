"""Operation runners: parameters in, FHIR dict out (used by single and batch endpoints alike)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from terminology.engine.registry import Registry
from terminology.engine.validate import (
    validate_codings_in_code_system,
    validate_in_code_system,
    validate_in_value_set,
)
from terminology.errors import InvalidRequest, TerminologyError, TooCostly
from terminology.fhir.outcome import error_outcome
from terminology.fhir.params import OperationParams
from terminology.fhir.render import validation_parameters
from terminology.fhir.requests import (
    CODE_SYSTEM_CONTEXT_NAMES,
    VALUE_SET_CONTEXT_NAMES,
    ValidateContext,
    code_system_context,
    code_system_validate_input,
    value_set_context,
    value_set_validate_input,
)


def _run_code_system(registry: Registry, params: OperationParams, instance, context) -> dict:
    request = code_system_validate_input(params, registry, instance, context)
    if request.codeable_concept is not None:
        result = validate_codings_in_code_system(
            registry, request.codings, request.options, request.codeable_concept
        )
    else:
        result = validate_in_code_system(registry, request.codings[0], request.options)
    return validation_parameters(result)


def _run_value_set(registry: Registry, params: OperationParams, instance, context) -> dict:
    request = value_set_validate_input(params, registry, instance, context)
    result = validate_in_value_set(
        registry,
        request.value_set,
        request.codings,
        request.options,
        request.codeable_concept,
        request.system_versions,
    )
    return validation_parameters(result)


@dataclass(frozen=True, slots=True)
class ValidateOperation:
    """A `$validate-code` flavour: how to read its shared context and how to run one call."""

    context_names: frozenset[str]
    context: Callable[..., ValidateContext]
    run: Callable[..., dict]

    def __call__(self, registry: Registry, params: OperationParams, instance=None) -> dict:
        """Run one `$validate-code` call and render its Parameters."""
        return self.run(registry, params, instance, None)


code_system_validate = ValidateOperation(CODE_SYSTEM_CONTEXT_NAMES, code_system_context, _run_code_system)
value_set_validate = ValidateOperation(VALUE_SET_CONTEXT_NAMES, value_set_context, _run_value_set)


def batch_validate(
    registry: Registry,
    params: OperationParams,
    operation: ValidateOperation,
    instance=None,
    limit: int = 10_000,
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
    results: list[dict] = []
    for item in items:
        try:
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
            resource = operation.run(registry, merged, instance, context)
        except TerminologyError as exc:
            resource = error_outcome(exc)
        results.append({"name": "validation", "resource": resource})
    return {"resourceType": "Parameters", "parameter": results}


def item_params(item) -> OperationParams:
    """Return the parameters of one batch item (a nested Parameters resource, or parts)."""
    if item.value_type == "part":
        return item.value
    if item.value_type == "resource" and item.value.get("resourceType") == "Parameters":
        return OperationParams.from_parameters(item.value)
    raise InvalidRequest(
        "Each 'validation' must carry a Parameters resource (or parts)", expression=item.path
    )
