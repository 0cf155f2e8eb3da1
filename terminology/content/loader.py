"""Load and validate content: the content directories (create_app, `terminology check`) and tx-resource.

Every resource is checked the same way, whether it is a file of a content directory or a resource
sent with a request (``tx-resource``): fhir.resources (R4B) validation, the R4 required codes, and
our own rules (declared properties, unique codes). Each finding is a ``LoadProblem`` naming the file
(or request parameter) and the element. A *refused* resource cannot be served at all; a *degraded*
one is served (a CodeSystem without ``status``, an undeclared property, a value set that includes a
code its code system lacks...). The content policy decides what a problem does at start-up:
``strict`` stops start-up listing every problem; ``lenient`` loads what can be loaded, logs each
problem, keeps them for ``/readyz``, and requests that touch a refused resource get a 4xx.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from terminology.caching import BoundedCache
from terminology.engine.codesystem import CodeSystemIndex
from terminology.engine.concept_map_index import ConceptMapIndex
from terminology.engine.patterns import PatternLimits, pattern_problems
from terminology.engine.registry import LoadProblem, Registry, RegistryOverlay
from terminology.engine.valueset import ValueSetIndex
from terminology.errors import ContentError, ContentErrors, TerminologyError

log = logging.getLogger(__name__)

POLICIES = ("strict", "lenient")

INDEX_CLASSES: dict[str, Callable] = {
    "CodeSystem": CodeSystemIndex,
    "ValueSet": ValueSetIndex,
    "ConceptMap": ConceptMapIndex,
}

# Codes with a *required* binding in R4 that fhir.resources does not enforce (it checks only
# the code datatype); a typo here would silently change how the content is served.
_STATUS = {"draft", "active", "retired", "unknown"}
# R5 adds child-of and descendent-leaf; R4 servers take them (the HL7 test suite sends them).
_FILTER_OPS = {
    "=", "is-a", "descendent-of", "is-not-a", "regex", "in", "not-in", "generalizes", "exists",
    "child-of", "descendent-leaf",
}  # fmt: skip
REQUIRED_CODES: dict[str, list[tuple[str, set[str]]]] = {
    "CodeSystem": [
        ("status", _STATUS),
        ("content", {"not-present", "example", "fragment", "complete", "supplement"}),
        ("hierarchyMeaning", {"grouped-by", "is-a", "part-of", "classified-with"}),
        ("property[].type", {"code", "Coding", "string", "integer", "boolean", "dateTime", "decimal"}),
    ],
    "ValueSet": [
        ("status", _STATUS),
        ("compose.include[].filter[].op", _FILTER_OPS),
        ("compose.exclude[].filter[].op", _FILTER_OPS),
    ],
    "ConceptMap": [
        ("status", _STATUS),
        ("group[].element[].target[].equivalence", {
            "relatedto", "equivalent", "equal", "wider", "subsumes", "narrower", "specializes",
            "inexact", "unmatched", "disjoint",
        }),
    ],
}  # fmt: skip

# Concept properties FHIR itself defines (http://hl7.org/fhir/concept-properties): a code system may
# use them without declaring them in CodeSystem.property.
FHIR_CONCEPT_PROPERTIES = frozenset({
    "inactive", "deprecated", "deprecationDate", "retirementDate", "effectiveDate", "notSelectable",
    "parent", "child", "partOf", "synonym", "comment", "itemWeight", "status",
})  # fmt: skip


def _values_at(node: object, steps: list[str], path: str):
    """Yield (path, value) for a dotted path where ``name[]`` walks every array item."""
    if not steps:
        yield path, node
        return
    step, rest = steps[0], steps[1:]
    if not isinstance(node, dict):
        return
    if step.endswith("[]"):
        name = step[:-2]
        items = node.get(name, []) or []
        for i, item in enumerate(items if isinstance(items, list) else []):
            yield from _values_at(item, rest, f"{path}.{name}[{i}]")
    elif step in node:
        yield from _values_at(node[step], rest, f"{path}.{step}")


def _model_for(resource_type: str):
    # Imported lazily: fhir.resources is only needed while loading, not while serving.
    if resource_type == "CodeSystem":
        from fhir.resources.R4B.codesystem import CodeSystem

        return CodeSystem
    if resource_type == "ValueSet":
        from fhir.resources.R4B.valueset import ValueSet

        return ValueSet
    from fhir.resources.R4B.conceptmap import ConceptMap

    return ConceptMap


def element_path(resource_type: str, loc: Iterable) -> str:
    """Turn a pydantic error location into a FHIR element path like ``CodeSystem.concept[3].code``."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("__root__",):
            path += f".{part}"
    return path


