"""`$validate-code` for CodeSystem and ValueSet: codings, CodeableConcepts, CPT expressions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from terminology.engine.clock import today
from terminology.engine.codesystem import CodeSystemIndex, Concept
from terminology.engine.issues import Issue
from terminology.engine.pctc import concept_problems as pctc_problems
from terminology.engine.registry import Registry
from terminology.engine.systems import EXPRESSION_MODIFIER_SYSTEMS
from terminology.engine.valueset import ValueSetIndex
from terminology.errors import NotFound


@dataclass(slots=True)
class CodingInput:
    """A coding to validate, with the expression prefix its issues point at."""

    system: str | None
    code: str | None
    version: str | None = None
    display: str | None = None
    prefix: str = ""  # "", "Coding." or "CodeableConcept.coding[i]."


@dataclass(slots=True)
class ValidationOptions:
    """Request-wide switches of `$validate-code`."""

    lenient_display: bool = False
    active_only: bool = False
    display_language: str | None = None
    # The date of service (``date`` parameter): picks the version in force and ends terminated codes.
    date: date | None = None


@dataclass(slots=True)
class CodingCheck:
    """What is known about one coding after checking it against its code system."""

    coding: CodingInput
    code_system: CodeSystemIndex | None = None
    concept: Concept | None = None
    code: str | None = None
    issues: list[Issue] = field(default_factory=list)
    normalized_code: str | None = None
    unknown_system: str | None = None
    inactive: bool = False
    status: str | None = None

    @property
    def valid(self) -> bool:
        """Say whether the coding passed every check with no error."""
        return self.concept is not None and not any(i.severity == "error" for i in self.issues)


@dataclass(slots=True)
class ValidationResult:
    """The answer of `$validate-code`, before it is rendered as Parameters."""

    result: bool
    system: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None
    issues: list[Issue] = field(default_factory=list)
    inactive: bool = False
    status: str | None = None
    normalized_code: str | None = None
    codeable_concept: dict | None = None
    unknown_systems: list[str] = field(default_factory=list)
    caused_by_unknown: list[str] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        """Join the error texts (or, failing that, warning texts) with '; ' as tx.fhir.org does."""
        errors = [i.text for i in self.issues if i.severity == "error"]
        if not errors and not self.result:
            errors = [i.text for i in self.issues if i.severity == "warning"]
        return "; ".join(errors) if errors else None


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def unknown_code_message(code_system: CodeSystemIndex, code: str) -> str:
    """Return tx.fhir.org's unknown-code wording, with its note for fragment code systems."""
    version = f" version '{code_system.version}'" if code_system.version else ""
    if code_system.content == "fragment":
        return (
            f"Unknown Code '{code}' in the CodeSystem '{code_system.url}'{version} - note that "
            "the code system is labeled as a fragment, so the code may be valid in some other fragment"
        )
    return f"Unknown code '{code}' in the CodeSystem '{code_system.url}'{version}"


def find_modifier(registry: Registry, code_system: CodeSystemIndex, code: str) -> Concept | None:
    """Find a modifier for a compositional expression in the system or its modifier systems."""
    concept = code_system.find(code)
    if concept is not None:
        return concept if code_system.is_modifier(concept) else None
    for other_url in EXPRESSION_MODIFIER_SYSTEMS.get(code_system.url, ()):
        other = registry.find("CodeSystem", other_url)
        if other is not None:
            found = other.find(code)
            if found is not None and other.is_modifier(found):
                return found
    return None


def _check_expression(
    registry: Registry, check: CodingCheck, code_system: CodeSystemIndex, code: str, path: str
) -> None:
    """Validate a post-coordinated expression ``base:mod[:mod…]`` (HL7 CPT syntax)."""
    base_code, *modifiers = code.split(":")
    base = code_system.find(base_code)
    if base is None:
        check.issues.append(
            Issue(
                "error", "code-invalid", unknown_code_message(code_system, base_code), "invalid-code", [path]
            )
        )
        return
    if code_system.is_modifier(base):
        check.issues.append(
            Issue(
                "error", "code-invalid",
                f"The code '{base_code}' is a modifier and cannot be the base of the expression '{code}'",
                "invalid-code", [path],
            )
        )  # fmt: skip
        return
    seen: set[str] = set()
    for modifier in modifiers:
        if modifier in seen:
            text = f"The modifier '{modifier}' is repeated in the expression '{code}'"
        elif not modifier:
            text = f"The expression '{code}' has an empty modifier"
        elif find_modifier(registry, code_system, modifier) is None:
            known = code_system.find(modifier) is not None
            text = (
                f"The code '{modifier}' in the expression '{code}' is not a modifier"
                if known
                else f"Unknown modifier '{modifier}' in the expression '{code}' "
                f"(CodeSystem '{code_system.canonical}')"
            )
        else:
            seen.add(modifier)
            continue
        check.issues.append(Issue("error", "code-invalid", text, "invalid-code", [path]))
    for text in pctc_problems(base, [m for m in modifiers if m in seen]):
        check.issues.append(Issue("error", "business-rule", text, "invalid-code", [path]))
    # Expressions have no display of their own; the base concept's displays stand for it.
    check.concept = base
    check.code = code


