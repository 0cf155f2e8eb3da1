"""The terminology operations as plain calls: $lookup, $validate-code (single, batch), $expand, $translate.

``TerminologyService`` owns the orchestration of each operation (resolve the resource it is called
on, map the parameters in, run the engine, map the result out) and the per-worker answer cache;
the views only parse the HTTP request and render what it returns. No Flask here. Cache keys come
from ``service.keys``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial

import orjson

from terminology.caching import BoundedCache
from terminology.config import Settings
from terminology.content.loader import request_overlay
from terminology.engine.expand import expand
from terminology.engine.lookup import lookup
from terminology.engine.patterns import request_allowance
from terminology.engine.registry import Registry
from terminology.engine.translate import translate
from terminology.engine.validate import (
    validate_codings_in_code_system,
    validate_in_code_system,
    validate_in_value_set,
)
from terminology.errors import InvalidRequest, TerminologyError, TooCostly
from terminology.fhir.operation_inputs import (
    CODE_SYSTEM_CONTEXT_NAMES,
    VALUE_SET_CONTEXT_NAMES,
    ValidateContext,
    code_system_context,
    code_system_validate_input,
    expand_input,
    item_params,
    lookup_input,
    translate_input,
    value_set_context,
    value_set_validate_input,
)
from terminology.fhir.outcome import error_outcome
from terminology.fhir.params import OperationParams
from terminology.fhir.render import (
    expansion_value_set,
    lookup_parameters,
    translate_parameters,
    validation_parameters,
)
from terminology.service import keys

MIB = 1024 * 1024
# A rendered answer held as Python objects takes about four times its JSON size (tracemalloc).
PYTHON_OVER_JSON = 4


def answer_size(key: object, answer: dict) -> int:
    """Estimate the bytes one cached answer holds: its objects and its key (which echoes the input)."""
    return PYTHON_OVER_JSON * len(orjson.dumps(answer)) + len(orjson.dumps(key, default=repr))


def answer_cache(settings: Settings) -> BoundedCache:
    """Build the per-worker cache of rendered answers (bounded by bytes and by entries)."""
    budget = settings.result_cache_mb * MIB if settings.result_cache_size else 0
    # One answer may take at most a sixteenth of the budget (a huge echoed display is not kept).
    return BoundedCache(
        "answers", budget, sizeof=answer_size, largest=budget // 16, max_entries=settings.result_cache_size
    )


@dataclass(frozen=True, slots=True)
class _ValidateFlavour:
    """A `$validate-code` flavour: where it is called, how to read its shared context, how to run one."""

    name: str
    resource_type: str
    context_names: frozenset[str]
    context: Callable[..., ValidateContext]
    run: Callable[..., dict]


class TerminologyService:
    """The terminology operations over one registry: Parameters in, FHIR dicts out, answers cached.

    Content is read-only while serving, so one input always gives the same answer (until the
    date changes, which the keys include); tx.fhir.org and HAPI cache validation results for the
    same reason. Cached dicts are shared between responses and must never be mutated.
    """

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.registry = registry
        self.expansion_limit = settings.expansion_limit
        self.batch_limit = settings.batch_limit
        self.answers = answer_cache(settings)
        self._flavours = {
            "CodeSystem": _ValidateFlavour(
                "cs-validate", "CodeSystem", CODE_SYSTEM_CONTEXT_NAMES, code_system_context, self._run_cs
            ),
            "ValueSet": _ValidateFlavour(
                "vs-validate", "ValueSet", VALUE_SET_CONTEXT_NAMES, value_set_context, self._run_vs
            ),
        }

    def _registry_for(self, params: OperationParams) -> tuple[Registry, bool]:
        """Return the registry a call runs against, and whether its answers may be cached.

        A call that sends its own resources (``tx-resource``) runs against a request-scoped overlay
        of the registry, and answers ``(overlay, False)``: nothing it computes is cached under keys
        that ignore those resources (``service.keys``).
        """
        sent = params.by_name().get("tx-resource")
        if not sent:
            return self.registry, True
        resources = []
        for found in sent:
            if found.value_type != "resource":
                raise InvalidRequest("Parameter 'tx-resource' must carry a resource", expression=found.path)
            resources.append((found.value, found.path))
        return request_overlay(self.registry, resources), False

    def _answer(self, key: Callable[[], Hashable | None], compute: Callable[[], dict]) -> dict:
        """Return the remembered answer, or compute it; the key is only built when the cache is on."""
        if not self.answers.maxsize:
            return compute()
        return self.answers.get_or_compute(key(), compute)

    @staticmethod
    def _instance(registry: Registry, resource_type: str, resource_id: str | None):
        return registry.read(resource_type, resource_id) if resource_id else None

    def lookup(self, params: OperationParams, resource_id: str | None = None) -> dict:
        """Run `$lookup` (404 for unknown codes)."""
        registry, shared = self._registry_for(params)
        request = lookup_input(params, self._instance(registry, "CodeSystem", resource_id))

        def compute() -> dict:
            found = lookup(
                registry, request.system, request.code, request.version, request.properties, request.date,
                list(request.use_supplements),
            )  # fmt: skip
            return lookup_parameters(found)

        return self._answer(lambda: keys.lookup_key(request, shared), compute)

    def validate_code(
        self, resource_type: str, params: OperationParams, resource_id: str | None = None
    ) -> dict:
        """Run CodeSystem or ValueSet `$validate-code` and render its Parameters."""
        registry, shared = self._registry_for(params)
        instance = self._instance(registry, resource_type, resource_id)
        return self._flavours[resource_type].run(registry, shared, params, instance, None)

    def _run_cs(self, registry: Registry, shared: bool, params: OperationParams, instance, context) -> dict:
        request = code_system_validate_input(params, registry, instance, context)
        if request.codeable_concept is not None:
            result = validate_codings_in_code_system(
                registry, request.codings, request.options, request.codeable_concept
            )
            return validation_parameters(result)
        return self._answer(
            lambda: keys.code_system_validate_key(request, shared),
            lambda: validation_parameters(
                validate_in_code_system(registry, request.codings[0], request.options)
            ),
        )

    def _run_vs(self, registry: Registry, shared: bool, params: OperationParams, instance, context) -> dict:
        request = value_set_validate_input(params, registry, instance, context)

        def compute() -> dict:
            result = validate_in_value_set(
                registry,
                request.value_set,
                request.codings,
                request.options,
                request.codeable_concept,
                request.system_versions,
                request.checkers,
            )
            return validation_parameters(result)

        return self._answer(lambda: keys.value_set_validate_key(registry, request, shared), compute)

    def batch_validate(
        self, resource_type: str, params: OperationParams, resource_id: str | None = None
    ) -> dict:
        """Run `$batch-validate-code`: one result per ``validation`` item, in order.

        Each item is a nested Parameters (``resource``, or ``part``) holding one `$validate-code`'s
        parameters; every other top-level parameter (``url``, ``displayLanguage``…) is shared by all
        items, and an item's own parameters win. The shared context (value set, options, pins) is
        read once; an item that names a context parameter gets its own. A failing item answers with
        an OperationOutcome and never fails the others.
        """
        flavour = self._flavours[resource_type]
        registry, shared_registry = self._registry_for(params)
        instance = self._instance(registry, resource_type, resource_id)
        items = params.all("validation")
        if not items:
            raise InvalidRequest(
                "No 'validation' parameters were provided", expression="Parameters.parameter"
            )
        if len(items) > self.batch_limit:
            raise TooCostly(f"{len(items)} validations in one batch exceed the limit of {self.batch_limit}")
        shared = params.without("validation")
        shared_context: ValidateContext | TerminologyError | None = None

        def run_item(item) -> dict:
            nonlocal shared_context
            own = item_params(item)
            merged = own.with_defaults(shared)
            context = None
            if not own.names() & flavour.context_names:
                if shared_context is None:
                    try:
                        shared_context = flavour.context(shared, registry, instance)
                        shared_context.checkers = {}  # the items share one value set and options
                    except TerminologyError as exc:
                        shared_context = exc
                if isinstance(shared_context, TerminologyError):
                    raise shared_context
                context = shared_context
            return flavour.run(registry, shared_registry, merged, instance, context)

        scope = keys.batch_scope(flavour.name, instance, shared, shared_registry)
        results: list[dict] = []
        # Items sent more than once in this request (the same JSON) are answered once: the answer
        # depends on the item and on what the request shares, which is the same for all of them.
        answered: dict[bytes, dict] = {}
        with request_allowance():  # the items are one request: their regex filters share one limit
            for item in items:
                resource = self._batch_item(item, run_item, scope, answered)
                results.append({"name": "validation", "resource": resource})
        return {"resourceType": "Parameters", "parameter": results}

    def _batch_item(self, item, run_item, scope, answered: dict[bytes, dict]) -> dict:
        """Answer one batch item: from this request's earlier identical item, the answer memo, or anew."""
        exact = orjson.dumps(item.value) if item.value_type == "resource" else None
        resource = answered.get(exact) if exact is not None else None
        if resource is None:
            try:
                resource = self.answers.get_or_compute(
                    keys.batch_item_key(scope, exact), partial(run_item, item)
                )
            except TerminologyError as exc:
                resource = error_outcome(exc)
            if exact is not None:
                answered[exact] = resource
        elif scope is not None and self.answers.maxsize:
            self.answers.hits += 1  # the answer cache's hit it stands for, in the statistics
        return resource

    def expand(self, params: OperationParams, resource_id: str | None = None) -> dict:
        """Run `$expand` (422 too-costly above the expansion limit without paging)."""
        registry, _ = self._registry_for(params)
        value_set, options, echoed = expand_input(
            params, registry, self._instance(registry, "ValueSet", resource_id)
        )
        expansion = expand(registry, value_set, options, self.expansion_limit)
        return expansion_value_set(expansion, echoed)

    def translate(self, params: OperationParams, resource_id: str | None = None) -> dict:
        """Run `$translate` through one concept map, or every map whose source matches."""
        registry, _ = self._registry_for(params)
        instance = self._instance(registry, "ConceptMap", resource_id)
        request, asked = translate_input(params, instance)
        matches = translate(registry, request, instance)
        return translate_parameters(matches, request, asked)
