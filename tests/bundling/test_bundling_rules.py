"""Every bundling rule, through POST /$bundling-check with item parts (synthetic Z-codes for NCCI rows)."""

from __future__ import annotations

import pytest

from terminology import create_app
from terminology.bundling.rules import BundlingChecker
from tests.ncci_fixtures import check_body, findings, item, mue_row, ncci_data_dir, ptp_row


def _check(client, *items, **kwargs):
    response = client.post("/$bundling-check", json=check_body(*items, **kwargs))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _result(body) -> bool:
    return body["parameter"][0]["valueBoolean"]


def _suggestion(finding: dict) -> dict:
    out: dict = {}
    for part in finding["suggestion"]:
        value = next(v for k, v in part.items() if k.startswith("value"))
        out.setdefault(part["name"], []).append(value)
    return out


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


def test_indicator_0_is_never_bypassed_and_cannot_be_appealed(client):
    (ptp,) = findings(_check(client, item(1, "Z0001", "XS"), item(2, "Z0004", "59")), "ncci-ptp")
    assert ptp["severity"] == "error" and ptp["modifierIndicator"] == "0" and "bypassModifier" not in ptp
    assert ptp["appealable"] is False and _suggestion(ptp)["action"] == ["remove"]


@pytest.mark.parametrize("where", ["column1", "column2"])
def test_a_valid_bypass_on_either_line_passes_with_a_warning(client, where):
    first = item(1, "Z0001", "XU") if where == "column1" else item(1, "Z0001")
    second = item(2, "Z0005", "XU") if where == "column2" else item(2, "Z0005")
    body = _check(client, first, second)
    (ptp,) = findings(body, "ncci-ptp")
    # A bypass is never clean: the claim passes the edit, and the record must support the modifier.
    assert ptp["severity"] == "warning" and ptp["bypassModifier"] == "XU" and "appealable" not in ptp
    assert f"modifier XU on line {1 if where == 'column1' else 2}" in ptp["message"]
    assert "must document a service that does not overlap" in ptp["message"]
    assert _result(body) is True


def test_indicator_1_without_modifier_is_an_appealable_error(client):
    (ptp,) = findings(_check(client, item(1, "Z0001"), item(2, "Z0005")), "ncci-ptp")
    assert ptp["severity"] == "error" and ptp["appealable"] is True
    assert "no NCCI-associated modifier on either line" in ptp["message"]


@pytest.mark.parametrize("modifier", ["26", "TC", "76"])
def test_modifiers_that_are_not_ncci_associated_do_not_bypass(client, modifier):
    (ptp,) = findings(_check(client, item(1, "Z0001"), item(2, "Z0005", modifier)), "ncci-ptp")
    assert ptp["severity"] == "error" and "no NCCI-associated modifier" in ptp["message"]


@pytest.mark.parametrize(
    ("modifiers", "why"),
    [
        (("59", "XS"), "59 and XS are both on line 2"),
        (("XE", "59"), "59 and XE are both on line 2"),
    ],
)
def test_59_and_an_x_modifier_on_one_line_bypass_nothing(client, modifiers, why):
    (ptp,) = findings(_check(client, item(1, "Z0001"), item(2, "Z0005", *modifiers)), "ncci-ptp")
    assert ptp["severity"] == "error" and why in ptp["message"] and "CR8863" in ptp["message"]


def test_xp_with_the_same_rendering_provider_contradicts_the_claim(client):
    body = _check(client, item(1, "Z0001", provider="dr-a"), item(2, "Z0005", "XP", provider="dr-a"))
    (ptp,) = findings(body, "ncci-ptp")
    assert ptp["severity"] == "error" and "XP says a different practitioner" in ptp["message"]


def test_xp_on_a_facility_claim_with_different_physicians_bypasses(client):
    body = _check(client, item(1, "Z0001", provider="dr-a"), item(2, "Z0005", "XP", provider="dr-b"),
                  setting="outpatient")  # fmt: skip
    # The outpatient editions are not imported here: the practitioner one is not used for it.
    assert findings(body, "ncci-ptp") == [] and findings(body, "no-edition")


