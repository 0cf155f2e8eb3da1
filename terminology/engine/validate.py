"""`$validate-code` for CodeSystem and ValueSet: codings, CodeableConcepts, CPT expressions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import partial

from terminology.engine.clock import today
from terminology.engine.codesystem import CodeSystemIndex, Concept
from terminology.engine.designations import (
    Designation,
    display_count,
    include_concept_designations,
    match_display,
    preferred,
    present,
)
from terminology.engine.issues import Issue
from terminology.engine.languages import LanguagePreferences
from terminology.engine.patterns import ScanBudget
from terminology.engine.pctc import concept_problems as pctc_problems
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, EXPRESSION_MODIFIER_SYSTEMS, HCPCS
from terminology.engine.valueset import (
    Evaluation,
    ValueSetIndex,
    _filter_predicate,
    check_circularity,
    evaluate,
    find_code_system,
    referenced_value_set,
    required_supplements,
    status_warning,
    supplements_of,
    unknown_system_text,
)
from terminology.engine.versions import (
    VersionRule,
    failed_checks,
    rule_version,
    version_key,
    version_matches,
)
from terminology.errors import NotFound, TerminologyError

CANNOT_VALIDATE = "the code cannot be validated"
NO_SYSTEM = (
    "Coding has no system. A code with no system has no defined meaning, and it cannot be "
    "validated. A system should be provided"
)
DEPRECATED_IN_VS = "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"
STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


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
    # The Accept-Language header: the display language when ``displayLanguage`` is not given.
    accept_language: str | None = None
    infer_system: bool = False
    membership_only: bool = False
    # ``abstract=false`` refuses codes that are not selectable (notSelectable).
    abstract_ok: bool = True
    version_rules: tuple[VersionRule, ...] = ()
    # ``useSupplement``: supplements whose designations count, as if the value set named them.
    use_supplements: tuple[str, ...] = ()

    def cache_key(self, today_: date) -> tuple:
        """Return everything an answer depends on besides the codings (a memo key)."""
        # Without a date, "today" decides whether a code past its termination date is still active.
        return (
            self.lenient_display,
            self.active_only,
            self.display_language,
            self.date or today_,
            self.accept_language,
            self.infer_system,
            self.membership_only,
            self.abstract_ok,
            self.version_rules,
            self.use_supplements,
        )


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
    messages: list[str] | None = None

    @property
    def message(self) -> str | None:
        """Join the messages (by default the error texts) with '; ' as tx.fhir.org does."""
        if self.messages is not None:
            return "; ".join(self.messages) if self.messages else None
        errors = [i.text for i in self.issues if i.severity == "error"]
        if not errors and not self.result:
            errors = [i.text for i in self.issues if i.severity == "warning"]
        return "; ".join(errors) if errors else None


# --- tx.fhir.org wording -----------------------------------------------------------------------


def unknown_code_message(code_system: CodeSystemIndex, code: str) -> str:
    """Return tx.fhir.org's unknown-code wording, with its note for fragment code systems."""
    version = f" version '{code_system.version}'" if code_system.version else ""
    if code_system.content == "fragment":
        return (
            f"Unknown Code '{code}' in the CodeSystem '{code_system.url}'{version} - note that "
            "the code system is labeled as a fragment, so the code may be valid in some other fragment"
        )
    return f"Unknown code '{code}' in the CodeSystem '{code_system.url}'{version}"


# Billing code systems: a code missing from our fragment of them is refused, not given the benefit of
# the doubt, because a claim or charge must not pass with a code this server cannot vouch for (a false
# "valid" costs money). Load the licensee's full release to validate every code.
BILLING_SYSTEMS = frozenset({CPT, HCPCS})


def may_hold_elsewhere(code_system: CodeSystemIndex) -> bool:
    """Say whether a code missing from this code system may still be valid (tx.fhir.org's fragment rule).

    A ``content = fragment`` code system lists only some of its codes: tx.fhir.org then accepts an
    unknown code with a warning. We do the same, except for the billing code systems.
    """
    return code_system.content == "fragment" and code_system.url not in BILLING_SYSTEMS


def unknown_code_issue(code_system: CodeSystemIndex, code: str, path: str) -> Issue:
    """Return the issue for a code a code system does not hold (tx.fhir.org's wording and message id).

    A warning when the code may be valid in another fragment (``may_hold_elsewhere``), else an error.
    """
    if code_system.content == "fragment":
        message_id = "UNKNOWN_CODE_IN_FRAGMENT"
    else:
        message_id = "Unknown_Code_in_Version" if code_system.version else "Unknown_Code_in"
    severity = "warning" if may_hold_elsewhere(code_system) else "error"
    return Issue(
        severity, "code-invalid", unknown_code_message(code_system, code), "invalid-code", [path], message_id
    )


def unknown_system_issue(registry: Registry, system: str, version: str | None, path: str) -> Issue:
    """Return the issue for a code system (version) that is not loaded."""
    if not version:
        message_id = "UNKNOWN_CODESYSTEM"
    elif registry.versions_of("CodeSystem", system):
        message_id = "UNKNOWN_CODESYSTEM_VERSION"
    else:
        message_id = "UNKNOWN_CODESYSTEM_VERSION_NONE"
    text = unknown_system_text(registry, system, version, CANNOT_VALIDATE)
    return Issue("error", "not-found", text, "not-found", [path], message_id)


def _status_check_text(kind: str, canonical: str, resource_type: str) -> str:
    return f"Reference to {kind} {resource_type} {canonical}"


def _case_text(code: str, correct: str, code_system: CodeSystemIndex) -> str:
    return (
        f"The code '{code}' differs from the correct code '{correct}' by case. Although the code system "
        f"'{code_system.canonical}' is case insensitive, implementers are strongly encouraged to use the "
        "correct case anyway"
    )


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# --- code-system checks (shared with $lookup and the bundling rules) ----------------------------


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


