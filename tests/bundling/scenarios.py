"""A coder's scenarios for the spine codes: claims, charge sets and order sets, with what a coder expects.

Run ``python -m tests.bundling.scenarios`` to print "N of M scenarios as a coder expects" (and
what differs for the others); tests/bundling/test_scenarios.py runs every scenario as a test.

Each scenario runs against the service over the synthetic editions below, or (``index="bare"``)
with no NCCI import at all. A scenario counts only when every expectation holds: the result, each
finding's rule, severity, lines, fix, appealable, grouping, bypass and the words its message must
(not) hold, every source given as text, and for CDS calls each card's indicator, summary, override
reasons and its one suggestion. The table merges the project's scenarios with an independent
coder's review of issue 12 (the scenarios after "merged from the independent coder review").

The NCCI edits and MUE values below are SYNTHETIC (written in the CMS file layouts by
tests/ncci_fixtures.py, marked "not CMS data"): the real values for these CPT codes come from the
licensed CMS files, and none is claimed here. The CPT instructions (myelography, cervical CT) and
the modifier rules are the shipped content, which is what the scenarios judge.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import service_request
from tests.ncci_fixtures import CPT, HCPCS, check_body, findings, item, mue_row, ptp_row, write_mue, write_ptp

DAY = "2026-07-15"
# Synthetic practitioner and hospital outpatient PTP editions (v322r0 = 2026 Q3): not CMS data.
PRACTITIONER_PTP = [
    ptp_row("72127", "72125", "20200101", "*", 1, "Synthetic: CPT Manual or CMS manual coding instruction"),
    ptp_row(
        "72125", "72020", "20200101", "*", 1, "Synthetic: Misuse of Column Two code with Column One code"
    ),
    ptp_row("72126", "72020", "20200101", "*", 0, "Synthetic: Standards of medical/surgical practice"),
    # Deleted the day it took effect (indicator 9): never applies, the CPT instruction still does.
    ptp_row(
        "72126", "72125", "20200101", "20200101", 9, "Synthetic: CPT Manual or CMS manual coding instruction"
    ),
]
OUTPATIENT_PTP = [
    ptp_row("72127", "72125", "20200101", "*", 1, "Synthetic: CPT Manual or CMS manual coding instruction"),
    ptp_row("62302", "62284", "20200101", "*", 0, "Synthetic: CPT Manual or CMS manual coding instruction"),
    ptp_row(
        "72125", "72020", "20200101", "*", 1, "Synthetic: Misuse of Column Two code with Column One code"
    ),
]
# Synthetic MUE tables (values and MAIs invented for the tests): not CMS data.
PRACTITIONER_MUE = [
    mue_row("72126", 1, 3, "Synthetic: Clinical: Data"),
    mue_row("72125", 1, 2, "Synthetic: CMS Policy"),
    mue_row("72020", 2, 1, "Synthetic: Anatomic Consideration"),
]
OUTPATIENT_MUE = [mue_row("72125", 1, 3, "Synthetic: Clinical: Data")]
# The same tables with synthetic MUE rows for 62284 (index "mue-62284"): in the practitioner table
# no higher than the CPT/ACR once-per-encounter instruction, in the outpatient one higher (2).
PRACTITIONER_MUE_62284 = [*PRACTITIONER_MUE, mue_row("62284", 1, 3, "Synthetic: Clinical: Data")]
OUTPATIENT_MUE_62284 = [*OUTPATIENT_MUE, mue_row("62284", 2, 3, "Synthetic: Clinical: Data")]


def build_data_dir(
    root: Path, practitioner_mue: list[str] = PRACTITIONER_MUE, outpatient_mue: list[str] = OUTPATIENT_MUE
) -> Path:
    """Import the synthetic editions and MUE tables into a fresh data directory."""
    from terminology.ncci.index import import_mue, import_ptp

    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    import_ptp(data, [write_ptp(root / "ccipra-v322r0-f1.TXT", PRACTITIONER_PTP)])
    import_ptp(data, [write_ptp(root / "ccioph-v322r0-f1.TXT", OUTPATIENT_PTP)], setting="outpatient")
    import_mue(data, write_mue(root / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", practitioner_mue))
    import_mue(
        data,
        write_mue(
            root / "MCR_MUE_OutpatientHospitalServices_Eff_07-01-2026.csv", outpatient_mue, "outpatient"
        ),
        setting="outpatient",
    )
    return data


# --- inputs ---------------------------------------------------------------------------------------


def line(
    code: str, *modifiers: str, provider: str | None = None, units: float = 1, date: str | None = None
) -> dict:
    """One service: CPT code, modifiers, rendering provider (None: the line names none), units, date."""
    return {"code": code, "modifiers": modifiers, "provider": provider, "units": units, "date": date}


def items_body(lines: list[dict], setting: str | None = None, provider: str | None = None) -> dict:
    """The lines as `$bundling-check` item parameters."""
    built = [
        item(i, s["code"], *s["modifiers"], quantity=s["units"], provider=s["provider"], date=s["date"])
        for i, s in enumerate(lines, 1)
    ]
    for built_item in built:  # fractional units are a valueDecimal
        for part in built_item["part"]:
            if part["name"] == "quantity" and not float(part["valueInteger"]).is_integer():
                part["valueDecimal"] = part.pop("valueInteger")
    extra = {"setting": setting} if setting else {}
    body = check_body(*built, date=DAY, **extra)
    if provider:
        body["parameter"].append({"name": "provider", "valueString": provider})
    return body


def _modifier_coding(code: str) -> dict:
    return {"coding": [{"system": HCPCS if code[0].isalpha() else CPT, "code": code}]}


def claim_resource(
    lines: list[dict], kind: str = "professional", billing: str = "Organization/billing"
) -> dict:
    """The lines as a FHIR R4 Claim: each named provider is a care team member of its line."""
    team: dict[str, int] = {}
    entries = []
    for i, s in enumerate(lines, 1):
        entry = {
            "sequence": i,
            "productOrService": {"coding": [{"system": CPT, "code": s["code"]}]},
            "servicedDate": s["date"] or DAY,
            "quantity": {"value": s["units"]},
        }
        if s["modifiers"]:
            entry["modifier"] = [_modifier_coding(m) for m in s["modifiers"]]
        if s["provider"]:
            entry["careTeamSequence"] = [team.setdefault(s["provider"], len(team) + 1)]
        entries.append(entry)
    return {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": kind}]},
        "use": "claim",
        "patient": {"reference": "Patient/p1"},
        "created": DAY,
        "provider": {"reference": billing},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
        "careTeam": [{"sequence": n, "provider": {"reference": p}} for p, n in team.items()],
        "item": entries,
    }


def service_request_bundle_body(lines: list[dict]) -> dict:
    """The lines as a Bundle of ServiceRequests (orders) for `$bundling-check`, in one encounter."""
    entries = [
        {"resource": order(f"o{i}", s["code"], *s["modifiers"], performer=s["provider"])}
        for i, s in enumerate(lines, 1)
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle}]}


def claim_body(lines: list[dict], setting: str | None = None, **claim) -> dict:
    """The lines as a Claim in the `resource` parameter."""
    params = [{"name": "resource", "resource": claim_resource(lines, **claim)}]
    if setting:
        params.append({"name": "setting", "valueCode": setting})
    return {"resourceType": "Parameters", "parameter": params}


def charge_set_body(lines: list[dict], setting: str | None = None) -> dict:
    """The lines as a Bundle of ChargeItems (a charge set); modifiers as a CPT expression."""
    entries = []
    for s in lines:
        charge = {
            "resourceType": "ChargeItem",
            "status": "billable",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": CPT, "code": ":".join([s["code"], *s["modifiers"]])}]},
            "occurrenceDateTime": s["date"] or DAY,
            "quantity": {"value": s["units"]},
        }
        if s["provider"]:
            charge["performer"] = [{"actor": {"reference": s["provider"]}}]
        entries.append({"resource": charge})
    params = [
        {"name": "resource", "resource": {"resourceType": "Bundle", "type": "collection", "entry": entries}}
    ]
    if setting:
        params.append({"name": "setting", "valueCode": setting})
    return {"resourceType": "Parameters", "parameter": params}


def order(
    order_id: str, code: str, *modifiers: str, performer: str | None = None, encounter: str = "Encounter/e1"
):
    """A draft ServiceRequest (modifiers as a CPT expression), in an encounter, maybe with a performer."""
    extra: dict = {"encounter": {"reference": encounter}}
    if performer:
        extra["performer"] = [{"reference": performer}]
    return service_request(":".join([code, *modifiers]), order_id, CPT, occurrenceDateTime=DAY, **extra)


def order_sign_body(*orders: dict) -> dict:
    """A CDS Hooks order-sign call with the orders in draftOrders."""
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/ordering",
            "patientId": "p1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": o} for o in orders],
            },
        },
    }


def order_select_body(selected: list[str], *orders: dict) -> dict:
    """A CDS Hooks order-select call: the selected order ids, judged against all draft orders."""
    body = order_sign_body(*orders)
    body["hook"] = "order-select"
    body["context"]["selections"] = [f"ServiceRequest/{order_id}" for order_id in selected]
    return body


def loinc_order(order_id: str, code: str) -> dict:
    """A draft ServiceRequest coded in LOINC (translated to its CPT charge code by the service)."""
    resource = order(order_id, code)
    resource["code"] = {"coding": [{"system": "http://loinc.org", "code": code}]}
    return resource


# --- expectations ---------------------------------------------------------------------------------


@dataclass
class Flag:
    """A finding a coder expects: the rule, severity and lines, and what the fix does."""

    rule: str
    severity: str
    lines: list[int]
    action: str | None = None  # remove | replace | reduce-units | review
    fix_lines: list[int] | None = None  # the lines the suggestion covers
    codes: list[str] | None = None  # codes the suggestion reports instead
    appealable: bool | None = None
    grouping: str | None = None
    bypass: str | None = None
    says: tuple[str, ...] = ()  # words the message (or its rationale) must hold: the right source, the table
    not_says: tuple[str, ...] = ()  # words neither may hold (a source that does not back this pair)
    modifiers: list[str] | None = None  # modifiers the replacement code keeps (26, TC)


@dataclass
class Card:
    """A CDS card a clinician should see: indicator, override reasons, and the one fix."""

    indicator: str
    reasons: set[str] = field(default_factory=set)
    deletes: list[str] = field(default_factory=list)  # order ids the suggestion deletes
    creates: list[str] = field(default_factory=list)  # codes it orders instead
    suggests: bool | None = None  # False: the card offers no suggestion (nothing the EHR should apply)
    says: str = ""  # words of the summary


@dataclass
class Scenario:
    """One coder scenario: the issue point it covers, the coder's statement, the input, the answer."""

    id: str
    point: str  # "1".."9" (issue #12), or "clean"
    statement: str
    body: dict
    flags: list[Flag] = field(default_factory=list)
    result: bool | None = None  # $bundling-check result; None for CDS scenarios
    cards: list[Card] | None = None  # CDS scenarios
    index: str = "ncci"  # ncci: the synthetic editions; mue-62284: with MUE rows for 62284; bare: no import


