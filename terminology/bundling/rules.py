"""The bundling rules: NCCI PTP and MUE edits, CPT combined codes and not-reported-together, duplicates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from functools import partial

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
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, OWN_BASE
from terminology.engine.validate import CodingInput, ValidationOptions, check_coding, find_modifier
from terminology.errors import InvalidRequest, NotFound
from terminology.ncci.edition_maps import ptp_concept_map_canonical
from terminology.ncci.importers import edition_name_problem
from terminology.ncci.index import Edition, NcciIndex

BASE = OWN_BASE
COMBINED_CODES = f"{BASE}/ConceptMap/cpt-combined-codes"
NOT_REPORTED_TOGETHER = f"{BASE}/ConceptMap/cpt-not-reported-together"
COMBINED_COMPONENT = f"{COMBINED_CODES}#other-component"
# Bound of each per-worker memo of code and modifier issues (estimated bytes).
CODE_MEMO_BYTES = 4 * 1024 * 1024

# CMS list of NCCI-associated modifiers that may bypass an indicator-1 PTP edit (domain notes §1.6).
ANATOMIC_MODIFIERS = (
    "E1",
    "E2",
    "E3",
    "E4",
    "FA",
    "F1",
    "F2",
    "F3",
    "F4",
    "F5",
    "F6",
    "F7",
    "F8",
    "F9",
    "TA",
    "T1",
    "T2",
    "T3",
    "T4",
    "T5",
    "T6",
    "T7",
    "T8",
    "T9",
    "LT",
    "RT",
    "LC",
    "LD",
    "RC",
    "LM",
    "RI",
)
GLOBAL_SURGERY_MODIFIERS = ("24", "25", "57", "58", "78", "79")
OTHER_MODIFIERS = ("27", "59", "91", "XE", "XS", "XP", "XU")
BYPASS_MODIFIERS = frozenset(ANATOMIC_MODIFIERS + GLOBAL_SURGERY_MODIFIERS + OTHER_MODIFIERS)
# Modifiers that say "distinct procedural service" (CMS prefers the X{EPSU} subset to 59).
DISTINCT_SERVICE_MODIFIERS = ("XE", "XS", "XP", "XU", "59")
BYPASS_SOURCE = "CMS NCCI Policy Manual, chapter I: NCCI-associated modifiers"
MUE_LABELS = {1: "Line Edit", 2: "Date of Service Edit: Policy", 3: "Date of Service Edit: Clinical"}
MAI_TEXT = {mai: f"MAI {mai} ({label})" for mai, label in MUE_LABELS.items()}  # as findings name an MAI


def _lines_text(lines: list[Line]) -> str:
    numbers = [str(line.number) for line in lines]
    return f"line {numbers[0]}" if len(numbers) == 1 else "lines " + " and ".join(numbers)


def _units(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _day(iso: str) -> int:
    return int(iso.replace("-", ""))


def _first_modifier(first: Line, second: Line, codes: Collection[str]) -> Modifier | None:
    """Return the first modifier among ``codes`` on ``first``, then on ``second``."""
    for line in (first, second):
        for modifier in line.modifiers:
            if modifier.code in codes:
                return modifier
    return None


@dataclass(slots=True)
class _DayEdits:
    """The PTP edition for one date of service, with what every pair on that date shares."""

    edition: Edition
    day: int  # the date of service as YYYYMMDD, comparable with the row dates
    source: str  # how findings cite the edition


def _date_text(value: int) -> str:
    if value >= 99991231:
        return "*"
    text = str(value)
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


class BundlingChecker:
    """Check claim lines against the shipped CPT rules and the imported NCCI editions."""

    def __init__(self, registry: Registry, index: NcciIndex) -> None:
        self.registry = registry
        self.index = index
        # Terminology issues of the codes and modifiers claims name, by (system, code): callers'
        # input, so bounded (issue texts echo the code; a few MB hold thousands of codes).
        self._codes = BoundedCache("bundling-codes", CODE_MEMO_BYTES, sizeof=approximate_entry_size)
        self._modifiers = BoundedCache("bundling-modifiers", CODE_MEMO_BYTES, sizeof=approximate_entry_size)
        self.combined: dict[frozenset, list[tuple[str, str | None, str | None]]] = {}
        self.not_together: dict[frozenset, str | None] = {}
        self.maps_used: list[str] = []
        combined = registry.find("ConceptMap", COMBINED_CODES)
        if combined is not None:
            self.maps_used.append(combined.canonical)
            for (_system, code), targets in combined.forward.items():
                for target in targets:
                    for condition in target.depends_on:
                        if condition.get("property") == COMBINED_COMPONENT and condition.get("value"):
                            key = frozenset((code, condition["value"]))
                            entry = (target.target_code, target.target_display, target.comment)
                            if entry not in self.combined.setdefault(key, []):
                                self.combined[key].append(entry)
        together = registry.find("ConceptMap", NOT_REPORTED_TOGETHER)
        if together is not None:
            self.maps_used.append(together.canonical)
            for (_system, code), targets in together.forward.items():
                for target in targets:
                    if target.target_code:
                        self.not_together[frozenset((code, target.target_code))] = target.comment
        # Code -> the codes a CPT rule pairs it with, so that pairs under no rule are skipped cheaply.
        self.rule_partners: dict[str, set[str]] = defaultdict(set)
        for pair in (*self.combined, *self.not_together):
            if len(pair) == 2:
                first, second = pair
                self.rule_partners[first].add(second)
                self.rule_partners[second].add(first)
        self.rule_partners = dict(self.rule_partners)
        self.combined_canonical = combined.canonical if combined is not None else None
        self.together_canonical = together.canonical if together is not None else None

    # --- terminology checks -------------------------------------------------------------------

    def _code_issues(self, system: str | None, code: str) -> list[tuple[str, str, str]]:
        return self._codes.get_or_compute((system, code), partial(self._find_code_issues, system, code))

    def _find_code_issues(self, system: str | None, code: str) -> list[tuple[str, str, str]]:
        check = check_coding(self.registry, CodingInput(system, code), ValidationOptions())
        fragment = check.code_system is not None and check.code_system.content == "fragment"
        cached = []
        for issue in check.issues:
            if issue.severity not in ("error", "warning"):
                continue
            severity = issue.severity
            # A fragment cannot say a code does not exist: the code may be in another fragment.
            if severity == "error" and fragment and issue.tx_code == "invalid-code":
                severity = "warning"
            cached.append((severity, issue.text, issue.tx_code or ""))
        return cached

    def _modifier_issue(self, system: str | None, code: str) -> tuple[str, str] | None:
        find = partial(self._find_modifier_issue, system, code)
        return self._modifiers.get_or_compute((system, code), find)

    def _find_modifier_issue(self, system: str | None, code: str) -> tuple[str, str] | None:
        url = system or CPT
        code_system = self.registry.find("CodeSystem", url)
        problem: tuple[str, str] | None = None
        if code_system is None:
            problem = (
                "error",
                f"The modifier system '{url}' is not known, so modifier '{code}' cannot be checked",
            )
        elif find_modifier(self.registry, code_system, code) is None:
            known = code_system.find(code) is not None
            if known:
                problem = ("error", f"The code '{code}' is not a modifier ({code_system.canonical})")
            elif code_system.content == "fragment":
                problem = (
                    "warning",
                    f"Unknown modifier '{code}' in the CodeSystem '{code_system.canonical}' - note that the "
                    "code system is labeled as a fragment, so the modifier may be valid in some other "
                    "fragment",
                )
            else:
                problem = ("error", f"Unknown modifier '{code}' in the CodeSystem '{code_system.canonical}'")
        return problem

    def _terminology(self, lines: list[Line], findings: list[Finding]) -> None:
        for line in lines:
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
                        )
                    )

    # --- pair rules ---------------------------------------------------------------------------

    def _duplicates(self, group: list[Line], findings: list[Finding]) -> None:
        seen: dict[tuple, Line] = {}
        for line in group:
            # The same modifiers in any order make the same line (most lines have none).
            key = (line.code, tuple(sorted(line.modifier_codes)) if line.modifiers else ())
            first = seen.get(key)
            if first is None:
                seen[key] = line
                continue
            findings.append(
                Finding(
                    "duplicate-line",
                    "warning",
                    f"Line {line.number} repeats line {first.number} ({line.code}"
                    + (":" + ":".join(line.modifier_codes) if line.modifiers else "")
                    + f", same provider, {line.date}); if the service was not repeated remove it, otherwise "
                    "report a repeat-procedure modifier (76, 77, 91) or the units on one line",
                    [first, line],
                    [first.code_path, line.code_path],
                    line.date,
                    codes=[line.code],
                    sources=["CMS claims processing: duplicate line items"],
                    suggestion=Suggestion("remove", f"Remove line {line.number}", [line.number]),
                )
            )

    def _combined(self, a: Line, b: Line, codes: frozenset, findings: list[Finding]) -> None:
        for code, display, comment in self.combined.get(codes, ()):
            first, second = (a, b) if a.number <= b.number else (b, a)
            shown = f"{code} ({display})" if display else code
            findings.append(
                Finding(
                    "combined-code",
                    "error",
                    f"{first.code} (line {first.number}) and {second.code} (line {second.number}) "
                    "by the same "
                    f"provider on {a.date} are the components of {shown}: report {code} instead",
                    [first, second],
                    [first.code_path, second.code_path],
                    a.date,
                    codes=[first.code, second.code, code],
                    rationale=comment,
                    sources=[self.combined_canonical] if self.combined_canonical else [],
                    suggestion=Suggestion(
                        "replace",
                        f"Replace lines {first.number} and {second.number} with {code}",
                        [first.number, second.number],
                        code,
                        CPT,
                    ),
                )
            )

    @staticmethod
    def _governing(rows: list[tuple], day: int) -> tuple | None:
        applicable = [r for r in rows if r[3] <= day <= r[4] and r[5] != 9]
        if len(applicable) < 2:  # most pairs have one row in force: nothing to rank
            return applicable[0] if applicable else None
        # Indicator 0 is the stricter edit; among equals, the most recent row is the one in force.
        return min(applicable, key=lambda r: (r[5] != 0, -r[3], r[0], r[1]))

    def _pair(
        self,
        a: Line,
        b: Line,
        rows: list[tuple],
        edits: _DayEdits | None,
        findings: list[Finding],
    ) -> None:
        """Apply the pair rules to two lines; ``rows`` are the PTP rows between their codes."""
        if a.code == b.code:
            return
        together = frozenset((a.code, b.code))
        self._combined(a, b, together, findings)
        cpt_rule = together in self.not_together
        row = self._governing(rows, edits.day) if edits is not None and rows else None
        if row is None and not cpt_rule:
            return
        edition = edits.edition if edits is not None else None
        if row is not None:
            col1, col2 = (a, b) if row[0] == a.code else (b, a)
        else:
            col1, col2 = (a, b) if a.number <= b.number else (b, a)
        pair = f"{col1.code} (line {col1.number}) and {col2.code} (line {col2.number})"
        sources: list[str] = []
        rationale = None
        if row is not None:
            sources.append(edits.source)
            rationale = row[6]
        if cpt_rule and self.together_canonical:
            sources.append(self.together_canonical)
        finding = Finding(
            "ncci-ptp" if row is not None else "not-reported-together",
            "error",
            "",
            [col1, col2],
            [col2.code_path, col1.code_path],
            a.date,
            col1 if row else None,
            col2 if row else None,
            rationale=rationale,
            sources=sources,
            codes=[col1.code, col2.code],
        )
        both = "; the CPT instruction also says they are not reported together" if row and cpt_rule else ""
        if row is not None:
            indicator = row[5]
            finding.modifier_indicator = str(indicator)
            dates = f"effective {_date_text(row[3])}, deletion {_date_text(row[4])}"
            bypass = _first_modifier(col2, col1, BYPASS_MODIFIERS) if indicator != 0 else None
            if indicator == 0:
                finding.message = (
                    f"NCCI PTP edit {edition.name}: {col2.code} is not payable with {col1.code} for {pair} "
                    f"on {a.date} ({dates}); modifier indicator 0: no modifier bypasses this edit{both}"
                )
                finding.suggestion = Suggestion("remove", f"Remove line {col2.number}", [col2.number])
            elif bypass is not None:
                owner = col2 if bypass in col2.modifiers else col1
                finding.severity = "information"
                finding.bypass_modifier = bypass.code
                finding.expressions = [bypass.path, col2.code_path]
                finding.message = (
                    f"NCCI PTP edit {edition.name} for {pair} on {a.date} ({dates}, modifier indicator 1) "
                    f"is bypassed by modifier {bypass.code} on line {owner.number}; the record must document "
                    f"a distinct service{both}"
                )
                finding.suggestion = Suggestion(
                    "review", f"Keep the documentation that supports modifier {bypass.code}", [owner.number]
                )
            else:
                finding.message = (
                    f"NCCI PTP edit {edition.name}: {col2.code} is bundled into {col1.code} for {pair} on "
                    f"{a.date} ({dates}); modifier indicator 1 and no NCCI-associated modifier on either "
                    f"line{both}"
                )
                finding.suggestion = Suggestion(
                    "remove",
                    f"Remove line {col2.number}, or append an NCCI-associated modifier (e.g. XS, XU, 59) "
                    "if the services were distinct",
                    [col2.number],
                )
            if cpt_rule:
                finding.rule = "ncci-ptp"
                finding.codes = [col1.code, col2.code]
        else:
            distinct = _first_modifier(col2, col1, DISTINCT_SERVICE_MODIFIERS)
            note = self.not_together[together]
            finding.rationale = note
            if distinct is not None:
                finding.severity = "warning"
                finding.bypass_modifier = distinct.code
                finding.message = (
                    f"CPT instruction: {pair} are not reported together on {a.date}; modifier "
                    f"{distinct.code} is present, so the documentation must show truly separate services"
                )
                finding.suggestion = Suggestion(
                    "review", "Confirm the documentation shows separate services", [col1.number, col2.number]
                )
            else:
                finding.message = f"CPT instruction: {pair} are not reported together on {a.date}"
                finding.suggestion = Suggestion("remove", f"Remove line {col2.number}", [col2.number])
        findings.append(finding)

    def _mue(self, group: list[Line], codes: list[str], edition: Edition, findings: list[Finding]) -> None:
        """Apply the MUE table to one group; ``codes`` are the group's distinct codes, sorted."""
        table = self.index.mue_table(edition)
        by_code: dict[str, list[Line]] = {}
        for line in group:
            code = line.code
            if code in table:
                same = by_code.get(code)
                if same is None:
                    by_code[code] = [line]
                else:
                    same.append(line)
        if not by_code:
            return
        source = f"NCCI MUE {edition.setting} table effective {edition.start}"
        for code in codes:
            lines = by_code.get(code)
            if lines is None:
                continue
            value, mai, rationale = table[code]
            if mai == 1:
                for line in lines:
                    if line.quantity > value:
                        findings.append(
                            Finding(
                                "mue",
                                "error",
                                f"Line {line.number}: {_units(line.quantity)} units of {code} "
                                "exceed the MUE of "
                                f"{value} per line ({MAI_TEXT[mai]})",
                                [line],
                                [line.quantity_path or line.code_path],
                                line.date,
                                mue_value=value,
                                mai=mai,
                                units=line.quantity,
                                rationale=rationale,
                                sources=[source],
                                codes=[code],
                                suggestion=Suggestion(
                                    "reduce-units",
                                    f"Report at most {value} units on line {line.number}",
                                    [line.number],
                                    units=value,
                                ),
                            )
                        )
                continue
            # Most codes sit on one line: no comprehension to build for their sum.
            total = lines[0].quantity if len(lines) == 1 else sum([line.quantity for line in lines])
            if total <= value:
                continue
            severity = "error" if mai == 2 else "warning"
            tail = (
                "a policy limit that documentation cannot overturn"
                if mai == 2
                else "medically unlikely; documentation of medical necessity can overturn it"
            )
            findings.append(
                Finding(
                    "mue",
                    severity,
                    f"{_units(total)} units of {code} on {lines[0].date} ({_lines_text(lines)}) "
                    "exceed the MUE of "
                    f"{value} per date of service ({MAI_TEXT[mai]}): {tail}",
                    list(lines),
                    [line.quantity_path or line.code_path for line in lines],
                    lines[0].date,
                    mue_value=value,
                    mai=mai,
                    units=total,
                    rationale=rationale,
                    sources=[source],
                    codes=[code],
                    suggestion=Suggestion(
                        "reduce-units" if mai == 2 else "review",
                        f"Report at most {value} units of {code} for this date"
                        + ("" if mai == 2 else ", or keep documentation of medical necessity"),
                        [line.number for line in lines],
                        units=value,
                    ),
                )
            )

    # --- entry point --------------------------------------------------------------------------

    def check(self, lines: list[Line], options: CheckOptions | None = None) -> CheckResult:
        """Check lines; return the findings in a deterministic order and what was consulted."""
        options = options or CheckOptions()
        if options.edition is not None and (problem := edition_name_problem(options.edition)):
            raise InvalidRequest(problem, expression="edition")
        if options.edition is not None and not any(
            e.name == options.edition for e in self.index.editions("ptp", options.setting)
        ):
            raise NotFound(
                f"No {options.setting} NCCI PTP edition '{options.edition}' is imported", expression="edition"
            )
        findings: list[Finding] = []
        lines = sorted(lines, key=line_number)
        self._terminology(lines, findings)
        used: dict[int, Edition] = {}
        groups: dict[tuple, list[Line]] = defaultdict(list)
        for line in lines:
            groups[(line.date, line.provider or "")].append(line)
        dates = sorted({line.date for line in lines})
        ptp_for: dict[str, Edition | None] = {}
        mue_for: dict[str, Edition | None] = {}
        for day in dates:
            on_day = [line for line in lines if line.date == day]
            for kind, table, label in (("ptp", ptp_for, "NCCI edition"), ("mue", mue_for, "NCCI MUE table")):
                name = options.edition if kind == "ptp" else None
                edition, covers = self.index.edition_for(kind, options.setting, day, name)
                table[day] = edition
                if edition is not None:
                    used[edition.id] = edition
                if covers:
                    continue
                if edition is None:
                    what = "PTP edition" if kind == "ptp" else "MUE table"
                    message = (
                        f"no {label} covers {day} (no {options.setting} {what} is imported); "
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
                findings.append(
                    Finding(
                        "no-edition",
                        "warning",
                        message,
                        on_day,
                        [line.code_path for line in on_day],
                        day,
                        sources=[f"{kind} editions in the NCCI index ({options.setting})"],
                        tiebreak=0 if kind == "ptp" else 1,
                    )
                )
        day_edits = {
            day: _DayEdits(
                edition,
                _day(day),
                f"{ptp_concept_map_canonical(edition)} (NCCI PTP {edition.setting} {edition.name})",
            )
            for day, edition in ptp_for.items()
            if edition is not None
        }
        rule_partners = self.rule_partners
        # Groups hold their lines in number order already: they were filled from the sorted lines.
        for (day, _provider), group in sorted(groups.items()):
            self._duplicates(group, findings)
            codes = sorted({line.code for line in group})
            edits = day_edits.get(day)
            # Code -> other code -> the PTP rows between the two (either column order, index order).
            rows_between: dict[str, dict[str, list[tuple]]] = {}
            if edits is not None and len(codes) > 1:
                for row in self.index.ptp_rows(edits.edition, codes):
                    rows_between.setdefault(row[0], {}).setdefault(row[1], []).append(row)
                    rows_between.setdefault(row[1], {}).setdefault(row[0], []).append(row)
            # Pairs in the order of combinations(group, 2); most match no rule and are skipped early.
            for i, a in enumerate(group):
                rows_of_a = rows_between.get(a.code, {})
                partners_of_a = rule_partners.get(a.code, ())
                if not rows_of_a and not partners_of_a:
                    continue
                for b in group[i + 1 :]:
                    pair_rows = rows_of_a.get(b.code)
                    if pair_rows is not None or b.code in partners_of_a:
                        self._pair(a, b, pair_rows or [], edits, findings)
            if mue_for[day] is not None:
                self._mue(group, codes, mue_for[day], findings)
        findings.sort(key=Finding.sort_key)
        maps = list(self.maps_used)
        editions = sorted(used.values(), key=lambda e: (e.kind, e.setting, e.start, e.name))
        maps.extend(ptp_concept_map_canonical(e) for e in editions if e.kind == "ptp")
        return CheckResult(findings, editions, maps)