def _expression_issues(
    registry: Registry, code_system: CodeSystemIndex, code: str, path: str
) -> tuple[Concept | None, list[Issue]]:
    """Check a post-coordinated expression ``base:mod[:mod…]`` (HL7 CPT syntax).

    Returns the base concept (which stands for the expression) and the problems found.
    """
    base_code, *modifiers = code.split(":")
    base = code_system.find(base_code)
    if base is None:
        return None, [unknown_code_issue(code_system, base_code, path)]
    if code_system.is_modifier(base):
        return None, [
            Issue(
                "error",
                "code-invalid",
                f"The code '{base_code}' is a modifier and cannot be the base of the expression '{code}'",
                "invalid-code",
                [path],
            )
        ]
    issues: list[Issue] = []
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
        issues.append(Issue("error", "code-invalid", text, "invalid-code", [path]))
    if base.pctc_indicator is not None:  # no indicator imported: no PC/TC rule applies
        for text in pctc_problems(base, [m for m in modifiers if m in seen]):
            issues.append(Issue("error", "business-rule", text, "invalid-code", [path]))
    return base, issues


@dataclass(slots=True)
class _Located:
    """A code found in a code system: the concept, the code as judged, and any notes on it."""

    concept: Concept | None
    code: str
    normalized: str | None = None
    issues: list[Issue] = field(default_factory=list)


def _locate(registry: Registry, code_system: CodeSystemIndex, code: str, path: str) -> _Located:
    """Find a code: exactly, by case for case-insensitive systems, or as a CPT expression."""
    concept = code_system.find(code)
    if concept is not None:
        return _Located(concept, code)
    if not code_system.case_sensitive:
        concept = code_system.find_folded(code)
        if concept is not None:
            note = Issue(
                "information",
                "business-rule",
                _case_text(code, concept.code, code_system),
                "code-rule",
                [path],
                "CODE_CASE_DIFFERENCE",
            )
            return _Located(concept, concept.code, concept.code, [note])
    if code_system.compositional and ":" in code:
        base, issues = _expression_issues(registry, code_system, code, path)
        if base is not None and not issues:
            return _Located(base, code)
        return _Located(None, code, None, issues)
    return _Located(None, code)


def supplement_as_system(canonical: str) -> str:
    """Return tx.fhir.org's text for a supplement given as a code system (CODESYSTEM_CS_NO_SUPPLEMENT)."""
    return f"CodeSystem {canonical} is a supplement, so can't be used as a value in Coding.system"


def _inactive_on_service_day(concept: Concept, options: ValidationOptions) -> bool:
    """Say whether a concept is inactive on the date of service (``date``, else today)."""
    # Only a concept with a termination date needs the day (most have none: no clock read).
    return concept.inactive or (
        concept.termination is not None and concept.inactive_on((options.date or today()).isoformat())
    )


def check_coding(registry: Registry, coding: CodingInput, options: ValidationOptions) -> CodingCheck:
    """Check one coding against its code system: existence, version, case, display, status.

    Used by `$lookup` and the bundling rules; `$validate-code` itself goes through the value-set
    checker below, which follows tx.fhir.org's rules for value sets.
    """
    check = CodingCheck(coding, code=coding.code)
    prefix = coding.prefix
    if not coding.code:
        check.issues.append(Issue("error", "invalid", "No code provided", "invalid-data", [f"{prefix}code"]))
        return check
    if not coding.system:
        check.issues.append(Issue("error", "invalid", NO_SYSTEM, "invalid-data", [f"{prefix}system"]))
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
    located = _locate(registry, code_system, coding.code, f"{prefix}code")
    check.issues.extend(located.issues)
    check.normalized_code = located.normalized
    concept = located.concept
    if concept is None:
        if not located.issues:
            check.issues.append(unknown_code_issue(code_system, coding.code, f"{prefix}code"))
        return check
    check.concept = concept
    check.code = located.code
    if coding.display and not any(
        " ".join(coding.display.split()).lower() == " ".join(t.split()).lower() for t in concept.displays()
    ):
        check.issues.append(
            Issue(
                "warning" if options.lenient_display else "error",
                "invalid",
                f"Wrong Display Name '{coding.display}' for {code_system.url}#{check.code}",
                "invalid-display",
                [f"{prefix}display"],
            )
        )
    check.inactive, check.status = concept.inactive, concept.status
    if not check.inactive and _inactive_on_service_day(concept, options):
        check.inactive, check.status = True, "retired"  # past its termination date
    if check.inactive:
        severity, text = (
            ("error", f"The concept '{concept.code}' is valid but is not active")
            if options.active_only
            else ("warning", _inactive_text(concept.code, check.status))
        )
        check.issues.append(
            Issue(
                severity,
                "business-rule",
                text,
                "code-rule" if options.active_only else "code-comment",
                [f"{prefix}code"],
            )
        )
    return check


def _inactive_text(code: str, status: str | None) -> str:
    status = status or "inactive"
    shown = status if status in ("inactive", "DISCOURAGED") else f"{status} and inactive"
    return f"The concept '{code}' has a status of {shown} and its use should be reviewed"


# --- the value-set checker ---------------------------------------------------------------------


class _Request:
    """What one `$validate-code` call collects while its codings are checked."""

    __slots__ = ("inactive_code", "inactive_path", "issues", "messages", "normalized", "status", "unknown")

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.messages: list[str] = []
        self.unknown: dict[str, None] = {}
        self.inactive_path: str | None = None
        self.inactive_code: str | None = None
        self.status: str | None = None
        self.normalized: str | None = None

    def add(self, issue: Issue, message: bool = False) -> None:
        """Add an issue once (identical issues from several includes are reported once)."""
        if not any(
            i.severity == issue.severity and i.text == issue.text and i.expression == issue.expression
            for i in self.issues
        ):
            self.issues.append(issue)
        if message:
            self.say(issue.text)

    def say(self, text: str) -> None:
        """Add a text to the ``message`` output once."""
        if text not in self.messages:
            self.messages.append(text)

    def see_status(self, concept: Concept, code: str, path: str) -> None:
        """Remember the first inactive concept met (its status is reported)."""
        if self.inactive_path is None and concept.inactive:
            self.inactive_path, self.inactive_code, self.status = path, code, concept.status