def _s(id_, point, statement, body, flags=(), result=None, cards=None, index="ncci") -> Scenario:
    if result is None and cards is None:
        result = not any(f.severity == "error" for f in flags)
    return Scenario(id_, point, statement, body, list(flags), result, cards, index)


def _no_edition(*lines: int) -> list[Flag]:
    """The two warnings of a date no NCCI import covers: no PTP edition, no MUE table."""
    return [Flag("no-edition", "warning", list(lines)), Flag("no-edition", "warning", list(lines))]


SCENARIOS: list[Scenario] = [
    # 1. Claim grouping by setting -----------------------------------------------------------------
    _s("1a", "1", "Outpatient facility claim: 72127 by Dr A and 72125 by Dr B on one date, the hospital edition "
       "has 72127/72125 → 72125 is denied: hospital edits apply to the facility claim as a whole",
       items_body([line("72127", provider="Practitioner/a"), line("72125", provider="Practitioner/b")], "outpatient"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], grouping="facility-claim", appealable=True)]),
    _s("1b", "1", "Outpatient facility claim: two 72125 lines by two physicians → a duplicate line, and 2 units "
       "over the outpatient MUE of 1 (MAI 3)",
       items_body([line("72125", provider="Practitioner/a"), line("72125", provider="Practitioner/b")], "outpatient"),
       [Flag("duplicate-line", "error", [1, 2], "remove", [2], grouping="facility-claim"),
        Flag("mue", "error", [1, 2], "reduce-units", [1, 2], appealable=True, grouping="facility-claim")]),
    _s("1c", "1", "Outpatient facility claim as a FHIR Claim (institutional): 72127 and 72125 by different "
       "physicians → 72125 denied",
       claim_body([line("72127", provider="Practitioner/a"), line("72125", provider="Practitioner/b")],
                  "outpatient", kind="institutional", billing="Organization/hospital"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], grouping="facility-claim")]),
    _s("1d", "clean", "Practitioner claims: 72127 by Dr A and 72125 by Dr B → no edit between them (different "
       "rendering providers)",
       items_body([line("72127", provider="Practitioner/a"), line("72125", provider="Practitioner/b")])),
    _s("1e", "clean", "Practitioner claims: two 72125 lines by two physicians → each within the practitioner "
       "MUE of 1, no duplicate",
       items_body([line("72125", provider="Practitioner/a"), line("72125", provider="Practitioner/b")])),
    # 2. Which modifiers bypass an indicator-1 edit (synthetic 72125/72020, indicator 1) ----------
    _s("2a", "2", "72125 + 72020-91: 91 is for repeat laboratory tests → the edit is not bypassed",
       items_body([line("72125"), line("72020", "91")]),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], appealable=True)]),
    _s("2b", "2", "72125 + 72020-25: 25 is for E/M services → not bypassed",
       items_body([line("72125"), line("72020", "25")]), [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    _s("2c", "2", "72125 + 72020-27 on a practitioner claim: 27 is hospital outpatient E/M only → not bypassed",
       items_body([line("72125"), line("72020", "27")]), [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    _s("2d", "2", "72125-F1 + 72020: a finger modifier on a cervical CT fits nothing → not bypassed",
       items_body([line("72125", "F1"), line("72020")]), [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    _s("2e", "2", "72125-RT + 72020-RT: RT on both lines is the same site → not bypassed",
       items_body([line("72125", "RT"), line("72020", "RT")]), [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    _s("2f", "2", "72125 + 72020-XP, both by Dr A: XP (different practitioner) contradicts the claim → not bypassed",
       items_body([line("72125", provider="Practitioner/a"), line("72020", "XP", provider="Practitioner/a")]),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    _s("2g", "2", "72125 + 72020 with 59 and XS on one line: incorrect together (CR8863) → not bypassed",
       items_body([line("72125"), line("72020", "59", "XS")]), [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    _s("2h", "2", "72125 + 72020-XS: a valid bypass → passes the edit, documentation needed (warning)",
       items_body([line("72125"), line("72020", "XS")]),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [2], bypass="XS")]),
    _s("2i", "2", "72125-XU + 72020: XU is accepted on either code of the pair (CR11168) → warning",
       items_body([line("72125", "XU"), line("72020")]),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [1], bypass="XU")]),
    _s("2j", "2", "Outpatient: 72125 by Dr A + 72020-XP by Dr B → a valid bypass on the facility claim (warning)",
       items_body([line("72125", provider="Practitioner/a"), line("72020", "XP", provider="Practitioner/b")],
                  "outpatient"),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [2], bypass="XP", grouping="facility-claim")]),
    _s("2k", "2", "72126 + 72020-XS with an indicator-0 edit → no modifier bypasses it; not appealable",
       items_body([line("72126"), line("72020", "XS")]),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], appealable=False)]),
    _s("2l", "2", "72125-26 + 72020-TC: 26 and TC are not NCCI-associated modifiers → not bypassed",
       items_body([line("72125", "26"), line("72020", "TC")]), [Flag("ncci-ptp", "error", [1, 2], "remove", [2])]),
    # 3. The complete myelography instructions, no NCCI row for the pair ---------------------------
    _s("3a", "3", "62303 + 72255 → 62303 includes the thoracic S&I: remove 72255",
       items_body([line("62303"), line("72255")]), [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3b", "3", "62303 + 62284 → 62303 includes the injection: remove 62284",
       items_body([line("62303"), line("62284")]), [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3c", "3", "62304 + 72265 → remove 72265", items_body([line("62304"), line("72265")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3d", "3", "62305 + 72270 → remove 72270", items_body([line("62305"), line("72270")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3e", "3", "62303 + 62304 → two regions with the injection are one code: 62305",
       items_body([line("62303"), line("62304")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62305"], appealable=False)]),
    _s("3f", "3", "72240 + 72255 → S&I of two regions is 72270", items_body([line("72240"), line("72255")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72270"])]),
    _s("3g", "3", "62302 + 72255 → cervical myelogram with thoracic S&I: 62305",
       items_body([line("62302"), line("72255")]), [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62305"])]),
    _s("3h", "3", "Order set 62303 + 72255 (one performer) → a critical card deleting the 72255 order",
       order_sign_body(order("a", "62303", performer="Practitioner/r"), order("b", "72255", performer="Practitioner/r")),
       cards=[Card("critical", deletes=["ServiceRequest/b"])]),
    # 4. One best fix for a group of lines --------------------------------------------------------
    _s("4a", "4", "62284 + 72240 + 72255 by one provider → one fix: 62305 (not 62302 and 62303)",
       items_body([line("62284"), line("72240"), line("72255")]),
       [Flag("combined-code", "error", [1, 2, 3], "replace", [1, 2, 3], ["62305"])]),
    _s("4b", "4", "72125 + 72126 + 72127 → 72127 is there already: remove 72125 and 72126, add nothing",
       items_body([line("72125"), line("72126"), line("72127")]),
       [Flag("ncci-ptp", "error", [1, 3], "remove", [1]),
        Flag("not-reported-together", "error", [2, 3], "remove", [2])]),
    _s("4c", "4", "62302 on line 2 + 62284 on line 1 → keep 62302 (it describes the whole service), remove line 1",
       items_body([line("62284"), line("62302")]), [Flag("not-reported-together", "error", [1, 2], "remove", [1])]),
    _s("4d", "4", "62284 + 72240 + 72125 + 72126 → 62302 for the myelogram and 72127 for the CT, one fix each",
       items_body([line("62284"), line("72240"), line("72125"), line("72126")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"]),
        Flag("combined-code", "error", [3, 4], "replace", [3, 4], ["72127"])]),
    _s("4e", "4", "72240-26 + 72255-26 (professional claims) → 72270-26", items_body([line("72240", "26"), line("72255", "26")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72270"], modifiers=["26"])]),
    # 5. MUE and units ----------------------------------------------------------------------------
    _s("5a", "5", "72126 × 2 units over an MUE of 1 with MAI 3 → denied (error), appealable with documentation",
       items_body([line("72126", units=2)]), [Flag("mue", "error", [1], "reduce-units", [1], appealable=True)]),
    _s("5b", "5", "72125 on two lines (76 on the second) over an MUE of 1 with MAI 2 → denied, not appealable",
       items_body([line("72125"), line("72125", "76")]),
       [Flag("mue", "error", [1, 2], "reduce-units", [1, 2], appealable=False)]),
    _s("5c", "5", "72020 × 3 units on one line over an MAI 1 MUE of 2 → the line is denied, appealable",
       items_body([line("72020", units=3)]), [Flag("mue", "error", [1], "reduce-units", [1], appealable=True)]),
    _s("5d", "5", "72020 with 0 units → a claim error", items_body([line("72020", units=0)]),
       [Flag("units", "error", [1], "review", [1], appealable=False)]),
    _s("5e", "5", "72020 with 1.5 units → a claim error", items_body([line("72020", units=1.5)]),
       [Flag("units", "error", [1], "review", [1])]),
    _s("5f", "5", "72020 with -1 units → a claim error", items_body([line("72020", units=-1)]),
       [Flag("units", "error", [1], "review", [1])]),
    _s("5g", "5", "72020-50 with 2 units → bilateral is one line with 1 unit", items_body([line("72020", "50", units=2)]),
       [Flag("units", "error", [1], "reduce-units", [1])]),
    _s("5h", "clean", "72020-50 with 1 unit → clean", items_body([line("72020", "50")])),
    _s("5i", "clean", "72020 × 2 units, MAI 1 MUE of 2 → clean", items_body([line("72020", units=2)])),
    _s("5j", "5", "72020 × 2 on one line and × 2 on another with XS → MAI 1 judges each line: clean of MUE",
       items_body([line("72020", units=2), line("72020", "XS", units=2)])),
    # 6. Professional and technical components ----------------------------------------------------
    _s("6a", "6", "72125-26 + 72125-TC, same provider, same date → report 72125 (one study: its two halves are "
       "1 unit against the MUE of 1, not 2)",
       items_body([line("72125", "26", provider="Practitioner/a"), line("72125", "TC", provider="Practitioner/a")]),
       [Flag("pc-tc", "error", [1, 2], "replace", [1, 2], ["72125"])]),
    _s("6b", "clean", "72125-26 by the radiologist + 72125-TC by the hospital → correct split billing",
       items_body([line("72125", "26", provider="Practitioner/rad"), line("72125", "TC", provider="Organization/h")])),
    _s("6c", "6", "72125 (global) + 72125-26 by one provider → the global code already includes the 26",
       items_body([line("72125"), line("72125", "26")]),
       [Flag("pc-tc", "error", [1, 2], "remove", [2]), Flag("mue", "error", [1, 2], "reduce-units", [1, 2])]),
    # 7. A line without a provider is the claim's, not a different provider ------------------------
    _s("7a", "7", "Claim whose lines carry no provider (one care team member): 62284 + 72240 → 62302",
       claim_body([line("62284"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"], grouping="rendering-provider")]),
    _s("7b", "7", "Claim: 62284 rendered by Dr A, 72240 with no provider of its own → the claim's → 62302",
       claim_body([line("62284", provider="Practitioner/a"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"])]),
    _s("7c", "7", "Items: 62284 by Dr A, 72240 naming no provider → the same provider → 62302",
       items_body([line("62284", provider="Practitioner/a"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"])]),
    _s("7d", "7", "Items with the claim's provider as a parameter, lines naming none → 62302",
       items_body([line("62284"), line("72240")], provider="Practitioner/a"),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"])]),
    _s("7e", "7", "Charge set: 62284 performed by Dr A, 72240 with no performer → 62302",
       charge_set_body([line("62284", provider="Practitioner/a"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"])]),
    _s("7f", "clean", "Charge set: 62284 by Dr A, 72240 by Dr B → the injector and the radiologist report apart",
       charge_set_body([line("62284", provider="Practitioner/a"), line("72240", provider="Practitioner/b")])),
    # 8. Separate sessions ------------------------------------------------------------------------
    _s("8a", "8", "72125 + 72126-XE (separate, documented encounters) → not unbundling: a warning, the claim passes",
       items_body([line("72125"), line("72126", "XE")]),
       [Flag("combined-code", "warning", [1, 2], "review", [2], bypass="XE")]),
    _s("8b", "8", "72125 + 72126 in one session → 72127 (the edition's 72126/72125 row has indicator 9: it never "
       "applies, the CPT instruction does)", items_body([line("72125"), line("72126")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72127"])]),
    _s("8c", "8", "72125 + 72126-25 → 25 does not make a separate session: 72127",
       items_body([line("72125"), line("72126", "25")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72127"])]),
    _s("8d", "8", "72125-XE + 72126-XE → each says a separate encounter: warnings to document, the claim passes",
       items_body([line("72125", "XE"), line("72126", "XE")]),
       [Flag("combined-code", "warning", [1, 2], "review", [1], bypass="XE"),
        Flag("combined-code", "warning", [1, 2], "review", [2], bypass="XE")]),
    _s("8e", "8", "72127 + 72125-XE with an indicator-1 edit → the edit is bypassed: one warning, not two",
       items_body([line("72127"), line("72125", "XE")]),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [2], bypass="XE")]),
    # 9. CDS cards follow the findings ------------------------------------------------------------
    _s("9a", "9", "Orders 62284 + 72240 with no performer → a critical card offering 'different practitioner', "
       "one suggestion: order 62302",
       order_sign_body(order("a", "62284"), order("b", "72240")),
       cards=[Card("critical", {"different-practitioner"}, ["ServiceRequest/a", "ServiceRequest/b"], ["62302"])]),
    _s("9b", "9", "Orders 62284 + 72240 both performed by Dr R → critical, no 'different practitioner' reason",
       order_sign_body(order("a", "62284", performer="Practitioner/r"), order("b", "72240", performer="Practitioner/r")),
       cards=[Card("critical", set(), ["ServiceRequest/a", "ServiceRequest/b"], ["62302"])]),
    _s("9c", "9", "Order 72126 × 2 over an MAI 3 MUE → critical; the only reason is documented medical necessity, "
       "never 'separate encounter'",
       order_sign_body(order("a", "72126") | {"quantityQuantity": {"value": 2}}),
       cards=[Card("critical", {"medical-necessity-documented"})]),
    _s("9d", "9", "Orders 72125 on two lines over an MAI 2 MUE → critical, no override reason",
       order_sign_body(order("a", "72125"), order("b", "72125", "76")),
       cards=[Card("critical")]),
    _s("9e", "9", "Order 62284 by Dr R and 72240 without a performer in the same encounter → grouped: 62302",
       order_sign_body(order("a", "62284", performer="Practitioner/r"), order("b", "72240")),
       cards=[Card("critical", {"different-practitioner"}, ["ServiceRequest/a", "ServiceRequest/b"], ["62302"])]),
    _s("9f", "9", "Orders 62284 (encounter 1) and 72240 (encounter 2), no performers → not combined",
       order_sign_body(order("a", "62284", encounter="Encounter/e1"), order("b", "72240", encounter="Encounter/e2")),
       cards=[]),
    _s("9g", "9", "Orders 72125 + 72126-XE → a warning card whose reason is the separate encounter",
       order_sign_body(order("a", "72125"), order("b", "72126", "XE")),
       cards=[Card("warning", {"separate-encounter"})]),
    _s("9h", "9", "Orders 72125 + 72020 (indicator-1 edit), one named performer → warning-free critical card; "
       "reasons exclude 'different practitioner'",
       order_sign_body(order("a", "72125", performer="Practitioner/r"), order("b", "72020", performer="Practitioner/r")),
       cards=[Card("critical", {"separate-encounter", "separate-structure", "distinct-service-documented"},
                   ["ServiceRequest/b"])]),
    # Correct, clean claims ------------------------------------------------------------------------
    _s("c1", "clean", "72125 alone → clean", items_body([line("72125")])),
    _s("c2", "clean", "62284 by Dr A and 72240 by Dr B → each reports its own part", items_body(
        [line("62284", provider="Practitioner/a"), line("72240", provider="Practitioner/b")])),
    _s("c3", "clean", "62305 alone → clean", items_body([line("62305")])),
    _s("c4", "clean", "72127 alone as a Claim → clean", claim_body([line("72127", provider="Practitioner/a")])),
    _s("c5", "clean", "62302 alone as a charge set → clean", charge_set_body([line("62302", provider="Practitioner/a")])),
    _s("c6", "clean", "Orders 72127 and 62305 → no card", order_sign_body(order("a", "72127"), order("b", "62305")),
       cards=[]),
    # --- merged from the independent coder review (helper "coder"): variants the table lacked ---------
    # 1. grouping by setting
    _s("1f", "1", "Outpatient charge set (ChargeItems): 72127 performed by Dr A, 72125 by Dr B → 72125 denied",
       charge_set_body([line("72127", provider="Practitioner/a"), line("72125", provider="Practitioner/b")], "outpatient"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], appealable=True, grouping="facility-claim")]),
    _s("1g", "1", "Outpatient FHIR Claim: two 72125 lines by two physicians → a duplicate line and 2 units over the "
       "outpatient MUE of 1 (MAI 3, appealable)",
       claim_body([line("72125", provider="Practitioner/a"), line("72125", provider="Practitioner/b")],
                  "outpatient", kind="institutional", billing="Organization/hospital"),
       [Flag("duplicate-line", "error", [1, 2], "remove", [2], grouping="facility-claim"),
        Flag("mue", "error", [1, 2], "reduce-units", [1, 2], appealable=True, grouping="facility-claim")]),
    _s("1h", "1", "An institutional Claim posted as it is, without a setting parameter: 72127 by Dr A + 72125 by "
       "Dr B → checked as the facility claim it is: the hospital outpatient edit denies 72125",
       claim_resource([line("72127", provider="Practitioner/a"), line("72125", provider="Practitioner/b")],
                      kind="institutional", billing="Organization/hospital"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], grouping="facility-claim",
             says=("NCCI hospital outpatient PTP edit v322r0",))]),
    _s("1i", "1", "Outpatient: 72125 by Dr A + 72126 by Dr B → the hospital reports one service, 72127",
       items_body([line("72125", provider="Practitioner/a"), line("72126", provider="Practitioner/b")], "outpatient"),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72127"], grouping="facility-claim")]),
    _s("1j", "1", "Outpatient: 62284 (line 1) + 62302 with the hospital edition's indicator-0 edit 62302/62284 → "
       "62284 denied, not appealable; the edit governs and the CPT instruction is named too",
       items_body([line("62284"), line("62302")], "outpatient"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [1], appealable=False, grouping="facility-claim",
             says=("NCCI hospital outpatient PTP edit", "the CPT instruction also says 62302"))]),
    # 2. modifier restrictions
    _s("2m", "2", "72125 + 72020-LT: LT names a side of the body, which no spine study has → not bypassed",
       items_body([line("72125"), line("72020", "LT")]),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2],
             says=("modifier LT names a body side site", "Inference of this project",
                   "(not a CMS or AMA source)"))]),
    _s("2n", "2", "Outpatient: 72125 by Dr A + 72020-27 by Dr B: 27 marks a hospital outpatient E/M, 72020 is "
       "radiology → not bypassed",
       items_body([line("72125", provider="Practitioner/a"), line("72020", "27", provider="Practitioner/b")],
                  "outpatient"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], grouping="facility-claim", says=("E/M service only",))]),
    _s("2o", "2", "Outpatient: 72125 + 72020-XP, both performed by Dr A → XP contradicts the lines: not bypassed",
       items_body([line("72125", provider="Practitioner/a"), line("72020", "XP", provider="Practitioner/a")],
                  "outpatient"),
       [Flag("ncci-ptp", "error", [1, 2], "remove", [2], grouping="facility-claim")]),
    _s("2p", "2", "72125 + 72020-59 (no X modifier on the line) → a valid bypass: warning, documentation needed",
       items_body([line("72125"), line("72020", "59")]),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [2], bypass="59")]),
    _s("2q", "2", "72125 + 72020-XE as a FHIR Claim → a valid bypass (warning)",
       claim_body([line("72125", provider="Practitioner/a"), line("72020", "XE", provider="Practitioner/a")]),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [2], bypass="XE")]),
    _s("2r", "2", "Charge set 72125 + 72020:XS → a valid bypass (warning)",
       charge_set_body([line("72125", provider="Practitioner/a"), line("72020", "XS", provider="Practitioner/a")]),
       [Flag("ncci-ptp", "warning", [1, 2], "review", [2], bypass="XS")]),
    # 3. every myelography instruction, in both line orders
    _s("3i", "3", "62305 + 62284 → 62305 includes the injection: remove 62284",
       items_body([line("62305"), line("62284")]), [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3j", "3", "62305 + 72240 → remove 72240", items_body([line("62305"), line("72240")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3k", "3", "72270 + 72240 → the 2-or-more-regions S&I includes the cervical one: remove 72240",
       items_body([line("72270"), line("72240")]), [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3l", "3", "62305 + 62302 → combined codes exclude each other: keep 62305, remove 62302",
       items_body([line("62305"), line("62302")]), [Flag("not-reported-together", "error", [1, 2], "remove", [2])]),
    _s("3m", "3", "72255 on line 1 + 62303 on line 2 → remove line 1, whatever the order",
       items_body([line("72255"), line("62303")]), [Flag("not-reported-together", "error", [1, 2], "remove", [1])]),
    _s("3n", "3", "62302 + 62303 → two regions with the injection: 62305",
       items_body([line("62302"), line("62303")]), [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62305"])]),
    _s("3o", "3", "62284 + 72270 → 62305", items_body([line("62284"), line("72270")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62305"])]),
    _s("3p", "3", "62284 + 72265 → 62304", items_body([line("62284"), line("72265")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62304"])]),
    _s("3q", "3", "62284 + 72255 → 62303", items_body([line("62284"), line("72255")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62303"])]),
    _s("3r", "3", "62304 + 72240 → lumbosacral myelogram with cervical S&I: 62305",
       items_body([line("62304"), line("72240")]), [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62305"])]),
    _s("3s", "3", "No NCCI import at all: 62303 + 72255 → remove 72255 (and the date is flagged as not covered)",
       items_body([line("62303"), line("72255")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [2]), *_no_edition(1, 2)], index="bare"),
    _s("3t", "3", "No NCCI import at all: 72240 + 72255 → 72270",
       items_body([line("72240"), line("72255")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72270"]), *_no_edition(1, 2)], index="bare"),
    _s("3u", "3", "62303 + 72255: the finding rests on the descriptors; 62302's parenthetical is not its source",
       items_body([line("62303"), line("72255")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [2], not_says=("iframe.ai",),
             says=("62303 descriptor, as reproduced by a coding reference",))]),
    _s("3v", "3", "62284 + 72240 → 62302, citing 62302's parenthetical; every coding reference is marked secondary",
       items_body([line("62284"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"],
             says=("https://iframe.ai/medical-coding/reference/62302 (secondary source)",
                   "ACR-Radiology-Coding-Source-March-April-2006 (secondary source)"))]),
    _s("3w", "3", "Orders 62303 + 62304 (no NCCI row for the pair) → a critical card: order 62305 instead of both",
       order_sign_body(order("a", "62303"), order("b", "62304")),
       cards=[Card("critical", {"different-practitioner"}, ["ServiceRequest/a", "ServiceRequest/b"], ["62305"],
                   says="62303 and 62304 ordered together: order 62305 instead")]),
    # 4. one best fix
    _s("4f", "4", "62284 + 72240 + 72255 + 72265 → one fix: 62305 for all four lines",
       items_body([line("62284"), line("72240"), line("72255"), line("72265")]),
       [Flag("combined-code", "error", [1, 2, 3, 4], "replace", [1, 2, 3, 4], ["62305"])]),
    _s("4g", "4", "No NCCI import: 72125 + 72126 + 72127 → keep 72127, remove 72125 and 72126 in one fix",
       items_body([line("72125"), line("72126"), line("72127")]),
       [Flag("not-reported-together", "error", [1, 2, 3], "remove", [1, 2]), *_no_edition(1, 2, 3)], index="bare"),
    _s("4h", "4", "No NCCI import: 72127 + 72125 → keep 72127, remove line 2",
       items_body([line("72127"), line("72125")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [2]), *_no_edition(1, 2)], index="bare"),
    _s("4i", "4", "No NCCI import: 72125 + 72127 → keep 72127, remove line 1",
       items_body([line("72125"), line("72127")]),
       [Flag("not-reported-together", "error", [1, 2], "remove", [1]), *_no_edition(1, 2)], index="bare"),
    _s("4j", "4", "62284 + 72240 + 62302 → 62302 is there: remove 62284 and 72240 in one fix, no second 62302",
       items_body([line("62284"), line("72240"), line("62302")]),
       [Flag("not-reported-together", "error", [1, 2, 3], "remove", [1, 2])]),
    _s("4k", "4", "Dr A: 62284 + 72240; Dr B: 72125 + 72126 → one fix per provider: 62302 and 72127",
       items_body([line("62284", provider="Practitioner/a"), line("72240", provider="Practitioner/a"),
                   line("72125", provider="Practitioner/b"), line("72126", provider="Practitioner/b")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"]),
        Flag("combined-code", "error", [3, 4], "replace", [3, 4], ["72127"])]),
    # 5. MUE and units
    _s("5k", "5", "72125 × 1.5 units → a units error only: units that are not a number of services are not "
       "counted against the MUE", items_body([line("72125", units=1.5)]),
       [Flag("units", "error", [1], "review", [1])]),
    _s("5l", "5", "72125 twice, same provider, no modifier → a duplicate line, and 2 units over the MAI 2 MUE of 1 "
       "(not appealable)", items_body([line("72125"), line("72125")]),
       [Flag("duplicate-line", "error", [1, 2], "remove", [2]),
        Flag("mue", "error", [1, 2], "reduce-units", [1, 2], appealable=False)]),
    _s("5m", "5", "72126 × 2 units as a FHIR Claim → over the MAI 3 MUE of 1: denied, appealable",
       claim_body([line("72126", units=2, provider="Practitioner/a")]),
       [Flag("mue", "error", [1], "reduce-units", [1], appealable=True)]),
    _s("5n", "5", "72020 × 3 units (MAI 1) → the finding names the practitioner MUE and its table",
       items_body([line("72020", units=3)]),
       [Flag("mue", "error", [1], "reduce-units", [1], appealable=True,
             says=("exceed the practitioner MUE of 2 per line",))]),
    _s("5o", "clean", "72020 + 72020-76 (a repeat; MAI 1, 1 unit a line) → clean",
       items_body([line("72020"), line("72020", "76")])),
    _s("5p", "clean", "Outpatient: 72020 by Dr A + 72020-77 by Dr B (repeated by another physician) → clean",
       items_body([line("72020", provider="Practitioner/a"), line("72020", "77", provider="Practitioner/b")],
                  "outpatient")),
    # 6. PC/TC
    _s("6d", "6", "72125-26 + 72125-TC by one provider as a FHIR Claim → report 72125",
       claim_body([line("72125", "26", provider="Practitioner/a"), line("72125", "TC", provider="Practitioner/a")]),
       [Flag("pc-tc", "error", [1, 2], "replace", [1, 2], ["72125"])]),
    _s("6e", "6", "Charge set 72125:26 + 72125:TC by one performer → report 72125",
       charge_set_body([line("72125", "26", provider="Practitioner/a"), line("72125", "TC", provider="Practitioner/a")]),
       [Flag("pc-tc", "error", [1, 2], "replace", [1, 2], ["72125"])]),
    _s("6f", "clean", "Outpatient facility claim: 72125-26 by the radiologist + 72125-TC by the hospital → correct "
       "split billing; one study is 1 unit against the outpatient MUE of 1",
       items_body([line("72125", "26", provider="Practitioner/rad"), line("72125", "TC", provider="Organization/h")],
                  "outpatient")),
    _s("6g", "clean", "The same as an institutional FHIR Claim → clean",
       claim_body([line("72125", "26", provider="Practitioner/rad"), line("72125", "TC", provider="Organization/h")],
                  "outpatient", kind="institutional", billing="Organization/h")),
    _s("6h", "6", "Outpatient: 72125-26 + 72125-TC both performed by Dr A → report 72125",
       items_body([line("72125", "26", provider="Practitioner/a"), line("72125", "TC", provider="Practitioner/a")],
                  "outpatient"),
       [Flag("pc-tc", "error", [1, 2], "replace", [1, 2], ["72125"], grouping="facility-claim")]),
    _s("6i", "6", "Outpatient: 72125 + 72125-26, no performer named (both the hospital's) → the 26 repeats part of "
       "the global: remove it (the PC is 2 units against the MUE of 1 until then)",
       items_body([line("72125"), line("72125", "26")], "outpatient"),
       [Flag("pc-tc", "error", [1, 2], "remove", [2], grouping="facility-claim"),
        Flag("mue", "error", [1, 2], "reduce-units", [1, 2], appealable=True, grouping="facility-claim")]),
    # 7. a line without a provider
    _s("7g", "7", "Items with no provider anywhere: 62284 + 72240 → one claim, one provider: 62302",
       items_body([line("62284"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"], grouping="rendering-provider")]),
    _s("7h", "clean", "Items: the claim's provider is Dr B; 62284 by Dr A, 72240 naming none (so Dr B's) → each "
       "reports his part", items_body([line("62284", provider="Practitioner/a"), line("72240")], provider="Practitioner/b")),
    _s("7i", "7", "Orders (ServiceRequests in a Bundle) 62284 + 72240 without a performer, one encounter → 62302",
       service_request_bundle_body([line("62284"), line("72240")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["62302"])]),
    # 8. separate sessions
    _s("8f", "8", "72125 + 72126-59 → a distinct, documented service: a warning, the claim passes",
       items_body([line("72125"), line("72126", "59")]),
       [Flag("combined-code", "warning", [1, 2], "review", [2], bypass="59")]),
    _s("8i", "8", "72125-F1 + 72126: a finger modifier does not set a spine study apart → one session, 72127; "
       "the refusal rests on the project's own inference, and the rationale says so",
       items_body([line("72125", "F1"), line("72126")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72127"],
             says=("modifier F1 names a finger site", "(not a CMS or AMA source)"))]),
    _s("8g", "8", "72125 + 72126-91 → 91 is for repeat laboratory tests: one session, 72127",
       items_body([line("72125"), line("72126", "91")]),
       [Flag("combined-code", "error", [1, 2], "replace", [1, 2], ["72127"])]),
    _s("8h", "8", "72125 + 72126-XE as a FHIR Claim → a warning, the claim passes",
       claim_body([line("72125", provider="Practitioner/a"), line("72126", "XE", provider="Practitioner/a")]),
       [Flag("combined-code", "warning", [1, 2], "review", [2], bypass="XE")]),
    # 9. CDS cards
    _s("9i", "9", "order-select of 72255 with 62284 and 72240 drafted → one card about all three: order 62305",
       order_select_body(["c"], order("a", "62284"), order("b", "72240"), order("c", "72255")),
       cards=[Card("critical", {"different-practitioner"},
                   ["ServiceRequest/a", "ServiceRequest/b", "ServiceRequest/c"], ["62305"],
                   says="62284, 72240 and 72255 ordered together: order 62305 instead")]),
    _s("9j", "9", "order-select of 72020 with 62284 and 72240 drafted → the 62302 card is not about the selection",
       order_select_body(["c"], order("a", "62284"), order("b", "72240"), order("c", "72020")), cards=[]),
    _s("9k", "9", "Orders 72125 + 72126 + 72127 (a 72127/72125 indicator-1 edit) → delete 72125 (the edit) and "
       "72126 (CPT instruction); never a second 72127",
       order_sign_body(order("a", "72125"), order("b", "72126"), order("c", "72127")),
       cards=[Card("critical", {"separate-encounter", "separate-structure", "different-practitioner",
                                "distinct-service-documented"}, ["ServiceRequest/a"], suggests=True),
              Card("critical", {"separate-encounter"}, ["ServiceRequest/b"], suggests=True)]),
    _s("9l", "9", "Orders 62302 + 62284 → delete the 62284 order only",
       order_sign_body(order("a", "62302"), order("b", "62284")),
       cards=[Card("critical", {"different-practitioner"}, ["ServiceRequest/b"], suggests=True,
                   says="62302 already includes 62284")]),
    _s("9m", "9", "Orders 72125 + 72126 → order 72127 instead; 'separate encounter' is the reason to keep both",
       order_sign_body(order("a", "72125"), order("b", "72126")),
       cards=[Card("critical", {"separate-encounter"}, ["ServiceRequest/a", "ServiceRequest/b"], ["72127"])]),
    _s("9n", "9", "Orders 72126 twice (MAI 3 MUE of 1) → a duplicate card (delete the second; 'repeat procedure') "
       "and an MUE card with no suggestion whose only reason is documented medical necessity",
       order_sign_body(order("a", "72126"), order("b", "72126")),
       cards=[Card("critical", {"repeat-procedure"}, ["ServiceRequest/b"]),
              Card("critical", {"medical-necessity-documented"}, suggests=False, says="MUE")]),
    _s("9o", "9", "Order 72020 × 3 (MAI 1 MUE of 2) → a critical MUE card: 'repeat procedure' or 'medical "
       "necessity', never an encounter reason",
       order_sign_body(order("a", "72020") | {"quantityQuantity": {"value": 3}}),
       cards=[Card("critical", {"repeat-procedure", "medical-necessity-documented"}, suggests=False)]),
    _s("9p", "9", "LOINC orders 30592-0 + 24933-4 (CT C-spine without, with contrast) → order 72127 instead",
       order_sign_body(loinc_order("a", "30592-0"), loinc_order("b", "24933-4")),
       cards=[Card("critical", {"separate-encounter"}, ["ServiceRequest/a", "ServiceRequest/b"], ["72127"])]),
    _s("9q", "9", "Orders 72125:26 + 72125:TC by one performer → order 72125; no MUE card (one study)",
       order_sign_body(order("a", "72125", "26", performer="Practitioner/r"),
                       order("b", "72125", "TC", performer="Practitioner/r")),
       cards=[Card("critical", set(), ["ServiceRequest/a", "ServiceRequest/b"], ["72125"])]),
    # --- acceptance audit of issue 12: 62284 once per encounter, PC/TC cards without a performer ----------
    _s("3x", "3", "62284 × 2 units, one provider (no MUE row for 62284) → the injection is reported once per "
       "encounter: report 1 unit; a CPT/ACR instruction, not an MUE, so not appealable",
       items_body([line("62284", units=2)]),
       [Flag("once-per-encounter", "error", [1], "reduce-units", [1], appealable=False,
             says=("62284 is reported once per encounter",
                   "ACR Radiology Coding Source, March-April 2006", "(secondary source)"))]),
    _s("3y", "3", "62284 on two lines, one provider and date → one injection reported twice: remove line 2 (one "
       "finding, not a duplicate-line one besides it)",
       items_body([line("62284"), line("62284")]),
       [Flag("once-per-encounter", "error", [1, 2], "remove", [2], appealable=False)]),
    _s("3z", "3", "62284 + 62284-76 → a repeat-procedure modifier does not make a second injection: remove line 2",
       items_body([line("62284"), line("62284", "76")]),
       [Flag("once-per-encounter", "error", [1, 2], "remove", [2])]),
    _s("3aa", "3", "62284 + 62284-XE → a separate, documented encounter: a warning, the claim passes",
       items_body([line("62284"), line("62284", "XE")]),
       [Flag("once-per-encounter", "warning", [1, 2], "review", [2], bypass="XE")]),
    _s("3ab", "3", "Outpatient FHIR Claim: 62284 by Dr A and 62284 by Dr B on one date → the facility reports the "
       "injection once: remove line 2",
       claim_body([line("62284", provider="Practitioner/a"), line("62284", provider="Practitioner/b")],
                  "outpatient", kind="institutional", billing="Organization/hospital"),
       [Flag("once-per-encounter", "error", [1, 2], "remove", [2], grouping="facility-claim")]),
    _s("3ac", "clean", "Practitioner claims: 62284 by Dr A and 62284 by Dr B → each physician's own encounter",
       items_body([line("62284", provider="Practitioner/a"), line("62284", provider="Practitioner/b")])),
    _s("3ad", "3", "Charge set 62284 × 2 units → report 1 unit", charge_set_body([line("62284", units=2)]),
       [Flag("once-per-encounter", "error", [1], "reduce-units", [1])]),
    _s("3ae", "3", "62284 + 62284 + 72240, one provider → 62302 for the injection and the S&I, and the second "
       "62284 removed: each fix covers its own lines",
       items_body([line("62284"), line("62284"), line("72240")]),
       [Flag("once-per-encounter", "error", [1, 2], "remove", [2]),
        Flag("combined-code", "error", [1, 3], "replace", [1, 3], ["62302"])]),
    _s("3af", "3", "Orders 62284 twice in one encounter → a critical card deleting the second order; 'separate "
       "encounter' is the reason to keep both",
       order_sign_body(order("a", "62284"), order("b", "62284")),
       cards=[Card("critical", {"separate-encounter"}, ["ServiceRequest/b"], suggests=True,
                   says="62284 is ordered 2 times for one encounter")]),
    _s("9r", "9", "Orders 72125:26 + 72125:TC without a performer → order the global 72125; 'different "
       "practitioner' (split billing) is the reason to keep both",
       order_sign_body(order("a", "72125", "26"), order("b", "72125", "TC")),
       cards=[Card("critical", {"different-practitioner"}, ["ServiceRequest/a", "ServiceRequest/b"], ["72125"],
                   says="72125-26 and 72125-TC ordered together: order the global 72125")]),
    _s("9s", "9", "Orders 72125 + 72125:26 without a performer → remove the 26 order (the global already "
       "includes it); no override reason: a global and its own component are never split billing (and "
       "the PC counts twice against the MAI 2 MUE of 1 until then)",
       order_sign_body(order("a", "72125"), order("b", "72125", "26")),
       cards=[Card("critical", set(), ["ServiceRequest/b"], suggests=True, says="already includes"),
              Card("critical", set(), suggests=False, says="MUE")]),
    _s("3al", "3", "Orders 62284 twice: the card says which of the two identical orders to remove (its id)",
       order_sign_body(order("a", "62284"), order("b", "62284")),
       cards=[Card("critical", {"separate-encounter"}, ["ServiceRequest/b"], suggests=True,
                   says="remove the extra order (ServiceRequest/b)")]),
    # --- one finding when an MUE row and the once-per-encounter instruction limit the same 62284 units ---
    _s("3ag", "3", "62284 × 2 units, practitioner MUE of 1 for 62284 (MAI 3) → one error: the MUE denies the line "
       "and says why (62284 is reported once per encounter); one fix, report 1 unit",
       items_body([line("62284", units=2)]),
       [Flag("mue", "error", [1], "reduce-units", [1], appealable=True,
             says=("exceed the practitioner MUE of 1", "62284 is reported once per encounter",
                   "ACR Radiology Coding Source"))], index="mue-62284"),
    _s("3ah", "3", "62284 on two lines, practitioner MUE of 1 (MAI 3) → one error for both lines (the MUE, citing "
       "the instruction), one fix: remove line 2",
       items_body([line("62284"), line("62284")]),
       [Flag("mue", "error", [1, 2], "remove", [2], says=("62284 is reported once per encounter",))],
       index="mue-62284"),
    _s("3ai", "3", "Outpatient: 62284 × 3 units, outpatient MUE of 2 → the instruction (once per encounter) is "
       "still reported, naming the MUE the units also exceed; one error, one fix: report 1 unit",
       items_body([line("62284", units=3)], "outpatient"),
       [Flag("once-per-encounter", "error", [1], "reduce-units", [1], appealable=False,
             grouping="facility-claim", says=("62284 is reported once per encounter", "NCCI MUE of 2"))],
       index="mue-62284"),
    _s("3aj", "3", "Outpatient: 62284 × 2 units, outpatient MUE of 2 → within the MUE, but the instruction still "
       "says report 1 unit",
       items_body([line("62284", units=2)], "outpatient"),
       [Flag("once-per-encounter", "error", [1], "reduce-units", [1], grouping="facility-claim",
             not_says=("MUE",))], index="mue-62284"),
    _s("3ak", "3", "Orders 62284 twice in one encounter, practitioner MUE of 1 → one critical card (the MUE) "
       "deleting the second order; its reason is the MUE's (medical necessity), not 'separate encounter': a "
       "date-of-service edit counts every encounter of the date",
       order_sign_body(order("a", "62284"), order("b", "62284")),
       cards=[Card("critical", {"medical-necessity-documented"}, ["ServiceRequest/b"],
                   suggests=True, says="exceed the NCCI MUE of 1")], index="mue-62284"),
    # clean claims
    _s("c7", "clean", "72270 alone → clean", items_body([line("72270")])),
    _s("c8", "clean", "62284 alone → clean", items_body([line("62284")])),
    _s("c9", "clean", "72125 on 07-15 and 72126 on 07-16 by one provider → two dates: clean",
       items_body([line("72125"), line("72126", date="2026-07-16")])),
    _s("c10", "clean", "72270 alone with no NCCI import → no error; the date is flagged as not covered (warnings)",
       items_body([line("72270")]), _no_edition(1), index="bare"),
    _s("c11", "clean", "72125 on 2025-01-15, which no imported edition covers → warnings, never a silent clean",
       items_body([line("72125", date="2025-01-15")]), _no_edition(1)),
]  # fmt: skip


# --- judging --------------------------------------------------------------------------------------


def _part(parts: list[dict], name: str) -> list:
    return [next(v for k, v in p.items() if k.startswith("value")) for p in parts if p["name"] == name]


def judge(clients: dict, scenario: Scenario) -> list[str]:
    """Return how the service's answer differs from what a coder expects (empty: as expected).

    :param clients: test clients by index ("ncci": the synthetic editions, "bare": no NCCI import).
    """
    client = clients[scenario.index]
    if scenario.cards is not None:
        return _judge_cards(client, scenario)
    response = client.post("/$bundling-check", json=scenario.body)
    if response.status_code != 200:
        return [f"HTTP {response.status_code}: {response.get_json()}"]
    body = response.get_json()
    problems = []
    result = body["parameter"][0]["valueBoolean"]
    if result is not scenario.result:
        problems.append(f"result={result}, expected {scenario.result}")
    every = findings(body)
    for found in every:  # every finding cites its sources as text (a missing source is a wrong answer too)
        if any(not isinstance(source, str) or not source for source in found.get("source", [])):
            problems.append(f"{found['rule']} lines {found.get('line')}: a source that is not a text")
    # Context (information) is not judged; the "no edition covers the date" warnings only where expected.
    judged_rules = {flag.rule for flag in scenario.flags}
    seen = [
        f
        for f in every
        if f["severity"] != "information"
        and f["rule"] != "unknown-code"
        and (f["rule"] != "no-edition" or "no-edition" in judged_rules)
    ]
    unmatched = list(seen)
    for flag in scenario.flags:
        match = next((f for f in unmatched if _matches(f, flag)), None)
        if match is None:
            near = [f"{f['rule']}/{f['severity']} lines {f.get('line')}: {f['message']}" for f in unmatched]
            problems.append(f"missing {flag}; got {near or 'nothing'}")
        else:
            unmatched.remove(match)
    for extra in unmatched:
        problems.append(
            f"unexpected {extra['rule']}/{extra['severity']} lines {extra.get('line')}: {extra['message']}"
        )
    return problems


def _matches(found: dict, flag: Flag) -> bool:
    if (found["rule"], found["severity"], found.get("line", [])) != (flag.rule, flag.severity, flag.lines):
        return False
    suggestion = found.get("suggestion") or []
    if flag.action is not None and _part(suggestion, "action") != [flag.action]:
        return False
    if flag.fix_lines is not None and _part(suggestion, "line") != flag.fix_lines:
        return False
    if flag.codes is not None and [c["code"] for c in _part(suggestion, "code")] != flag.codes:
        return False
    if (
        flag.modifiers is not None
        and [m["code"] if isinstance(m, dict) else m for m in _part(suggestion, "modifier")] != flag.modifiers
    ):
        return False
    if flag.appealable is not None and found.get("appealable") is not flag.appealable:
        return False
    if flag.grouping is not None and found.get("grouping") != flag.grouping:
        return False
    text = f"{found['message']} {found.get('rationale', '')}"
    if any(words not in text for words in flag.says) or any(words in text for words in flag.not_says):
        return False
    return flag.bypass is None or found.get("bypassModifier") == flag.bypass


def _judge_cards(client, scenario: Scenario) -> list[str]:
    response = client.post(f"/cds-services/bundling-{scenario.body['hook']}", json=scenario.body)
    if response.status_code != 200:
        return [f"HTTP {response.status_code}: {response.get_json()}"]
    cards = [c for c in response.get_json()["cards"] if c["indicator"] != "info"]
    problems = []
    unmatched = list(cards)
    for expected in scenario.cards or []:
        match = next((c for c in unmatched if _card_matches(c, expected)), None)
        if match is None:
            problems.append(f"missing {expected}; got {[_card_text(c) for c in unmatched] or 'no cards'}")
        else:
            unmatched.remove(match)
    problems.extend(f"unexpected card {_card_text(c)}" for c in unmatched)
    return problems


def _card_text(card: dict) -> str:
    reasons = sorted(r["code"] for r in card.get("overrideReasons", []))
    return f"[{card['indicator']}] {card['summary']} reasons={reasons} suggestions={card.get('suggestions')}"


def _card_matches(card: dict, expected: Card) -> bool:
    if card["indicator"] != expected.indicator or expected.says not in card["summary"]:
        return False
    if {r["code"] for r in card.get("overrideReasons", [])} != expected.reasons:
        return False
    suggestions = card.get("suggestions", [])
    if expected.suggests is not None and bool(suggestions) is not expected.suggests:
        return False
    if suggestions and (len(suggestions) != 1 or card.get("selectionBehavior") != "at-most-one"):
        return False  # one fix, and the selection behaviour CDS Hooks requires with suggestions
    actions = [a for s in suggestions for a in s["actions"]]
    deletes = [a["resourceId"] for a in actions if a["type"] == "delete"]
    creates = [a["resource"]["code"]["coding"][0]["code"] for a in actions if a["type"] == "create"]
    if expected.deletes and deletes != expected.deletes:
        return False
    if expected.suggests and not expected.creates and creates:
        return False  # a removal adds nothing (never a second code already ordered)
    return not expected.creates or creates == expected.creates


def make_clients(root: Path) -> dict:
    """Return test clients of the service: over the synthetic editions ("ncci"), and with no import ("bare")."""
    from terminology import create_app

    settings = {"ACCESS_LOG": False, "TESTING": True}
    return {
        "ncci": create_app({**settings, "DATA_DIR": str(build_data_dir(root))}).test_client(),
        "mue-62284": create_app(
            {
                **settings,
                "DATA_DIR": str(
                    build_data_dir(root / "mue-62284", PRACTITIONER_MUE_62284, OUTPATIENT_MUE_62284)
                ),
            }
        ).test_client(),
        "bare": create_app({**settings, "DATA_DIR": str(root / "no-import")}).test_client(),
    }


def main() -> int:
    """Run every scenario and print the figure, then what differs."""
    with tempfile.TemporaryDirectory() as tmp:
        clients = make_clients(Path(tmp))
        failed = []
        for scenario in SCENARIOS:
            problems = judge(clients, scenario)
            if problems:
                failed.append((scenario, problems))
    passed = len(SCENARIOS) - len(failed)
    print(f"{passed} of {len(SCENARIOS)} scenarios as a coder expects")
    for scenario, problems in failed:
        print(f"- {scenario.id} (point {scenario.point}): {scenario.statement}")
        for problem in problems:
            print(f"    {problem}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
