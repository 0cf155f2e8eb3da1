"""Render engine results as FHIR Parameters, ValueSet expansions and Bundles (plain dicts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from terminology.engine.codesystem import Designation, PropertyValue
from terminology.engine.expand import ExpandedConcept, Expansion
from terminology.engine.lookup import LookupResult
from terminology.engine.registry import Published
from terminology.engine.translate import TranslateMatch, TranslateRequest
from terminology.engine.validate import ValidationResult
from terminology.fhir.outcome import operation_outcome

_EXT_UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"
_FRAGMENT_REASON = "This extension is based on a fragment of the code system {url}"
_EXT_EXPANSION_PROPERTY = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property"
_EXT_CONTAINS_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property"
)


def parameters(*entries: dict) -> dict:
    """Wrap parameter entries into a Parameters resource."""
    return {"resourceType": "Parameters", "parameter": list(entries)}


def _designation(d: Designation) -> dict:
    part: list[dict] = []
    if d.language:
        part.append({"name": "language", "valueCode": d.language})
    if d.use:
        part.append({"name": "use", "valueCoding": d.use})
    if d.source:
        part.append({"name": "source", "valueCanonical": d.source})
    part.append({"name": "value", "valueString": d.value})
    return {"name": "designation", "part": part}


def _property(p: PropertyValue, description: str | None) -> dict:
    part = [{"name": "code", "valueCode": p.code}, {"name": "value", f"value{p.value_type}": p.value}]
    if description:
        part.append({"name": "description", "valueString": description})
    return {"name": "property", "part": part}


def lookup_parameters(result: LookupResult) -> dict:
    """Render a $lookup result."""
    cs = result.code_system
    out: list[dict] = [{"name": "code", "valueCode": result.code}, {"name": "system", "valueUri": cs.url}]
    if cs.name:
        out.append({"name": "name", "valueString": cs.name})
    if cs.version:
        out.append({"name": "version", "valueString": cs.version})
    if result.concept.display:
        out.append({"name": "display", "valueString": result.concept.display})
    if result.concept.definition:
        out.append({"name": "definition", "valueString": result.concept.definition})
    out.append({"name": "abstract", "valueBoolean": result.concept.abstract})
    if result.include_designations:
        out.extend(_designation(d) for d in result.designations)
    out.extend(_property(p, result.property_descriptions.get(p.code)) for p in result.properties)
    out.extend({"name": "used-supplement", "valueCanonical": s} for s in result.used_supplements)
    return {"resourceType": "Parameters", "parameter": out}


def validation_parameters(result: ValidationResult) -> dict:
    """Render a $validate-code result in the tx.fhir.org shape."""
    out: list[dict] = [{"name": "result", "valueBoolean": result.result}]
    if result.code:
        out.append({"name": "code", "valueCode": result.code})
    if result.system:
        out.append({"name": "system", "valueUri": result.system})
    if result.version:
        out.append({"name": "version", "valueString": result.version})
    if result.display:
        out.append({"name": "display", "valueString": result.display})
    if result.codeable_concept is not None:
        out.append({"name": "codeableConcept", "valueCodeableConcept": result.codeable_concept})
    if result.inactive:
        out.append({"name": "inactive", "valueBoolean": True})
    if result.status:
        out.append({"name": "status", "valueCode": result.status})
    if result.normalized_code:
        out.append({"name": "normalized-code", "valueCode": result.normalized_code})
    message = result.message
    if message:
        out.append({"name": "message", "valueString": message})
    if result.issues:
        out.append({"name": "issues", "resource": operation_outcome(result.issues)})
    out.extend({"name": "x-unknown-system", "valueCanonical": s} for s in result.unknown_systems)
    out.extend({"name": "x-caused-by-unknown-system", "valueCanonical": s} for s in result.caused_by_unknown)
    return {"resourceType": "Parameters", "parameter": out}


_ECHOED_METADATA = (
    "resourceType",
    "id",
    "language",
    "url",
    "version",
    "name",
    "title",
    "status",
    "experimental",
    "date",
    # Kept: content under licence (CPT) must carry its notice wherever it is shown.
    "copyright",
)
_DEFINITION_METADATA = ("extension", "publisher")


def _contains_entry(entry: ExpandedConcept) -> dict:
    member = entry.member
    concept = member.concept
    # The version is reported once, in used-codesystem, unless one system comes in several versions.
    out: dict = {}
    if entry.extensions:
        out["extension"] = list(entry.extensions)
    out["system"] = member.code_system.url
    if entry.version:
        out["version"] = entry.version
    if concept.abstract:
        out["abstract"] = True
    if entry.inactive:
        out["inactive"] = True
    out["code"] = concept.code
    if entry.display:
        out["display"] = entry.display
    if entry.designations:
        out["designation"] = [d.to_fhir() for d in entry.designations]
    if entry.properties:
        out.setdefault("extension", []).extend(
            {
                "url": _EXT_CONTAINS_PROPERTY,
                "extension": [{"url": "code", "valueCode": code}, {"url": "value", f"value{kind}": value}],
            }
            for code, kind, value in entry.properties
        )
    if entry.children:
        out["contains"] = [_contains_entry(child) for child in entry.children]
    return out


def expansion_value_set(expansion: Expansion, echoed: list[dict]) -> dict:
    """Render an expansion as the stored ValueSet's metadata plus ``expansion``.

    ``expansion.parameter`` echoes the request parameters given, then names what was used:
    status warnings, code systems, value sets, supplements and the version rules that decided.
    R5's ``expansion.property`` and ``contains.property`` go as their R4 cross-version extensions.
    """
    resource = expansion.value_set.resource
    options = expansion.options
    value_set = {k: resource[k] for k in _ECHOED_METADATA if k in resource}
    if options.include_definition:
        # As tx.fhir.org: the definition's own elements only when asked for (includeDefinition).
        value_set.update((k, resource[k]) for k in _DEFINITION_METADATA if k in resource)
    parameter = list(echoed)
    if expansion.display_language:
        parameter.append({"name": "displayLanguage", "valueCode": expansion.display_language})
    # Plain loops: most of these lists are empty (no comprehension call for nothing on the hot path).
    for kind, url in expansion.status_warnings:
        parameter.append({"name": f"warning-{kind}", "valueUri": url})
    for name, values in (
        ("used-codesystem", expansion.used_code_systems),
        ("used-valueset", expansion.used_value_sets),
        ("used-supplement", expansion.used_supplements),
    ):
        for value in values:
            parameter.append({"name": name, "valueUri": value})
    for name, value in expansion.rule_parameters:
        parameter.append({"name": name, "valueUri": value})
    for fragment in expansion.fragments:
        parameter.append({"name": "used-fragment", "valueUri": fragment.canonical})
    if expansion.versions_match:
        parameter.append({"name": "versionsMatch", "valueBoolean": True})
    body: dict = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": expansion.total,
    }
    if options.offset_given:
        body["offset"] = options.offset
    body["parameter"] = parameter
    extensions: list[dict] = []
    if expansion.fragments:
        # The code system is a fragment: codes may exist that this expansion cannot list.
        extensions.append({"url": _EXT_UNCLOSED, "valueBoolean": True})
        extensions.extend(
            {"url": f"{_EXT_UNCLOSED}-reason", "valueString": _FRAGMENT_REASON.format(url=f.url)}
            for f in expansion.fragments
        )
    if expansion.property_definitions:
        extensions += [
            {
                "url": _EXT_EXPANSION_PROPERTY,
                "extension": [{"url": "code", "valueCode": code}]
                + ([{"url": "uri", "valueUri": uri}] if uri else []),
            }
            for code, uri in expansion.property_definitions
        ]
    if extensions:
        body["extension"] = extensions
    if expansion.contains:
        body["contains"] = [_contains_entry(entry) for entry in expansion.contains]
    value_set["expansion"] = body
    return value_set


def translate_parameters(matches: list[TranslateMatch], request: TranslateRequest, asked: str) -> dict:
    """Render $translate matches as tx.fhir.org does: ``concept``, R4 ``equivalence``, ``originMap``.

    A reverse translation (from a target code back to source codes) answers with the code asked
    about as ``concept`` and the source code found as ``source``.
    """
    reverse = request.reverse
    out: list[dict] = [{"name": "result", "valueBoolean": bool(matches)}]
    if not matches:
        out.append({"name": "message", "valueString": f"No mappings could be found for {asked}"})
    for match in matches:
        target = match.target
        if reverse:
            system, code, display = target.source_system, target.source_code, target.source_display
            version = target.source_version
        else:
            system, code, display = target.target_system, target.target_code, target.target_display
            version = target.target_version
        coding = {"system": system, "code": code}
        if version:
            coding["version"] = version
        if display:
            coding["display"] = display
        part: list[dict] = [{"name": "equivalence", "valueCode": target.equivalence}]
        if reverse:
            part.append({"name": "concept", "valueCoding": {"system": request.system, "code": request.code}})
            if code:
                part.append({"name": "source", "valueCoding": coding})
        elif code:
            part.append({"name": "concept", "valueCoding": coding})
        for condition in target.depends_on:
            depends = {"system": condition.get("system"), "code": condition.get("value")}
            if condition.get("display"):
                depends["display"] = condition["display"]
            part.append(
                {
                    "name": "dependsOn",
                    "part": [
                        {"name": "element", "valueUri": condition.get("property")},
                        {"name": "concept", "valueCoding": {k: v for k, v in depends.items() if v}},
                    ],
                }
            )
        for product in target.product:
            value = {"system": product.get("system"), "code": product.get("value")}
            part.append(
                {
                    "name": "product",
                    "part": [
                        {"name": "element", "valueUri": product.get("property")},
                        {"name": "concept", "valueCoding": {k: v for k, v in value.items() if v}},
                    ],
                }
            )
        if target.comment:
            part.append({"name": "message", "valueString": target.comment})
        part.append({"name": "originMap", "valueCanonical": match.concept_map.canonical})
        out.append({"name": "match", "part": part})
    return {"resourceType": "Parameters", "parameter": out}


def search_bundle(resources: list[dict], total: int, self_url: str, next_url: str | None, base: str) -> dict:
    """Render a searchset Bundle."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": total,
        "link": links,
    }
    if resources:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ]
    return bundle


_SUMMARY_TAG = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}


def summarised(item: Published, summary: str) -> dict:
    """Render a published resource as ``_summary`` asks: true (tagged SUBSETTED), data (no text), or whole."""
    if summary == "true":
        resource = dict(item.summary())
        meta = dict(resource.get("meta", {}))
        meta["tag"] = [*meta.get("tag", []), _SUMMARY_TAG]
        resource["meta"] = meta
        return resource
    if summary == "data":
        return {k: v for k, v in item.to_fhir().items() if k != "text"}
    return item.to_fhir()