@dataclass(slots=True)
class Checked:
    """The outcome of checking one resource: what may be served (None: refused) and every problem."""

    resource: dict | None
    problems: list[LoadProblem]


def check_resource(
    resource: object, source: str, served: bool = True, pattern_limits: PatternLimits | None = None
) -> Checked:
    """Check one resource; return every problem, refused or degraded, with its element.

    ``served``: a content file (it needs an ``id`` and a ``url``); request resources need neither.
    ``pattern_limits``: regex filters RE2 cannot run within them refuse the value set (both policies).
    """
    if not isinstance(resource, dict):
        return Checked(None, [LoadProblem(source, "(root)", "a FHIR resource must be a JSON object")])
    resource_type = resource.get("resourceType")
    identity = _identity(resource)
    if resource_type not in INDEX_CLASSES:
        message = f"'{resource_type}' is not served (expected CodeSystem, ValueSet or ConceptMap)"
        return Checked(None, [LoadProblem(source, "resourceType", message, **identity)])
    problems: list[LoadProblem] = []

    def problem(element: str, message: str, refused: bool = True, **codes: str) -> None:
        problems.append(LoadProblem(source, element, message, refused, **identity, **codes))

    if resource_type == "ValueSet":
        _check_filters(resource, problem)
        for error in pattern_problems(resource, pattern_limits or PatternLimits()):
            problems.append(LoadProblem(source, error.expression[0], error.message, cause=error, **identity))
    validated = resource
    if "status" not in resource:
        # R4 requires status; packages in the wild omit it. Served as 'unknown'.
        problem(f"{resource_type}.status", "is required; the resource is served with status 'unknown'", False)
        validated = {**resource, "status": "unknown"}
    _check_model(resource_type, validated, problem, {p.element for p in problems})
    for dotted, allowed in REQUIRED_CODES[resource_type]:
        for path, value in _values_at(resource, dotted.split("."), resource_type):
            if isinstance(value, str) and value not in allowed:
                problem(path, f"'{value}' is not one of {', '.join(sorted(allowed))}")
    if served and not resource.get("url"):
        problem(f"{resource_type}.url", "is required: a resource without a url cannot be referenced")
    if served and not resource.get("id"):
        problem(f"{resource_type}.id", "is missing: the resource is served, but cannot be read by id", False)
    if resource_type == "CodeSystem":
        _check_code_system(resource, problem)
    refused = any(p.refused for p in problems)
    return Checked(None if refused else resource, problems)


def _identity(resource: dict) -> dict:
    def text(name: str) -> str | None:
        value = resource.get(name)
        return value if isinstance(value, str) else None

    kind = resource.get("resourceType")
    return {
        "resource_type": kind if isinstance(kind, str) else None,
        "url": text("url"),
        "version": text("version"),
    }


def _check_model(resource_type: str, resource: dict, problem: Callable, reported: set[str]) -> None:
    """Validate with fhir.resources R4B; unknown elements degrade, anything else refuses.

    Errors inside an element already ``reported`` (in better words) are not repeated.
    """
    from pydantic import ValidationError

    try:
        _model_for(resource_type).model_validate(resource)
    except ValidationError as exc:
        for error in exc.errors():
            element = element_path(resource_type, error["loc"])
            if any(element == done or element.startswith(f"{done}.") for done in reported):
                continue
            if error["type"] == "extra_forbidden":
                problem(element, "is not an element of this resource; ignored", False)
            else:
                problem(element, error["msg"])


