"""Map operation parameters to engine inputs: one parser per operation, for GET and POST alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from terminology.engine.expand import ExpandOptions
from terminology.engine.registry import Registry
from terminology.engine.translate import TranslateRequest
from terminology.engine.validate import CodingInput, ValidationOptions
from terminology.engine.valueset import ValueSetIndex
from terminology.engine.versions import VersionRule, split_canonical
from terminology.errors import InvalidRequest, UnprocessableRequest
from terminology.fhir.params import OperationParams

NO_CODE = (
    "Unable to find code to validate (looked for coding | codeableConcept | code+system | "
    "code+inferSystem in "
    "parameters"
)
# The Accept-Language header, carried with the parameters (the HTTP layer adds it).
ACCEPT_LANGUAGE = "__accept-language"


@dataclass(slots=True)
class LookupInput:
    """Inputs of $lookup."""

    system: str
    code: str
    version: str | None
    properties: list[str]
    date: date | None = None
    use_supplements: tuple[str, ...] = ()


@dataclass(slots=True)
class ValidateInput:
    """Inputs of $validate-code (CodeSystem or ValueSet)."""

    codings: list[CodingInput]
    codeable_concept: dict | None
    options: ValidationOptions
    value_set: ValueSetIndex | None = None
    system_versions: tuple[VersionRule, ...] | None = None
    # Prepared value-set checkers shared by the items of one batch (see engine.validate.validate).
    checkers: dict | None = None


def _codings_from(
    params: OperationParams, system: str | None, version: str | None
) -> tuple[list[CodingInput], dict | None]:
    """Read what to validate: a CodeableConcept, a Coding, or code + system (+ display)."""
    codeable = params.codeable_concept("codeableConcept")
    if codeable is not None:
        codings = [
            CodingInput(
                c.get("system"), c.get("code"), c.get("version"), c.get("display"),
                f"CodeableConcept.coding[{i}].",
            )
            for i, c in enumerate(codeable.get("coding", []))
        ]  # fmt: skip
        if not codings:
            raise InvalidRequest("The CodeableConcept has no codings", expression="CodeableConcept.coding")
        return codings, codeable
    found = params.coding("coding")
    if found is not None:
        coding, _ = found
        return [
            CodingInput(
                coding.get("system") or system,
                coding.get("code"),
                coding.get("version") or version,
                coding.get("display"),
                "Coding.",
            )
        ], None
    code = params.string("code")
    if code is None:
        error = InvalidRequest(NO_CODE)
        error.tx_code = None  # tx.fhir.org sends this one without a tx-issue-type coding
        raise error
    return [CodingInput(system, code, version, params.string("display"), "")], None


def service_date(params: OperationParams) -> date | None:
    """Read the ``date`` parameter (YYYY-MM-DD, or a dateTime whose day is used)."""
    raw = params.string("date")
    if raw is None:
        return None
    try:
        if len(raw) > 10 and raw[10] != "T":
            raise ValueError(raw)
        return date.fromisoformat(raw[:10])
    except ValueError:
        message = f"Parameter 'date' must be a date (YYYY-MM-DD), not '{raw}'"
        raise InvalidRequest(message, expression="date") from None


_PIN_MODES = {
    "system-version": ("default", False),
    "check-system-version": ("check", False),
    "force-system-version": ("override", False),
    "default-valueset-version": ("default", True),
    "check-valueset-version": ("check", True),
    "force-valueset-version": ("override", True),
}


# Options most calls leave out: read only when one of them is present (the hot path skips them).
_RARE_OPTIONS = frozenset(
    {"displayLanguage", "inferSystem", "valueset-membership-only", "useSupplement", "abstract", *_PIN_MODES}
)


def _options(params: OperationParams) -> ValidationOptions:
    options = ValidationOptions(
        lenient_display=params.boolean("lenient-display-validation"),
        active_only=params.boolean("activeOnly"),
        date=service_date(params),
        accept_language=params.string(ACCEPT_LANGUAGE),
    )
    if _RARE_OPTIONS.isdisjoint(params.by_name()):
        return options
    options.display_language = params.string("displayLanguage")
    options.infer_system = params.boolean("inferSystem")
    options.membership_only = params.boolean("valueset-membership-only")
    options.version_rules = system_versions(params)
    options.use_supplements = tuple(str(s) for s in params.strings("useSupplement"))
    if params.first("abstract") is not None:
        options.abstract_ok = params.boolean("abstract")
    return options


def lookup_input(params: OperationParams, instance=None) -> LookupInput:
    """Parse $lookup: system + code (+ version), or coding; ``property`` repeats."""
    system = instance.url if instance is not None else params.string("system")
    version = instance.version if instance is not None else params.string("version")
    code = params.string("code")
    found = params.coding("coding")
    if found is not None:
        coding, _ = found
        code = coding.get("code")
        system = coding.get("system") or system
        version = coding.get("version") or version
    if not code:
        raise InvalidRequest(
            "No code was provided to look up (use code + system, or coding)", expression="code"
        )
    if not system:
        raise InvalidRequest("No system was provided for the code to look up", expression="system")
    return LookupInput(
        system, code, version, params.strings("property"), service_date(params),
        tuple(str(s) for s in params.strings("useSupplement")),
    )  # fmt: skip


@dataclass(slots=True)
class ValidateContext:
    """What a $validate-code call shares with its batch siblings: target, options, version pins."""

    options: ValidationOptions
    system: str | None = None
    version: str | None = None
    value_set: ValueSetIndex | None = None
    system_versions: tuple[VersionRule, ...] | None = None
    # Set by $batch-validate-code: its items reuse one prepared checker per value set and options.
    checkers: dict | None = None


_OPTION_NAMES = frozenset({
    "lenient-display-validation", "activeOnly", "displayLanguage", "date", ACCEPT_LANGUAGE, "inferSystem",
    "valueset-membership-only", "abstract", "system-version", "check-system-version", "force-system-version",
    "useSupplement", "default-valueset-version", "check-valueset-version", "force-valueset-version",
})  # fmt: skip
# Parameters that change the context: a batch item naming one of them gets its own context.
CODE_SYSTEM_CONTEXT_NAMES = _OPTION_NAMES | {"url", "system", "version"}
VALUE_SET_CONTEXT_NAMES = _OPTION_NAMES | {
    "url", "context", "valueSet", "valueSetVersion", "system-version", "check-system-version",
    "force-system-version",
}  # fmt: skip


def code_system_context(params: OperationParams, registry: Registry, instance=None) -> ValidateContext:
    """Read the shared part of CodeSystem/$validate-code: the code system url, version, options."""
    return ValidateContext(
        _options(params),
        system=instance.url if instance is not None else params.string("url", "system"),
        version=instance.version if instance is not None else params.string("version"),
    )


def code_system_validate_input(
    params: OperationParams, registry: Registry, instance=None, context: ValidateContext | None = None
) -> ValidateInput:
    """Parse CodeSystem/$validate-code: url (+ version) and what to validate."""
    context = context or code_system_context(params, registry, instance)
    codings, codeable = _codings_from(params, context.system, context.version)
    for coding in codings:
        if not coding.system and not codeable:
            raise InvalidRequest("No CodeSystem url was provided (use url or system)", expression="url")
    return ValidateInput(codings, codeable, context.options)


def system_versions(params: OperationParams) -> tuple[VersionRule, ...]:
    """Read the version rules: ``system-version`` / ``check-system-version`` / ``force-system-version``
    for code systems, and the ``*-valueset-version`` ones for the value sets a compose imports."""
    rules: list[VersionRule] = []
    for name, (mode, for_value_sets) in _PIN_MODES.items():
        for value in params.strings(name):
            url, version = split_canonical(str(value))
            if not version:
                raise InvalidRequest(
                    f"Parameter '{name}' must be 'url|version', not '{value}'", expression=name
                )
            rules.append(VersionRule(url, version, mode, for_value_sets))
    return tuple(rules)


def inline_value_set(params: OperationParams, registry: Registry) -> ValueSetIndex | None:
    """Return the value set given inline in the ``valueSet`` parameter, checked like content.

    A request's own value set needs no id. What it includes is resolved when it is evaluated,
    so an unknown system or value set gets the operation's own answer.
    """
    found = params.resource("valueSet")
    if found is None:
        return None
    from terminology.content.loader import check_resource

    if found.value.get("resourceType") != "ValueSet":
        raise UnprocessableRequest("The valueSet parameter must carry a ValueSet", expression=found.path)
    checked = check_resource(found.value, found.path, served=False, pattern_limits=registry.pattern_limits)
    if checked.resource is None:
        raise next(p for p in checked.problems if p.refused).error()
    return ValueSetIndex(checked.resource, found.path)


def resolve_value_set(params: OperationParams, registry: Registry, instance=None) -> ValueSetIndex:
    """Find the value set an operation is about: the instance, ``valueSet``, or ``url`` (+ version)."""
    if instance is not None:
        return instance
    inline = inline_value_set(params, registry)
    if inline is not None:
        return inline
    url = params.string("url", "context")
    if not url:
        raise InvalidRequest("No ValueSet was identified (use url, or a valueSet resource)", expression="url")
    url, pinned = split_canonical(url)
    return registry.value_set(url, params.string("valueSetVersion") or pinned)


def value_set_context(params: OperationParams, registry: Registry, instance=None) -> ValidateContext:
    """Read the shared part of ValueSet/$validate-code: the value set, options, version pins."""
    options = _options(params)
    return ValidateContext(
        options,
        value_set=resolve_value_set(params, registry, instance),
        system_versions=options.version_rules,
    )


def value_set_validate_input(
    params: OperationParams, registry: Registry, instance=None, context: ValidateContext | None = None
) -> ValidateInput:
    """Parse ValueSet/$validate-code."""
    context = context or value_set_context(params, registry, instance)
    version = params.string("systemVersion", "version")
    codings, codeable = _codings_from(params, params.string("system"), version)
    return ValidateInput(
        codings, codeable, context.options, context.value_set, context.system_versions, context.checkers
    )


ECHOED_EXPAND_PARAMETERS = (
    ("filter", "valueString"),
    ("date", "valueDateTime"),
    ("count", "valueInteger"),
    ("offset", "valueInteger"),
    ("activeOnly", "valueBoolean"),
    ("includeDesignations", "valueBoolean"),
    ("includeDefinition", "valueBoolean"),
    ("excludeNested", "valueBoolean"),
)


_RARE_EXPAND_OPTIONS = frozenset({"designation", "useSupplement", *_PIN_MODES})


def expand_input(
    params: OperationParams, registry: Registry, instance=None
) -> tuple[ValueSetIndex, ExpandOptions, list[dict]]:
    """Parse $expand; return the value set, the options and the parameters to echo.

    The display language is echoed by the renderer: it may come from the header or the value set.
    """
    value_set = resolve_value_set(params, registry, instance)
    options = ExpandOptions(
        filter=params.string("filter"),
        count=params.integer("count"),
        offset=params.integer("offset", 0) or 0,
        offset_given=params.first("offset") is not None,
        include_definition=params.boolean("includeDefinition"),
        active_only=params.boolean("activeOnly"),
        date=service_date(params),
        include_designations=params.boolean("includeDesignations"),
        properties=params.strings("property"),
        exclude_nested=params.boolean("excludeNested"),
        display_language=params.string("displayLanguage"),
        accept_language=params.string(ACCEPT_LANGUAGE),
    )
    if not _RARE_EXPAND_OPTIONS.isdisjoint(params.by_name()):
        options.system_versions = system_versions(params)
        options.designations = [str(d) for d in params.strings("designation")]
        options.use_supplements = [str(s) for s in params.strings("useSupplement")]
    values = {
        "filter": options.filter,
        "date": params.string("date") if options.date else None,
        "count": options.count,
        "offset": options.offset if options.offset_given else None,
        "activeOnly": options.active_only if params.first("activeOnly") else None,
        "includeDesignations": options.include_designations if params.first("includeDesignations") else None,
        "includeDefinition": options.include_definition if params.first("includeDefinition") else None,
        "excludeNested": options.exclude_nested if params.first("excludeNested") else None,
    }
    echoed = [
        {"name": name, value_type: values[name]}
        for name, value_type in ECHOED_EXPAND_PARAMETERS
        if values[name] is not None
    ]
    for designation in options.designations:
        echoed.append({"name": "designation", "valueString": designation})
    return value_set, options, echoed


def translate_input(params: OperationParams, instance=None) -> tuple[TranslateRequest, str]:
    """Parse $translate (R4 names, and the R5 names tx clients send)."""
    reverse = params.boolean("reverse")
    code = params.string("code", "sourceCode")
    system = params.string("system", "sourceSystem")
    if code is None and params.first("targetCode"):
        code, reverse = params.string("targetCode"), True
        system = params.string("targetSystem", "system") or system
    for name in ("coding", "sourceCoding", "targetCoding"):
        found = params.coding(name)
        if found is not None:
            coding, _ = found
            code, system = coding.get("code"), coding.get("system") or system
            reverse = reverse or name == "targetCoding"
            break
    codeable = params.codeable_concept("codeableConcept") or params.codeable_concept("sourceCodeableConcept")
    if code is None and codeable:
        first = (codeable.get("coding") or [{}])[0]
        code, system = first.get("code"), first.get("system")
    if not code or not system:
        raise InvalidRequest(
            "Both a code and its system are needed to translate (code + system, or coding)", expression="code"
        )
    dependencies: dict[str, str] = {}
    for dep in params.all("dependency"):
        if dep.value_type != "part":
            raise InvalidRequest(
                "Parameter 'dependency' must have parts element and concept", expression=dep.path
            )
        element = dep.value.string("element")
        concept = dep.value.codeable_concept("concept")
        codings = (concept or {}).get("coding", [])
        if element and codings:
            dependencies[element] = codings[0].get("code", "")
            if codings[0].get("system"):
                dependencies.setdefault(codings[0]["system"], codings[0].get("code", ""))
    on = service_date(params)
    request = TranslateRequest(
        date=on.isoformat() if on else None,
        system=system,
        code=code,
        map_url=instance.url if instance is not None else params.string("url"),
        map_version=instance.version if instance is not None else params.string("conceptMapVersion"),
        target_system=None if reverse else params.string("targetsystem", "targetSystem"),
        reverse=reverse,
        dependencies=dependencies or None,
    )
    return request, f"{system}#{code}"


def item_params(item) -> OperationParams:
    """Return the parameters of one `$batch-validate-code` item (a nested Parameters resource, or parts)."""
    if item.value_type == "part":
        return item.value
    if item.value_type == "resource" and item.value.get("resourceType") == "Parameters":
        return OperationParams.from_parameters(item.value)
    raise InvalidRequest(
        "Each 'validation' must carry a Parameters resource (or parts)", expression=item.path
    )