def test_the_ncci_associated_modifiers_are_the_cms_list(client):
    rules = client.application.extensions["terminology.bundling"].modifier_rules
    associated = {code for code, rule in rules.items() if rule.ncci_associated}
    assert {"LT", "RT", "E1", "F9", "T9", "24", "25", "57", "58", "78", "79", "27", "59", "91"} <= associated
    assert {"XE", "XS", "XP", "XU", "RI", "LM", "FA", "TA"} <= associated
    assert not {"26", "TC", "76", "77", "50"} & associated
    assert len(associated) == 44
    assert rules["25"].applies_to == {"evaluation-management"} and rules["27"].setting == "outpatient"
    assert (
        rules["59"].same_line_conflicts == {"XE", "XS", "XP", "XU"} and rules["F1"].anatomic_site == "finger"
    )


def test_anatomic_modifiers_on_different_sites_bypass(client):
    (ptp,) = findings(_check(client, item(1, "Z0001", "LT"), item(2, "Z0005", "RT")), "ncci-ptp")
    assert ptp["severity"] == "warning" and ptp["bypassModifier"] == "RT"  # column 2 line first


def test_the_same_anatomic_modifier_on_both_lines_is_the_same_site(client):
    (ptp,) = findings(_check(client, item(1, "Z0001", "RT"), item(2, "Z0005", "RT")), "ncci-ptp")
    assert ptp["severity"] == "error" and ptp["message"].endswith(
        "(modifier RT is on both lines 1 and 2: the same site)"
    )


def test_swapped_pair_is_chosen_by_date(client):
    (ptp,) = findings(_check(client, item(1, "Z0006"), item(2, "Z0007")), "ncci-ptp")
    assert ptp["column1"]["code"] == "Z0007" and ptp["column2"]["code"] == "Z0006"
    assert _suggestion(ptp)["text"][0].startswith("Remove line 1")
    (old,) = findings(_check(client, item(1, "Z0006"), item(2, "Z0007"), date="2015-03-01"), "ncci-ptp")
    assert old["column1"]["code"] == "Z0006"


def test_duplicate_pair_rows_pick_the_row_in_force(client):
    (ptp,) = findings(_check(client, item(1, "Z0009"), item(2, "Z0008")), "ncci-ptp")
    assert ptp["modifierIndicator"] == "0" and ptp["column1"]["code"] == "Z0008"


def test_practitioner_lines_are_grouped_by_rendering_provider(client):
    body = _check(
        client, item(1, "Z0001", provider="Practitioner/a"), item(2, "Z0004", provider="Practitioner/b")
    )
    assert findings(body, "ncci-ptp") == []
    body = _check(
        client, item(1, "Z0001", provider="Practitioner/a"), item(2, "Z0004", provider="Practitioner/a")
    )
    (ptp,) = findings(body, "ncci-ptp")
    assert ptp["grouping"] == "rendering-provider" and ptp["provider"] == "Practitioner/a"
    assert "by rendering provider Practitioner/a on 2026-07-15" in ptp["message"]


def test_a_line_without_a_provider_is_the_claims(client):
    body = _check(client, item(1, "Z0001", provider="Practitioner/a"), item(2, "Z0004"))
    assert findings(body, "ncci-ptp")[0]["provider"] == "Practitioner/a"
    body = check_body(item(1, "Z0001"), item(2, "Z0004"))
    body["parameter"].append({"name": "provider", "valueString": "Practitioner/c"})
    (ptp,) = findings(client.post("/$bundling-check", json=body).get_json(), "ncci-ptp")
    assert ptp["provider"] == "Practitioner/c"


def test_lines_on_different_dates_are_not_paired(client):
    body = _check(client, item(1, "Z0001", date="2026-07-20"), item(2, "Z0004", date="2026-07-21"))
    assert findings(body, "ncci-ptp") == []


def test_mue_line_edit_is_an_appealable_error(client):
    body = _check(client, item(1, "Z0011", quantity=2), item(2, "Z0011", "LT", quantity=1))
    (mue,) = findings(body, "mue")
    assert (mue["severity"], mue["mai"], mue["mueValue"], mue["units"], mue["line"], mue["appealable"]) == (
        "error", "1", 1, 2, [1], True,
    )  # fmt: skip


def test_mue_mai2_sums_units_and_cannot_be_appealed(client):
    body = _check(client, item(1, "Z0012", quantity=1), item(2, "Z0012", "LT", quantity=2))
    (mue,) = findings(body, "mue")
    assert (mue["severity"], mue["mai"], mue["units"], mue["line"], mue["appealable"]) == (
        "error", "2", 3, [1, 2], False,
    )  # fmt: skip
    assert not _result(body)
    assert findings(_check(client, item(1, "Z0012", quantity=2)), "mue") == []


