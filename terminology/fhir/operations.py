"""Operation runners: parameters in, FHIR dict out (used by single and batch endpoints alike)."""

from __future__ import annotations

from collections.abc import Callable

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
from terminology.fhir.requests import code_system_validate_input, value_set_validate_input

Runner = Callable[[Registry, OperationParams, object], dict]


def code_system_validate(registry: Registry, params: OperationParams, instance=None) -> dict:
    """Run CodeSystem/$validate-code and render its Parameters."""
    request = code_system_validate_input(params, instance)
    if request.codeable_concept is not None:
        result = validate_codings_in_code_system(
            registry, request.codings, request.options, request.codeable_concept
        )
    else:
        result = validate_in_code_system(registry, request.codings[0], request.options)
    return validation_parameters(result)


def value_set_validate(registry: Registry, params: OperationParams, instance=None) -> dict:
    """Run ValueSet/$validate-code and render its Parameters."""
    request = value_set_validate_input(params, registry, instance)
    result = validate_in_value_set(
        registry,
        request.value_set,
        request.codings,
        request.options,
        request.codeable_concept,
        request.system_versions,
    )
    return validation_parameters(result)


def batch_validate(
    registry: Registry, params: OperationParams, run: Runner, instance=None, limit: int = 10_000
) -> dict:
    """Run `$batch-validate-code`: one result per ``validation`` item, in order.

    Each item is a nested Parameters (``resource``, or ``part``) holding one `$validate-code`'s
    parameters; every other top-level parameter (``url``, ``displayLanguage``…) is shared by all
    items, and an item's own parameters win. A failing item answers with an OperationOutcome and
    never fails the others.
    """
    items = params.all("validation")
    if not items:
        raise InvalidRequest("No 'validation' parameters were provided", expression="Parameters.parameter")
    if len(items) > limit:
        raise TooCostly(f"{len(items)} validations in one batch exceed the limit of {limit}")
    shared = params.without("validation")
    results: list[dict] = []
    for item in items:
        try:
            own = item_params(item)
            results.append(
                {"name": "validation", "resource": run(registry, own.with_defaults(shared), instance)}
            )
        except TerminologyError as exc:
            results.append({"name": "validation", "resource": error_outcome(exc)})
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
