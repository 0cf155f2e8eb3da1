"""R5 <-> R4 for the HL7 terminology test suite: its files are R5, our server speaks R4.

The official runner talks to an R4 server through an R4 client: it converts the suite's R5
requests and setup resources to R4 before sending them, and converts the R4 answers back to R5
before comparing. Only the differences that occur in the suite's terminology resources are
handled here: ``versionAlgorithm[x]``, ConceptMap ``relationship``/scopes, and the R5 expansion
properties that R4 carries as the cross-version extensions.
"""

from __future__ import annotations

import copy
import re

XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
EXPANSION_PROPERTY = XVER + "ValueSet.expansion.property"
CONTAINS_PROPERTY = XVER + "ValueSet.expansion.contains.property"

# R5 ConceptMap relationship -> R4 equivalence (R4 describes the target against the source).
_EQUIVALENCE = {
    "related-to": "relatedto",
    "equivalent": "equivalent",
    "source-is-narrower-than-target": "wider",
    "source-is-broader-than-target": "narrower",
    "not-related-to": "disjoint",
}


def to_r4(resource: dict) -> dict:
    """Return an R4 copy of an R5 resource of the suite (Parameters are converted item by item).

    As the Java client parses the files into its model first, primitives written as strings in
    the suite (``"valueBoolean": "true"``) are sent as JSON booleans and numbers, and keys that are
    not element names (``"definition:en"``) are dropped.
    """
    resource = _as_parsed(copy.deepcopy(resource))
    _r4_in_place(resource)
    return resource


_ELEMENT_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9]*$")
_INTEGER_KEYS = frozenset({"valueInteger", "valueUnsignedInt", "valuePositiveInt"})


def _as_parsed(node: object) -> object:
    if isinstance(node, list):
        return [_as_parsed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if not _ELEMENT_NAME.match(key):
            continue
        if key == "valueBoolean" and value in ("true", "false"):
            value = value == "true"
        elif key in _INTEGER_KEYS and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        out[key] = _as_parsed(value)
    return out


def _r4_in_place(resource: dict) -> None:
    kind = resource.get("resourceType")
    if kind == "Parameters":
        for parameter in resource.get("parameter", []):
            _r4_parameter(parameter)
        return
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            if isinstance(entry.get("resource"), dict):
                _r4_in_place(entry["resource"])
        return
    for contained in resource.get("contained", []):
        _r4_in_place(contained)
    for key in ("versionAlgorithmString", "versionAlgorithmCoding"):
        if key in resource:
            value_key = "valueString" if key.endswith("String") else "valueCoding"
            resource.setdefault("extension", []).append(
                {"url": f"{XVER}{kind}.versionAlgorithm", value_key: resource.pop(key)}
            )
    if kind == "ConceptMap":
        _r4_concept_map(resource)


def _r4_parameter(parameter: dict) -> None:
    if isinstance(parameter.get("resource"), dict):
        _r4_in_place(parameter["resource"])
    for part in parameter.get("part", []):
        _r4_parameter(part)


def _r4_concept_map(resource: dict) -> None:
    for r5, r4 in (
        ("sourceScopeUri", "sourceUri"),
        ("sourceScopeCanonical", "sourceCanonical"),
        ("targetScopeUri", "targetUri"),
        ("targetScopeCanonical", "targetCanonical"),
    ):
        if r5 in resource:
            resource[r4] = resource.pop(r5)
    for group in resource.get("group", []):
        for element in group.get("element", []):
            if element.pop("noMap", False):
                element["target"] = [{"equivalence": "unmatched"}]
            for target in element.get("target", []):
                relationship = target.pop("relationship", None)
                if relationship is not None:
                    target["equivalence"] = _EQUIVALENCE.get(relationship, "relatedto")
        unmapped = group.get("unmapped")
        if isinstance(unmapped, dict):
            unmapped.pop("relationship", None)
            if unmapped.get("mode") == "use-source-code":
                unmapped["mode"] = "provided"


def to_r5(resource: object) -> object:
    """Return an R5 copy of an R4 answer: expansion properties move from extensions to elements."""
    if not isinstance(resource, dict):
        return resource
    resource = copy.deepcopy(resource)
    _r5_in_place(resource)
    return resource


def _r5_in_place(resource: dict) -> None:
    kind = resource.get("resourceType")
    if kind == "Parameters":
        for parameter in resource.get("parameter", []):
            _r5_parameter(parameter)
    elif kind == "Bundle":
        for entry in resource.get("entry", []):
            if isinstance(entry.get("resource"), dict):
                _r5_in_place(entry["resource"])
    elif kind == "ValueSet" and isinstance(resource.get("expansion"), dict):
        expansion = resource["expansion"]
        properties = _take_extensions(expansion, EXPANSION_PROPERTY)
        if properties:
            expansion["property"] = [_property_definition(p) for p in properties]
        _r5_contains(expansion.get("contains", []))


def _r5_parameter(parameter: dict) -> None:
    if isinstance(parameter.get("resource"), dict):
        _r5_in_place(parameter["resource"])
    for part in parameter.get("part", []):
        _r5_parameter(part)


def _r5_contains(contains: list) -> None:
    for item in contains:
        properties = _take_extensions(item, CONTAINS_PROPERTY)
        if properties:
            item["property"] = [_property_value(p) for p in properties]
        _r5_contains(item.get("contains", []))


def _take_extensions(element: dict, url: str) -> list[dict]:
    found = [e for e in element.get("extension", []) if e.get("url") == url]
    if found:
        rest = [e for e in element["extension"] if e.get("url") != url]
        if rest:
            element["extension"] = rest
        else:
            del element["extension"]
    return found


def _property_definition(extension: dict) -> dict:
    out = {}
    for sub in extension.get("extension", []):
        if sub.get("url") in ("code", "uri"):
            value = next((v for k, v in sub.items() if k.startswith("value")), None)
            out[sub["url"]] = value
    return out


def _property_value(extension: dict) -> dict:
    out: dict = {}
    for sub in extension.get("extension", []):
        name = sub.get("url")
        if name == "code":
            out["code"] = next((v for k, v in sub.items() if k.startswith("value")), None)
        elif name == "value":
            out.update({k: v for k, v in sub.items() if k.startswith("value")})
        elif name == "subProperty":
            out.setdefault("subProperty", []).append(_property_value(sub))
    return out