def test_mue_mai3_over_the_limit_is_denied_too_but_appealable(client):
    body = _check(client, item(1, "Z0013", quantity=2), item(2, "Z0013", "RT", quantity=1))
    (mue,) = findings(body, "mue")
    assert (mue["severity"], mue["mai"], mue["units"], mue["appealable"]) == ("error", "3", 3, True)
    assert "appeal" in mue["message"] and not _result(body)


def test_mue_sums_per_rendering_provider_on_practitioner_claims(client):
    body = _check(
        client, item(1, "Z0012", quantity=2, provider="a"), item(2, "Z0012", quantity=2, provider="b")
    )
    assert findings(body, "mue") == []


@pytest.mark.parametrize("units", [0, -1, 1.5])
def test_units_that_are_not_a_whole_positive_number_are_a_claim_error(client, units):
    body = check_body(item(1, "Z0020"))
    quantity = next(p for p in body["parameter"][1]["part"] if p["name"] == "quantity")
    quantity.clear()
    quantity.update({"name": "quantity", "valueDecimal": units})
    response = client.post("/$bundling-check", json=body)
    assert response.status_code == 200
    (units_finding,) = findings(response.get_json(), "units")
    assert units_finding["severity"] == "error" and units_finding["appealable"] is False
    assert not _result(response.get_json())


def test_a_bilateral_line_carries_one_unit(client):
    (bilateral,) = findings(_check(client, item(1, "Z0020", "50", quantity=2)), "units")
    assert bilateral["severity"] == "error" and "on one line that carries 1 unit" in bilateral["message"]
    assert _suggestion(bilateral)["units"] == [1]
    assert findings(_check(client, item(1, "Z0020", "50")), "units") == []


def test_duplicate_lines_are_denied_unless_repeated_with_a_modifier(client):
    (dup,) = findings(_check(client, item(1, "Z0020"), item(2, "Z0020")), "duplicate-line")
    assert dup["line"] == [1, 2] and dup["severity"] == "error" and dup["appealable"] is True
    assert _suggestion(dup)["text"] == ["Remove line 2"]
    assert findings(_check(client, item(1, "Z0020"), item(2, "Z0020", "76")), "duplicate-line") == []


def test_62284_two_units_one_provider_is_reported_once_per_encounter(bare_client):
    # No MUE row covers 62284 (no import at all): the CPT/ACR instruction alone denies the second unit.
    body = _check(bare_client, item(1, "62284", quantity=2, provider="a"))
    (once,) = findings(body, "once-per-encounter")
    assert once["severity"] == "error" and once["appealable"] is False and not _result(body)
    assert once["line"] == [1] and "62284 is reported once per encounter" in once["message"]
    assert _suggestion(once) == {
        "action": ["reduce-units"],
        "text": ["Report 1 unit on line 1"],
        "line": [1],
        "units": [1],
    }
    # Cited as what it is: the ACR coding source (a secondary restatement), not an MUE value.
    assert "ACR Radiology Coding Source, March-April 2006" in once["rationale"]
    assert "(secondary source)" in once["rationale"] and "mueValue" not in once
    assert once["source"] == [
        "https://terminology.example.org/fhir/CodeSystem/cpt-bundling-instructions|2026"
    ]


def test_two_62284_lines_one_provider_and_date_keep_one(bare_client):
    body = _check(bare_client, item(1, "62284", provider="a"), item(2, "62284", "76", provider="a"))
    (once,) = findings(body, "once-per-encounter")
    assert once["line"] == [1, 2] and _suggestion(once)["text"] == ["Remove line 2"]
    assert findings(body, "duplicate-line") == []  # one finding for one problem
    assert (
        findings(
            _check(bare_client, item(1, "62284", provider="a"), item(2, "62284", provider="b")),
            "once-per-encounter",
        )
        == []
    )  # two physicians, two encounters


