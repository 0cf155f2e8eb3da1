"""The bundling rules: NCCI PTP and MUE edits, CPT instructions, units, PC/TC, duplicates, code validity.

How a coder applies them (domain notes §9), in the order ``check`` runs them:

1. Lines are judged in groups. Practitioner claims: one rendering provider (the line's own,
   else the claim's) and date. Outpatient claims: the whole facility claim and date, whoever
   performed the lines. Every finding names its grouping.
2. Per line: the code and modifiers exist; the units are a whole positive number (one unit on a
   bilateral line, modifier 50).
3. Per group: a code the CPT instructions report once per encounter (62284, the injection) is
   reported once, unless a modifier documents a separate encounter; a repeated line is a duplicate;
   the CPT instructions (CodeSystem cpt-bundling-instructions) turn the group's myelography and
   cervical-CT lines into the fewest codes that describe the service, as one fix for the lines it
   covers; the NCCI PTP edits deny
   column 2 unless a modifier bypasses an indicator-1 edit within its restrictions (CodeSystem
   ncci-modifier-rules); one provider's 26 and TC lines of one code are the global code; the MUE
   table limits the units per line (MAI 1) or per group and date (MAI 2, 3).

Severity says what the payer will do: ``error`` = denied unless something changes
(``appealable``: documentation or an appeal can overturn it), ``warning`` = passes but needs
documentation (a valid bypass, a separate encounter) or could not be checked, ``information`` =
context. Everything here is linear in the number of lines, except the search for the code pairs
that have PTP edits, which the index does over the distinct codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from terminology.bundling.content import EncounterLimit, Family, ModifierRule, RuleContent, RuleSource
from terminology.bundling.model import (
    CheckOptions,
    CheckResult,
    Finding,
    Line,
    Modifier,
    Suggestion,
    line_number,
)
from terminology.caching import BoundedCache, approximate_entry_size
from terminology.dates import day_number, ncci_date_text
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT
from terminology.engine.validate import CodingInput, ValidationOptions, check_coding, find_modifier
from terminology.errors import InvalidRequest, NotFound
from terminology.ncci.edition_maps import ptp_concept_map_canonical
from terminology.ncci.importers import edition_name_problem
from terminology.ncci.index import Edition, MueRow, NcciIndex, PtpRow
from terminology.text import listed

MUE_LABELS = {1: "Line Edit", 2: "Date of Service Edit: Policy", 3: "Date of Service Edit: Clinical"}
MAI_TEXT = {mai: f"MAI {mai} ({label})" for mai, label in MUE_LABELS.items()}  # as findings name an MAI
PCTC = ("26", "TC")
RENDERING_PROVIDER = "rendering-provider"
FACILITY_CLAIM = "facility-claim"
_UNITS_SOURCE = (
    "MUE adjudication, Palmetto GBA: https://www.palmettogba.com/palmetto/jma.nsf/DID/A44KL34718 "
    "(units of service are whole positive numbers for these CPT codes)"
)
_DUPLICATE_SOURCE = "CMS claims processing: duplicate line items (same code, modifiers, provider and date)"
# The override reasons of an MUE finding (cds-override-reason offered-for), by MAI; MAI 2 has none.
_MUE_REASONS = {1: "mue-line-edit", 3: "mue-clinical"}
# Bound of each per-worker memo of code, modifier and body-region answers (estimated bytes).
CODE_MEMO_BYTES = 4 * 1024 * 1024
# Valid (system, code) pairs each worker answers without the memo's lock: at most this many, of
# short codes and systems only (a few hundred kB at most); past it, the set starts again.
VALID_CODES = 8192
_SHORT, _SHORT_SYSTEM = 32, 128
_SETTING_NAMES = {
    "practitioner": "practitioner (professional)",
    "outpatient": "hospital outpatient (facility)",
}
# How a finding names the NCCI table an edit comes from (the edition's setting).
_TABLE_NAMES = {"practitioner": "practitioner", "outpatient": "hospital outpatient"}


def _lines_text(lines: list[Line]) -> str:
    numbers = [str(line.number) for line in lines]
    if len(numbers) == 1:
        return f"line {numbers[0]}"
    return "lines " + ", ".join(numbers[:-1]) + " and " + numbers[-1]


def _units(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _valid_units(line: Line) -> bool:
    """Say whether a line's units are a number of services (a whole positive number)."""
    return line.quantity > 0 and line.quantity.is_integer()


def _mue_source(edition: Edition) -> str:
    """Return how MUE findings cite the table they come from."""
    return f"NCCI MUE {edition.setting} table effective {edition.start}"


def _services(lines: list[Line]) -> float:
    """Return the units of one code's lines on a date, a 26 line and a TC line of one study counting once.

    A global line (neither 26 nor TC) counts for both components, so the services are the global
    units plus the larger of the professional and the technical units.
    """
    whole = professional = technical = 0.0
    for line in lines:
        modifiers = line.modifier_codes if line.modifiers else ()
        if "26" in modifiers and "TC" not in modifiers:
            professional += line.quantity
        elif "TC" in modifiers and "26" not in modifiers:
            technical += line.quantity
        else:
            whole += line.quantity
    return whole + max(professional, technical)


def _shown(line: Line) -> str:
    """Return a line's code as a coder writes it: ``72125-26`` (line 2)."""
    if not line.modifiers:
        return f"{line.code} (line {line.number})"
    modifiers = "".join(f"-{m.code}" for m in line.modifiers)
    return f"{line.code}{modifiers} (line {line.number})"


def _cite(sources) -> str:
    seen: list[str] = []
    for source in sources:
        text = source.cite() if isinstance(source, RuleSource) else str(source)
        if text not in seen:
            seen.append(text)
    return "; ".join(seen)


@dataclass(slots=True)
class _DayEdits:
    """The PTP edition for one date of service, with what every pair on that date shares."""

    edition: Edition
    day: int  # the date of service as YYYYMMDD, comparable with the row dates
    source: str  # how findings cite the edition
    table: str  # how messages name it: "NCCI practitioner PTP edit v322r0"


@dataclass(slots=True)
class _EditionPlan:
    """The NCCI tables for a set of dates: each (date, kind, edition, covers) pick, and per date the
    PTP edition's shared texts and the MUE table."""

    picks: list[tuple[str, str, Edition | None, bool]]
    day_edits: dict[str, _DayEdits]
    mue_for: dict[str, Edition | None]


@dataclass(slots=True)
class _Group:
    """Lines judged together: one rendering provider (practitioner) or facility claim, one date."""

    date: str
    lines: list[Line]
    grouping: str
    provider: str | None = None  # practitioner: the rendering provider, when known
    who: str = ""  # whose lines these are, as a finding's message names them
    invalid_units: bool = False  # a line's units are not a number of services (the units rule said so)

    def __post_init__(self) -> None:
        if self.grouping == FACILITY_CLAIM:
            self.who = f"on the facility claim for {self.date}"
        elif self.provider:
            self.who = f"by rendering provider {self.provider} on {self.date}"
        else:
            self.who = f"by the claim's rendering provider on {self.date}"

    def finding(
        self, rule: str, severity: str, message: str, lines: list[Line], expressions=None, **parts
    ) -> Finding:
        """Return a finding about some of the group's lines, naming the grouping."""
        return Finding(
            rule,
            severity,
            message,
            lines,
            expressions or [line.code_path for line in lines],
            self.date,
            grouping=self.grouping,
            provider=self.provider,
            **parts,
        )


