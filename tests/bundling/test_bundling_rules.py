"""Every bundling rule, through POST /$bundling-check with item parts."""

from __future__ import annotations

import pytest

from terminology.bundling.rules import BYPASS_MODIFIERS
from tests.ncci_fixtures import check_body, findings, item


def _check(client, *items, **kwargs):
    response = client.post("/$bundling-check", json=check_body(*items, **kwargs))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _result(body) -> bool:
    return body["parameter"][0]["valueBoolean"]


@pytest.mark.parametrize(
    ("day", "applies"),
    [("2026-07-14", False), ("2026-07-15", True), ("2026-07-31", True), ("2026-08-01", False)],
)
def test_ptp_effective_and_deletion_dates_are_inclusive(client, day, applies):
    body = _check(client, item(1, "Z0001"), item(2, "Z0002"), date=day)
    ptp = findings(body, "ncci-ptp")
    assert bool(ptp) is applies
    if applies:
        assert ptp[0]["severity"] == "error" and ptp[0]["modifierIndicator"] == "1"
        assert "effective 2026-07-15, deletion 2026-07-31" in ptp[0]["message"]


def test_indicator_9_never_applies(client):
    assert findings(_check(client, item(1, "Z0001"), item(2, "Z0003")), "ncci-ptp") == []


def test_indicator_0_is_never_bypassed(client):
    (ptp,) = findings(_check(client, item(1, "Z0001", "XS"), item(2, "Z0004", "59")), "ncci-ptp")
    assert ptp["severity"] == "error" and ptp["modifierIndicator"] == "0" and "bypassModifier" not in ptp
    assert ptp["suggestion"][0] == {"name": "action", "valueCode": "remove"}


@pytest.mark.parametrize("where", ["column1", "column2"])
def test_indicator_1_is_bypassed_by_a_modifier_on_either_line(client, where):
    first = item(1, "Z0001", "XU") if where == "column1" else item(1, "Z0001")
    second = item(2, "Z0005", "XU") if where == "column2" else item(2, "Z0005")
    body = _check(client, first, second)
    (ptp,) = findings(body, "ncci-ptp")
    assert ptp["severity"] == "information" and ptp["bypassModifier"] == "XU"
    assert f"modifier XU on line {1 if where == 'column1' else 2}" in ptp["message"]


@pytest.mark.parametrize("modifier", ["26", "TC"])
def test_26_and_tc_do_not_bypass(client, modifier):
    (ptp,) = findings(_check(client, item(1, "Z0001"), item(2, "Z0005", modifier)), "ncci-ptp")
    assert ptp["severity"] == "error" and "no NCCI-associated modifier" in ptp["message"]


def test_the_bypass_list_is_the_full_cms_list():
    assert {
        "LT",
        "RT",
        "E1",
        "F9",
        "T9",
        "24",
        "25",
        "57",
        "58",
        "78",
        "79",
        "27",
        "59",
        "91",
    } <= BYPASS_MODIFIERS
    assert {"XE", "XS", "XP", "XU", "RI", "LM", "FA", "TA"} <= BYPASS_MODIFIERS
    assert not {"26", "TC", "76", "77"} & BYPASS_MODIFIERS
    assert len(BYPASS_MODIFIERS) == 44


def test_anatomic_modifier_bypasses(client):
    (ptp,) = findings(_check(client, item(1, "Z0001", "LT"), item(2, "Z0005", "RT")), "ncci-ptp")
    assert ptp["severity"] == "information" and ptp["bypassModifier"] == "RT"  # column 2 line first


def test_swapped_pair_is_chosen_by_date(client):
    (ptp,) = findings(_check(client, item(1, "Z0006"), item(2, "Z0007")), "ncci-ptp")
    assert ptp["column1"]["code"] == "Z0007" and ptp["column2"]["code"] == "Z0006"
    assert ptp["suggestion"][1]["valueString"].startswith("Remove line 1")
    (old,) = findings(_check(client, item(1, "Z0006"), item(2, "Z0007"), date="2015-03-01"), "ncci-ptp")
    assert old["column1"]["code"] == "Z0006"