def test_62284_with_xe_is_a_documented_separate_encounter(bare_client):
    body = _check(bare_client, item(1, "62284"), item(2, "62284", "XE"))
    (apart,) = findings(body, "once-per-encounter")
    assert apart["severity"] == "warning" and apart["bypassModifier"] == "XE" and _result(body)
    # 59 and XE on one line document nothing (CR8863): the second injection is denied.
    (denied,) = findings(
        _check(bare_client, item(1, "62284"), item(2, "62284", "59", "XE")), "once-per-encounter"
    )
    assert denied["severity"] == "error"


def _mue_62284_client(tmp_path, value: int, mai: int):
    """An app whose practitioner MUE table has a synthetic row for 62284 (not CMS data)."""
    data = ncci_data_dir(
        tmp_path, [ptp_row("Z0001", "Z0002")], [mue_row("62284", value, mai, "Synthetic: Clinical: Data")]
    )
    return create_app({"DATA_DIR": str(data)}).test_client()


def _errors(body) -> list[dict]:
    return [f for f in findings(body) if f["severity"] == "error"]


def test_62284_over_an_mue_no_higher_than_once_is_one_mue_error_that_says_why(tmp_path):
    # The payer's MUE edit denies the line; the CPT/ACR instruction explains why. One error, one fix.
    client = _mue_62284_client(tmp_path, 1, 3)
    body = _check(client, item(1, "62284", quantity=2, provider="a"))
    (mue,) = _errors(body)
    assert mue["rule"] == "mue" and mue["line"] == [1] and mue["mueValue"] == 1 and mue["mai"] == "3"
    assert mue["appealable"] is True  # the payer's MAI 3 terms
    assert "62284 is reported once per encounter" in mue["message"]
    assert "ACR Radiology Coding Source, March-April 2006" in mue["rationale"]
    assert "Synthetic: Clinical: Data" in mue["rationale"]
    assert any("cpt-bundling-instructions" in source for source in mue["source"])
    assert _suggestion(mue)["action"] == ["reduce-units"] and _suggestion(mue)["units"] == [1]


def test_two_62284_lines_over_an_mue_of_one_are_one_error_removing_the_second(tmp_path):
    client = _mue_62284_client(tmp_path, 1, 2)
    body = _check(client, item(1, "62284", provider="a"), item(2, "62284", provider="a"))
    (mue,) = _errors(body)
    assert mue["rule"] == "mue" and mue["line"] == [1, 2] and mue["appealable"] is False
    assert _suggestion(mue)["action"] == ["remove"] and _suggestion(mue)["line"] == [2]


def test_62284_over_an_mue_higher_than_once_still_gets_the_instruction(tmp_path):
    client = _mue_62284_client(tmp_path, 2, 3)
    # Within the MUE of 2: the instruction alone says report 1 unit.
    (once,) = _errors(_check(client, item(1, "62284", quantity=2, provider="a")))
    assert once["rule"] == "once-per-encounter" and "mueValue" not in once
    # Over both: one error, the instruction's (its fix satisfies the MUE too), naming the MUE.
    (once,) = _errors(_check(client, item(1, "62284", quantity=3, provider="a")))
    assert once["rule"] == "once-per-encounter" and once["appealable"] is False
    assert "the units also exceed the NCCI MUE of 2" in once["message"] and once["mueValue"] == 2
    assert "Synthetic: Clinical: Data" in once["rationale"]
    assert _suggestion(once)["units"] == [1]


def test_professional_and_technical_lines_of_one_provider_are_the_global_code(bare_client):
    body = _check(bare_client, item(1, "72125", "26", provider="a"), item(2, "72125", "TC", provider="a"))
    (pctc,) = findings(body, "pc-tc")
    assert pctc["severity"] == "error" and _suggestion(pctc)["code"] == [
        {"system": "http://www.ama-assn.org/go/cpt", "code": "72125"}
    ]
    assert "(secondary source)" in pctc["rationale"]
    body = _check(bare_client, item(1, "72125", "26", provider="a"), item(2, "72125", "TC", provider="b"))
    assert findings(body, "pc-tc") == []