def check_coding(registry: Registry, coding: CodingInput, options: ValidationOptions) -> CodingCheck:
    """Check one coding against its code system: existence, version, case, display, status."""
    check = CodingCheck(coding, code=coding.code)
    prefix = coding.prefix
    if not coding.code:
        check.issues.append(Issue("error", "invalid", "No code provided", "invalid-data", [f"{prefix}code"]))
        return check
    if not coding.system:
        check.issues.append(
            Issue(
                "error", "invalid",
                "Coding has no system. A code with no system has no defined meaning, and it "
                "cannot be validated. A system should be provided",
                "invalid-data", [f"{prefix}system"],
            )
        )  # fmt: skip
        return check
    try:
        if coding.version is None and options.date is not None:
            code_system = registry.code_system_for_date(coding.system, options.date)
        else:
            code_system = registry.code_system(coding.system, coding.version)
    except NotFound as exc:
        check.unknown_system = f"{coding.system}|{coding.version}" if coding.version else coding.system
        where = "version" if coding.version and registry.has_system(coding.system) else "system"
        check.issues.append(Issue("error", "not-found", exc.message, "not-found", [f"{prefix}{where}"]))
        return check
    check.code_system = code_system
    code = coding.code
    concept = code_system.find(code)
    if concept is None and not code_system.case_sensitive:
        concept = code_system.find_folded(code)
        if concept is not None:
            check.normalized_code = concept.code
            check.issues.append(
                Issue(
                    "information", "business-rule",
                    f"The code '{code}' differs from the correct code '{concept.code}' by case. "
                    f"Although the code system '{code_system.canonical}' is case insensitive, "
                    "implementers are strongly encouraged to use the correct case anyway",
                    "code-rule", [f"{prefix}code"],
                )
            )  # fmt: skip
    if concept is None and code_system.compositional and ":" in code:
        _check_expression(registry, check, code_system, code, f"{prefix}code")
        concept = check.concept
        if concept is None or check.issues:
            return check
    if concept is None:
        check.issues.append(
            Issue(
                "error",
                "code-invalid",
                unknown_code_message(code_system, code),
                "invalid-code",
                [f"{prefix}code"],
            )
        )
        return check
    check.concept = concept
    check.code = check.code if check.code and ":" in check.code else concept.code
    _check_display(check, code_system, concept, options)
    check.inactive, check.status = concept.inactive, concept.status
    if not check.inactive and concept.inactive_on((options.date or today()).isoformat()):
        check.inactive, check.status = True, "retired"  # past its termination date
    if check.inactive:
        if options.active_only:
            check.issues.append(
                Issue(
                    "error",
                    "business-rule",
                    f"The code '{concept.code}' is valid but is not active",
                    "code-rule",
                    [f"{prefix}code"],
                )
            )
        else:
            check.issues.append(
                Issue(
                    "warning", "business-rule",
                    f"The concept '{concept.code}' has a status of {check.status or 'inactive'} "
                    "and its use should be reviewed",
                    "code-comment", [f"{prefix}code"],
                )
            )  # fmt: skip
    return check


def _check_display(
    check: CodingCheck, code_system: CodeSystemIndex, concept: Concept, options: ValidationOptions
) -> None:
    display = check.coding.display
    if not display:
        return
    choices = concept.displays()
    wanted = _normalise(display)
    if any(_normalise(choice) == wanted for choice in choices):
        return
    language = code_system.language or "en"
    if len(choices) == 1:
        valid = f"Valid display is '{choices[0]}' ({language})"
    else:
        listed = " or ".join(f"'{c}' ({language})" for c in choices)
        valid = f"Valid display is one of {len(choices)} choices: {listed}"
    languages = options.display_language or "--"
    text = (
        f"Wrong Display Name '{display}' for {code_system.url}#{check.code}. {valid} "
        f"(for the language(s) '{languages}')"
    )
    severity = "warning" if options.lenient_display else "error"
    check.issues.append(
        Issue(severity, "invalid", text, "invalid-display", [f"{check.coding.prefix}display"])
    )


def _result_from_check(check: CodingCheck, result: bool) -> ValidationResult:
    concept, code_system = check.concept, check.code_system
    outcome = ValidationResult(
        result=result,
        system=check.coding.system,
        code=check.code,
        version=code_system.version if code_system else None,
        display=concept.display if concept else None,
        issues=list(check.issues),
        normalized_code=check.normalized_code,
    )
    if concept is not None and check.inactive:
        outcome.inactive, outcome.status = True, check.status or "inactive"
    if check.unknown_system:
        outcome.unknown_systems.append(check.unknown_system)
    return outcome


