"""Tests of `terminology import cpt`: round trip through $lookup, versions, deleted codes, bad files."""

from __future__ import annotations

import re

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters

from terminology.cli import main
from terminology.config import REPOSITORY, bundled_content_dirs
from terminology.content.loader import load_registry
from terminology.engine.systems import CPT
from terminology.errors import ImportFailure
from terminology.importers.cpt import import_cpt
from tests.helpers import param
from tests.importers.synthetic import BASE, write_cpt_release


def lookup(client, code, **extra):
    """Call $lookup and return (status, designations {use: [values]}, properties [(code, value)], body)."""
    query = {"system": CPT, "code": code, **extra}
    response = client.get("/CodeSystem/$lookup", query_string=query)
    body = response.get_json()
    if response.status_code != 200:
        OperationOutcome.model_validate(body)
        return response.status_code, {}, [], body
    Parameters.model_validate(body)
    designations: dict[str, list[str]] = {}
    properties = []
    for p in body["parameter"]:
        parts = {q["name"]: q for q in p.get("part", [])}
        if p["name"] == "designation":
            use = parts["use"]["valueCoding"]["code"] if "use" in parts else None
            designations.setdefault(use, []).append(parts["value"]["valueString"])
        elif p["name"] == "property":
            value = next(v for k, v in parts["value"].items() if k.startswith("value"))
            properties.append((parts["code"]["valueCode"], value))
    return 200, designations, properties, body


def test_round_trip_shows_every_designation_and_property(tmp_path, out, serve):
    telemedicine = tmp_path / "telemedicine.txt"
    telemedicine.write_text("# synthetic Appendix P list\nZ9002\n")
    report = import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out, telemedicine)
    assert [p.name for p in report.written] == ["cpt-2026.json"]
    client = serve(out)

    status, designations, properties, body = lookup(client, "Z9001")
    assert status == 200
    assert param(body, "display") == BASE["Z9001"]
    assert param(body, "version") == "2026"
    assert designations == {
        "preferredForLanguage": [BASE["Z9001"]],  # the display, as tx.fhir.org lists it
        "upper": [BASE["Z9001"].upper()],
        "med": [BASE["Z9001"].upper()[:48]],
        "short": [BASE["Z9001"].upper()[:28].rstrip()],
        "consumer": ["Synthetic consumer text 0"],
        "clinician": ["Synthetic clinician text A", "Synthetic clinician text B"],
    }
    assert ("modifier", False) in properties and ("modified", False) in properties
    assert ("kind", "code") in properties and ("inactive", False) in properties

    _, _, properties, _ = lookup(client, "Z9002")
    assert ("telemedicine", True) in properties
    _, _, properties, _ = lookup(client, "Z001F")
    assert ("kind", "cat-2") in properties


def test_modifiers_get_their_kinds_from_modul_sections(tmp_path, out, serve):
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    client = serve(out)
    expected = {
        "26": ["general"],
        "59": ["general", "cat-1"],
        "P1": ["physical-status"],
        "1P": ["cat-2"],
        "TC": ["hcpcs"],
    }
    for code, kinds in expected.items():
        status, _, properties, body = lookup(client, code)
        assert status == 200, code
        assert ("modifier", True) in properties
        assert [v for c, v in properties if c == "kind"] == kinds
    _, _, _, body = lookup(client, "26")
    assert param(body, "display") == "Synthetic Professional Component"
    assert param(body, "definition").endswith("continued on a second line.")
    _, _, _, body = lookup(client, "P1")
    assert param(body, "display") == "Synthetic physical status one"


def test_expression_with_imported_modifier_is_valid(tmp_path, out, serve):
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    response = serve(out).get("/CodeSystem/$validate-code", query_string={"url": CPT, "code": "Z9001:59"})
    assert param(response.get_json(), "result") is True


def test_deleted_codes_are_retired_with_their_date(tmp_path, out, serve):
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    client = serve(out)
    status, _, properties, body = lookup(client, "Z9009")
    assert status == 200
    assert param(body, "display") == "Synthetic deleted procedure nine"
    assert ("status", "retired") in properties
    assert ("retirementDate", "2025-01-01") in properties
    assert ("inactive", True) in properties
    response = client.get("/CodeSystem/$validate-code", query_string={"url": CPT, "code": "Z9009"})
    body = response.get_json()
    assert param(body, "result") is True
    assert param(body, "inactive") is True and param(body, "status") == "retired"


def test_missing_optional_files_are_reported_and_skipped(tmp_path, out, serve):
    report = import_cpt(write_cpt_release(tmp_path / "ama", optional=False, deleted=False), "2026", out)
    notes = "\n".join(report.notes)
    for name in ("LONGUT.txt", "ConsumerDescriptor.txt", "ClinicianDescriptor.txt", "Deleted_DTK_tab.txt"):
        assert f"optional file {name} not found" in notes
    status, designations, _, _ = lookup(serve(out), "Z9001")
    assert status == 200 and set(designations) == {"preferredForLanguage", "med", "short"}


