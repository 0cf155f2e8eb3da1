"""Load and validate content directories (used by create_app and `terminology check`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

from terminology.engine.codesystem import CodeSystemIndex
from terminology.engine.concept_map_index import ConceptMapIndex
from terminology.engine.patterns import PatternLimits, pattern_problems
from terminology.engine.registry import Registry
from terminology.engine.valueset import ValueSetIndex
from terminology.errors import ContentError, TerminologyError

INDEX_CLASSES: dict[str, Callable] = {
    "CodeSystem": CodeSystemIndex,
    "ValueSet": ValueSetIndex,
    "ConceptMap": ConceptMapIndex,
}


# Codes with a *required* binding in R4 that fhir.resources does not enforce (it checks only
# the code datatype); a typo here would silently change how the content is served.
_STATUS = {"draft", "active", "retired", "unknown"}
REQUIRED_CODES: dict[str, list[tuple[str, set[str]]]] = {
    "CodeSystem": [
        ("status", _STATUS),
        ("content", {"not-present", "example", "fragment", "complete", "supplement"}),
        ("hierarchyMeaning", {"grouped-by", "is-a", "part-of", "classified-with"}),
        ("property[].type", {"code", "Coding", "string", "integer", "boolean", "dateTime", "decimal"}),
    ],
    "ValueSet": [
        ("status", _STATUS),
        ("compose.include[].filter[].op", {
            "=", "is-a", "descendent-of", "is-not-a", "regex", "in", "not-in", "generalizes", "exists",
        }),
        ("compose.exclude[].filter[].op", {
            "=", "is-a", "descendent-of", "is-not-a", "regex", "in", "not-in", "generalizes", "exists",
        }),
    ],
    "ConceptMap": [
        ("status", _STATUS),
        ("group[].element[].target[].equivalence", {
            "relatedto", "equivalent", "equal", "wider", "subsumes", "narrower", "specializes",
            "inexact", "unmatched", "disjoint",
        }),
    ],
}  # fmt: skip


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
        for i, item in enumerate(node.get(name, []) or []):
            yield from _values_at(item, rest, f"{path}.{name}[{i}]")
    elif step in node:
        yield from _values_at(node[step], rest, f"{path}.{step}")


def check_required_codes(resource: dict, source: str) -> None:
    """Refuse codes outside the R4 required value sets (status, content, equivalence, filter op…)."""
    resource_type = resource["resourceType"]
    for dotted, allowed in REQUIRED_CODES.get(resource_type, []):
        for path, value in _values_at(resource, dotted.split("."), resource_type):
            if value not in allowed:
                raise ContentError(source, path, f"'{value}' is not one of {', '.join(sorted(allowed))}")


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


def validate_resource(resource: object, source: str) -> dict:
    """Validate one resource dict with fhir.resources R4B; raise ContentError naming the element."""
    from pydantic import ValidationError

    if not isinstance(resource, dict):
        raise ContentError(source, "(root)", "a FHIR resource must be a JSON object")
    resource_type = resource.get("resourceType")
    if resource_type not in INDEX_CLASSES:
        raise ContentError(
            source,
            "resourceType",
            f"'{resource_type}' is not served (expected CodeSystem, ValueSet or ConceptMap)",
        )
    try:
        _model_for(resource_type).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ContentError(source, element_path(resource_type, first["loc"]), first["msg"]) from None
    check_required_codes(resource, source)
    for required in ("id", "url", "status"):
        if not resource.get(required):
            raise ContentError(source, f"{resource_type}.{required}", "is required for served content")
    if resource_type == "CodeSystem":
        _check_code_system(resource, source)
    return resource


def _check_code_system(resource: dict, source: str) -> None:
    declared = {p["code"]: p.get("type") for p in resource.get("property", [])}
    seen: set[str] = set()

    def walk(concepts: list[dict], path: str) -> None:
        for i, concept in enumerate(concepts):
            here = f"{path}[{i}]"
            code = concept["code"]
            if code in seen:
                raise ContentError(source, f"{here}.code", f"duplicate code '{code}'")
            seen.add(code)
            for j, prop in enumerate(concept.get("property", [])):
                if prop["code"] not in declared and prop["code"] not in ("parent", "child"):
                    raise ContentError(
                        source,
                        f"{here}.property[{j}].code",
                        f"property '{prop['code']}' is not declared in CodeSystem.property",
                    )
                value_key = next((k for k in prop if k.startswith("value")), "")
                want = declared.get(prop["code"])
                if want and value_key.lower() != f"value{want}".lower():
                    raise ContentError(
                        source,
                        f"{here}.property[{j}].{value_key}",
                        f"property '{prop['code']}' is declared as {want}",
                    )
            walk(concept.get("concept", []), f"{here}.concept")

    walk(resource.get("concept", []), "CodeSystem.concept")


def read_json(path: Path) -> object:
    """Parse a JSON file, raising ContentError with the position on a syntax error."""
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ContentError(str(path), "(json)", f"not valid JSON: {exc}") from None


def content_files(directories: Iterable[Path]) -> list[Path]:
    """List the *.json files of the content directories, in a stable order."""
    files: list[Path] = []
    for directory in directories:
        if not directory.is_dir():
            raise ContentError(str(directory), "(directory)", "content directory does not exist")
        files.extend(sorted(directory.glob("*.json")))
    return files


def load_registry(directories: Iterable[Path], pattern_limits: PatternLimits | None = None) -> Registry:
    """Load, validate and cross-check every content file; return the registry.

    ``pattern_limits`` bound the regex filters of value sets (loaded now, or sent with requests).
    Raises ContentError naming the file and element on the first problem.
    """
    registry = Registry(pattern_limits)
    for path in content_files(directories):
        resource = validate_resource(read_json(path), str(path))
        item = INDEX_CLASSES[resource["resourceType"]](resource, str(path))
        clash = registry.add(item)
        if clash is not None and _supersedes(item, clash):
            registry.replace(clash, item)
        elif clash is not None and _supersedes(clash, item):
            continue
        elif clash is not None:
            raise ContentError(
                str(path),
                f"{item.resource_type}.url",
                f"duplicate {item.resource_type} '{item.canonical}' (id '{item.id}'): "
                f"already loaded from {clash.source}",
            )
    cross_check(registry)
    return registry


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


def cross_check(registry: Registry) -> None:
    """Check references between resources: value-set includes and concept-map codes."""
    for value_set in registry.resources("ValueSet"):
        cross_check_value_set(registry, value_set)
    for concept_map in registry.resources("ConceptMap"):
        _check_map(registry, concept_map)


def check_patterns(resource: dict, source: str, limits: PatternLimits) -> None:
    """Refuse a value set whose regex filters RE2 cannot run within the limits (file and element).

    Cheap (each pattern is compiled once, no code is scanned): every content policy calls it
    before a value set is evaluated, so a bad pattern never holds start-up up.
    """
    problems = pattern_problems(resource, limits) if resource.get("resourceType") == "ValueSet" else []
    if problems:
        raise ContentError.of(source, problems[0])


def cross_check_value_set(registry: Registry, value_set: ValueSetIndex) -> None:
    """Check that a value set's patterns and includes are sound and that it can be evaluated."""
    check_patterns(value_set.resource, value_set.source, registry.pattern_limits)
    compose = value_set.resource.get("compose", {})
    for kind in ("include", "exclude"):
        for i, include in enumerate(compose.get(kind, [])):
            _check_include(registry, value_set, f"ValueSet.compose.{kind}[{i}]", include)
    try:
        value_set.members(registry)
    except TerminologyError as exc:
        raise ContentError.of(value_set.source, exc, "ValueSet.compose") from None


