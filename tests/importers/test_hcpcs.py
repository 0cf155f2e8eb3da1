"""Tests of `terminology import hcpcs`: fixed-width and xlsx files, TERM DT inactivity, bad records."""

from __future__ import annotations

import re

import pytest

from terminology.cli import main
from terminology.engine.systems import HCPCS
from terminology.errors import ImportFailure
from terminology.importers.hcpcs import import_hcpcs
from tests.importers.synthetic import hcpcs_record, write_hcpcs_text, write_hcpcs_xlsx
from tests.importers.test_cpt import param


def lookup(client, code, **extra):
    """Return (status, body, properties dict, designations) of an HCPCS $lookup."""
    response = client.get("/CodeSystem/$lookup", query_string={"system": HCPCS, "code": code, **extra})
    body = response.get_json()
    properties, designations = {}, []
    for p in body.get("parameter", []):
        parts = {q["name"]: q for q in p.get("part", [])}
        if p["name"] == "property":
            properties[parts["code"]["valueCode"]] = next(
                v for k, v in parts["value"].items() if k.startswith("value")
            )
        elif p["name"] == "designation":
            designations.append((parts["use"]["valueCoding"]["code"], parts["value"]["valueString"]))
    return response.status_code, body, properties, designations


@pytest.mark.parametrize("writer", [write_hcpcs_text, write_hcpcs_xlsx], ids=["fixed-width", "xlsx"])
def test_round_trip(tmp_path, out, serve, writer):
    source = writer(tmp_path / ("hcpcs.xlsx" if writer is write_hcpcs_xlsx else "hcpcs.txt"))
    report = import_hcpcs(source, "2026-10", out)
    assert report.concepts == 3
    client = serve(out)
    status, body, properties, designations = lookup(client, "ZZ001")
    assert status == 200
    expected = "Synthetic supply one"
    if writer is write_hcpcs_text:
        expected = "Synthetic supply one, first part of its long description continued"
    assert param(body, "display") == expected
    # The display comes first as the preferred designation (tx.fhir.org), then the short description.
    assert designations == [("preferredForLanguage", expected), ("short", "SYNTH SUPPLY ONE")]
    assert properties["modifier"] is False
    assert properties["add-date"] == "2020-01-01"
    assert properties["action-effective-date"] == "2026-01-01"
    assert properties["action-code"] == "N"
    assert "termination-date" not in properties
    _, _, properties, _ = lookup(client, "ZZ002")
    assert properties["termination-date"] == "2026-12-31"
    status, _, properties, _ = lookup(client, "ZZ")
    assert status == 200 and properties["modifier"] is True


def test_code_is_inactive_after_its_termination_date(tmp_path, out, serve):
    import_hcpcs(write_hcpcs_text(tmp_path / "hcpcs.txt"), "2026-10", out)
    client = serve(out)
    _, _, properties, _ = lookup(client, "ZZ002", date="2026-12-31")
    assert properties["inactive"] is False
    _, _, properties, _ = lookup(client, "ZZ002", date="2027-01-01")
    assert properties["inactive"] is True

    def validate(day):
        query = {"url": HCPCS, "code": "ZZ002", "date": day}
        return client.get("/CodeSystem/$validate-code", query_string=query).get_json()

    assert param(validate("2026-12-31"), "inactive") is None
    body = validate("2027-02-01")
    assert param(body, "result") is True
    assert param(body, "inactive") is True and param(body, "status") == "retired"
    body = client.get(
        "/CodeSystem/$validate-code",
        query_string={"url": HCPCS, "code": "ZZ002", "date": "2027-02-01", "activeOnly": "true"},
    ).get_json()
    assert param(body, "result") is False


def test_expansions_judge_activity_by_the_termination_date(tmp_path, out, serve):
    import_hcpcs(write_hcpcs_text(tmp_path / "hcpcs.txt"), "2026-10", out)
    client = serve(out)

    def expand(**extra):
        query = {"url": f"{HCPCS}?fhir_vs", **extra}
        body = client.get("/ValueSet/$expand", query_string=query).get_json()
        return {entry["code"]: entry.get("inactive", False) for entry in body["expansion"]["contains"]}

    assert expand(date="2026-12-31")["ZZ002"] is False
    assert expand(date="2027-01-01")["ZZ002"] is True
    assert "ZZ002" in expand(date="2026-12-31", activeOnly="true")
    assert "ZZ002" not in expand(date="2027-01-01", activeOnly="true")
    assert "ZZ001" in expand(date="2027-01-01", activeOnly="true")
    echoed = client.get(
        "/ValueSet/$expand", query_string={"url": f"{HCPCS}?fhir_vs", "date": "2027-01-01"}
    ).get_json()["expansion"]["parameter"]
    assert {"name": "date", "valueDateTime": "2027-01-01"} in echoed
    bad = client.get("/ValueSet/$expand", query_string={"url": f"{HCPCS}?fhir_vs", "date": "2027-02-30"})
    assert bad.status_code == 400 and bad.get_json()["resourceType"] == "OperationOutcome"


def test_date_before_every_quarter_is_not_found(tmp_path, out, serve):
    import_hcpcs(write_hcpcs_text(tmp_path / "hcpcs.txt"), "2026-10", out)
    status, body, _, _ = lookup(serve(out), "ZZ001", date="2026-09-30")
    assert status == 404 and "Valid versions: [2026-10]" in body["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (hcpcs_record("ZZ003", "5", "Synthetic bad record id"), "record id '5' is not 3, 4, 7 or 8"),
        (hcpcs_record("ZZ004", "4", "Synthetic orphan continuation"), "continuation record for ZZ004"),
        (hcpcs_record("ZZ005", "3", "Synthetic bad date", add="2020013"), "ADD DT '2020013' is not a date"),
        (hcpcs_record("ZZ001", "3", "Synthetic duplicate"), "code ZZ001 appears twice"),
        ("ZZ006", "record shorter than 11 characters"),
    ],
)
def test_malformed_record_names_file_and_line(tmp_path, out, record, message):
    path = write_hcpcs_text(tmp_path / "hcpcs.txt")
    path.write_text(path.read_text() + record + "\n")
    with pytest.raises(ImportFailure, match=re.escape(message)) as caught:
        import_hcpcs(path, "2026-10", out)
    assert caught.value.line == 5 and "hcpcs.txt:5:" in str(caught.value)
    assert list(out.iterdir()) == []


def test_xlsx_without_the_cms_header_is_refused(tmp_path, out):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["CODE", "TEXT"])
    workbook.save(tmp_path / "other.xlsx")
    with pytest.raises(ImportFailure, match="no header row with HCPC"):
        import_hcpcs(tmp_path / "other.xlsx", "2026-10", out)


def test_cli(tmp_path, out, capsys):
    source = write_hcpcs_text(tmp_path / "hcpcs.txt")
    assert main(["import", "hcpcs", str(source), "--version", "2026-10", "--out", str(out)]) == 0
    assert "hcpcs-2026-10.json" in capsys.readouterr().out
    assert main(["import", "hcpcs", str(source), "--version", "october", "--out", str(out)]) == 1