@dataclass(slots=True)
class _Outcome:
    """What checking one coding against the value set found."""

    result: bool | None = False  # None: the code system is unknown, so membership is uncertain
    code_system: CodeSystemIndex | None = None
    concept: Concept | None = None
    version: str | None = None
    # The concept's designations, listed when first asked for (most answers need only the display).
    listed: list[Designation] | None = None
    source: tuple[CodeSystemIndex, Concept, tuple[CodeSystemIndex, ...]] | None = None

    @property
    def designations(self) -> list[Designation]:
        if self.listed is None:
            self.listed = [] if self.source is None else self.source[0].designations_of(*self.source[1:])
        return self.listed

    def display(self, languages: LanguagePreferences | None) -> str | None:
        """Return the display to report: the best designation for the languages, else any."""
        source = self.source
        if (
            languages is None
            and self.listed is None
            and source is not None
            and not source[2]
            and source[1].display
        ):
            return source[1].display  # what preferred() picks: the display designation comes first
        best = preferred(self.designations, languages) or preferred(self.designations, None)
        return best.value if best else None


class _InternalValueSet(ValueSetIndex):
    """The value set of one whole code system, used to validate against the code system itself."""

    def __init__(self, code_system: CodeSystemIndex) -> None:
        include = {"system": code_system.url}
        if code_system.version:
            include["version"] = code_system.version
        resource = {
            "resourceType": "ValueSet",
            "status": "active",
            "url": f"{code_system.url}/vs",
            "compose": {"include": [include]},
        }
        if code_system.version:
            resource["version"] = code_system.version
        super().__init__(resource)

        self.code_system = code_system

    def evaluation(self, registry: Registry, rules: tuple[VersionRule, ...] = ()) -> Evaluation:
        """Evaluate in the registry's bounded cache (this value set lives as long as its code system)."""
        if registry.find("CodeSystem", self.code_system.url, self.code_system.version) is self.code_system:
            return registry.member_cache.get_or_compute(
                (self, rules), partial(evaluate, registry, self, rules)
            )
        return evaluate(registry, self, rules)

    @staticmethod
    def of(code_system: CodeSystemIndex) -> _InternalValueSet:
        """Return the code system's internal value set, built once per code system."""
        found = code_system.internal_value_set
        if found is None:
            found = code_system.internal_value_set = _InternalValueSet(code_system)
        return found  # type: ignore[return-value]


