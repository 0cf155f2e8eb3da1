"""Inputs and results of the bundling check: claim lines, findings, suggestions (msgspec Structs)."""

from __future__ import annotations

from operator import attrgetter

from msgspec import Struct, field

from terminology.ncci.index import Edition

SEVERITY_RANK = {"error": 0, "warning": 1, "information": 2}
# Rule order inside one line pair, so that findings come out in a stable, readable order.
RULE_RANK = {
    "no-edition": 0,
    "unknown-code": 1,
    "unknown-modifier": 2,
    "unmapped-order": 3,
    "duplicate-line": 4,
    "combined-code": 5,
    "not-reported-together": 6,
    "ncci-ptp": 7,
    "mue": 8,
}


# Where an element sits in the input, as the mapping layer hands it over: its FHIRPath text, or a
# tuple the mapping layer turns into that text when it renders a finding (fhir.params.Where).
# The rules only carry these along into Finding.expressions.
Locator = str | tuple


class Modifier(Struct):
    """A modifier on a line, with where it came from in the input."""

    code: str
    system: str | None
    path: Locator


line_number = attrgetter("number")  # Line -> its number, as a sort key without a Python call


class Line(Struct):
    """One claim line or order, normalised: base code, modifiers, units, date and provider."""

    number: int
    code: str
    system: str | None
    modifiers: list[Modifier]
    quantity: float
    date: str  # ISO date of service
    provider: str | None
    code_path: Locator
    quantity_path: Locator | None = None
    display: str | None = None

    @property
    def modifier_codes(self) -> tuple[str, ...]:
        """Return the modifier codes in input order."""
        return tuple(m.code for m in self.modifiers)


class CheckOptions(Struct):
    """Request-wide switches: setting (practitioner/outpatient) and an explicit edition."""

    setting: str = "practitioner"
    edition: str | None = None


class Suggestion(Struct):
    """What a coder should do: remove line(s), replace lines with a code, or review documentation."""

    action: str  # remove | replace | reduce-units | review
    text: str
    lines: list[int] = field(default_factory=list)
    code: str | None = None
    system: str | None = None
    units: float | None = None


class Finding(Struct):
    """One problem a coder would flag, with the rule, its source and the lines involved."""

    rule: str
    severity: str
    message: str
    lines: list[Line] = field(default_factory=list)
    expressions: list[Locator] = field(default_factory=list)
    date: str | None = None
    column1: Line | None = None
    column2: Line | None = None
    modifier_indicator: str | None = None
    bypass_modifier: str | None = None
    mue_value: int | None = None
    mai: int | None = None
    units: float | None = None
    rationale: str | None = None
    sources: list[str] = field(default_factory=list)
    suggestion: Suggestion | None = None
    codes: list[str] = field(default_factory=list)
    tiebreak: int = 0  # orders findings of one rule on the same lines (PTP before MUE warnings)

    def sort_key(self) -> tuple:
        """Order findings by date, the lines they name, then rule, severity and codes."""
        numbers = tuple(sorted(map(line_number, self.lines))) or (0,)
        # Date-wide warnings (no edition covers the date) lead; then by the lines named.
        return (
            self.rule != "no-edition",
            self.date or "",
            numbers,
            RULE_RANK.get(self.rule, 99),
            self.tiebreak,
            SEVERITY_RANK.get(self.severity, 9),
            tuple(self.codes),
            self.message,
        )


class CheckResult(Struct):
    """Findings in order, plus the editions and ConceptMaps consulted."""

    findings: list[Finding]
    editions: list[Edition]
    concept_maps: list[str]

    @property
    def result(self) -> bool:
        """Say whether the lines pass: true only when no finding is an error."""
        return not any(f.severity == "error" for f in self.findings)
