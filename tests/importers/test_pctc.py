"""Tests of `terminology import pctc` and the PC/TC modifier checks it enables."""

from __future__ import annotations

import pytest

from terminology.cli import build_parser, main
from terminology.content.loader import load_registry
from terminology.engine.pctc import pctc_modifier_problems
from terminology.engine.systems import CPT, HCPCS
from terminology.errors import ImportFailure
from terminology.importers.common import import_group
from terminology.importers.cpt import import_cpt
from terminology.importers.hcpcs import import_hcpcs
from terminology.importers.pctc import import_pctc
from tests.importers.synthetic import pprrvu_row, write_cpt_release, write_hcpcs_text, write_pprrvu
from tests.importers.test_cpt import lookup, param


@pytest.fixture
def content(tmp_path, out):
    """Import synthetic CPT 2026 and HCPCS 2026-10, then the synthetic PPRRVU; return the directory."""
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    import_hcpcs(write_hcpcs_text(tmp_path / "hcpcs.txt"), "2026-10", out)
    report = import_pctc(write_pprrvu(tmp_path / "PPRRVU26.csv"), out)
    assert sorted(p.name for p in report.written) == ["cpt-2026.json", "hcpcs-2026-10.json"]
    return out


def validate(client, code, system=CPT):
    return client.get("/CodeSystem/$validate-code", query_string={"url": system, "code": code}).get_json()


def test_indicator_is_a_property_of_cpt_and_hcpcs_concepts(content, serve):
    client = serve(content)
    _, _, properties, _ = lookup(client, "Z9002")
    assert ("pctc-indicator", "2") in properties
    response = client.get("/CodeSystem/$lookup", query_string={"system": HCPCS, "code": "ZZ001"})
    assert {"name": "value", "valueCode": "3"} in next(
        p["part"] for p in response.get_json()["parameter"]
        if p["name"] == "property" and p["part"][0]["valueCode"] == "pctc-indicator"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "valid", "message"),
    [
        ("Z9001:26", True, None),
        ("Z9001:TC", True, None),
        ("Z9002:26", False, "Modifier 26 is not allowed with Z9002: its PC/TC indicator is 2 (professional "
                            "component only)"),
        ("Z9002:TC", False, "Modifier TC is not allowed with Z9002: its PC/TC indicator is 2"),
        ("Z9003:26", True, None),
        ("Z9003:TC", False, "Modifier TC is not allowed with Z9003: its PC/TC indicator is 6"),
        ("Z9002:59", True, None),
    ],
)  # fmt: skip
def test_validate_code_checks_pctc_modifiers(content, serve, expression, valid, message):
    body = validate(serve(content), expression)
    assert param(body, "result") is valid
    if message:
        assert message in param(body, "message")


def test_code_without_indicator_is_not_checked(content, serve):
    # Z001F has no PPRRVU row, so no PC/TC rule applies to it.
    assert param(validate(serve(content), "Z001F:26"), "result") is True


def test_pure_function_for_bundling_check(content):
    registry = load_registry([content])
    assert pctc_modifier_problems(registry, "Z9001", ["26", "TC"]) == []
    assert pctc_modifier_problems(registry, "Z9002", ["59", "26"]) == [
        "Modifier 26 is not allowed with Z9002: its PC/TC indicator is 2 (professional component only)"
    ]
    assert pctc_modifier_problems(registry, "ZZ001", ["TC"])[0].startswith(
        "Modifier TC is not allowed with ZZ001"
    )
    assert pctc_modifier_problems(registry, "Z0000", ["26"]) == []


def test_reimport_keeps_other_concepts_and_replaces_the_indicator(tmp_path, content, serve):
    import_pctc(write_pprrvu(tmp_path / "again.csv", [("Z9002", "", "1")]), content)
    client = serve(content)
    assert param(validate(client, "Z9002:26"), "result") is True
    _, _, properties, _ = lookup(client, "Z9001")
    assert ("pctc-indicator", "1") in properties  # untouched by a file without Z9001


def test_bad_indicator_names_file_and_line(tmp_path, content):
    path = write_pprrvu(tmp_path / "bad.csv", [("Z9001", "", "1"), ("Z9002", "", "X")])
    before = (content / "cpt-2026.json").read_bytes()
    with pytest.raises(ImportFailure, match=r"bad.csv:7: PCTC IND 'X' of Z9002 is not 0-9"):
        import_pctc(path, content)
    assert (content / "cpt-2026.json").read_bytes() == before


def test_short_row_and_missing_header_are_refused(tmp_path, out):
    path = write_pprrvu(tmp_path / "short.csv")
    path.write_text(path.read_text() + "Z9004,,SYNTHETIC,A\n")
    with pytest.raises(ImportFailure, match=r"short.csv:12: row for Z9004 has 4 columns"):
        import_pctc(path, out)
    (tmp_path / "none.csv").write_text(pprrvu_row("Z9001", "", "1") + "\n")
    with pytest.raises(ImportFailure, match="no header row starting 'HCPCS,MOD'"):
        import_pctc(tmp_path / "none.csv", out)


def test_nothing_to_update_is_an_error(tmp_path, out):
    with pytest.raises(ImportFailure, match="run `import cpt/hcpcs` first"):
        import_pctc(write_pprrvu(tmp_path / "p.csv"), out)


def test_cli_and_import_group(tmp_path, content, capsys):
    assert main(["import", "pctc", str(write_pprrvu(tmp_path / "p.csv")), "--out", str(content)]) == 0
    assert "cpt-2026.json: 3 of" in capsys.readouterr().err
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert import_group(commands) is import_group(commands)
    assert {"cpt", "hcpcs", "pctc"} <= set(import_group(commands).choices)


def test_the_import_report_counts_in_good_english(tmp_path, out):
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    import_hcpcs(write_hcpcs_text(tmp_path / "hcpcs.txt"), "2026-10", out)
    report = import_pctc(write_pprrvu(tmp_path / "PPRRVU26.csv"), out)
    assert "cpt-2026.json: 3 of 10 concepts have a PC/TC indicator" in report.notes
    assert "hcpcs-2026-10.json: 1 of 3 concepts has a PC/TC indicator" in report.notes
    assert "2 rows with a modifier (e.g. 26, TC) were not used" in report.notes
    one_modifier_row = [("Z9001", "", "1"), ("Z9001", "26", "1")]
    report = import_pctc(write_pprrvu(tmp_path / "PPRRVU-one.csv", one_modifier_row), out)
    assert "1 row with a modifier (e.g. 26, TC) was not used" in report.notes
    assert "hcpcs-2026-10.json: 0 of 3 concepts have a PC/TC indicator" in report.notes