class _PrepareError(Exception):
    """A value set that cannot be used for validation: answered as ``result=false`` with the reason."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Checker:
    """Checks codings against one value set, the way tx.fhir.org does (includes, versions, displays)."""

    def __init__(
        self,
        registry: Registry,
        value_set: ValueSetIndex,
        options: ValidationOptions,
        languages: LanguagePreferences | None,
        pathway: tuple[str, ...] = (),
        budget: ScanBudget | None = None,
    ) -> None:
        self.registry = registry
        self.value_set = value_set
        self.options = options
        self.languages = languages
        self.others: dict[str, _Checker] = {}
        self._code_systems: dict[tuple[str, str | None], CodeSystemIndex | None] = {}
        # Filters are built once per call; regex filters spend one budget across imports.
        self.budget = budget or ScanBudget(registry.pattern_limits)
        self.filters: dict[int, list] = {}
        # Supplements the value set or the request requires: a missing one fails the request (4xx).
        wanted = [*value_set.supplements, *options.use_supplements]
        self.supplements = required_supplements(registry, wanted) if wanted else []
        here = (*pathway, value_set.pathway_name)
        compose = value_set.compose
        for include in compose.get("include", []) + compose.get("exclude", []):
            for reference in include.get("valueSet", []):
                if reference in self.others:
                    continue
                try:
                    other = referenced_value_set(registry, reference, value_set, options.version_rules)
                except NotFound as exc:
                    shown = getattr(exc, "reference", reference)
                    raise _PrepareError(
                        f"A definition for the value Set '{shown}' could not be found"
                    ) from None
                check_circularity(other, here)
                self.others[reference] = _Checker(registry, other, options, languages, here, self.budget)
        self.budget.value_set = value_set.canonical  # the value set a too-costly refusal names
        for kind in ("include", "exclude"):
            for i, include in enumerate(compose.get(kind, [])):
                if "system" not in include or "filter" not in include:
                    continue
                version = rule_version(options.version_rules, include["system"], include.get("version"))
                code_system = find_code_system(registry, include["system"], version)
                if code_system is not None:
                    # An unusable filter fails the request (4xx), as tx.fhir.org's prepare step does.
                    self.filters[id(include)] = [
                        _filter_predicate(
                            code_system, f, self.budget, f"ValueSet.compose.{kind}[{i}].filter[{j}]"
                        )
                        for j, f in enumerate(include["filter"])
                    ]

    # tx.fhir.org: determineVersion
    def _version(
        self, run: _Request, path: str, system: str, stated: str | None, coding_version: str | None
    ) -> str | None:
        rules = self.options.version_rules
        version = rule_version(rules, system, stated)
        if not coding_version:
            return version
        registry = self.registry
        if version and coding_version != version and version_matches(version, coding_version):
            version = coding_version
        if not version and coding_version in registry.versions_of("CodeSystem", system):
            version = coding_version
        code_system = find_code_system(registry, system, version)
        if (
            code_system is not None
            and code_system.version != coding_version
            and not version_matches(coding_version, code_system.version)
        ):
            severity, message_id = "error", "VALUESET_VALUE_MISMATCH"
            if not version:
                message_id = "VALUESET_VALUE_MISMATCH_DEFAULT"
                severity = "error" if code_system.version_needed else "warning"
                text = (
                    f"The code system '{system}' version '{code_system.version}' for the versionless include "
                    "in "
                    f"the ValueSet include is different to the one in the value ('{coding_version}')"
                )
            elif version != stated:
                message_id = "VALUESET_VALUE_MISMATCH_CHANGED"
                text = (
                    f"The code system '{system}' version '{version}' resulting from the version "
                    f"'{stated or ''}' "
                    f"in the ValueSet include is different to the one in the value ('{coding_version}')"
                )
            else:
                text = (
                    f"The code system '{system}' version '{stated}' in the ValueSet include is different to "
                    f"the one in the value ('{coding_version}')"
                )
            run.add(
                Issue(severity, "invalid", text, "vs-invalid", [_path(path, "version")], message_id),
                severity == "error",
            )
            if find_code_system(registry, system, coding_version) is None:
                run.unknown[f"{system}|{coding_version}"] = None
                run.add(unknown_system_issue(registry, system, coding_version, _path(path, "system")), True)
        elif code_system is None and version != coding_version:
            text = (
                f"The code system '{system}' version '{version}' in the ValueSet include is different to the "
                f"one in the value ('{coding_version}')"
            )
            issue = Issue(
                "error", "invalid", text, "vs-invalid", [_path(path, "version")], "VALUESET_VALUE_MISMATCH"
            )
            run.add(issue, True)
        return version

    def _status(self, run: _Request, resource) -> None:
        if resource.status_flag is None:  # active, non-experimental content: nothing to flag (most calls)
            return
        warning = status_warning(resource, self.value_set)
        if warning is not None:
            kind, canonical = warning
            run.add(
                Issue(
                    "information",
                    "business-rule",
                    _status_check_text(kind, canonical, resource.resource_type),
                    "status-check",
                    None,
                    f"MSG_{kind.upper()}",
                )
            )

    def infer_system(self, run: _Request, code: str) -> str | None:
        """Find the only system of the value set that holds ``code`` (tx.fhir.org: determineSystem)."""
        try:
            members, _ = self.value_set.members(self.registry, self.options.version_rules)
        except TerminologyError:
            members = []
        systems = list(dict.fromkeys(m.code_system.url for m in members if m.concept.code == code))
        if len(systems) == 1:
            return systems[0]
        vs = self.value_set.shown
        if len(systems) > 1:
            text = (
                f"The System URI could not be determined for the code '{code}' in the ValueSet '{vs}': "
                "value set "
                f"expansion has multiple matches: [{', '.join(systems)}]"
            )
        else:
            text = f"The System URI could not be determined for the code '{code}' in the ValueSet '{vs}'"
        message_id = (
            "Unable_to_resolve_system__value_set_has_multiple_matches"
            if systems
            else "UNABLE_TO_INFER_CODESYSTEM"
        )
        run.add(Issue("error", "not-found", text, "cannot-infer", ["code"], message_id), True)
        return None

    def check(self, run: _Request, path: str, coding: CodingInput) -> _Outcome:
        """Say whether a coding is in the value set (tx.fhir.org: ValueSetChecker.check)."""
        system, code, version = coding.system, coding.code or "", coding.version
        outcome = _Outcome()
        compose = self.value_set.compose
        chosen_version = None
        if not version:
            stated = self.value_set.stated_versions.get(system or "", ())
            if len(stated) > 1:
                chosen_version = self._pick_version(stated, system, code, coding.display)
        result: bool | None = False
        rules = self.options.version_rules
        for include in self.value_set.ordered_includes:
            if "system" not in include:
                result = True
            elif (
                include["system"] == system
                and (chosen_version is None or include.get("version") == chosen_version)
                and (not version or self._use_version(include, version))
            ):
                # Without version rules or a coding version, the include's own version is the one used.
                resolved = (
                    self._version(run, path, system, include.get("version"), version)
                    if version or rules
                    else include.get("version")
                )
                code_system = self._code_system(system, resolved)
                if code_system is None:
                    if self.options.membership_only:
                        return outcome
                    self._unknown_system(run, path, system, resolved)
                    outcome.result = None
                    return outcome
                for rule in failed_checks(rules, system, code_system.version) if rules else ():
                    run.add(
                        Issue(
                            "error",
                            "exception",
                            f"The version '{code_system.version}' is not allowed for system '{system}': "
                            "required "
                            f"to be '{rule.version}' by a version-check parameter",
                            "version-error",
                            [_path(path, "version")],
                            "VALUESET_VERSION_CHECK",
                        ),
                        True,
                    )
                self._status(run, code_system)
                outcome.code_system = code_system
                result = self._in_include(run, path, "in", code_system, include, code, outcome)
                if result:
                    outcome.version = code_system.version
            else:
                result = False
            for reference in include.get("valueSet", []):
                other = self.others[reference]
                self._status(run, other.value_set)
                if result is True:
                    inner = other.check(run, path, coding)
                    result = inner.result
                    if inner.result:
                        outcome.code_system = inner.code_system or outcome.code_system
                        outcome.concept = inner.concept or outcome.concept
                        outcome.version = inner.version or outcome.version
                        if inner.listed or inner.source is not None:
                            outcome.listed, outcome.source = inner.listed, inner.source
            if result is True:
                break
        if result is True:
            for exclude in compose.get("exclude", []):
                excluded = True
                if "system" in exclude:
                    resolved = rule_version(
                        self.options.version_rules, exclude["system"], exclude.get("version")
                    )
                    code_system = find_code_system(self.registry, exclude["system"], resolved)
                    excluded = (
                        code_system is not None
                        and code_system.url == system
                        and self._in_include(run, path, "not in", code_system, exclude, code, _Outcome())
                    )
                for reference in exclude.get("valueSet", []):
                    excluded = (
                        excluded and self.others[reference].check(_Request(), path, coding).result is True
                    )
                if excluded:
                    outcome.result = False
                    return outcome
        outcome.result = result
        return outcome

    def _code_system(self, system: str, version: str | None) -> CodeSystemIndex | None:
        """Return the code system version an include resolves to, found once per checker."""
        key = (system, version)
        if key not in self._code_systems:
            self._code_systems[key] = find_code_system(self.registry, system, version)
        return self._code_systems[key]

    def _use_version(self, include: dict, version: str | None) -> bool:
        if not version or include.get("version") == version:
            return True
        return not any(i.get("version") == version for i in self.value_set.compose.get("include", []))

    def _pick_version(self, versions: set[str], system: str, code: str, display: str | None) -> str | None:
        found = []
        for version in versions:
            code_system = find_code_system(self.registry, system, version)
            concept = code_system.find(code) if code_system is not None else None
            if concept is not None and (not display or display in concept.displays()):
                found.append(version)
        if len(found) == len(versions):
            return None
        pool = found or list(versions)
        return max(pool, key=version_key)

    def _unknown_system(self, run: _Request, path: str, system: str, version: str | None) -> None:
        known = self.registry.versions_of("CodeSystem", system)
        key = f"{system}|{version}" if version and known else system
        if key in run.unknown:
            run.say(unknown_system_text(self.registry, system, version, CANNOT_VALIDATE))
            return
        run.unknown[key] = None
        run.add(unknown_system_issue(self.registry, system, version, _path(path, "system")), True)

    def _in_include(
        self,
        run: _Request,
        path: str,
        role: str,
        code_system: CodeSystemIndex,
        include: dict,
        code: str,
        outcome: _Outcome,
    ) -> bool:
        """Say whether ``code`` is selected by one include (or exclude) of the value set."""
        options = self.options
        code_path = _path(path, "code")
        membership_only = options.membership_only or role == "not in"
        located = _locate(self.registry, code_system, code, code_path)
        concept = located.concept
        if "concept" not in include and "filter" not in include:
            if concept is None:
                if not membership_only:
                    for issue in located.issues:
                        run.add(issue)
                    if not located.issues:
                        run.add(unknown_code_issue(code_system, code, code_path))
                # A whole fragment is included: the code may be one of its codes we were not given.
                return not located.issues and may_hold_elsewhere(code_system)
        elif "concept" in include:
            ref = _concept_ref(include, code, concept)
            if ref is None or concept is None:
                return False
            outcome.listed = code_system.designations_of(concept, self._supplements(code_system))
            outcome.listed.extend(include_concept_designations(ref, self.value_set.language))
        else:
            if concept is None:
                return False
            predicates = self.filters.get(id(include))
            if predicates is None:
                predicates = [
                    _filter_predicate(code_system, f, self.budget, "ValueSet.compose.include.filter")
                    for f in include["filter"]
                ]
            if not all(p(concept) for p in predicates):
                return False
        if not outcome.listed:
            outcome.listed, outcome.source = None, (code_system, concept, self._supplements(code_system))
        if role == "not in":
            return True
        for issue in located.issues:
            run.add(issue, issue.tx_code == "code-rule" and issue.severity != "information")
        if located.normalized:
            run.normalized = located.normalized
        if not options.abstract_ok and concept.abstract:
            run.add(
                Issue(
                    "error",
                    "business-rule",
                    f"Code '{code_system.url}#{code}' is abstract, and not allowed in this context",
                    "code-rule",
                    [code_path],
                    "ABSTRACT_CODE_NOT_ALLOWED",
                ),
                True,
            )
            return False
        inactive = _inactive_on_service_day(concept, options)
        if inactive and (self.value_set.excludes_inactive or options.active_only):
            run.see_status(concept, code, path)
            if run.inactive_path is None:
                run.inactive_path, run.inactive_code, run.status = path, code, concept.status or "retired"
            run.add(
                Issue(
                    "error",
                    "business-rule",
                    f"The concept '{code}' is valid but is not active",
                    "code-rule",
                    [code_path],
                    "STATUS_CODE_WARNING_CODE",
                ),
                True,
            )
            return False
        if "concept" in include:
            ref = _concept_ref(include, code, concept) or {}
            standards = next(
                (_value(e) for e in ref.get("extension", []) if e.get("url") == STANDARDS_STATUS), None
            )
            deprecated = standards if standards in ("withdrawn", "deprecated") else None
            if deprecated is None and any(e.get("url") == DEPRECATED_IN_VS for e in ref.get("extension", [])):
                deprecated = "deprecated"
            if deprecated:
                run.add(
                    Issue(
                        "warning",
                        "business-rule",
                        f"The presence of the concept '{code}' in the system '{code_system.url}' in the "
                        f"value set {self.value_set.canonical} is marked with a status of {deprecated} and "
                        "its use should be reviewed",
                        "code-comment",
                        [code_path],
                        "CONCEPT_DEPRECATED_IN_VALUESET",
                    )
                )
        if inactive and run.inactive_path is None:
            run.inactive_path, run.inactive_code = path, code
            run.status = concept.status or ("retired" if not concept.inactive else "inactive")
        elif run.inactive_path is None and concept.deprecated and run.status is None:
            run.status = "deprecated"
        outcome.concept = concept
        return True

    def _supplements(self, code_system: CodeSystemIndex) -> tuple[CodeSystemIndex, ...]:
        return supplements_of(code_system, self.supplements) if self.supplements else ()


def _concept_ref(include: dict, code: str, concept: Concept | None) -> dict | None:
    """Return the ``include.concept`` entry naming ``code`` (a CPT expression is named by its base code)."""
    for ref in include["concept"]:
        if ref.get("code") == code:
            return ref
    if concept is not None and ":" in code:
        return next((r for r in include["concept"] if r.get("code") == concept.code), None)
    return None


def _value(element: dict):
    return next((v for k, v in element.items() if k.startswith("value")), None)


def working_languages(
    options: ValidationOptions, value_set: ValueSetIndex | None
) -> LanguagePreferences | None:
    """Return the languages displays are judged in: displayLanguage, Accept-Language or the value set's.

    :raise TerminologyError: when ``displayLanguage`` is not a language list (400).
    """
    if (
        options.display_language is None
        and options.accept_language is None
        and (value_set is None or not (value_set.parameters or value_set.language))
    ):
        return None
    text = options.display_language
    if text is None and value_set is not None:
        text = value_set.parameters.get("displayLanguage")  # type: ignore[assignment]
    try:
        languages = LanguagePreferences.parse(text)
    except ValueError:
        raise TerminologyError(
            f"Invalid displayLanguage: '{text}'",
            tx_code="invalid-display",
            issue_code="processing",
            status=400,
        ) from None
    if languages is not None:
        return languages
    try:
        languages = LanguagePreferences.parse(options.accept_language)
    except ValueError:
        languages = None
    if languages is None and value_set is not None and value_set.language:
        languages = LanguagePreferences.parse(value_set.language)
    return languages


# --- displays -----------------------------------------------------------------------------------


def _check_display(
    run: _Request,
    path: str,
    coding: CodingInput,
    designations: list[Designation],
    languages: LanguagePreferences | None,
    default_language: str,
    lenient: bool,
    in_value_set: bool,
) -> None:
    """Judge ``coding.display`` against the concept's designations in the wanted languages."""
    display = coding.display or ""
    display_path = _path(path, "display")
    shown = languages.summary if languages is not None else "--"
    target = f"{coding.system}#{coding.code}"
    severity = "warning" if lenient else "error"
    # A value set check judges the display in the wanted languages only; a check against the code
    # system alone also accepts the code system's own language.
    match = match_display(designations, languages, None if in_value_set else default_language, display)
    if match.found:
        if in_value_set and not match_display(designations, languages, None, display, active_only=True).found:
            choices = ", ".join(
                dict.fromkeys(f'"{d.value}"' for d in designations if d.active and d.is_display)
            )
            status = next((d.status for d in designations if d.value.lower() == display.lower()), "") or ""
            # A withdrawn designation reads as deprecated here, as tx.fhir.org words it.
            status = "deprecated" if status == "withdrawn" else status
            run.add(
                Issue(
                    "warning",
                    "invalid",
                    f"'{display}' is no longer considered a correct display for code '{coding.code}' "
                    "(status = "
                    f"{status}). The correct display is one of {choices}.",
                    "display-comment",
                    [display_path],
                    "INACTIVE_DISPLAY_FOUND",
                )
            )
        return
    count = display_count(designations, languages, True)
    if count == 0:
        severity = "warning"
        count = display_count(designations, languages, False)
    if count == 0 and in_value_set:
        best = preferred(designations, None)
        if best is None:
            message_id = "NO_VALID_DISPLAY_AT_ALL"
            text = f"Wrong Display Name '{display}' for {target}. There are no valid display names found"
        elif match_display(designations, languages, default_language, display).found:
            text = (
                f"There are no valid display names found for the code {target} for language(s) "
                f"'{shown}'. The display is '{display}' which is a valid display for the default language"
            )
            issue = Issue(
                "information", "invalid", text, "invalid-display", [display_path],
                "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK",
            )  # fmt: skip
            run.add(issue, True)
            return
        else:
            severity = "warning" if lenient else "error"
            message_id = "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR"
            text = (
                f"Wrong Display Name '{display}' for {target}. There are no valid display names found for "
                f"language(s) '{shown}'. Default display is '{best.value}'"
            )
    else:
        listed = present(designations, languages)
        if match.whitespace_only:
            what, message_id = (
                "Wrong whitespace in Display Name",
                "Display_Name_WS_for__should_be_one_of__instead_of",
            )
        else:
            what, message_id = "Wrong Display Name", "Display_Name_for__should_be_one_of__instead_of"
        valid = (
            f"Valid display is {listed}"
            if count == 1
            else f"Valid display is one of {count} choices: {listed}"
        )
        text = f"{what} '{display}' for {target}. {valid} (for the language(s) '{shown}')"
    run.add(Issue(severity, "invalid", text, "invalid-display", [display_path], message_id), True)