def _check_filters(resource: dict, problem: Callable) -> None:
    """A filter needs a value (R4 1..1); say so in tx.fhir.org's words, naming the filter."""
    compose = resource.get("compose")
    if not isinstance(compose, dict):
        return
    for kind in ("include", "exclude"):
        for i, include in enumerate(compose.get(kind, []) or []):
            if not isinstance(include, dict):
                continue
            for j, flt in enumerate(include.get("filter", []) or []):
                if isinstance(flt, dict) and flt.get("value") in (None, ""):
                    problem(
                        f"ValueSet.compose.{kind}[{i}].filter[{j}]",
                        f"The system {include.get('system')} filter with property = {flt.get('property')}, "
                        f"op = {flt.get('op')} has no value",
                        issue_code="invalid",
                        tx_code="vs-invalid",
                    )


def _check_code_system(resource: dict, problem: Callable) -> None:
    properties = resource.get("property", [])
    declared = {p["code"]: p.get("type") for p in properties if isinstance(p, dict) and "code" in p}
    seen: set[str] = set()

    def walk(concepts: object, path: str) -> None:
        if not isinstance(concepts, list):
            return
        for i, concept in enumerate(concepts):
            here = f"{path}[{i}]"
            if not isinstance(concept, dict) or not isinstance(concept.get("code"), str):
                continue  # the model check reports it
            code = concept["code"]
            if code in seen:
                problem(f"{here}.code", f"duplicate code '{code}'")
            seen.add(code)
            for j, prop in enumerate(concept.get("property", []) or []):
                if not isinstance(prop, dict):
                    continue
                name = prop.get("code")
                if name not in declared:
                    if name not in FHIR_CONCEPT_PROPERTIES:
                        undeclared = f"property '{name}' is not declared in CodeSystem.property"
                        problem(f"{here}.property[{j}].code", undeclared, False)
                    continue
                value_key = next((k for k in prop if k.startswith("value")), "")
                want = declared.get(name)
                if want and value_key.lower() != f"value{want}".lower():
                    problem(
                        f"{here}.property[{j}].{value_key}", f"property '{name}' is declared as {want}", False
                    )
            walk(concept.get("concept", []), f"{here}.concept")

    walk(resource.get("concept", []), "CodeSystem.concept")


def validate_resource(resource: object, source: str) -> dict:
    """Check one resource strictly (importers, inline resources): raise ContentError on the first problem."""
    checked = check_resource(resource, source)
    if checked.problems:
        first = checked.problems[0]
        raise ContentError(first.source, first.element, first.message)
    return resource  # type: ignore[return-value]


def read_json(path: Path) -> object:
    """Parse a JSON file, raising ContentError with the position on a syntax error."""
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ContentError(str(path), "(json)", f"not valid JSON: {exc}") from None


def content_files(directories: Iterable[Path], problems: list[LoadProblem] | None = None) -> list[Path]:
    """List the *.json files of the content directories, in a stable order.

    A missing directory raises ContentError, or is recorded in ``problems`` when a list is given.
    """
    files: list[Path] = []
    for directory in directories:
        if not directory.is_dir():
            if problems is None:
                raise ContentError(str(directory), "(directory)", "content directory does not exist")
            problems.append(LoadProblem(str(directory), "(directory)", "content directory does not exist"))
            continue
        files.extend(sorted(directory.glob("*.json")))
    return files


