"""`$lookup`: a concept's display, designations and properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from terminology.engine.codesystem import CodeSystemIndex, Concept, PropertyValue
from terminology.engine.designations import Designation
from terminology.engine.registry import Registry
from terminology.engine.validate import CodingInput, ValidationOptions, check_coding, supplement_as_system
from terminology.engine.valueset import required_supplements, supplements_of
from terminology.errors import InvalidRequest, NotFound


@dataclass(slots=True)
class LookupResult:
    """The answer of `$lookup`, before it is rendered as Parameters."""

    code_system: CodeSystemIndex
    concept: Concept
    code: str
    properties: list[PropertyValue]
    property_descriptions: dict[str, str]
    include_designations: bool
    # Every designation: the display (in the code system's language), the concept's own, the supplements'.
    designations: list[Designation] = field(default_factory=list)
    used_supplements: list[str] = field(default_factory=list)


def lookup(
    registry: Registry,
    system: str,
    code: str,
    version: str | None = None,
    wanted_properties: list[str] | None = None,
    on: date | None = None,
    supplements: list[str] | None = None,
) -> LookupResult:
    """Look a code up; unknown systems, versions and codes raise NotFound (HTTP 404).

    ``on`` (the ``date`` parameter) picks the version in force on that day when no version is given,
    and says whether a code with a termination date is still active then. ``supplements``
    (``useSupplement``) add their designations; one that is not loaded is a 404. A supplement is
    not a code system: looking a code up in one is a 400 (tx.fhir.org's CODESYSTEM_CS_NO_SUPPLEMENT).
    """
    wanted_supplements = required_supplements(registry, list(supplements)) if supplements else []
    # check_coding resolves the code system (by version, or by date) and judges the code.
    check = check_coding(registry, CodingInput(system, code, version), ValidationOptions(date=on))
    errors = [i for i in check.issues if i.severity == "error"]
    code_system = check.code_system
    if code_system is None:
        raise NotFound(errors[0].text)
    if code_system.content == "supplement":
        raise InvalidRequest(supplement_as_system(code_system.canonical), expression="system")
    if check.concept is None or errors:
        message = errors[0].text if errors else f"Unknown code '{code}' in the CodeSystem '{system}'"
        raise NotFound(message, tx_code="invalid-code", expression="code")
    concept = check.concept
    expression = check.code if check.code and ":" in check.code else None
    wanted = set(wanted_properties or ["*"])
    everything = "*" in wanted
    properties: list[PropertyValue] = []
    for prop in concept.properties:
        if everything or prop.code in wanted:
            if expression and prop.code == "modified":
                continue
            properties.append(prop)
    if expression and (everything or "modified" in wanted):
        properties.append(PropertyValue("modified", "Boolean", True))
    if everything or "inactive" in wanted:
        properties.append(PropertyValue("inactive", "Boolean", check.inactive))
    for parent in concept.parents if everything or "parent" in wanted else ():
        properties.append(PropertyValue("parent", "Code", parent))
    for child in concept.children if everything or "child" in wanted else ():
        properties.append(PropertyValue("child", "Code", child))
    applied = supplements_of(code_system, wanted_supplements) if wanted_supplements else ()
    return LookupResult(
        code_system=code_system,
        concept=concept,
        code=expression or concept.code,
        properties=properties,
        property_descriptions=code_system.property_descriptions,
        include_designations=everything or "designation" in wanted or not wanted_properties,
        designations=code_system.designations_of(concept, applied),
        used_supplements=[s.canonical for s in applied],
    )