# --- entry points -------------------------------------------------------------------------------


def _shown_coding(system: str, coding: CodingInput, quoted: bool = False) -> str:
    """Name a coding in a message: ``system|version#code ('display')``, quoted for a list."""
    shown = f"{system}|{coding.version}#{coding.code}" if coding.version else f"{system}#{coding.code}"
    if coding.display:
        shown += f" ('{coding.display}')"
    return f"'{shown}'" if quoted else shown


def _prepared_checker(
    registry: Registry,
    value_set: ValueSetIndex,
    options: ValidationOptions,
    checkers: dict | None,
) -> _Checker:
    """Return a checker for the value set, reusing one prepared for the same value set and options.

    ``checkers`` lives for one request (the items of a batch share their value set and options
    objects); a checker only reads them once prepared, so preparing it once serves every item.
    """
    if checkers is None:
        return _Checker(registry, value_set, options, working_languages(options, value_set))
    key = (id(value_set), id(options))  # the entry holds both objects, so their ids stay theirs
    entry = checkers.get(key)
    if entry is None:
        languages = working_languages(options, value_set)
        entry = checkers[key] = (value_set, options, _Checker(registry, value_set, options, languages))
    return entry[2]


def validate(
    registry: Registry,
    value_set: ValueSetIndex | None,
    codings: list[CodingInput],
    options: ValidationOptions,
    codeable: dict | None = None,
    code_system: CodeSystemIndex | None = None,
    checkers: dict | None = None,
) -> ValidationResult:
    """Validate a code, Coding or CodeableConcept against a value set, or against ``code_system``.

    Follows tx.fhir.org (ValueSetChecker.checkCodeableConcept): each coding is checked against the
    value set's includes; a coding that is not in it is still looked up in its own code system so
    that the answer says why. Issues, the ``message`` text and the output parameters match the
    HL7 terminology test suite.
    """
    internal = value_set is None
    if value_set is None:
        assert code_system is not None
        value_set = _InternalValueSet.of(code_system)
    mode = (
        "codeableConcept" if codeable is not None else ("coding" if codings and codings[0].prefix else "code")
    )
    try:
        checker = _prepared_checker(registry, value_set, options, checkers)
    except _PrepareError as exc:
        return _unusable_value_set(registry, exc.text, codings, codeable)
    languages = checker.languages
    issue_path = {"codeableConcept": "CodeableConcept", "coding": "Coding", "code": ""}[mode]
    run = _Request()
    if not internal:
        checker._status(run, value_set)
    ok: bool | None = False
    matched: set[int] = set()
    codelist: list[tuple[str, CodingInput]] = []
    found_system = found_code = found_version = found_display = found_path = None
    first_system = first_code = first_version = None
    version_param: str | None = None
    no_code = False
    for i, coding in enumerate(codings):
        path = f"{issue_path}.coding[{i}]" if mode == "codeableConcept" else issue_path
        if not coding.code:
            text = (
                f"Coding has no code for system {coding.system} and cannot be validated"
                if coding.system
                else "Coding has no system or code, and cannot be validated"
            )
            run.add(Issue("warning", "invalid", text, "invalid-data", [path] if path else None), True)
            no_code = True
            break
        inferred = None
        if not coding.system:
            # A code without a system has no meaning unless inferSystem asks to look for it in the value set.
            if mode == "code" and options.infer_system:
                inferred = checker.infer_system(run, coding.code)
            else:
                run.add(
                    Issue(
                        "warning",
                        "invalid",
                        NO_SYSTEM,
                        "invalid-data",
                        [path or "code"],
                        "Coding_has_no_system__cannot_validate",
                    ),
                    True,
                )
        if coding.system or inferred:
            # The coding as checked: with the inferred system, if inferSystem found one.
            probe = (
                CodingInput(inferred, coding.code, coding.version, coding.display, coding.prefix)
                if inferred
                else coding
            )
            outcome = checker.check(run, path, probe)
        else:
            outcome = _Outcome()  # result False: a coding without a system is not in the value set
        v = outcome.result
        if v is True:
            matched.add(i)
        system = inferred or coding.system or ""
        if first_code is None or v is True:
            first_system, first_code, first_version = coding.system, coding.code, coding.version
        if not first_version and outcome.version:
            first_version = outcome.version
        codelist.append((system, coding))  # named in the not-in-value-set message, if there is one
        if v is False and not internal and mode == "codeableConcept":
            shown = _shown_coding(system, coding)
            run.add(
                Issue(
                    "information",
                    "code-invalid",
                    f"The provided code '{shown}' was not found in the value set '{value_set.shown}'",
                    "this-code-not-in-vs",
                    [f"{path}.code"],
                    "None_of_the_provided_codes_are_in_the_value_set_one",
                )
            )
        if ok is not True and v is not False:
            ok = v
        code_system_found = outcome.code_system
        if v is True:
            if coding.display and outcome.designations:
                default = code_system_found.default_language if code_system_found else "en"
                _check_display(
                    run, path, probe, outcome.designations, languages, default, options.lenient_display, True
                )
            if found_code is None:
                found_system, found_code, found_path = (
                    inferred or coding.system,
                    outcome_code(coding, run),
                    path,
                )
                found_version = outcome.version
                found_display = outcome.display(languages)
        elif not options.membership_only and system:
            _explain_not_in_value_set(registry, checker, run, path, mode, coding, system, languages, options)
            if mode != "codeableConcept":
                own = find_code_system(registry, system, coding.version or _vs_version(value_set, system))
                if own is not None:
                    concept = _locate(registry, own, coding.code, "").concept
                    if concept is not None:
                        designations = own.designations_of(concept, checker._supplements(own))
                        best = preferred(designations, languages) or preferred(designations, None)
                        found_display = found_display or (best.value if best else None)
                        version_param = own.version
            elif coding.system:
                own = find_code_system(registry, system, coding.version or _vs_version(value_set, system))
                concept = _locate(registry, own, coding.code, "").concept if own is not None else None
                if concept is not None and found_display is None:
                    designations = own.designations_of(concept, checker._supplements(own))
                    best = preferred(designations, languages) or preferred(designations, None)
                    found_display = best.value if best else None
    if mode == "codeableConcept" and matched:
        for j, coding in enumerate(codings):
            if j in matched:
                continue
            system_path = f"CodeableConcept.coding[{j}].system"
            for issue in run.issues:
                if (
                    issue.severity == "error"
                    and issue.tx_code == "not-found"
                    and system_path in (issue.expression or [])
                ):
                    was = issue.text
                    issue.severity, issue.message_id = "warning", "UNKNOWN_CODESYSTEM_CODING_NOT_CHECKED"
                    issue.text = (
                        f"The code system {coding.system}|{coding.version} is not known, so the coding was "
                        "not checked"
                        if coding.version
                        else f"The code system {coding.system} is not known, so the coding was not checked"
                    )
                    run.messages = [m for m in run.messages if m != was]
                    run.say(issue.text)
    no_code_summary = no_code and (mode != "codeableConcept" or internal)
    if (
        ok is False
        and not no_code_summary
        and (not internal or not any(i.severity == "error" for i in run.issues))
    ):
        message_id = "None_of_the_provided_codes_are_in_the_value_set_one"
        if mode == "codeableConcept":
            text, where = f"No valid coding was found for the value set '{value_set.shown}'", None
            message_id = "TX_GENERAL_CC_ERROR_MESSAGE"
        else:
            text = (
                f"The provided code {', '.join(_shown_coding(*named, quoted=True) for named in codelist)} "
                f"was not found in the value set '{value_set.shown}'"
            )
            where = [_path(issue_path, "code")]
        run.add(Issue("error", "code-invalid", text, "not-in-vs", where, message_id), True)
    valid = ok is True and not any(i.severity == "error" for i in run.issues)
    result = ValidationResult(result=valid)
    if found_system:
        result.system = found_system
    elif mode != "codeableConcept":
        result.system = first_system
    for unknown in run.unknown:
        if ok is False:
            result.unknown_systems.append(unknown)
        elif not valid:
            result.caused_by_unknown.append(unknown)
    result.normalized_code = run.normalized
    result.code = found_code or (first_code if mode != "codeableConcept" else None)
    result.version = found_version or version_param or (first_version if mode != "codeableConcept" else None)
    if found_display and (found_code or mode != "codeableConcept"):
        result.display = found_display
    if run.inactive_path is not None:
        if mode != "codeableConcept" or (found_code and run.inactive_path == found_path):
            result.inactive = True
            result.status = run.status if run.status and run.status != "inactive" else None
        text = _inactive_text(run.inactive_code or first_code or "", run.status)
        where = [run.inactive_path or "code"]
        run.add(
            Issue("warning", "business-rule", text, "code-comment", where, "INACTIVE_CONCEPT_FOUND"), True
        )
    elif run.status == "deprecated":
        result.status = "deprecated"
        run.add(
            Issue(
                "warning",
                "business-rule",
                f"The concept '{first_code}' is deprecated and its use should be reviewed",
                "code-comment",
                [_path(issue_path, "code")],
                "DEPRECATED_CONCEPT_FOUND",
            ),
            True,
        )
    for issue in run.issues:
        if issue.severity == "error":
            run.say(issue.text)
    result.messages = sorted(run.messages)
    result.issues = run.issues
    if codeable is not None:
        result.codeable_concept = codeable
    return result