def load_registry(
    directories: Iterable[Path], policy: str = "strict", pattern_limits: PatternLimits | None = None
) -> Registry:
    """Load, check and cross-check every content file; return the registry.

    ``strict``: any problem raises ContentErrors listing every problem (file and element).
    ``lenient``: refused resources are set aside (requests naming them get a 4xx), degraded ones
    are served; every problem is logged and kept in ``registry.problems``. ``pattern_limits``
    bound the regex filters of value sets (loaded now, or sent with requests).
    """
    if policy not in POLICIES:
        raise ValueError(f"content policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    registry = Registry(pattern_limits)
    problems: list[LoadProblem] = []
    ignored = 0
    for path in content_files(directories, problems):
        try:
            raw = read_json(path)
        except ContentError as exc:
            problems.append(LoadProblem(exc.path, exc.element, exc.message))
            continue
        if policy == "lenient" and not _terminology_resource(raw):
            # A package (hl7.fhir.r4.core, an IG) holds profiles, examples, package.json...: not ours.
            ignored += 1
            continue
        problems.extend(add_resource(registry, raw, str(path)))
    problems.extend(cross_check(registry))
    registry.problems = problems
    if problems and policy == "strict":
        raise ContentErrors(problems)
    if ignored:
        log.info(
            "content: %d files that are not CodeSystem, ValueSet or ConceptMap resources were ignored",
            ignored,
        )
    for found in problems:
        log.warning("content %s: %s", "refused" if found.refused else "degraded", found)
    return registry


def _terminology_resource(raw: object) -> bool:
    return isinstance(raw, dict) and raw.get("resourceType") in INDEX_CLASSES


def add_resource(
    registry: Registry, raw: object, source: str, served: bool = True, checked: Checked | None = None
) -> list[LoadProblem]:
    """Check one resource and add it to the registry (or record it as refused); return its problems.

    ``checked``: the outcome of checking it, when the caller has it already.
    """
    if checked is None:
        checked = check_resource(raw, source, served, registry.pattern_limits)
    problems = list(checked.problems)
    if checked.resource is None:
        first = next(p for p in problems if p.refused)
        registry.refuse(first)
        return problems
    resource = checked.resource
    item = INDEX_CLASSES[resource["resourceType"]](resource, source)
    clash = registry.add(item)
    if clash is not None and _supersedes(item, clash):
        registry.replace(clash, item)
    elif clash is not None and not _supersedes(clash, item):
        problems.append(
            LoadProblem(
                source,
                f"{item.resource_type}.url",
                f"duplicate {item.resource_type} '{item.canonical}': already loaded from {clash.source}",
                resource_type=item.resource_type,
                url=item.url,
                version=item.version,
            )
        )
    return problems


def _supersedes(new, old) -> bool:
    """Say whether ``new`` is a complete CodeSystem standing in for a fragment of the same url|version.

    The repository ships CPT and HCPCS fragments; a licensee's imported complete release of the same
    version holds every code of the fragment, so it is served in the fragment's place.
    """
    return (
        new.resource_type == old.resource_type == "CodeSystem"
        and new.url == old.url
        and new.version == old.version
        and new.content == "complete"
        and old.content == "fragment"
    )


def cross_check(registry: Registry) -> list[LoadProblem]:
    """Check references between resources (value-set includes, concept-map codes); return the problems.

    These leave the resources served (degraded): a request that needs the missing part gets the
    engine's own answer (an unknown system or an unresolvable import is a 4xx).
    """
    problems: list[LoadProblem] = []
    for value_set in registry.resources("ValueSet"):
        problems.extend(cross_check_value_set(registry, value_set))
    for concept_map in registry.resources("ConceptMap"):
        problems.extend(_check_map(registry, concept_map))
    return problems


def _degraded(item, element: str, message: str) -> LoadProblem:
    return LoadProblem(item.source, element, message, False, item.resource_type, item.url, item.version)


def cross_check_value_set(registry: Registry, value_set: ValueSetIndex) -> list[LoadProblem]:
    """Check that a value set's includes resolve and that it can be evaluated; return the problems."""
    problems: list[LoadProblem] = []
    compose = value_set.resource.get("compose", {})
    for kind in ("include", "exclude"):
        for i, include in enumerate(compose.get(kind, [])):
            problems.extend(_check_include(registry, value_set, f"ValueSet.compose.{kind}[{i}]", include))
    if not problems:
        try:
            value_set.members(registry)
        except TerminologyError as exc:
            element = exc.expression[0] if exc.expression else "ValueSet.compose"
            problems.append(_degraded(value_set, element, exc.message))
    return problems


def _check_include(registry: Registry, value_set, path: str, include: dict) -> list[LoadProblem]:
    problems = []
    for j, reference in enumerate(include.get("valueSet", [])):
        try:
            registry.value_set_by_canonical(reference)
        except TerminologyError as exc:
            problems.append(_degraded(value_set, f"{path}.valueSet[{j}]", exc.message))
    if "system" not in include:
        return problems
    system, version = include["system"], include.get("version")
    found = registry.loaded("CodeSystem", system, version)
    if found is None:
        shown = f"{system}|{version}" if version else system
        why = (
            "was refused (see its own problem)"
            if registry.refusal("CodeSystem", system, version)
            else "is not loaded"
        )
        problems.append(_degraded(value_set, f"{path}.system", f"code system '{shown}' {why}"))
        return problems
    for j, concept in enumerate(include.get("concept", [])):
        if found.find(concept["code"]) is None:
            problems.append(
                _degraded(
                    value_set,
                    f"{path}.concept[{j}].code",
                    f"code '{concept['code']}' is not in {found.canonical}",
                )
            )
    return problems


def _check_map(registry: Registry, concept_map) -> list[LoadProblem]:
    problems = []
    for g, group in enumerate(concept_map.resource.get("group", [])):
        source = registry.loaded("CodeSystem", group.get("source", ""), group.get("sourceVersion"))
        target = registry.loaded("CodeSystem", group.get("target", ""), group.get("targetVersion"))
        for e, element in enumerate(group.get("element", [])):
            here = f"ConceptMap.group[{g}].element[{e}]"
            if source is not None and source.find(element.get("code", "")) is None:
                problems.append(
                    _degraded(
                        concept_map,
                        f"{here}.code",
                        f"code '{element.get('code')}' is not in {source.canonical}",
                    )
                )
            for t, mapped in enumerate(element.get("target", [])):
                code = mapped.get("code")
                if target is not None and code and target.find(code) is None:
                    problems.append(
                        _degraded(
                            concept_map,
                            f"{here}.target[{t}].code",
                            f"code '{code}' is not in {target.canonical}",
                        )
                    )
    return problems


# -- resources sent with a request (tx-resource) ---------------------------------------------------


# The outcome of checking a resource sent with a request, by its exact JSON: validators send the
# same resources with every call, and fhir.resources takes about 30 ms per 1,000 concepts.
# Only the verdict is kept (problems, without where they were sent), never the resource or its index.
SENT_CHECKS_BYTES = 16 * 1024 * 1024
_sent_checks = BoundedCache("tx-resource-checks", SENT_CHECKS_BYTES, sizeof=lambda key, value: value[1])


def check_sent(raw: object, source: str, limits: PatternLimits) -> Checked:
    """Check a resource sent with a request, remembering the verdict for the same JSON."""
    if not isinstance(raw, dict):
        return check_resource(raw, source, served=False, pattern_limits=limits)
    key = (hashlib.blake2b(orjson.dumps(raw), digest_size=16).digest(), limits)
    found = _sent_checks.lookup(key)
    if found is None:
        checked = check_resource(raw, "", served=False, pattern_limits=limits)
        found = (checked.problems, 200 + 300 * len(checked.problems), checked.resource is None)
        _sent_checks.put(key, found)
    problems, _, refused = found
    return Checked(None if refused else raw, [replace(p, source=source) for p in problems])


def request_overlay(base: Registry, resources: list[tuple[object, str]]) -> RegistryOverlay:
    """Build the registry one request sees: ``base`` plus the resources it sent (tx-resource).

    Each resource is checked like a content file (except that it needs no id or url). A refused one
    is remembered, so that a request that uses it gets the 4xx that names the problem; a resource
    sent twice (same url|version) is used once. The overlay lives as long as the request.
    """
    overlay = RegistryOverlay(base)
    for raw, source in resources:
        checked = check_sent(raw, source, base.pattern_limits)
        overlay.problems.extend(add_resource(overlay, raw, source, served=False, checked=checked))
    return overlay