def test_missing_required_file_stops_the_import(tmp_path, out):
    folder = write_cpt_release(tmp_path / "ama")
    (folder / "standard" / "MEDU.txt").unlink()
    with pytest.raises(ImportFailure, match=r"required file MEDU.txt not found"):
        import_cpt(folder, "2026", out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "bad_line", "message"),
    [
        ("LONGULT.txt", "Z9004 no tab here", "expected 'code<TAB>descriptor'"),
        ("LONGULT.txt", "Z90\tSynthetic short code", "'Z90' is not a five-character code"),
        ("SHORTU.txt", "Z9004", "expected the code in characters 1-5"),
        ("MEDU.txt", "Z9004XSYNTHETIC", "expected the code in characters 1-5"),
    ],
)
def test_malformed_line_names_file_and_line_and_writes_nothing(tmp_path, out, name, bad_line, message):
    folder = write_cpt_release(tmp_path / "ama")
    path = folder / "standard" / name
    path.write_text(path.read_text() + bad_line + "\n")
    line_number = len(path.read_text().splitlines())
    with pytest.raises(ImportFailure, match=re.escape(message)) as caught:
        import_cpt(folder, "2026", out)
    assert caught.value.path == str(path) and caught.value.line == line_number
    assert f"{name}:{line_number}" in str(caught.value)
    assert list(out.iterdir()) == []


def test_malformed_deleted_date_stops_the_import(tmp_path, out):
    folder = write_cpt_release(tmp_path / "ama")
    path = folder / "CPT Link" / "history" / "Deleted_DTK_tab.txt"
    path.write_text(path.read_text() + "1010\tZ9010\tyesterday\t1\tSynthetic\n")
    with pytest.raises(ImportFailure, match=r"Deleted_DTK_tab.txt:4: date_deleted 'yesterday'"):
        import_cpt(folder, "2026", out)
    assert list(out.iterdir()) == []


def test_unknown_telemedicine_code_stops_the_import(tmp_path, out):
    telemedicine = tmp_path / "tele.txt"
    telemedicine.write_text("Z9999\n")
    with pytest.raises(ImportFailure, match=r"tele.txt:1: telemedicine code Z9999 is not in this release"):
        import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out, telemedicine)


def test_versions_side_by_side_chosen_by_version_or_date(tmp_path, out, serve):
    import_cpt(
        write_cpt_release(tmp_path / "a25", {"Z9001": "Synthetic procedure one, 2025 text"}), "2025", out
    )
    import_cpt(write_cpt_release(tmp_path / "a26"), "2026", out)
    client = serve(out)
    _, _, _, body = lookup(client, "Z9001")
    assert param(body, "version") == "2026"
    _, _, _, body = lookup(client, "Z9001", version="2025")
    assert param(body, "display") == "Synthetic procedure one, 2025 text"
    _, _, _, body = lookup(client, "Z9001", date="2025-07-04")
    assert param(body, "version") == "2025"
    _, _, _, body = lookup(client, "Z9001", date="2026-01-01")
    assert param(body, "version") == "2026"
    status, _, _, body = lookup(client, "Z9001", date="2027-01-01")
    assert status == 404 and "in force on 2027-01-01" in body["issue"][0]["details"]["text"]

    response = client.get(
        "/CodeSystem/$validate-code",
        query_string={"url": CPT, "code": "Z9002", "date": "2025-03-01"},
    )
    body = response.get_json()
    # An unknown code echoes no version (tx conventions); the message names the version judged.
    assert param(body, "result") is False and "version '2025'" in param(body, "message")
    response = client.get(
        "/CodeSystem/$validate-code",
        query_string={"url": CPT, "code": "Z9002", "date": "2026-03-01"},
    )
    assert param(response.get_json(), "result") is True


def test_bad_date_parameter_is_a_400(tmp_path, out, serve):
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    response = serve(out).get(
        "/CodeSystem/$lookup", query_string={"system": CPT, "code": "Z9001", "date": "2026-13"}
    )
    assert response.status_code == 400
    OperationOutcome.model_validate(response.get_json())


def test_complete_release_supersedes_the_shipped_fragment(tmp_path, out):
    import_cpt(write_cpt_release(tmp_path / "ama"), "2026", out)
    registry = load_registry([REPOSITORY / "codesystems", out])
    cpt = registry.code_system(CPT, "2026")
    assert cpt.content == "complete" and cpt.find("Z9001") is not None
    assert registry.read("CodeSystem", "cpt-2026") is cpt


def test_output_inside_the_repository_is_refused(tmp_path):
    with pytest.raises(ImportFailure, match="inside the repository"):
        import_cpt(write_cpt_release(tmp_path / "ama"), "2026", REPOSITORY / "codesystems")


def test_cli_imports_and_reports_problems(tmp_path, out, capsys):
    folder = write_cpt_release(tmp_path / "ama", optional=False)
    assert main(["import", "cpt", str(folder), "--version", "2026", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out / 'cpt-2026.json'}" in captured.out
    # The hint names this installation's own folders (no literal <repo>), and others may read the file.
    assert "<repo>" not in captured.out
    assert f"export TERMINOLOGY_CONTENT_DIRS={out}:{':'.join(bundled_content_dirs())}" in captured.out
    assert (out / "cpt-2026.json").stat().st_mode & 0o777 == 0o644
    assert "note: optional file LONGUT.txt not found; skipped" in captured.err
    assert main(["import", "cpt", str(folder), "--version", "26", "--out", str(out)]) == 1
    assert "error:" in capsys.readouterr().err