@dataclass(slots=True)
class _Bypass:
    """How the modifiers on two lines fare against an edit: the one that bypasses, and the refused."""

    modifier: Modifier | None = None
    owner: Line | None = None
    refused: list[str] = field(default_factory=list)
    # The sources of refusals that rest on a rule of their own (the body regions).
    cited: list[RuleSource] = field(default_factory=list)


@dataclass(slots=True)
class _Fix:
    """One best fix for the lines of a CPT instruction family: keep some, replace or remove the rest."""

    family: Family
    kept: list[Line]
    covered: list[Line]
    new_codes: list[str]
    refused: list[str]
    cited: list[RuleSource] = field(default_factory=list)  # sources of the refusals (body regions)
    ncci: list[Finding] = field(default_factory=list)  # PTP findings on its lines, folded into it

    @property
    def lines(self) -> list[Line]:
        """Return every line the fix is about, in line order."""
        return sorted([*self.kept, *self.covered], key=line_number)


class BundlingChecker:
    """Check claim lines against the shipped CPT rules and the imported NCCI editions."""

    def __init__(self, registry: Registry, index: NcciIndex) -> None:
        self.registry = registry
        self.index = index
        self.content = RuleContent.from_registry(registry)
        # Terminology answers about the codes and modifiers claims name, by (system, code): callers'
        # input, so bounded (issue texts echo the code; a few MB hold thousands of codes).
        self._codes = BoundedCache("bundling-codes", CODE_MEMO_BYTES, sizeof=approximate_entry_size)
        self._modifiers = BoundedCache("bundling-modifiers", CODE_MEMO_BYTES, sizeof=approximate_entry_size)
        self._valid: set[tuple[str | None, str]] = set()
        self._regions = BoundedCache("bundling-regions", CODE_MEMO_BYTES, sizeof=approximate_entry_size)
        # The NCCI tables picked per (index generation, setting, edition, dates): callers' dates, bounded.
        self._plans = BoundedCache("bundling-edition-plans", 4096)
        self.maps_used: list[str] = list(self.content.maps_used)
        self.family_of = self.content.family_of
        self.family_codes = frozenset(self.family_of)
        self.encounter_limits: dict[str, EncounterLimit] = self.content.encounter_limits
        self.modifier_rules: dict[str, ModifierRule] = self.content.modifiers
        # Per MAI: whether a denial can be appealed, how the finding says so, the override reasons.
        # MAI 1 and 3 denials can be overturned with documentation; MAI 2 is binding policy.
        appeal = "documentation of medical necessity can overturn it on appeal"
        self._mue_terms = {
            mai: (
                mai != 2,
                appeal if mai != 2 else "a policy limit that documentation cannot overturn",
                self.content.reasons_for.get(_MUE_REASONS.get(mai, ""), ()),
            )
            for mai in MUE_LABELS
        }
        self._ptp_reasons = self.content.reasons_for.get("ncci-ptp-indicator-1", ())
        self._ptp_reasons_named = tuple(r for r in self._ptp_reasons if r != "different-practitioner")
        self.rule_canonicals = [
            c for c in (self.content.instructions_canonical, self.content.modifier_canonical) if c
        ]

    # --- terminology checks -------------------------------------------------------------------

    def _code_issues(self, system: str | None, code: str) -> list[tuple[str, str, str]]:
        key = (system, code)
        if key in self._valid:  # most codes on a claim: known and valid
            return []
        found = self._codes.get_or_compute(key, partial(self._find_code_issues, system, code))
        if not found:
            self._note_valid(key)
        return found

    def _note_valid(self, key: tuple[str | None, str]) -> None:
        """Remember a valid (system, code) in the lock-free set of valid codes (short keys; bounded)."""
        if len(key[1]) > _SHORT or len(key[0] or "") > _SHORT_SYSTEM:
            return
        if len(self._valid) >= VALID_CODES:
            self._valid.clear()
        self._valid.add(key)

    def _find_code_issues(self, system: str | None, code: str) -> list[tuple[str, str, str]]:
        check = check_coding(self.registry, CodingInput(system, code), ValidationOptions())
        fragment = check.code_system is not None and check.code_system.content == "fragment"
        found = []
        for issue in check.issues:
            if issue.severity not in ("error", "warning"):
                continue
            severity = issue.severity
            # A fragment cannot say a code does not exist: the code may be in another fragment.
            if fragment and issue.tx_code == "invalid-code":
                severity = "information"
            found.append((severity, issue.text, issue.tx_code or ""))
        return found

    def _modifier_issue(self, system: str | None, code: str) -> tuple[str, str] | None:
        key = (system, "modifier:" + code)
        if key in self._valid:
            return None
        found = self._modifiers.get_or_compute(
            (system, code), partial(self._find_modifier_issue, system, code)
        )
        if found is None:
            self._note_valid(key)
        return found

    def _find_modifier_issue(self, system: str | None, code: str) -> tuple[str, str] | None:
        url = system or CPT
        code_system = self.registry.find("CodeSystem", url)
        if code_system is None:
            return (
                "error",
                f"The modifier system '{url}' is not known, so modifier '{code}' cannot be checked",
            )
        if find_modifier(self.registry, code_system, code) is not None:
            return None
        if code_system.find(code) is not None:
            return ("error", f"The code '{code}' is not a modifier ({code_system.canonical})")
        if code_system.content == "fragment":
            return (
                "information",
                f"Unknown modifier '{code}' in the CodeSystem '{code_system.canonical}' - note that the "
                "code system is labeled as a fragment, so the modifier may be valid in some other fragment",
            )
        return ("error", f"Unknown modifier '{code}' in the CodeSystem '{code_system.canonical}'")

    def _region(self, code: str) -> str | None:
        """Return the CPT body-region property of a code (None when the CPT content has none)."""
        return self._regions.get_or_compute(code, partial(self._find_region, code))

    def _find_region(self, code: str) -> str | None:
        cpt = self.registry.find("CodeSystem", CPT)
        concept = cpt.find(code) if cpt is not None else None
        values = concept.property_values("body-region") if concept is not None else []
        return str(values[0]) if values else None

    def _terminology(self, lines: list[Line], findings: list[Finding]) -> None:
        valid = self._valid
        for line in lines:
            if (line.system, line.code) in valid and not line.modifiers:
                continue  # the common line: a known code, no modifiers
            for severity, text, _tx in self._code_issues(line.system, line.code):
                findings.append(
                    Finding(
                        "unknown-code",
                        severity,
                        f"Line {line.number}: {text}",
                        [line],
                        [line.code_path],
                        line.date,
                        codes=[line.code],
                        sources=["terminology: CodeSystem validation"],
                        appealable=False if severity == "error" else None,
                        suggestion=Suggestion(
                            "review", f"Check the code on line {line.number}", [line.number]
                        )
                        if severity == "error"
                        else None,
                    )
                )
            for modifier in line.modifiers:
                problem = self._modifier_issue(modifier.system, modifier.code)
                if problem is not None:
                    findings.append(
                        Finding(
                            "unknown-modifier",
                            problem[0],
                            f"Line {line.number}: {problem[1]}",
                            [line],
                            [modifier.path],
                            line.date,
                            codes=[line.code, modifier.code],
                            sources=["terminology: CodeSystem validation"],
                            appealable=False if problem[0] == "error" else None,
                        )
                    )

    # --- grouping -----------------------------------------------------------------------------

    def _groups(self, lines: list[Line], setting: str) -> list[_Group]:
        """Split the lines into the groups the edits apply to (lines in number order in each)."""
        buckets: dict[tuple[str, str], list[Line]] = {}
        if setting == "outpatient":
            # The hospital is the provider: its whole claim is one group per date (I/OCE).
            for line in lines:
                key = (line.date, line.claim)
                found = buckets.get(key)
                if found is None:
                    buckets[key] = [line]
                else:
                    found.append(line)
            return [_Group(day, group, FACILITY_CLAIM) for (day, _claim), group in sorted(buckets.items())]
        unnamed: list[Line] = []
        for line in lines:
            provider = line.provider or line.claim_provider
            if provider is None:
                unnamed.append(line)
                continue
            key = (line.date, provider)
            found = buckets.get(key)
            if found is None:
                buckets[key] = [line]
            else:
                found.append(line)
        if unnamed:
            # A line without a rendering provider is the claim's: the one its other lines name; the
            # lines of a claim that names none (or several) are that claim's, whoever it is.
            sole = self._sole_providers(lines)
            for line in unnamed:
                provider = sole.get(line.claim)
                key = (line.date, provider) if provider is not None else (line.date, "\0" + line.claim)
                buckets.setdefault(key, []).append(line)
            for group in buckets.values():
                group.sort(key=line_number)
        return [
            _Group(day, group, RENDERING_PROVIDER, None if provider.startswith("\0") else provider)
            for (day, provider), group in sorted(buckets.items())
        ]

    @staticmethod
    def _sole_providers(lines: list[Line]) -> dict[str, str]:
        """Return claim -> its rendering provider, for claims whose lines name exactly one."""
        named: dict[str, set[str]] = {}
        for line in lines:
            provider = line.provider or line.claim_provider
            if provider is not None:
                named.setdefault(line.claim, set()).add(provider)
        return {claim: next(iter(found)) for claim, found in named.items() if len(found) == 1}

    # --- modifiers ----------------------------------------------------------------------------

    def _refusal(
        self,
        rule: ModifierRule,
        line: Line,
        other: Line,
        group: _Group,
        setting: str,
        cited: list[RuleSource] | None = None,
    ) -> str | None:
        """Say why a modifier on ``line`` does not bypass an edit with ``other``; None if it does.

        :param cited: collects the sources of a refusal that rests on a rule of its own (the body
            regions no anatomic modifier fits), for the finding's rationale.
        """
        code = rule.code
        conflicts = rule.same_line_conflicts.intersection(line.modifier_codes)
        if conflicts:
            return (
                f"{listed(sorted({code, *conflicts}))} are both on line {line.number}: reporting 59 "
                "and an X{EPSU} modifier on one line is incorrect (CR8863), so neither bypasses"
            )
        if rule.setting is not None and rule.setting != setting:
            return (
                f"{code} applies to {_SETTING_NAMES[rule.setting]} claims only, not {_SETTING_NAMES[setting]}"
            )
        kinds = self.content.kinds_of(line.code)
        if rule.applies_to and kinds and not kinds & rule.applies_to:
            return (
                f"{code} applies to {self._kind_names(rule.applies_to)} only, and {line.code} is "
                f"{self._kind_names(kinds)}"
            )
        if rule.not_for and kinds & rule.not_for:
            return f"{code} is not used on {self._kind_names(kinds & rule.not_for)}"
        if rule.anatomic:
            if code in other.modifier_codes:
                first, second = sorted((line.number, other.number))
                return f"{code} is on both lines {first} and {second}: the same site"
            region = self._region(line.code)
            sites = self.content.region_sites.get(region) if region is not None else None
            if sites is not None and rule.anatomic_site not in sites:
                if cited is not None and region is not None:
                    cited.extend(self.content.region_sources.get(region, ()))
                site = (rule.anatomic_site or "").replace("-", " ")
                return f"{code} names a {site} site, which does not fit {line.code} ({region} spine)"
        if rule.circumstance == "different-practitioner":
            if setting == "practitioner":
                who = group.provider or "the claim's rendering provider"
                return f"{code} says a different practitioner, but both lines are rendered by {who}"
            if line.provider is not None and line.provider == other.provider:
                return (
                    f"{code} says a different practitioner, but both lines are performed by {line.provider}"
                )
        return None

    def _kind_names(self, kinds) -> str:
        names = {
            "evaluation-management": "an E/M service",
            "anesthesia": "an anesthesia service",
            "surgery": "a procedure (CPT surgery section)",
            "radiology": "a radiology service",
            "pathology-laboratory": "a laboratory test",
            "medicine": "a medicine service",
        }
        return " or ".join(names.get(k, k) for k in sorted(kinds))

    def _line_bypass(self, line: Line, other: Line, group: _Group, setting: str, verdict: _Bypass) -> bool:
        """Look for a modifier on ``line`` that bypasses an edit with ``other``; note those that do not."""
        for modifier in line.modifiers:
            rule = self.modifier_rules.get(modifier.code)
            if rule is None or not rule.ncci_associated:
                continue
            refusal = self._refusal(rule, line, other, group, setting, verdict.cited)
            if refusal is None:
                verdict.modifier, verdict.owner = modifier, line
                return True
            verdict.refused.append(f"modifier {refusal}")
        return False

    def _bypass(self, col1: Line, col2: Line, group: _Group, setting: str) -> _Bypass:
        """Judge the modifiers of a pair (column 2 first: the modifier usually sits there)."""
        verdict = _Bypass()
        if col2.modifiers and self._line_bypass(col2, col1, group, setting, verdict):
            return verdict
        if col1.modifiers:
            self._line_bypass(col1, col2, group, setting, verdict)
        return verdict

    def _reasons(
        self, kind: str | None, lines: list[Line], setting: str, reasons: tuple[str, ...] | None = None
    ) -> list[str]:
        """Return the override reasons a card may offer: the rule's, less those the lines contradict."""
        offered = self.content.reasons_for.get(kind, ()) if reasons is None else reasons
        if offered and "different-practitioner" in offered:
            performers = {line.provider for line in lines}
            # Offered only when the orders do not already name one performer for all of them.
            if None not in performers and (setting == "practitioner" or len(performers) == 1):
                offered = tuple(r for r in offered if r != "different-practitioner")
        return list(offered)

    # --- per line -----------------------------------------------------------------------------

    def _units(self, group: _Group, findings: list[Finding]) -> bool:
        """Check the units of each line; return whether a line carries 26 or TC (for the PC/TC rule)."""
        components = False
        for line in group.lines:
            quantity = line.quantity
            if quantity <= 0 or not quantity.is_integer():
                group.invalid_units = True
                findings.append(
                    group.finding(
                        "units",
                        "error",
                        f"Line {line.number}: {_units(quantity)} units of {line.code} is not a number of "
                        "services: units are whole positive numbers, so the line cannot be paid as reported",
                        [line],
                        expressions=[line.quantity_path or line.code_path],
                        codes=[line.code],
                        units=quantity,
                        appealable=False,
                        sources=[_UNITS_SOURCE],
                        suggestion=Suggestion(
                            "review",
                            f"Report the units of line {line.number} as a whole number",
                            [line.number],
                        ),
                    )
                )
                continue
            if not line.modifiers:
                continue
            for modifier in line.modifiers:
                if modifier.code in PCTC:
                    components = True
                rule = self.modifier_rules.get(modifier.code)
                if rule is None or rule.units_per_line is None or quantity == rule.units_per_line:
                    continue
                allowed = rule.units_per_line
                findings.append(
                    group.finding(
                        "units",
                        "error",
                        f"Line {line.number}: {line.code}-{modifier.code} with {_units(quantity)} units; "
                        f"{rule.asserts} (modifier {modifier.code}) is reported on one line that carries "
                        f"{allowed} unit",
                        [line],
                        expressions=[line.quantity_path or line.code_path, modifier.path],
                        codes=[line.code, modifier.code],
                        units=quantity,
                        appealable=False,
                        rationale=_cite(rule.sources),
                        sources=[self.content.modifier_canonical or "ncci-modifier-rules"],
                        suggestion=Suggestion(
                            "reduce-units",
                            f"Report {allowed} unit on line {line.number}",
                            [line.number],
                            units=float(allowed),
                        ),
                    )
                )
        return components

    def _duplicates(self, group: _Group, setting: str, findings: list[Finding]) -> None:
        seen: dict[tuple, Line] = {}
        limited = self.encounter_limits
        for line in group.lines:
            if line.code in limited:
                continue  # its CPT instruction says how often it is reported (_per_encounter)
            # The same modifiers in any order make the same line (most lines have none).
            key = (line.code, tuple(sorted(line.modifier_codes)) if line.modifiers else ())
            first = seen.get(key)
            if first is None:
                seen[key] = line
                continue
            findings.append(
                group.finding(
                    "duplicate-line",
                    "error",
                    f"Line {line.number} repeats line {first.number} ({line.code}"
                    + (":" + ":".join(line.modifier_codes) if line.modifiers else "")
                    + f") {group.who}: a duplicate line is denied; if the service was not repeated remove "
                    "it, otherwise report a repeat-procedure modifier (76, 77) or the units on one line",
                    [first, line],
                    codes=[line.code],
                    appealable=True,
                    sources=[_DUPLICATE_SOURCE],
                    suggestion=Suggestion("remove", f"Remove line {line.number}", [line.number]),
                    override_reasons=self._reasons("duplicate-line", [first, line], setting),
                )
            )

    # --- CPT instructions ---------------------------------------------------------------------

    def _per_encounter(
        self, group: _Group, by_code: dict[str, list[Line]], setting: str, findings: list[Finding]
    ) -> None:
        """Apply the CPT instructions that report a code at most N times per encounter (62284: once).

        The group (one provider, or the facility claim, and a date) is one encounter unless a line's
        modifier documents a separate one (XE, within its restrictions): such a line passes with a
        warning, as any documented separate encounter does. Lines whose units are not a number of
        services are left to the units rule; a 26 and a TC line count as one service.
        """
        for code, limit in self.encounter_limits.items():
            lines = by_code.get(code)
            if lines is None:
                continue
            if group.invalid_units:
                lines = [line for line in lines if _valid_units(line)]
            session: list[Line] = []
            apart: list[tuple[Line, Modifier, ModifierRule]] = []
            for line in lines:
                others = [other for other in lines if other is not line]
                separate = self._separate_encounter(line, others[0], group, setting) if others else None
                if separate is None:
                    session.append(line)
                else:
                    apart.append((line, *separate))
            for line in session:
                if line.quantity > limit.units:
                    findings.append(self._encounter_finding(group, limit, [line], line.quantity, setting))
            if len(session) > 1 and _services(session) > limit.units:
                findings.append(self._encounter_finding(group, limit, session, _services(session), setting))
            for line, modifier, rule in apart:
                others = [other for other in lines if other is not line]
                findings.append(self._encounter_apart(group, limit, line, modifier, rule, others))

    def _separate_encounter(
        self, line: Line, other: Line, group: _Group, setting: str
    ) -> tuple[Modifier, ModifierRule] | None:
        """Return the modifier on ``line`` that documents a separate encounter (and its rule), if any."""
        for modifier in line.modifiers:
            rule = self.modifier_rules.get(modifier.code)
            if (
                rule is not None
                and rule.circumstance == "separate-encounter"
                and self._refusal(rule, line, other, group, setting) is None
            ):
                return modifier, rule
        return None

    def _encounter_rationale(self, limit: EncounterLimit) -> str:
        return f"{limit.definition} Sources: {_cite(limit.sources)}"

    def _encounter_rule_text(self, limit: EncounterLimit) -> str:
        """Return the instruction as a finding states it: 62284 is reported once per encounter (…)."""
        title = self.content.families[limit.family].title
        times = "once" if limit.units == 1 else f"{limit.units} times"
        return f"{limit.code} is reported {times} per encounter (CPT instruction, {title})"

    def _encounter_finding(
        self, group: _Group, limit: EncounterLimit, lines: list[Line], units: float, setting: str
    ) -> Finding:
        code, allowed = limit.code, limit.units
        rule_text = self._encounter_rule_text(limit)
        if len(lines) == 1:
            line = lines[0]
            message = (
                f"Line {line.number}: {_units(units)} units of {code} {group.who}: {rule_text}; a separate "
                "encounter on the same date goes on its own line with modifier XE, documented"
            )
            suggestion = Suggestion(
                "reduce-units",
                f"Report {allowed} unit{'' if allowed == 1 else 's'} on line {line.number}",
                [line.number],
                units=float(allowed),
            )
        else:
            extra = lines[1:]
            message = (
                f"{listed([_shown(line) for line in lines])} {group.who} report {code} "
                f"{_units(units)} times: {rule_text}; a separate encounter on the same date is reported "
                "with modifier XE and documented"
            )
            suggestion = Suggestion("remove", f"Remove {_lines_text(extra)}", [line.number for line in extra])
        return group.finding(
            "once-per-encounter",
            "error",
            message,
            list(lines),
            expressions=[line.quantity_path or line.code_path for line in lines] if len(lines) == 1 else None,
            codes=[code],
            units=units,
            appealable=False,
            rationale=self._encounter_rationale(limit),
            sources=self.rule_canonicals[:1],
            suggestion=suggestion,
            override_reasons=self._reasons("once-per-encounter", lines, setting),
        )

    def _encounter_apart(
        self,
        group: _Group,
        limit: EncounterLimit,
        line: Line,
        modifier: Modifier,
        rule: ModifierRule,
        others: list[Line],
    ) -> Finding:
        lines = sorted([line, *others], key=line_number)
        return group.finding(
            "once-per-encounter",
            "warning",
            f"{listed([_shown(x) for x in lines])} {group.who}: {self._encounter_rule_text(limit)}; "
            f"modifier {modifier.code} on line {line.number} says "
            f"{rule.asserts}, so they are reported apart: the record must document it",
            lines,
            expressions=[modifier.path, line.code_path],
            codes=[limit.code],
            bypass_modifier=modifier.code,
            rationale=f"{self._encounter_rationale(limit)}; modifier {modifier.code}: {_cite(rule.sources)}",
            sources=[*self.rule_canonicals],
            suggestion=Suggestion(
                "review",
                f"Keep the documentation that supports modifier {modifier.code} on line {line.number}",
                [line.number],
            ),
            override_reasons=[rule.override_reason] if rule.override_reason else [],
        )

    def _instruction_fixes(
        self, group: _Group, governing: dict[frozenset, PtpRow], setting: str, findings: list[Finding]
    ) -> list[_Fix]:
        """Find, per family, the fewest codes that describe the group's lines (repeats are duplicates)."""
        by_family: dict[str, dict[str, Line]] = {}
        family_of = self.family_of
        for line in group.lines:
            family = family_of.get(line.code)
            if family is not None:
                by_family.setdefault(family.code, {}).setdefault(line.code, line)
        fixes = []
        for family_code, firsts in by_family.items():
            if len(firsts) < 2:
                continue
            family = self.content.families[family_code]
            fix = self._family_fix(family, list(firsts.values()), group, governing, setting, findings)
            if fix is not None:
                fixes.append(fix)
        return fixes

    def _family_fix(
        self,
        family: Family,
        lines: list[Line],
        group: _Group,
        governing: dict[frozenset, PtpRow],
        setting: str,
        findings: list[Finding],
    ) -> _Fix | None:
        session: list[Line] = []
        separate: list[tuple[Line, _Bypass]] = []
        refused: list[str] = []
        cited: list[RuleSource] = []
        for line in lines:
            others = [other for other in lines if other is not line]
            verdict = _Bypass()
            apart = bool(line.modifiers) and all(
                self._line_bypass(line, other, group, setting, verdict)
                and getattr(governing.get(frozenset((line.code, other.code))), "indicator", 1) != 0
                for other in others
            )
            if apart:
                separate.append((line, verdict))
            else:
                session.append(line)
                refused.extend(dict.fromkeys(verdict.refused))
                cited.extend(source for source in verdict.cited if source not in cited)
        codes = [line.code for line in session]
        best = family.best(codes) if len(session) > 1 else tuple(codes)
        fix = None
        if set(best) != set(codes):
            kept = [line for line in session if line.code in best]
            covered = [line for line in session if line.code not in best]
            new = [code for code in best if code not in codes]
            fix = _Fix(family, kept, covered, new, refused, cited)
        for line, verdict in separate:
            # Compared with the session; lines that are all set apart are compared with each other.
            others = session or [other for other, _verdict in separate if other is not line]
            kept = best if session else tuple(other.code for other in others)
            self._separate_session(family, line, verdict, kept, others, group, setting, findings)
        return fix

    def _separate_session(
        self,
        family: Family,
        line: Line,
        verdict: _Bypass,
        best: tuple[str, ...],
        session: list[Line],
        group: _Group,
        setting: str,
        findings: list[Finding],
    ) -> None:
        """Report a line a valid modifier keeps out of the session, when it would otherwise combine."""
        together = {*best, line.code}
        if not session:
            return
        combined = family.best(together)
        if set(combined) == together:
            return
        modifier = verdict.modifier
        assert modifier is not None
        rule = self.modifier_rules[modifier.code]
        others = [other for other in session if other.code in best] or session
        new = [code for code in combined if code not in together]
        would = f"would be reported as {' + '.join(combined)}" if new else "are not reported together"
        reasons = [rule.override_reason] if rule.override_reason else []
        findings.append(
            group.finding(
                "combined-code" if new else "not-reported-together",
                "warning",
                f"{listed([_shown(x) for x in sorted([line, *others], key=line_number)])} {group.who} "
                f"{would} in one session (CPT instruction, {family.title}); modifier {modifier.code} on "
                f"line {line.number} says {rule.asserts}, so they are reported apart: the record must "
                "document it",
                sorted([line, *others], key=line_number),
                expressions=[modifier.path, line.code_path],
                codes=[line.code, *(o.code for o in others)],
                bypass_modifier=modifier.code,
                rationale=f"{family.instruction} Sources: {_cite(family.sources)}; modifier {modifier.code}: "
                + _cite(rule.sources),
                sources=[*self.rule_canonicals],
                suggestion=Suggestion(
                    "review",
                    f"Keep the documentation that supports modifier {modifier.code} on line {line.number}",
                    [line.number],
                ),
                override_reasons=reasons,
            )
        )

    def _fix_finding(self, fix: _Fix, group: _Group, setting: str) -> Finding:
        family = fix.family
        lines = fix.lines
        codes = [line.code for line in lines]
        rows = [*fix.kept, *fix.covered]
        pctc = {m for line in rows for m in line.modifier_codes if m in PCTC}
        # Lines that all carry the same component (26 or TC) keep it on the code that replaces them.
        keep = (
            sorted(pctc) if len(pctc) == 1 and all(set(line.modifier_codes) & pctc for line in rows) else []
        )
        covered_text = listed([_shown(line) for line in fix.covered])
        kept_text = listed([_shown(line) for line in fix.kept])
        if fix.new_codes:
            rule = "combined-code"
            described = " + ".join(fix.new_codes)
            message = (
                f"{listed([_shown(line) for line in lines])} {group.who} describe one service, "
                f"{described}: report {described} instead" + (f" and keep {kept_text}" if fix.kept else "")
            )
            suggestion = Suggestion(
                "replace",
                f"Replace {_lines_text(fix.covered)} with {described}" + ("-" + keep[0] if keep else ""),
                [line.number for line in fix.covered],
                list(fix.new_codes),
                CPT,
                modifiers=keep,
            )
            rationale_codes = [*fix.new_codes, *codes]
        else:
            rule = "not-reported-together"
            message = (
                f"{kept_text} {group.who} describes the whole service: {covered_text} "
                f"{'is' if len(fix.covered) == 1 else 'are'} not reported with it"
            )
            suggestion = Suggestion(
                "remove", f"Remove {_lines_text(fix.covered)}", [line.number for line in fix.covered]
            )
            rationale_codes = codes
        message += f" (CPT instruction, {family.title})"
        if fix.refused:
            message += "; " + "; ".join(fix.refused) + ", so it does not make a separate service"
        sources = [*self.rule_canonicals[:1]]
        for pair_map in self._pair_maps(codes, fix.new_codes):
            if pair_map not in sources:
                sources.append(pair_map)
        rationale = f"{family.instruction} Sources: " + _cite(
            s for code in dict.fromkeys(rationale_codes) for s in family.sources_of.get(code, ())
        )
        if fix.cited:
            rationale += f"; modifier refused: {_cite(fix.cited)}"
        for ncci in fix.ncci:
            message += (
                f"; NCCI PTP edit {ncci.codes[0]}/{ncci.codes[1]} (modifier indicator "
                f"{ncci.modifier_indicator}) also applies"
            )
            sources.extend(s for s in ncci.sources if s not in sources)
        return group.finding(
            rule,
            "error",
            message,
            lines,
            codes=[*codes, *fix.new_codes],
            appealable=False,
            rationale=rationale,
            sources=sources,
            suggestion=suggestion,
            override_reasons=self._reasons("", lines, setting, family.override_reasons),
        )

    def _pair_maps(self, codes: list[str], new_codes: list[str]) -> list[str]:
        pair_maps = self.content.pair_maps
        found = []
        for i, first in enumerate(codes):
            for second in codes[i + 1 :]:
                canonical = pair_maps.get(frozenset((first, second)))
                if canonical and canonical not in found:
                    found.append(canonical)
        return found

    # --- NCCI PTP -----------------------------------------------------------------------------

    @staticmethod
    def _governing(rows: list[PtpRow], day: int) -> dict[frozenset, PtpRow]:
        """Return, per code pair, the row in force on the day (either column order)."""
        by_pair: dict[frozenset, list[PtpRow]] = {}
        for row in rows:
            if row.in_force(day):
                by_pair.setdefault(frozenset((row.column1, row.column2)), []).append(row)
        governing = {}
        for pair, applicable in by_pair.items():
            # Indicator 0 is the stricter edit; among equals, the most recent row is the one in force.
            governing[pair] = (
                applicable[0]
                if len(applicable) == 1
                else min(applicable, key=lambda r: (r.indicator != 0, -r.effective, r.column1, r.column2))
            )
        return governing

    def _ptp(
        self,
        group: _Group,
        governing: dict[frozenset, PtpRow],
        edits: _DayEdits,
        setting: str,
        fixes: list[_Fix],
        by_code: dict[str, list[Line]],
        findings: list[Finding],
        track: bool,
    ) -> set[frozenset[int]]:
        """Apply the edits in force; return the line pairs they judged (when CPT fixes are about)."""
        judged: set[frozenset[int]] = set()
        if not fixes:  # the common claim: no CPT instruction fix, every edit stands on its own
            for row in governing.values():
                for col2 in by_code[row.column2]:
                    col1, verdict = self._column1_for(by_code[row.column1], col2, row, group, setting)
                    findings.append(self._ptp_finding(col1, col2, row, verdict, edits, group, setting))
                    if track:
                        judged.add(frozenset((col1.number, col2.number)))
            return judged
        fix_of = {line.number: fix for fix in fixes for line in (*fix.kept, *fix.covered)}
        taken: set[int] = set()  # covered lines whose NCCI edit governs them
        for row in governing.values():
            for col2 in by_code[row.column2]:
                col1, verdict = self._column1_for(by_code[row.column1], col2, row, group, setting)
                finding = self._ptp_finding(col1, col2, row, verdict, edits, group, setting)
                fix = fix_of.get(col1.number)
                if fix is None or fix is not fix_of.get(col2.number) or finding.severity != "error":
                    findings.append(finding)
                elif (
                    not fix.new_codes
                    and col1 in fix.kept
                    and col2 in fix.covered
                    and col2.number not in taken
                ):
                    # The NCCI edit governs the pair: it says the same, with the payer's indicator.
                    fix.covered.remove(col2)
                    taken.add(col2.number)
                    finding.message += (
                        f"; the CPT instruction also says {col1.code} describes the whole service"
                    )
                    finding.sources.extend(self.rule_canonicals[:1])
                    finding.sources.extend(self._pair_maps([col1.code, col2.code], []))
                    findings.append(finding)
                else:
                    fix.ncci.append(finding)
                judged.add(frozenset((col1.number, col2.number)))
        return judged

    def _column1_for(
        self, candidates: list[Line], col2: Line, row: PtpRow, group: _Group, setting: str
    ) -> tuple[Line, _Bypass]:
        """Pick the column 1 line the column 2 line is denied with (else the first it is bypassed with)."""
        if row.indicator == 0 or len(candidates) == 1:
            col1 = candidates[0]
            return col1, (self._bypass(col1, col2, group, setting) if row.indicator == 1 else _Bypass())
        chosen: tuple[Line, _Bypass] | None = None
        seen: set[tuple] = set()
        for col1 in candidates:
            signature = (col1.modifier_codes, col1.provider)
            if signature in seen:  # lines alike fare alike: linear in the lines, not in their pairs
                continue
            seen.add(signature)
            verdict = self._bypass(col1, col2, group, setting)
            if verdict.modifier is None:
                return col1, verdict
            chosen = chosen or (col1, verdict)
        assert chosen is not None
        return chosen

    def _ptp_finding(
        self,
        col1: Line,
        col2: Line,
        row: PtpRow,
        verdict: _Bypass,
        edits: _DayEdits,
        group: _Group,
        setting: str,
    ) -> Finding:
        first, second = _shown(col1), _shown(col2)
        table = edits.table
        dates = f"effective {ncci_date_text(row.effective)}, deletion {ncci_date_text(row.deletion)}"
        finding = Finding(
            "ncci-ptp",
            "error",
            "",
            [col1, col2] if col1.number < col2.number else [col2, col1],
            [col2.code_path, col1.code_path],
            group.date,
            grouping=group.grouping,
            provider=group.provider,
            column1=col1,
            column2=col2,
            modifier_indicator=str(row.indicator),
            rationale=row.rationale,
            sources=[edits.source],
            codes=[col1.code, col2.code],
        )
        refused = "; ".join(dict.fromkeys(verdict.refused))
        if row.indicator == 0:
            finding.appealable = False
            finding.message = (
                f"{table}: {second} is not payable with {first} {group.who} ({dates}); "
                "modifier indicator 0: no modifier bypasses this edit"
            )
            finding.suggestion = Suggestion("remove", f"Remove line {col2.number}", [col2.number])
        elif verdict.modifier is not None:
            owner = verdict.owner
            assert owner is not None
            rule = self.modifier_rules[verdict.modifier.code]
            finding.severity = "warning"
            finding.bypass_modifier = verdict.modifier.code
            finding.expressions = [verdict.modifier.path, col2.code_path]
            finding.message = (
                f"{table} for {first} and {second} {group.who} ({dates}, modifier indicator 1) "
                f"is bypassed by modifier {verdict.modifier.code} on line {owner.number}; the claim passes "
                f"the edit, and the record must document {rule.asserts}"
            )
            finding.rationale = f"{row.rationale}; modifier {verdict.modifier.code}: {_cite(rule.sources)}"
            finding.sources.extend(self.rule_canonicals[1:])
            finding.suggestion = Suggestion(
                "review",
                f"Keep the documentation that supports modifier {verdict.modifier.code}",
                [owner.number],
            )
            finding.override_reasons = [rule.override_reason] if rule.override_reason else []
        else:
            finding.appealable = True
            finding.message = (
                f"{table}: {second} is bundled into {first} {group.who} ({dates}); "
                "modifier indicator 1 and "
                + (
                    f"no modifier bypasses it ({refused})"
                    if refused
                    else "no NCCI-associated modifier on either line"
                )
            )
            if refused:
                finding.sources.extend(self.rule_canonicals[1:])
            if verdict.cited:
                finding.rationale = f"{row.rationale}; modifier refused: {_cite(verdict.cited)}"
            finding.suggestion = Suggestion(
                "remove",
                f"Remove line {col2.number}, or append an NCCI-associated modifier that fits "
                "(e.g. XE, XS, XU) if the services were distinct",
                [col2.number],
            )
            reasons = self._ptp_reasons
            if "different-practitioner" in reasons and (
                # Offered only when the orders do not already name one performer for both.
                col1.provider is not None
                and col2.provider is not None
                and (setting == "practitioner" or col1.provider == col2.provider)
            ):
                reasons = self._ptp_reasons_named
            finding.override_reasons = list(reasons)
        return finding

    # --- PC/TC --------------------------------------------------------------------------------

    def _pctc(self, group: _Group, setting: str, findings: list[Finding]) -> None:
        """One provider's 26 and TC lines of a code are its global code (§9.4).

        Practitioner claims: the group is one rendering provider's. A facility claim holds every
        performer's lines, and the radiologist's 26 beside the hospital's TC is correct split billing:
        there the lines of one performer are judged together (a line naming none is the hospital's).
        """
        if group.grouping != FACILITY_CLAIM:
            self._components(group, group.lines, group.who, setting, findings)
            return
        by_performer: dict[str | None, list[Line]] = {}
        for line in group.lines:
            by_performer.setdefault(line.provider or line.claim_provider, []).append(line)
        for performer, lines in by_performer.items():
            who = f"{group.who} (performer: {performer or 'the hospital, as the lines name none'})"
            self._components(group, lines, who, setting, findings)

    def _components(
        self, group: _Group, lines_of_one: list[Line], who: str, setting: str, findings: list[Finding]
    ) -> None:
        split: dict[str, dict[str, list[Line]]] = {}
        for line in lines_of_one:
            present = [m for m in PCTC if m in line.modifier_codes] if line.modifiers else []
            if len(present) > 1:
                continue
            split.setdefault(line.code, {}).setdefault(present[0] if present else "", []).append(line)
        source = self.content.modifiers.get("26")
        for code, parts in split.items():
            professional, technical, whole = parts.get("26"), parts.get("TC"), parts.get("")
            if not (professional or technical) or not (whole or (professional and technical)):
                continue
            components = [lines[0] for lines in (professional, technical) if lines]
            if whole:
                message = (
                    f"{_shown(whole[0])} is the global {code}, which includes both components: "
                    f"{listed([_shown(c) for c in components])} {who} "
                    f"{'repeats' if len(components) == 1 else 'repeat'} part of it"
                )
                suggestion = Suggestion(
                    "remove", f"Remove {_lines_text(components)}", [c.number for c in components]
                )
                lines = sorted([whole[0], *components], key=line_number)
                reasons: list[str] = []  # a global beside a component bills that component twice, whoever
            else:
                message = (
                    f"{listed([_shown(c) for c in components])} {who}: one provider performing "
                    f"both the professional and the technical component reports the global {code} "
                    "(no 26 or TC)"
                )
                suggestion = Suggestion(
                    "replace",
                    f"Replace {_lines_text(components)} with {code}",
                    [c.number for c in components],
                    [code],
                    components[0].system or CPT,
                )
                lines = components
                # Components by different practitioners are split billing (the radiologist's 26, the
                # facility's TC): the reason an order set without performers may give.
                reasons = self._reasons("pc-tc", lines, setting)
            findings.append(
                group.finding(
                    "pc-tc",
                    "error",
                    message,
                    lines,
                    codes=[code],
                    appealable=False,
                    rationale=_cite(source.sources) if source is not None else None,
                    sources=self.rule_canonicals[1:],
                    suggestion=suggestion,
                    override_reasons=reasons,
                )
            )

    # --- MUE ----------------------------------------------------------------------------------

    def _mue(
        self,
        group: _Group,
        by_code: dict[str, list[Line]],
        codes: list[str],
        edition: Edition,
        setting: str,
        findings: list[Finding],
    ) -> None:
        """Apply the MUE table to one group; ``codes`` are the group's distinct codes, sorted.

        Lines whose units are not a number of services are left to the units rule. A date-of-service
        edit (MAI 2, 3) counts the units of the group's lines, the professional (26) and technical (TC)
        lines of one study once: they are the two halves of one service.
        """
        table = self.index.mue_table(edition)
        source = None
        for code in codes:
            row = table.get(code)
            if row is None:
                continue
            lines = by_code[code]
            if group.invalid_units:
                lines = [line for line in lines if _valid_units(line)]
                if not lines:
                    continue
            if row.mai == 1:  # a line edit: each line on its own
                for line in lines:
                    if line.quantity > row.value:
                        source = source or _mue_source(edition)
                        findings.append(
                            self._mue_finding(group, code, [line], line.quantity, row, edition, source)
                        )
                continue
            # A date-of-service edit: the units of the group's lines add up. Most codes sit on one line.
            total = lines[0].quantity if len(lines) == 1 else _services(lines)
            if total > row.value:
                source = source or _mue_source(edition)
                findings.append(self._mue_finding(group, code, lines, total, row, edition, source))

    def _mue_finding(
        self,
        group: _Group,
        code: str,
        lines: list[Line],
        units: float,
        row: MueRow,
        edition: Edition,
        source: str,
    ) -> Finding:
        value, mai = row.value, row.mai
        appealable, tail, reasons = self._mue_terms[mai]
        mue = f"the {_TABLE_NAMES.get(edition.setting, edition.setting)} MUE of {value}"
        count = int(units)  # whole: only lines whose units are a number of services are counted
        counted = f"{count} unit{'' if count == 1 else 's'}"
        if mai == 1:
            line = lines[0]
            what = f"Line {line.number}: {counted} of {code} exceed {mue} per line"
            denied, scope = "the whole line is denied", f"on line {line.number}"
        else:
            what = f"{counted} of {code} {group.who} ({_lines_text(lines)}) exceed {mue} per date of service"
            denied = "the line is denied" if len(lines) == 1 else "the lines are denied"
            scope = f"of {code} for this date"
        return Finding(
            "mue",
            "error",
            f"{what} ({MAI_TEXT[mai]}): {denied}; {tail}",
            list(lines),
            [line.quantity_path or line.code_path for line in lines],
            group.date,
            grouping=group.grouping,
            provider=group.provider,
            mue_value=value,
            mai=mai,
            units=units,
            appealable=appealable,
            rationale=row.rationale,
            sources=[source],
            codes=[code],
            suggestion=Suggestion(
                "reduce-units",
                f"Report at most {value} unit{'' if value == 1 else 's'} {scope}"
                + (", or appeal with documentation of medical necessity" if appealable else ""),
                [line.number for line in lines],
                units=float(value),
            ),
            override_reasons=list(reasons),
        )

    def _one_limit_finding(
        self, findings: list[Finding], instructed: list[Finding], mue_findings: list[Finding]
    ) -> None:
        """Fold an MUE finding and a once-per-encounter finding about the same lines into one.

        Both limit the units of one code on the same lines, so a coder wants one error with one fix.
        The payer's MUE edit is what denies the line: when its value is no higher than the
        instruction's limit, the MUE finding stays and cites the instruction (which says why), taking
        the instruction's "remove the later line" fix when the limits are equal. When the MUE allows
        more, the instruction's finding stays (its fix satisfies the MUE too) and names the MUE.
        """
        by_lines = {
            (f.codes[0], tuple(sorted(map(line_number, f.lines)))): f
            for f in instructed
            if f.rule == "once-per-encounter" and f.severity == "error"
        }
        dropped: list[Finding] = []
        for mue in mue_findings:
            instruction = by_lines.get((mue.codes[0], tuple(sorted(map(line_number, mue.lines)))))
            if instruction is None or mue.mue_value is None:
                continue
            limit = self.encounter_limits[mue.codes[0]]
            if mue.mue_value <= limit.units:
                kept, other = mue, instruction
                mue.message += f"; {self._encounter_rule_text(limit)}"
                mue.rationale = "; ".join(
                    filter(None, [mue.rationale, f"CPT instruction: {self._encounter_rationale(limit)}"])
                )
                suggestion = instruction.suggestion
                if mue.mue_value == limit.units and suggestion is not None and suggestion.action == "remove":
                    mue.suggestion = suggestion
            else:
                kept, other = instruction, mue
                denied = "the line" if len(mue.lines) == 1 else "the lines"
                instruction.message += (
                    f"; the units also exceed the NCCI MUE of {mue.mue_value} ({MAI_TEXT[mue.mai or 1]}), "
                    f"which denies {denied}"
                )
                instruction.rationale = "; ".join(
                    filter(None, [instruction.rationale, f"MUE: {mue.rationale}"])
                )
                instruction.mue_value, instruction.mai = mue.mue_value, mue.mai
            # The kept finding's override reasons stay its own: they are what can change its denial.
            kept.sources += [s for s in other.sources if s not in kept.sources]
            dropped.append(other)
        if dropped:
            findings[:] = [f for f in findings if all(f is not d for d in dropped)]

    # --- entry point --------------------------------------------------------------------------

    def _editions(
        self, lines: list[Line], options: CheckOptions, findings: list[Finding], used: dict[int, Edition]
    ) -> tuple[dict[str, _DayEdits], dict[str, Edition | None]]:
        """Pick the PTP edition and MUE table for each date; warn for dates none covers."""
        dates = tuple(sorted({line.date for line in lines}))
        self.index.refresh()
        # Claims name the same few dates over and over: the plan for a setting, edition and dates is
        # worked out once per opened index (the generation changes when a new index is opened).
        plan = self._plans.get_or_compute(
            (self.index.generation, options.setting, options.edition, dates),
            partial(self._edition_plan, options.setting, options.edition, dates),
        )
        for day, kind, edition, covers in plan.picks:
            if edition is not None:
                used[edition.id] = edition
            if not covers:
                findings.append(self._no_edition(kind, day, edition, options.setting, lines))
        return plan.day_edits, plan.mue_for

    def _edition_plan(self, setting: str, name: str | None, dates: tuple[str, ...]) -> _EditionPlan:
        picks: list[tuple[str, str, Edition | None, bool]] = []
        day_edits: dict[str, _DayEdits] = {}
        mue_for: dict[str, Edition | None] = {}
        for day in dates:
            ptp, covers = self.index.edition_for("ptp", setting, day, name)
            picks.append((day, "ptp", ptp, covers))
            if ptp is not None:
                day_edits[day] = _DayEdits(
                    ptp,
                    day_number(day),
                    f"{ptp_concept_map_canonical(ptp)} (NCCI PTP {ptp.setting} {ptp.name})",
                    f"NCCI {_TABLE_NAMES.get(ptp.setting, ptp.setting)} PTP edit {ptp.name}",
                )
            mue, covers = self.index.edition_for("mue", setting, day)
            picks.append((day, "mue", mue, covers))
            mue_for[day] = mue
        return _EditionPlan(picks, day_edits, mue_for)

    @staticmethod
    def _no_edition(kind: str, day: str, edition: Edition | None, setting: str, lines: list[Line]) -> Finding:
        """Warn that no PTP edition (or MUE table) covers a date of service, and what was used instead."""
        label = "NCCI edition" if kind == "ptp" else "NCCI MUE table"
        if edition is None:
            what = "PTP edition" if kind == "ptp" else "MUE table"
            message = (
                f"no {label} covers {day} (no {setting} {what} is imported); "
                f"the {kind.upper()} rules were not applied"
            )
        else:
            message = (
                f"no {label} covers {day}: checked against {edition.name} ({edition.start} to "
                f"{edition.end}) instead, using its row dates"
                if kind == "ptp"
                else f"no {label} covers {day}: checked against the table effective {edition.start} "
                f"({edition.start} to {edition.end}) instead"
            )
        on_day = [line for line in lines if line.date == day]
        return Finding(
            "no-edition",
            "warning",
            message,
            on_day,
            [line.code_path for line in on_day],
            day,
            sources=[f"{kind} editions in the NCCI index ({setting})"],
            tiebreak=0 if kind == "ptp" else 1,
        )

    def check(self, lines: list[Line], options: CheckOptions | None = None) -> CheckResult:
        """Check lines; return the findings in a deterministic order and what was consulted."""
        options = options or CheckOptions()
        setting = options.setting
        if options.edition is not None and (problem := edition_name_problem(options.edition)):
            raise InvalidRequest(problem, expression="edition")
        if options.edition is not None and not any(
            e.name == options.edition for e in self.index.editions("ptp", setting)
        ):
            raise NotFound(
                f"No {setting} NCCI PTP edition '{options.edition}' is imported", expression="edition"
            )
        findings: list[Finding] = []
        lines = sorted(lines, key=line_number)
        self._terminology(lines, findings)
        used: dict[int, Edition] = {}
        day_edits, mue_for = self._editions(lines, options, findings, used)
        family_codes = self.family_codes
        for group in self._groups(lines, setting):
            components = self._units(group, findings)
            self._duplicates(group, setting, findings)
            by_code: dict[str, list[Line]] = {}
            for line in group.lines:
                same = by_code.get(line.code)
                if same is None:
                    by_code[line.code] = [line]
                else:
                    same.append(line)
            codes = sorted(by_code)
            instructed_from = instructed_to = len(findings)
            if self.encounter_limits:
                self._per_encounter(group, by_code, setting, findings)
                instructed_to = len(findings)
            edits = day_edits.get(group.date)
            governing: dict[frozenset, PtpRow] = {}
            if edits is not None and len(codes) > 1:
                governing = self._governing(self.index.ptp_rows(edits.edition, codes), edits.day)
            fixes: list[_Fix] = []
            notes: list[Finding] = []  # lines a modifier sets apart from a CPT instruction's session
            if len(codes) > 1 and not family_codes.isdisjoint(codes):
                fixes = self._instruction_fixes(group, governing, setting, notes)
            edited: set[frozenset[int]] = set()
            if governing:
                edited = self._ptp(group, governing, edits, setting, fixes, by_code, findings, bool(notes))  # type: ignore[arg-type]
            # Where an NCCI edit judged the same two lines, its finding already says it.
            findings.extend(
                note for note in notes if frozenset(line.number for line in note.lines) not in edited
            )
            for fix in fixes:
                if fix.covered or fix.new_codes:
                    findings.append(self._fix_finding(fix, group, setting))
            if components:
                self._pctc(group, setting, findings)
            mue = mue_for.get(group.date)
            if mue is not None:
                mue_from = len(findings)
                self._mue(group, by_code, codes, mue, setting, findings)
                if instructed_to > instructed_from and len(findings) > mue_from:
                    self._one_limit_finding(
                        findings, findings[instructed_from:instructed_to], findings[mue_from:]
                    )
        findings.sort(key=Finding.sort_key)
        maps = list(self.maps_used)
        editions = sorted(used.values(), key=lambda e: (e.kind, e.setting, e.start, e.name))
        maps.extend(ptp_concept_map_canonical(e) for e in editions if e.kind == "ptp")
        return CheckResult(findings, editions, maps)