def test_shipped_rules_work_without_any_import(bare_client):
    body = _check(bare_client, item(1, "62302"), item(2, "62284"))
    (rule,) = findings(body, "not-reported-together")
    assert rule["severity"] == "error" and rule["code"] == ["62302", "62284"] and rule["appealable"] is False
    assert rule["source"] == [
        "https://terminology.example.org/fhir/CodeSystem/cpt-bundling-instructions|2026",
        "https://terminology.example.org/fhir/ConceptMap/cpt-not-reported-together|2026",
    ]
    assert "CPT parenthetical for 62302" in rule["rationale"] and "(secondary source)" in rule["rationale"]
    assert not _result(body)
    body = _check(bare_client, item(1, "62284"), item(2, "72240"))
    (combined,) = findings(body, "combined-code")
    assert combined["code"] == ["62284", "72240", "62302"] and combined["line"] == [1, 2]
    assert _suggestion(combined) == {
        "action": ["replace"],
        "text": ["Replace lines 1 and 2 with 62302"],
        "line": [1, 2],
        "code": [{"system": "http://www.ama-assn.org/go/cpt", "code": "62302"}],
    }
    ptp_warning, mue_warning = findings(body, "no-edition")
    assert ptp_warning["severity"] == "warning"
    assert ptp_warning["message"].startswith("no NCCI edition covers 2026-07-15 (no practitioner PTP edition")
    assert mue_warning["message"].startswith("no NCCI MUE table covers 2026-07-15")


def test_ct_cervical_components_suggest_72127_only_for_one_provider(bare_client):
    body = _check(bare_client, item(1, "72125"), item(2, "72126"))
    assert findings(body, "combined-code")[0]["code"] == ["72125", "72126", "72127"]
    body = _check(bare_client, item(1, "62284", provider="a"), item(2, "72240", provider="b"))
    assert findings(body, "combined-code") == []


def test_a_fix_keeps_the_component_modifier_of_the_lines_it_replaces(bare_client):
    (combined,) = findings(
        _check(bare_client, item(1, "72240", "26"), item(2, "72255", "26")), "combined-code"
    )
    assert _suggestion(combined)["modifier"] == ["26"] and _suggestion(combined)["text"] == [
        "Replace lines 1 and 2 with 72270-26"
    ]


def test_a_distinct_service_modifier_on_a_cpt_pair_is_a_warning(bare_client):
    body = _check(bare_client, item(1, "62302"), item(2, "72240", "XS"))
    (rule,) = findings(body, "not-reported-together")
    assert rule["severity"] == "warning" and rule["bypassModifier"] == "XS" and _result(body) is True
    assert "modifier XS on line 2 says a separate organ or structure" in rule["message"]


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
    # Our CPT content is a fragment: a code missing from it is context, not a denial.
    assert code["severity"] == "information" and "fragment" in code["message"]
    (modifier,) = findings(body, "unknown-modifier")
    assert modifier["code"] == ["72125", "ZZ"] and modifier["severity"] == "information"
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
        ("not-reported-together", [1, 2, 3]),
        ("combined-code", [4, 5]),
    ]


def test_a_long_claim_is_judged_in_linear_work(data_dir, monkeypatch):
    """1,200 lines of one edited pair: the modifier checks grow with the lines, not with their pairs."""
    from terminology import create_app

    client = create_app({"DATA_DIR": str(data_dir), "MAX_CLAIM_LINES": 1200}).test_client()
    calls = []
    judge = BundlingChecker._refusal
    monkeypatch.setattr(BundlingChecker, "_refusal", lambda self, *a: calls.append(1) or judge(self, *a))
    lines = [
        item(i, "Z0001" if i % 2 else "Z0005", "XU" if i % 4 == 0 else "XS", provider="a")
        for i in range(1, 1201)
    ]
    body = _check(client, *lines)
    ptp = findings(body, "ncci-ptp")
    assert len(ptp) == 600  # one finding per column 2 line
    assert len(calls) <= 4 * 1200


def test_the_set_of_valid_codes_is_bounded_and_holds_only_short_keys(bare_client, monkeypatch):
    import terminology.bundling.rules as rules

    checker = bare_client.application.extensions["terminology.bundling"]
    monkeypatch.setattr(rules, "VALID_CODES", 2)
    for code in ("72125", "72126", "72127", "62284"):
        _check(bare_client, item(1, code))
        assert len(checker._valid) <= 2
    checker._note_valid(("http://www.ama-assn.org/go/cpt", "7" * 100))
    assert ("http://www.ama-assn.org/go/cpt", "7" * 100) not in checker._valid
    # A code answered from the set still gets its findings the same way.
    assert findings(_check(bare_client, item(1, "62284"), item(2, "72240")), "combined-code")
