"""Every point of issue 12 through each input form of $bundling-check: items, a FHIR Claim, Bundles.

The coder scenario table (tests/bundling/scenarios.py) states its claims as `item` parameters. Here
each of those scenarios is rebuilt from the same lines as a FHIR Claim, as a Bundle of ChargeItems
(a charge set) and as a Bundle of ServiceRequests (orders), and must get the same findings as the
coder expects of the items: the same rules, severities, lines, fixes, appealability, groupings,
bypasses and words. The NCCI edits and MUE values are the table's synthetic ones (not CMS data).

A form that cannot say what a scenario says is not asked: a charge set and an order Bundle have no
claim-level rendering provider (the `provider` parameter of items), so the scenarios that name one
run as items and as a Claim (whose primary care team member is that provider).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.bundling.scenarios import (
    CPT,
    DAY,
    SCENARIOS,
    Scenario,
    charge_set_body,
    claim_resource,
    items_body,
    judge,
    line,
    make_clients,
    order,
)

POINTS = [str(n) for n in range(1, 10)]


def _value(part: dict):
    return next(v for k, v in part.items() if k.startswith("value"))


def item_lines(body: dict) -> tuple[list[dict], str | None, str | None]:
    """Return the lines of an item-parameter body, with its setting and claim-level provider."""
    lines, setting, provider = [], None, None
    for param in body["parameter"]:
        if param["name"] == "setting":
            setting = _value(param)
        elif param["name"] == "provider":
            provider = _value(param)
        elif param["name"] == "item":
            parts: dict = {}
            modifiers = []
            for part in param["part"]:
                if part["name"] == "modifier":
                    modifiers.append(_value(part)["code"])
                else:
                    parts[part["name"]] = _value(part)
            lines.append(
                line(
                    parts["code"]["code"],
                    *modifiers,
                    provider=parts.get("provider"),
                    units=parts["quantity"],
                    date=parts.get("servicedDate"),
                )
            )
    return lines, setting, provider


def claim_form(lines: list[dict], setting: str | None, provider: str | None) -> dict:
    """The lines as a professional FHIR Claim; a claim-level provider is its primary care team member."""
    claim = claim_resource(lines)
    if provider is not None:
        team = claim["careTeam"]
        member = next((m for m in team if m["provider"]["reference"] == provider), None)
        if member is None:
            member = {"sequence": len(team) + 1, "provider": {"reference": provider}}
            team.append(member)
        member["role"] = {"coding": [{"code": "primary"}]}
    params = [{"name": "resource", "resource": claim}]
    if setting:
        params.append({"name": "setting", "valueCode": setting})
    return {"resourceType": "Parameters", "parameter": params}


def orders_form(lines: list[dict], setting: str | None) -> dict:
    """The lines as a Bundle of ServiceRequests in one encounter: performer, units and date per order."""
    entries = []
    for i, s in enumerate(lines, 1):
        resource = order(f"o{i}", s["code"], *s["modifiers"], performer=s["provider"])
        resource["occurrenceDateTime"] = s["date"] or DAY
        resource["quantityQuantity"] = {"value": s["units"]}
        entries.append({"resource": resource})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    params = [{"name": "resource", "resource": bundle}]
    if setting:
        params.append({"name": "setting", "valueCode": setting})
    return {"resourceType": "Parameters", "parameter": params}


def _forms(scenario: Scenario) -> list[tuple[str, dict]]:
    lines, setting, provider = item_lines(scenario.body)
    forms = [("claim", claim_form(lines, setting, provider))]
    if provider is None:
        forms.append(("charge-set", charge_set_body(lines, setting)))
        forms.append(("orders", orders_form(lines, setting)))
    return forms


ITEM_SCENARIOS = [
    s for s in SCENARIOS if s.cards is None and any(p["name"] == "item" for p in s.body.get("parameter", []))
]
CASES = [(scenario, form, body) for scenario in ITEM_SCENARIOS for form, body in _forms(scenario)]


@pytest.fixture(scope="module")
def form_clients(tmp_path_factory):
    return make_clients(tmp_path_factory.mktemp("forms"))


def test_the_forms_carry_the_same_lines():
    # The rebuilt inputs say what the items say: codes, modifiers, units, dates, providers.
    scenario = next(s for s in ITEM_SCENARIOS if s.id == "6a")
    lines, _setting, _provider = item_lines(scenario.body)
    assert lines == [
        line("72125", "26", provider="Practitioner/a"),
        line("72125", "TC", provider="Practitioner/a"),
    ]
    claim = claim_form(lines, None, None)["parameter"][0]["resource"]
    assert [i["productOrService"]["coding"][0] for i in claim["item"]] == [
        {"system": CPT, "code": "72125"},
        {"system": CPT, "code": "72125"},
    ]


@pytest.mark.parametrize(
    ("scenario", "form", "body"),
    CASES,
    ids=[f"{scenario.id}-{form}" for scenario, form, _body in CASES],
)
def test_a_scenario_answers_the_same_in_each_form(form_clients, scenario, form, body):
    assert judge(form_clients, replace(scenario, body=body)) == [], f"{form}: {scenario.statement}"


# --- point 9: the CDS cards follow the findings, whichever form the same orders come in -----------------

_INDICATOR = {"error": "critical", "warning": "warning"}


def order_lines(body: dict) -> list[dict] | None:
    """Return the lines of an order-sign call's draft orders; None when a claim could not say them.

    Items, Claims and charge sets have no encounter and no LOINC order codes: orders of two
    encounters, or coded in LOINC, are left to the CDS scenarios themselves.
    """
    lines, encounters = [], set()
    for entry in body["context"]["draftOrders"]["entry"]:
        resource = entry["resource"]
        coding = resource["code"]["coding"][0]
        if coding["system"] != CPT:
            return None
        encounters.add(resource.get("encounter", {}).get("reference"))
        code, *modifiers = coding["code"].split(":")
        performer = (resource.get("performer") or [{}])[0].get("reference")
        units = resource.get("quantityQuantity", {}).get("value", 1)
        lines.append(line(code, *modifiers, provider=performer, units=units))
    return lines if len(encounters) == 1 else None


def _card_view(client, body: dict) -> tuple[list[str], list[str]]:
    cards = client.post("/cds-services/bundling-order-sign", json=body).get_json()["cards"]
    indicators = sorted(c["indicator"] for c in cards if c["indicator"] != "info")
    creates = sorted(
        a["resource"]["code"]["coding"][0]["code"]
        for c in cards
        for s in c.get("suggestions", [])
        for a in s["actions"]
        if a["type"] == "create"
    )
    return indicators, creates


def _finding_view(client, body: dict) -> tuple[list[str], list[str]]:
    from tests.ncci_fixtures import findings

    answer = client.post("/$bundling-check", json=body).get_json()
    found = [f for f in findings(answer) if f["severity"] in _INDICATOR]
    dates = {f.get("date") for f in found if f["rule"] == "no-edition"}  # a card per date, not per table
    kept = [f for f in found if f["rule"] != "no-edition"]
    indicators = sorted([_INDICATOR[f["severity"]] for f in kept] + ["warning"] * len(dates))
    creates = sorted(
        c["code"]
        for f in kept
        for p in f.get("suggestion", [])
        if p["name"] == "code"
        for c in [p["valueCoding"]]
    )
    return indicators, creates


CARD_CASES = [
    (scenario, form, body)
    for scenario in SCENARIOS
    if scenario.cards is not None and scenario.body["hook"] == "order-sign"
    and (lines := order_lines(scenario.body)) is not None
    for form, body in [("items", items_body(lines)), ("claim", claim_form(lines, None, None)),
                       ("charge-set", charge_set_body(lines)), ("orders", orders_form(lines, None))]
]  # fmt: skip


def test_every_point_runs_in_every_form():
    # Points 1-8 as the coder's findings (the items themselves run in test_scenarios); point 9 (the
    # cards) as the findings the cards follow.
    covered = {(s.point, form) for s, form, _body in CASES} | {
        (s.point, form) for s, form, _body in CARD_CASES
    }
    wanted = [(point, form) for point in POINTS for form in ("claim", "charge-set", "orders")]
    assert [pair for pair in wanted if pair not in covered] == []
    assert {form for s, form, _body in CARD_CASES if s.point == "9"} >= {"items"}


@pytest.mark.parametrize(
    ("scenario", "form", "body"),
    CARD_CASES,
    ids=[f"{scenario.id}-{form}" for scenario, form, _body in CARD_CASES],
)
def test_the_cards_follow_the_findings_in_each_form(form_clients, scenario, form, body):
    # As many critical cards as errors and warning cards as warnings, and the same codes to order instead.
    client = form_clients[scenario.index]
    assert _finding_view(client, body) == _card_view(client, scenario.body), f"{form}: {scenario.statement}"