def _unusable_value_set(
    registry: Registry, text: str, codings: list[CodingInput], codeable: dict | None
) -> ValidationResult:
    """Answer ``result=false`` for a value set that cannot be evaluated (tx.fhir.org: handlePrepareError)."""
    result = ValidationResult(
        result=False,
        issues=[Issue("error", "not-found", text, "not-found", None, "Unable_to_resolve_value_Set_")],
        messages=[text],
    )
    if codeable is not None:
        result.codeable_concept = codeable
        return result
    first = codings[0]
    result.system, result.code, result.version = first.system, first.code, first.version
    if first.system and not first.version:
        own = find_code_system(registry, first.system, None)
        result.version = own.version if own is not None else None
    return result


def outcome_code(coding: CodingInput, run: _Request) -> str | None:
    """Return the code reported for a coding that is in the value set (the code as sent)."""
    return coding.code


def _vs_version(value_set: ValueSetIndex, system: str) -> str | None:
    versions = [
        i["version"]
        for i in value_set.compose.get("include", [])
        if i.get("system") == system and i.get("version")
    ]
    return max(versions, key=version_key) if versions else None


def _explain_not_in_value_set(
    registry: Registry,
    checker: _Checker,
    run: _Request,
    path: str,
    mode: str,
    coding: CodingInput,
    system: str,
    languages: LanguagePreferences | None,
    options: ValidationOptions,
) -> None:
    """Say why a coding that is not in the value set is wrong in its own code system, if it is."""
    if "://" not in system and not system.startswith("urn:"):
        where = {"coding": "Coding.system", "codeableConcept": f"{path}.system"}.get(mode, path)
        run.add(
            Issue(
                "error",
                "invalid",
                "Coding.system must be an absolute reference, not a local reference",
                "invalid-data",
                [where] if where else None,
                "Terminology_TX_System_Relative",
            ),
            True,
        )
    version = coding.version or _vs_version(checker.value_set, system)
    own = find_code_system(registry, system, version)
    if own is None:
        if registry.find("ValueSet", system) is not None:
            run.add(
                Issue(
                    "error",
                    "invalid",
                    f"The Coding references a value set, not a code system ('{system}')",
                    "invalid-data",
                    [_path(path, "system")],
                    "Terminology_TX_System_ValueSet2",
                ),
                True,
            )
            return
        supplement = registry.find("CodeSystem", system, version)
        if supplement is not None and getattr(supplement, "content", None) == "supplement":
            run.add(
                Issue(
                    "error",
                    "invalid",
                    supplement_as_system(supplement.canonical),
                    "invalid-data",
                    [_path(path, "system")],
                    "CODESYSTEM_CS_NO_SUPPLEMENT",
                ),
                True,
            )
            return
        known = registry.versions_of("CodeSystem", system)
        key = f"{system}|{version}" if version and known else system
        issue = unknown_system_issue(registry, system, version, _path(path, "system"))
        if key not in run.unknown:
            run.unknown[key] = None
            run.add(issue)
        run.say(issue.text)
        return
    checker._status(run, own)
    code_path = _path(path, "code")
    located = _locate(registry, own, coding.code or "", code_path)
    if located.concept is None:
        if located.issues:
            for issue in located.issues:
                run.add(issue, True)
        else:
            run.add(unknown_code_issue(own, coding.code or "", code_path), True)
        return
    concept = located.concept
    if not options.membership_only and run.inactive_path is None and concept.inactive:
        run.inactive_path, run.inactive_code, run.status = path, coding.code, concept.status
    if coding.display:
        designations = own.designations_of(concept, checker._supplements(own))
        _check_display(
            run, path, coding, designations, languages, own.default_language, options.lenient_display, False
        )