def _check_include(registry: Registry, value_set, path: str, include: dict) -> None:
    for j, reference in enumerate(include.get("valueSet", [])):
        try:
            registry.value_set_by_canonical(reference)
        except TerminologyError as exc:
            raise ContentError(value_set.source, f"{path}.valueSet[{j}]", exc.message) from None
    if "system" not in include:
        return
    system, version = include["system"], include.get("version")
    found = registry.find("CodeSystem", system, version)
    if found is None:
        shown = f"{system}|{version}" if version else system
        raise ContentError(value_set.source, f"{path}.system", f"code system '{shown}' is not loaded")
    for j, concept in enumerate(include.get("concept", [])):
        if found.find(concept["code"]) is None:
            raise ContentError(
                value_set.source,
                f"{path}.concept[{j}].code",
                f"code '{concept['code']}' is not in {found.canonical}",
            )


def _check_map(registry: Registry, concept_map) -> None:
    for g, group in enumerate(concept_map.resource.get("group", [])):
        source = registry.find("CodeSystem", group.get("source", ""), group.get("sourceVersion"))
        target = registry.find("CodeSystem", group.get("target", ""), group.get("targetVersion"))
        for e, element in enumerate(group.get("element", [])):
            here = f"ConceptMap.group[{g}].element[{e}]"
            if source is not None and source.find(element.get("code", "")) is None:
                raise ContentError(
                    concept_map.source,
                    f"{here}.code",
                    f"code '{element.get('code')}' is not in {source.canonical}",
                )
            for t, mapped in enumerate(element.get("target", [])):
                code = mapped.get("code")
                if target is not None and code and target.find(code) is None:
                    raise ContentError(
                        concept_map.source,
                        f"{here}.target[{t}].code",
                        f"code '{code}' is not in {target.canonical}",
                    )