def test_duplicate_pair_rows_pick_the_row_in_force(client):
    (ptp,) = findings(_check(client, item(1, "Z0009"), item(2, "Z0008")), "ncci-ptp")
    assert ptp["modifierIndicator"] == "0" and ptp["column1"]["code"] == "Z0008"


def test_lines_of_different_providers_are_not_paired(client):
    body = _check(
        client, item(1, "Z0001", provider="Practitioner/a"), item(2, "Z0004", provider="Practitioner/b")
    )
    assert findings(body, "ncci-ptp") == []
    body = _check(
        client, item(1, "Z0001", provider="Practitioner/a"), item(2, "Z0004", provider="Practitioner/a")
    )
    assert len(findings(body, "ncci-ptp")) == 1


def test_lines_on_different_dates_are_not_paired(client):
    body = _check(client, item(1, "Z0001", date="2026-07-20"), item(2, "Z0004", date="2026-07-21"))
    assert findings(body, "ncci-ptp") == []


def test_mue_line_edit(client):
    body = _check(client, item(1, "Z0011", quantity=2), item(2, "Z0011", "LT", quantity=1))
    (mue,) = findings(body, "mue")
    assert (mue["severity"], mue["mai"], mue["mueValue"], mue["units"], mue["line"]) == (
        "error",
        "1",
        1,
        2,
        [1],
    )


def test_mue_mai2_sums_units_and_is_an_error(client):
    body = _check(client, item(1, "Z0012", quantity=1), item(2, "Z0012", "LT", quantity=2))
    (mue,) = findings(body, "mue")
    assert (mue["severity"], mue["mai"], mue["units"], mue["line"]) == ("error", "2", 3, [1, 2])
    assert not _result(body)
    assert findings(_check(client, item(1, "Z0012", quantity=2)), "mue") == []


def test_mue_mai3_sums_units_and_is_a_warning(client):
    body = _check(client, item(1, "Z0013", quantity=2), item(2, "Z0013", "RT", quantity=1))
    (mue,) = findings(body, "mue")
    assert (mue["severity"], mue["mai"], mue["units"]) == ("warning", "3", 3)
    assert "documentation" in mue["message"]


def test_mue_sums_per_provider(client):
    body = _check(
        client, item(1, "Z0012", quantity=2, provider="a"), item(2, "Z0012", quantity=2, provider="b")
    )
    assert findings(body, "mue") == []


def test_duplicate_lines(client):
    (dup,) = findings(_check(client, item(1, "Z0020"), item(2, "Z0020")), "duplicate-line")
    assert dup["line"] == [1, 2] and dup["suggestion"][1]["valueString"] == "Remove line 2"
    assert findings(_check(client, item(1, "Z0020"), item(2, "Z0020", "76")), "duplicate-line") == []


def test_shipped_rules_work_without_any_import(bare_client):
    body = _check(bare_client, item(1, "62302"), item(2, "62284"))
    (rule,) = findings(body, "not-reported-together")
    assert rule["severity"] == "error" and rule["code"] == ["62302", "62284"]
    assert rule["source"] == [
        "https://terminology.example.org/fhir/ConceptMap/cpt-not-reported-together|2026"
    ]
    assert not _result(body)
    body = _check(bare_client, item(1, "62284"), item(2, "72240"))
    (combined,) = findings(body, "combined-code")
    assert combined["code"] == ["62284", "72240", "62302"] and combined["line"] == [1, 2]
    action, text, line1, line2, code = combined["suggestion"]
    assert action["valueCode"] == "replace" and text["valueString"] == "Replace lines 1 and 2 with 62302"
    assert (line1["valueInteger"], line2["valueInteger"], code["valueCoding"]["code"]) == (1, 2, "62302")
    ptp_warning, mue_warning = findings(body, "no-edition")
    assert ptp_warning["severity"] == "warning"
    assert ptp_warning["message"].startswith("no NCCI edition covers 2026-07-15 (no practitioner PTP edition")
    assert mue_warning["message"].startswith("no NCCI MUE table covers 2026-07-15")