def validate_in_code_system(
    registry: Registry,
    coding: CodingInput,
    options: ValidationOptions,
) -> ValidationResult:
    """Validate a single coding against its code system (CodeSystem/$validate-code)."""
    return validate_codings_in_code_system(registry, [coding], options, None)


def validate_codings_in_code_system(
    registry: Registry, codings: list[CodingInput], options: ValidationOptions, concept: dict | None
) -> ValidationResult:
    """Validate codings against their own code system (CodeSystem/$validate-code).

    The code system is the first coding's; an unknown one, a supplement or a value set in its place
    gives ``result=false`` with the reason.
    """
    first = codings[0]
    mode_path = "CodeableConcept.coding[0]." if concept is not None else first.prefix
    system = first.system
    try:
        if first.version is None and options.date is not None and system:
            code_system = registry.code_system_for_date(system, options.date)
        else:
            code_system = find_code_system(
                registry, system or "", rule_version(options.version_rules, system or "", first.version)
            )
    except NotFound:
        code_system = None
    if code_system is None:
        return _unknown_code_system_result(registry, codings, options, concept, mode_path)
    return validate(registry, None, codings, options, concept, code_system)


def _unknown_code_system_result(
    registry: Registry,
    codings: list[CodingInput],
    options: ValidationOptions,
    concept: dict | None,
    prefix: str,
) -> ValidationResult:
    first = codings[0]
    system, version = first.system or "", first.version
    where = f"{prefix}system"
    supplement = registry.find("CodeSystem", system, version)
    result = ValidationResult(result=False, system=system or None, code=first.code, codeable_concept=concept)
    if supplement is not None and getattr(supplement, "content", None) == "supplement":
        text = supplement_as_system(supplement.canonical)
        result.issues = [
            Issue("error", "invalid", text, "invalid-data", [where], "CODESYSTEM_CS_NO_SUPPLEMENT")
        ]
    else:
        known = registry.versions_of("CodeSystem", system)
        issue = unknown_system_issue(registry, system, version, where)
        text = issue.text
        result.issues = [issue]
        result.unknown_systems.append(f"{system}|{version}" if version and known else system)
    result.messages = [text]
    return result


def validate_in_value_set(
    registry: Registry,
    value_set: ValueSetIndex,
    codings: list[CodingInput],
    options: ValidationOptions,
    codeable: dict | None = None,
    pins: tuple[VersionRule, ...] | None = None,
    checkers: dict | None = None,
) -> ValidationResult:
    """Validate codings (one, or a CodeableConcept's) against a value set.

    ``checkers``: a memo shared by calls with the same value set and options (one batch's items).
    """
    if pins:
        options.version_rules = tuple(pins)
    return validate(registry, value_set, codings, options, codeable, checkers=checkers)
