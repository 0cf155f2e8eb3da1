"""`$bundling-check` mapping: Parameters items, Claim and Bundle inputs to lines; findings to Parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

from terminology.bundling.model import CheckOptions, CheckResult, Finding, Line, Modifier
from terminology.bundling.rules import BundlingChecker
from terminology.dates import iso_day
from terminology.engine.concept_map_index import MapTarget
from terminology.engine.issues import Issue
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, HCPCS, LOINC, OWN_BASE
from terminology.errors import InvalidRequest, UnprocessableRequest
from terminology.fhir.input_limits import check_resource_types
from terminology.fhir.outcome import operation_outcome
from terminology.fhir.params import OperationParams, ParamValue, Where, path_text

ORDER_TO_CHARGE = f"{OWN_BASE}/ConceptMap/loinc-to-cpt-order-charge"
SETTINGS = ("practitioner", "outpatient")
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
_BILLING_SYSTEMS = (CPT, HCPCS)
_ISSUE_CODES = {
    "unknown-code": "code-invalid",
    "unknown-modifier": "code-invalid",
    "no-edition": "incomplete",
}


@dataclass(slots=True)
class BundlingInput:
    """Lines to check, the options, and the extra ConceptMaps consulted while reading them."""

    lines: list[Line]
    options: CheckOptions
    maps_used: list[str]
    unmapped: list[Finding]


# The readers below take where an element sits as its path text or as a params.Where tuple, and
# spell the path out only for an error: lines keep the tuple, and only the paths that findings
# name are ever turned into text (when the result is rendered).


def read_date(value: object, where: str | Where) -> str:
    """Return the YYYY-MM-DD day of a date or dateTime value; 400 naming ``where`` otherwise."""
    day = iso_day(value)
    if day is None:
        path = path_text(where)
        raise InvalidRequest(f"{path} must be a date (YYYY-MM-DD), not '{value}'", expression=path)
    return day


def read_units(value: object, where: str | Where) -> float:
    """Return a number of units (a number, or a Quantity's value); 400 if it is not a number.

    Zero, negative and fractional units are valid FHIR: they are read, and the units rule reports
    them as the claim error they are.
    """
    if value.__class__ is dict:
        value = value.get("value", 1)
    if value.__class__ not in (int, float) or not math.isfinite(value):  # bool is not a number of units
        path = path_text(where)
        raise InvalidRequest(f"{path} must be a number of units", expression=path)
    return float(value)


def split_expression(code: str, system: str | None, where: str | Where) -> tuple[str, list[Modifier]]:
    """Split a CPT expression such as ``72126:26`` into its base code and modifiers."""
    if system == CPT and ":" in code:
        base, *mods = code.split(":")
        if not base or not all(mods):
            path = path_text(where)
            raise InvalidRequest(
                f"{path}: '{code}' is not a CPT expression (base:modifier[:modifier...])", expression=path
            )
        return base, [Modifier(m, CPT, where) for m in mods]
    return code, []


def _pick_coding(concept: object, where: str | Where, prefer_loinc: bool = False) -> tuple[dict, Where]:
    """Pick the CPT/HCPCS coding of a CodeableConcept (then, for orders, LOINC; else the first coding)."""
    if not isinstance(concept, dict):
        path = path_text(where)
        raise InvalidRequest(f"{path} must be a CodeableConcept", expression=path)
    codings = concept.get("coding") or []
    if not isinstance(codings, list) or not codings:
        path = path_text(where)
        raise InvalidRequest(f"{path} has no coding", expression=f"{path}.coding")
    for i, coding in enumerate(codings):
        if isinstance(coding, dict) and coding.get("system") in _BILLING_SYSTEMS:
            return coding, (where, "coding", i, "")
    if prefer_loinc:
        for i, coding in enumerate(codings):
            if isinstance(coding, dict) and coding.get("system") == LOINC:
                return coding, (where, "coding", i, "")
    return codings[0], (where, "coding", 0, "")


def _coding_code(coding: object, where: str | Where) -> tuple[str, str | None]:
    code = coding.get("code") if coding.__class__ is dict else None
    if code.__class__ is not str or not code:
        path = path_text(where)
        raise InvalidRequest(f"{path} must have a code", expression=f"{path}.code")
    system = coding.get("system")
    if system is not None and system.__class__ is not str:
        path = path_text(where)
        raise InvalidRequest(f"{path}.system must be a string", expression=f"{path}.system")
    return code, system


def _options(params: OperationParams) -> CheckOptions:
    setting = params.string("setting") or "practitioner"
    if setting not in SETTINGS:
        found = params.first("setting")
        raise InvalidRequest(
            f"Parameter 'setting' must be practitioner or outpatient, not '{setting}'",
            expression=found.path if found else "setting",
        )
    return CheckOptions(setting=setting, edition=params.string("edition"))


def _claims_setting(resource: dict) -> str | None:
    """Return the setting the input's Claims say by their type (institutional: outpatient), if any.

    Used when the request names no ``setting``: a hospital's facility claim is checked against the
    hospital outpatient tables as one group per date, as the I/OCE does, without the caller having
    to say so twice.
    """
    if resource.get("resourceType") == "Claim":
        claims = [resource]
    else:
        entries = resource.get("entry") or []
        claims = [
            e["resource"]
            for e in entries
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "Claim"
        ]
    settings = set()
    for claim in claims:
        codings = (claim.get("type") or {}).get("coding") or []
        institutional = any(
            isinstance(c, dict) and c.get("system") == CLAIM_TYPE and c.get("code") == "institutional"
            for c in codings
        )
        settings.add("outpatient" if institutional else "practitioner")
    if len(settings) > 1:
        raise InvalidRequest(
            "The Bundle holds institutional and professional claims, which are checked against different "
            "NCCI tables: send the 'setting' parameter, or check them apart",
            expression="setting",
        )
    return settings.pop() if settings else None


def requested_date(params: OperationParams) -> str | None:
    """Return the ``date`` parameter (the date of service for lines that state none), or None."""
    found = params.first("date")
    return read_date(found.value, found.where) if found is not None else None


def _provider_key(value: object) -> str | None:
    return _reference_key(value) if isinstance(value, dict) else (str(value) if value else None)


def _claim_provider(params: OperationParams) -> str | None:
    """Return the top-level ``provider``: the claim's rendering provider, for items naming none."""
    found = params.first("provider")
    return _provider_key(found.value) if found is not None else None


def _entry_path(item: ParamValue) -> str:
    return item.path.removesuffix(".part")


def _item_line(item: ParamValue, position: int, default_date: str | None, claim_provider: str | None) -> Line:
    if item.value_type != "part":
        raise InvalidRequest("Parameter 'item' must have parts (sequence, code, ...)", expression=item.path)
    parts: OperationParams = item.value  # type: ignore[assignment]
    # One item per claim line: its parts are read by name once, and unpacked (a ParamValue is a
    # (name, value type, value, where) tuple) rather than read attribute by attribute.
    part = parts.by_name().get
    found = part("code")
    if found is None:
        raise InvalidRequest("Each item needs a code part (valueCoding)", expression=_entry_path(item))
    _name, value_type, value, code_where = found[0]
    if value_type == "Coding":
        code, system = _coding_code(value, code_where)
    elif value_type == "CodeableConcept":
        coding, coding_where = _pick_coding(value, code_where)
        code, system = _coding_code(coding, coding_where)
    else:
        raise InvalidRequest("The item code must be a valueCoding", expression=found[0].path)
    code, modifiers = split_expression(code, system, code_where)
    for modifier in part("modifier", ()):
        _name, value_type, value, where = modifier
        if value_type == "Coding":
            mod, mod_system = _coding_code(value, where)
        elif value_type in ("Code", "String"):
            mod, mod_system = str(value), None
        elif value_type == "CodeableConcept":
            coding, coding_where = _pick_coding(value, where)
            mod, mod_system = _coding_code(coding, coding_where)
        else:
            raise InvalidRequest(
                "An item modifier must be a valueCoding or valueCode", expression=modifier.path
            )
        modifiers.append(Modifier(mod, mod_system or system, where))
    quantity, quantity_where = 1.0, None
    found = part("quantity")
    if found is not None:
        quantity_where = found[0][3]
        quantity = read_units(found[0][2], quantity_where)
    found = part("servicedDate") or part("date")
    if found is not None:
        day = read_date(found[0][2], found[0][3])
    elif default_date is not None:
        day = default_date
    else:
        raise InvalidRequest(
            "The item has no servicedDate and there is no top-level date",
            expression=_entry_path(item),
        )
    found = part("sequence")
    number = found[0][2] if found is not None else position
    if number.__class__ is not int or not 1 <= number <= 2**31 - 1:  # else integer() says what is wrong
        number = parts.integer("sequence", position, minimum=1)
    found = part("provider")
    provider_key = _provider_key(found[0][2]) if found is not None else None
    return Line(
        number,
        code,
        system,
        modifiers,
        quantity,
        day,
        provider_key,
        code_where,
        quantity_where,
        claim_provider=claim_provider,
    )


def _reference_key(value: dict | None) -> str | None:
    """Turn a Reference (or Identifier) into a provider key."""
    if not value:
        return None
    if value.get("reference"):
        return str(value["reference"])
    identifier = value.get("identifier") if "identifier" in value else value
    if isinstance(identifier, dict) and identifier.get("value"):
        return f"{identifier.get('system', '')}|{identifier['value']}"
    return value.get("display")


_MODELS = {
    "Claim": "fhir.resources.R4B.claim:Claim",
    "Bundle": "fhir.resources.R4B.bundle:Bundle",
    "ServiceRequest": "fhir.resources.R4B.servicerequest:ServiceRequest",
}


def validate_input(resource: dict, path: str, allowed: tuple[str, ...] = ("Claim", "Bundle")) -> None:
    """Validate an incoming resource with fhir.resources R4B (422 naming the element)."""
    import importlib

    from pydantic import ValidationError

    from terminology.content.loader import element_path

    resource_type = resource.get("resourceType")
    if resource_type not in allowed:
        raise UnprocessableRequest(
            f"The resource must be a {' or a '.join(allowed)}, not '{resource_type}'",
            expression=f"{path}.resourceType",
        )
    # fhir.resources raises KeyError/TypeError (not a validation error) on an unknown resourceType.
    check_resource_types(resource, resource_type)
    module, _, name = _MODELS[resource_type].partition(":")
    model = getattr(importlib.import_module(module), name)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        element = element_path(resource_type, first["loc"])
        raise UnprocessableRequest(
            f"Invalid {resource_type}: {element}: {first['msg']}", expression=element
        ) from None


def _claim_lines(
    claim: dict, prefix: str, default_date: str | None, numbering: list[int] | None
) -> list[Line]:
    care_team = {
        member.get("sequence"): _reference_key(member.get("provider"))
        for member in claim.get("careTeam", [])
        if isinstance(member, dict)
    }
    rendering = _claim_rendering_provider(claim)
    period_start = (claim.get("billablePeriod") or {}).get("start")
    lines = []
    for i, item in enumerate(claim.get("item", [])):
        here = f"{prefix}.item[{i}]"
        coding, _ = _pick_coding(item.get("productOrService"), f"{here}.productOrService")
        code, system = _coding_code(coding, f"{here}.productOrService")
        code, modifiers = split_expression(code, system, f"{here}.productOrService")
        for k, modifier in enumerate(item.get("modifier", [])):
            mod_coding, mod_path = _pick_coding(modifier, f"{here}.modifier[{k}]")
            mod, mod_system = _coding_code(mod_coding, mod_path)
            modifiers.append(Modifier(mod, mod_system, f"{here}.modifier[{k}]"))
        if item.get("servicedDate"):
            day = read_date(item["servicedDate"], f"{here}.servicedDate")
        elif (item.get("servicedPeriod") or {}).get("start"):
            day = read_date(item["servicedPeriod"]["start"], f"{here}.servicedPeriod.start")
        elif period_start:
            day = read_date(period_start, f"{prefix}.billablePeriod.start")
        elif default_date:
            day = default_date
        else:
            raise InvalidRequest(
                f"{here} has no servicedDate or servicedPeriod (and the claim no billablePeriod)",
                expression=f"{here}.servicedDate",
            )
        sequences = item.get("careTeamSequence") or []
        provider = care_team.get(sequences[0]) if sequences else None
        quantity = read_units(item["quantity"], f"{here}.quantity") if "quantity" in item else 1.0
        if numbering is None:
            number = item.get("sequence", i + 1)
        else:
            numbering[0] += 1
            number = numbering[0]
        lines.append(
            Line(
                number,
                code,
                system,
                modifiers,
                quantity,
                day,
                provider,
                f"{here}.productOrService",
                f"{here}.quantity" if "quantity" in item else None,
                claim=prefix,
                claim_provider=rendering,
            )
        )
    return lines


def _claim_rendering_provider(claim: dict) -> str | None:
    """Return who renders the lines that name no care team member (X12 837P: claim level, else billing).

    The care team member with role ``primary`` (or the only member) renders them; failing that,
    the claim's provider, which bills for them.
    """
    members = [m for m in claim.get("careTeam", []) if isinstance(m, dict) and m.get("provider")]
    primary = [
        m
        for m in members
        if any(
            c.get("code") == "primary" for c in (m.get("role") or {}).get("coding", []) if isinstance(c, dict)
        )
    ]
    chosen = primary[:1] or (members if len(members) == 1 else [])
    if chosen:
        return _reference_key(chosen[0]["provider"])
    return _reference_key(claim.get("provider"))


def _occurrence(resource: dict, here: str, default_date: str | None, *extra: str) -> str:
    for key in ("occurrenceDateTime", *extra):
        if resource.get(key):
            return read_date(resource[key], f"{here}.{key}")
    period = resource.get("occurrencePeriod") or {}
    if period.get("start"):
        return read_date(period["start"], f"{here}.occurrencePeriod.start")
    if default_date:
        return default_date
    raise InvalidRequest(f"{here} has no occurrence date and there is no top-level date", expression=here)


def _performer(resource: dict) -> str | None:
    performers = resource.get("performer") or []
    if performers and isinstance(performers[0], dict):
        return _reference_key(performers[0].get("actor") or performers[0])
    return None


@dataclass(slots=True)
class OrderLine:
    """One ServiceRequest read for checking: its line (None when unmapped) and the charge mapping."""

    line: Line | None
    order_code: str
    order_system: str | None
    charges: list[MapTarget]
    order_map: str | None = None  # canonical url|version of the order-to-charge map consulted
    unmapped: Finding | None = None


def service_request_line(
    resource: dict, here: str, number: int, default_date: str | None, registry: Registry
) -> OrderLine:
    """Read a ServiceRequest as a line; a LOINC order becomes its CPT charge code (order-to-charge map).

    :param here: the FHIRPath of the resource in the input, used in issue expressions.
    :param default_date: date used when the order has no occurrence or authoredOn.
    """
    coding, _ = _pick_coding(resource.get("code"), f"{here}.code", prefer_loinc=True)
    code, system = _coding_code(coding, f"{here}.code")
    day = _occurrence(resource, here, default_date, "authoredOn")
    quantity = 1.0
    if "quantityQuantity" in resource:
        quantity = read_units(resource["quantityQuantity"], f"{here}.quantityQuantity")
    provider = _performer(resource)
    # Orders without a performer are judged with the other orders of their encounter.
    encounter = (
        _reference_key(resource.get("encounter")) if isinstance(resource.get("encounter"), dict) else None
    )
    claim = encounter or ""
    if system != LOINC:
        base, modifiers = split_expression(code, system, f"{here}.code")
        line = Line(number, base, system, modifiers, quantity, day, provider, f"{here}.code", claim=claim)
        return OrderLine(line, code, system, [])
    order_map = registry.find("ConceptMap", ORDER_TO_CHARGE)
    targets = order_map.translate(LOINC, code) if order_map is not None else []
    charges = [t for t in targets if t.target_code and t.target_system == CPT]
    canonical = order_map.canonical if order_map is not None else None
    if not charges:
        line = Line(number, code, system, [], quantity, day, provider, f"{here}.code", claim=claim)
        finding = Finding(
            "unmapped-order",
            "warning",
            f"Line {number}: the LOINC order {code} has no charge code in the order-to-charge "
            "ConceptMap, so it was not checked",
            [line],
            [f"{here}.code"],
            day,
            codes=[code],
            sources=[canonical] if canonical else [],
        )
        return OrderLine(None, code, system, [], canonical, finding)
    # The first CPT target is the charge the bundling rules see; $order-to-charge lists them all.
    charge, modifiers = split_expression(charges[0].target_code, CPT, f"{here}.code")
    line = Line(number, charge, CPT, modifiers, quantity, day, provider, f"{here}.code", claim=claim)
    return OrderLine(line, code, system, charges, canonical)


def _bundle_lines(
    bundle: dict,
    prefix: str,
    default_date: str | None,
    registry: Registry,
    maps_used: list[str],
    unmapped: list[Finding],
) -> list[Line]:
    lines: list[Line] = []
    numbering = [0]
    for i, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        here = f"{prefix}.entry[{i}].resource"
        kind = resource.get("resourceType")
        if kind == "Claim":
            lines.extend(_claim_lines(resource, here, default_date, numbering))
        elif kind == "ChargeItem":
            coding, _ = _pick_coding(resource.get("code"), f"{here}.code")
            code, system = _coding_code(coding, f"{here}.code")
            code, modifiers = split_expression(code, system, f"{here}.code")
            day = _occurrence(resource, here, default_date, "enteredDate")
            quantity = read_units(resource["quantity"], f"{here}.quantity") if "quantity" in resource else 1.0
            numbering[0] += 1
            lines.append(
                Line(
                    numbering[0],
                    code,
                    system,
                    modifiers,
                    quantity,
                    day,
                    _performer(resource),
                    f"{here}.code",
                    f"{here}.quantity" if "quantity" in resource else None,
                )
            )
        elif kind == "ServiceRequest":
            if resource.get("code") is None:
                raise InvalidRequest(f"{here}.code is required to check an order", expression=f"{here}.code")
            numbering[0] += 1
            order = service_request_line(resource, here, numbering[0], default_date, registry)
            if order.order_map is not None and order.order_map not in maps_used:
                maps_used.append(order.order_map)
            if order.line is not None:
                lines.append(order.line)
            else:
                assert order.unmapped is not None
                unmapped.append(order.unmapped)
    return lines


def bundling_input(params: OperationParams, registry: Registry) -> BundlingInput:
    """Parse `$bundling-check` input: items, a Claim, or a Bundle of Claim/ChargeItem/ServiceRequest."""
    options = _options(params)
    default_date = requested_date(params)
    claim_provider = _claim_provider(params)
    maps_used: list[str] = []
    unmapped: list[Finding] = []
    items = params.all("item")
    found = params.resource("resource")
    if items and found is not None:
        raise InvalidRequest("Send either item parts or a resource, not both", expression=found.path)
    if items:
        lines = [_item_line(item, i + 1, default_date, claim_provider) for i, item in enumerate(items)]
        numbers = [line.number for line in lines]
        if len(set(numbers)) != len(numbers):
            raise InvalidRequest("Item sequence numbers must be unique", expression="item.sequence")
    elif found is not None:
        resource = found.value
        assert isinstance(resource, dict)
        validate_input(resource, found.path)
        if params.first("setting") is None:
            options.setting = _claims_setting(resource) or options.setting
        kind = resource["resourceType"]
        if kind == "Claim":
            lines = _claim_lines(resource, "Claim", default_date, None)
        else:
            lines = _bundle_lines(resource, "Bundle", default_date, registry, maps_used, unmapped)
    else:
        raise InvalidRequest(
            "Nothing to check: send item parts, or a Claim or Bundle in the 'resource' parameter",
            expression="Parameters.parameter",
        )
    if not lines and not unmapped:
        raise InvalidRequest("The input holds no claim lines, charge items or orders", expression="resource")
    return BundlingInput(lines, options, maps_used, unmapped)


def check_input(checker: BundlingChecker, parsed: BundlingInput) -> CheckResult:
    """Run the bundling rules on parsed input; unmapped orders join the findings in order."""
    result = checker.check(parsed.lines, parsed.options)
    if parsed.unmapped:
        result.findings = sorted([*result.findings, *parsed.unmapped], key=lambda f: f.sort_key())
    return result


def _number(name: str, value: float) -> dict:
    """Render a number part: valueInteger when the number is whole, else valueDecimal."""
    if float(value).is_integer():
        return {"name": name, "valueInteger": int(value)}
    return {"name": name, "valueDecimal": value}


def coding(system: str | None, code: str, display: str | None = None) -> dict:
    """Render a Coding, leaving out the system and display when there are none."""
    rendered = {"system": system, "code": code} if system else {"code": code}
    if display:
        rendered["display"] = display
    return rendered


def _finding_parts(finding: Finding) -> list[dict]:
    parts: list[dict] = [
        {"name": "rule", "valueCode": finding.rule},
        {"name": "severity", "valueCode": finding.severity},
        {"name": "message", "valueString": finding.message},
    ]
    # Plain appends: a finding has only a few of each part, too few to pay for generators.
    append = parts.append
    if finding.date:
        append({"name": "date", "valueDate": finding.date})
    for line in finding.lines:
        append({"name": "line", "valueInteger": line.number})
    for code in finding.codes:
        append({"name": "code", "valueCode": code})
    if finding.column1 is not None:
        append({"name": "column1", "valueCoding": coding(finding.column1.system, finding.column1.code)})
    if finding.column2 is not None:
        append({"name": "column2", "valueCoding": coding(finding.column2.system, finding.column2.code)})
    if finding.modifier_indicator is not None:
        append({"name": "modifierIndicator", "valueCode": finding.modifier_indicator})
    if finding.bypass_modifier is not None:
        append({"name": "bypassModifier", "valueCode": finding.bypass_modifier})
    if finding.mue_value is not None:
        append({"name": "mueValue", "valueInteger": finding.mue_value})
    if finding.mai is not None:
        append({"name": "mai", "valueCode": str(finding.mai)})
    if finding.units is not None:
        append(_number("units", finding.units))
    if finding.appealable is not None:
        append({"name": "appealable", "valueBoolean": finding.appealable})
    if finding.grouping is not None:
        append({"name": "grouping", "valueCode": finding.grouping})
        if finding.provider is not None:
            append({"name": "provider", "valueString": finding.provider})
    if finding.rationale:
        append({"name": "rationale", "valueString": finding.rationale})
    for source in finding.sources:
        append({"name": "source", "valueString": source})
    suggestion = finding.suggestion
    if suggestion is not None:
        sub: list[dict] = [
            {"name": "action", "valueCode": suggestion.action},
            {"name": "text", "valueString": suggestion.text},
        ]
        for number in suggestion.lines:
            sub.append({"name": "line", "valueInteger": number})
        for code in suggestion.codes:
            sub.append({"name": "code", "valueCoding": coding(suggestion.system, code)})
        for modifier in suggestion.modifiers:
            sub.append({"name": "modifier", "valueCode": modifier})
        if suggestion.units is not None:
            sub.append(_number("units", suggestion.units))
        append({"name": "suggestion", "part": sub})
    return parts


def bundling_parameters(result: CheckResult, extra_maps: list[str]) -> dict:
    """Render the result: result, editions, ConceptMaps, one finding per problem, an OperationOutcome."""
    out: list[dict] = [{"name": "result", "valueBoolean": result.result}]
    for edition in result.editions:
        out.append(
            {
                "name": "edition",
                "part": [
                    {"name": "kind", "valueCode": edition.kind},
                    {"name": "setting", "valueCode": edition.setting},
                    {"name": "name", "valueString": edition.name},
                    {"name": "quarter", "valueString": edition.quarter},
                    {"name": "start", "valueDate": edition.start},
                    {"name": "end", "valueDate": edition.end},
                ],
            }
        )
    for canonical in [*result.concept_maps, *extra_maps]:
        out.append({"name": "conceptMap", "valueCanonical": canonical})
    issues = []
    for finding in result.findings:
        out.append({"name": "finding", "part": _finding_parts(finding)})
        issues.append(
            Issue(
                finding.severity,
                _ISSUE_CODES.get(finding.rule, "business-rule"),
                finding.message,
                None,
                [path_text(where) for where in finding.expressions] or None,
            )
        )
    if not issues:
        issues.append(
            Issue("information", "informational", "No bundling, MUE or combined-code problems found")
        )
    out.append({"name": "issues", "resource": operation_outcome(issues)})
    return {"resourceType": "Parameters", "parameter": out}