def test_ct_cervical_components_suggest_72127_only_for_one_provider(bare_client):
    body = _check(bare_client, item(1, "72125"), item(2, "72126"))
    assert findings(body, "combined-code")[0]["code"] == ["72125", "72126", "72127"]
    body = _check(bare_client, item(1, "62284", provider="a"), item(2, "72240", provider="b"))
    assert findings(body, "combined-code") == []


def test_not_reported_together_with_distinct_service_modifier_is_a_warning(bare_client):
    (rule,) = findings(_check(bare_client, item(1, "62302"), item(2, "72240", "XS")), "not-reported-together")
    assert rule["severity"] == "warning" and "truly separate services" in rule["message"]


def test_ncci_indicator_governs_a_cpt_not_reported_together_pair(client):
    checker = client.application.extensions["terminology.bundling"]
    checker.not_together[frozenset(("Z0001", "Z0005"))] = "synthetic CPT instruction"
    checker.together_canonical = "urn:test:not-reported-together"
    (ptp,) = findings(_check(client, item(1, "Z0001"), item(2, "Z0005", "XS")), "ncci-ptp")
    assert ptp["severity"] == "information" and ptp["bypassModifier"] == "XS"
    assert ptp["source"][1] == "urn:test:not-reported-together"
    assert "ncci-ptp-practitioner|v322r0" in ptp["source"][0]
    assert "also says they are not reported together" in ptp["message"]
    assert findings(_check(client, item(1, "Z0001"), item(2, "Z0005")), "not-reported-together") == []


def test_no_edition_covers_the_date(client):
    body = _check(client, item(1, "Z0001"), item(2, "Z0004"), date="2026-03-02")
    warnings = findings(body, "no-edition")
    assert [w["message"].split(":")[0] for w in warnings] == [
        "no NCCI edition covers 2026-03-02",
        "no NCCI MUE table covers 2026-03-02",
    ]
    assert len(findings(body, "ncci-ptp")) == 1  # still checked against the closest edition's row dates


def test_explicit_edition(client):
    body = _check(client, item(1, "Z0001"), item(2, "Z0004"), date="2026-07-15", edition="v322r0")
    assert findings(body, "no-edition") == []
    response = client.post("/$bundling-check", json=check_body(item(1, "Z0001"), edition="v999r0"))
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["expression"] == ["edition"]


def test_unknown_codes_and_modifiers(bare_client):
    body = _check(bare_client, item(1, "72125", "ZZ"), item(2, "Z0001"))
    (code,) = findings(body, "unknown-code")
    assert code["severity"] == "warning" and "fragment" in code["message"]  # our CPT content is a fragment
    (modifier,) = findings(body, "unknown-modifier")
    assert modifier["code"] == ["72125", "ZZ"]
    body = _check(bare_client, item(1, "72125", system="http://example.org/unknown"))
    assert findings(body, "unknown-code")[0]["severity"] == "error"


def test_findings_come_in_a_deterministic_order(bare_client):
    lines = [item(3, "72240"), item(1, "62302"), item(2, "62284"), item(4, "72126"), item(5, "72125")]
    first = findings(_check(bare_client, *lines))
    second = findings(_check(bare_client, *reversed(lines)))
    assert first == second
    assert [(f["rule"], f.get("line")) for f in first] == [
        ("no-edition", [1, 2, 3, 4, 5]),
        ("no-edition", [1, 2, 3, 4, 5]),
        ("not-reported-together", [1, 2]),
        ("not-reported-together", [1, 3]),
        ("combined-code", [2, 3]),
        ("combined-code", [4, 5]),
    ]
