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
    "units": 4,
    "once-per-encounter": 5,
    "duplicate-line": 6,
    "combined-code": 7,
    "not-reported-together": 8,
    "ncci-ptp": 9,
    "pc-tc": 10,
    "mue": 11,
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
    """One claim line or order, normalised: base code, modifiers, units, date and provider.

    ``provider`` is the line's own rendering provider (a Claim item's care team member, an item's
    ``provider`` part, a ChargeItem's or ServiceRequest's performer). ``claim`` names the claim,
    charge set or encounter the line belongs to, and ``claim_provider`` that claim's rendering
    provider, which renders the lines that name none of their own.
    """

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
    claim: str = ""
    claim_provider: str | None = None

    @property
    def modifier_codes(self) -> tuple[str, ...]:
        """Return the modifier codes in input order."""
        return tuple(m.code for m in self.modifiers)


class CheckOptions(Struct):
    """Request-wide switches: setting (practitioner/outpatient) and an explicit edition."""

    setting: str = "practitioner"
    edition: str | None = None


class Suggestion(Struct):
    """What a coder should do: remove line(s), replace lines with codes, or review documentation.

    A replacement names exactly the lines it replaces; the other lines of the finding stay.
    """

    action: str  # remove | replace | reduce-units | review
    text: str
    lines: list[int] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    system: str | None = None
    units: float | None = None
    modifiers: list[str] = field(default_factory=list)  # to report on the replacement code (26, TC)


class Finding(Struct):
    """One problem a coder would flag, with the rule, its source and the lines involved.

    ``severity`` says what the payer will do: ``error`` = the line is denied unless something
    changes (``appealable`` says whether documentation or an appeal can overturn it), ``warning`` =
    it passes but needs documentation (or could not be checked), ``information`` = context.
    ``grouping`` says which lines were judged together: ``rendering-provider`` (practitioner
    claims: one rendering provider and date, ``provider``) or ``facility-claim`` (outpatient: one
    facility claim and date).
    """

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
    appealable: bool | None = None
    grouping: str | None = None
    provider: str | None = None
    override_reasons: list[str] = field(default_factory=list)  # codes of CodeSystem cds-override-reason

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