def validate_in_code_system(
    registry: Registry,
    coding: CodingInput,
    options: ValidationOptions,
) -> ValidationResult:
    """Validate a single coding against its code system (CodeSystem/$validate-code)."""
    check = check_coding(registry, coding, options)
    return _result_from_check(check, check.valid)


def validate_codings_in_code_system(
    registry: Registry, codings: list[CodingInput], options: ValidationOptions, concept: dict
) -> ValidationResult:
    """Validate a CodeableConcept against code systems: valid when one coding is valid."""
    checks = [check_coding(registry, c, options) for c in codings]
    return _combine(checks, concept)


def _combine(checks: list[CodingCheck], codeable: dict) -> ValidationResult:
    """Merge the checks of a CodeableConcept's codings: valid when one coding is valid."""
    winner = next((c for c in checks if c.valid), None)
    chosen = winner or (checks[0] if len(checks) == 1 else None)
    result = _result_from_check(chosen, winner is not None) if chosen else ValidationResult(result=False)
    result.issues = [i for c in checks for i in c.issues]
    result.unknown_systems = [c.unknown_system for c in checks if c.unknown_system]
    result.codeable_concept = codeable
    return result


def _membership(
    registry: Registry, value_set: ValueSetIndex, check: CodingCheck, pins: dict[str, tuple[str, str]]
) -> None:
    """Add the value-set membership issue of a coding that exists in its code system."""
    concept, code_system = check.concept, check.code_system
    if code_system is None:
        return
    _, index = value_set.members(registry, pins)
    member = index.get((code_system.url, concept.code)) if concept is not None else None
    if member is not None and (
        check.coding.version is None or member.code_system.version == code_system.version
    ):
        return
    check.issues.append(_not_in_value_set(check, value_set))


def _not_in_value_set(check: CodingCheck, value_set: ValueSetIndex) -> Issue:
    return Issue(
        "error", "code-invalid",
        f"The provided code '{check.coding.system}#{check.code}' was not found in the value set "
        f"'{value_set.canonical}'",
        "not-in-vs", [f"{check.coding.prefix}code"],
    )  # fmt: skip


def infer_system(registry: Registry, value_set: ValueSetIndex, code: str) -> str | None:
    """Return the only system of the value set that holds ``code``, if exactly one does."""
    members, _ = value_set.members(registry)
    systems = {m.code_system.url for m in members if m.concept.code == code.split(":")[0]}
    return systems.pop() if len(systems) == 1 else None


def validate_in_value_set(
    registry: Registry,
    value_set: ValueSetIndex,
    codings: list[CodingInput],
    options: ValidationOptions,
    codeable: dict | None = None,
    pins: dict[str, tuple[str, str]] | None = None,
) -> ValidationResult:
    """Validate codings (one, or a CodeableConcept's) against a value set."""
    pins = pins or {}
    checks: list[CodingCheck] = []
    for coding in codings:
        if not coding.system and coding.code:
            coding.system = infer_system(registry, value_set, coding.code)
            if coding.system is None:
                check = CodingCheck(coding, code=coding.code)
                check.issues.append(
                    Issue(
                        "error", "not-found",
                        f"The System URI could not be determined for the code '{coding.code}' "
                        f"in the ValueSet '{value_set.canonical}'",
                        "cannot-infer", [f"{coding.prefix}code"],
                    )
                )  # fmt: skip
                checks.append(check)
                continue
        check = check_coding(registry, coding, options)
        _membership(registry, value_set, check, pins)
        if check.unknown_system:
            included = {s for s, _ in value_set.included_systems()}
            if coding.system in included:
                check.issues.append(
                    Issue(
                        "warning", "not-found",
                        f"Unable to check whether the code is in the value set '{value_set.canonical}' "
                        f"because the code system {check.unknown_system} was not found",
                        "vs-invalid",
                    )
                )  # fmt: skip
            else:
                # A system the value set does not use: the code is not in it, whatever it means.
                check.issues.append(_not_in_value_set(check, value_set))
        checks.append(check)
    if codeable is None:
        return _result_from_check(checks[0], checks[0].valid)
    result = _combine(checks, codeable)
    if result.result:
        # The other codings' failures are only information once one coding is in the value set.
        for issue in result.issues:
            if issue.severity == "error" and issue.tx_code == "not-in-vs":
                issue.severity, issue.tx_code = "information", "this-code-not-in-vs"
    else:
        result.issues.append(
            Issue(
                "error", "code-invalid",
                f"No valid coding was found for the value set '{value_set.canonical}'",
                "not-in-vs",
            )
        )  # fmt: skip
    return result
