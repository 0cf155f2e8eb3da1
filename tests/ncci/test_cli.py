"""`terminology ncci list`, `--replace`, and edition names refused wherever they are read."""

from __future__ import annotations

import json
import sqlite3

import pytest

from terminology import create_app
from terminology.cli import main
from terminology.ncci.index import index_path
from tests.ncci_fixtures import CPT, check_body, item, mue_row, ptp_row, write_mue, write_ptp


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _ptp(tmp_path, name="ccipra-v322r0-f1.TXT", rows=None):
    return write_ptp(tmp_path / name, rows or [ptp_row("Z0001", "Z0002"), ptp_row("Z0001", "Z0003")])


def _mue(tmp_path):
    return write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", [mue_row("Z0001", 1, 2)])


def test_ncci_list_shows_editions_setting_quarter_rows_and_import_time(tmp_path, data, capsys):
    assert main(["ncci", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"no NCCI index at {index_path(data)}")
    assert main(["import", "ncci-ptp", str(_ptp(tmp_path))]) == 0
    assert main(["import", "mue", str(_mue(tmp_path))]) == 0
    capsys.readouterr()
    assert main(["ncci", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{index_path(data)}: 2 editions, ")
    assert lines[1].split() == ["kind", "setting", "edition", "quarter", "in", "effect", "rows", "imported", "at", "files"]
    mue_line, ptp_line = lines[2].split(), lines[3].split()  # by kind, setting, start
    assert ptp_line[:8] == ["ptp", "practitioner", "v322r0", "2026Q3", "2026-07-01", "to", "2026-09-30", "2"]
    assert mue_line[:8] == ["mue", "practitioner", "2026-07-01", "2026Q3", "2026-07-01", "to", "2026-09-30", "1"]
    assert ptp_line[-1] == "ccipra-v322r0-f1.TXT"
    assert main(["ncci", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (mue, ptp) = listed["editions"]
    assert {k: ptp[k] for k in ("kind", "setting", "edition", "quarter", "rows", "served")} == {
        "kind": "ptp",
        "setting": "practitioner",
        "edition": "v322r0",
        "quarter": "2026Q3",
        "rows": 2,
        "served": True,
    }
    assert ptp["importedAt"].endswith("+00:00") and mue["edition"] == "2026-07-01"
    assert (listed["importRunning"], listed["temporaryFiles"]) == (None, [])


def test_an_unreadable_index_is_reported(data, capsys):
    data.mkdir()
    index_path(data).write_bytes(b"not an index" * 100)
    assert main(["ncci", "list"]) == 1
    assert "not a readable NCCI index" in capsys.readouterr().err


def test_an_existing_edition_is_replaced_only_with_replace(tmp_path, data, capsys):
    path = _ptp(tmp_path)
    assert main(["import", "ncci-ptp", str(path)]) == 0
    before = index_path(data).read_bytes()
    capsys.readouterr()
    assert main(["import", "ncci-ptp", str(path), "--edition", "v322r0"]) == 1
    err = capsys.readouterr().err
    assert "ptp practitioner edition v322r0 (2026Q3, 2 rows, imported " in err
    assert "is already in the index; pass --replace to replace it" in err and "the index is unchanged" in err
    assert index_path(data).read_bytes() == before
    assert main(["import", "ncci-ptp", str(path), "--replace"]) == 0
    assert "note: replaced ptp practitioner edition v322r0 (2026Q3, 2 rows, imported " in capsys.readouterr().err
    mue = _mue(tmp_path)
    assert main(["import", "mue", str(mue)]) == 0
    assert main(["import", "mue", str(mue)]) == 1
    assert "mue practitioner edition 2026-07-01 (2026Q3, 1 rows" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../../../etc/x", "v322r0|x", "a b", "-v1", "x" * 43, ""])
def test_unsafe_edition_names_are_refused_at_import(tmp_path, data, capsys, name):
    path = _ptp(tmp_path)
    assert main(["import", "ncci-ptp", str(path), f"--edition={name}"]) == 1
    err = capsys.readouterr().err
    assert f"error: --edition: edition name {name!r} is not valid: an edition name has 1 to 42 letters" in err
    assert not index_path(data).exists()


def test_unsafe_names_in_an_older_index_are_not_served(tmp_path, data, capsys):
    assert main(["import", "ncci-ptp", str(_ptp(tmp_path))]) == 0
    assert main(["import", "ncci-ptp", str(_ptp(tmp_path, "ccipra-v321r0-f1.TXT"))]) == 0
    conn = sqlite3.connect(index_path(data))
    conn.execute("UPDATE edition SET name = '../../../etc/x' WHERE name = 'v321r0'")  # as an older version allowed
    conn.commit()
    conn.close()
    client = create_app({"DATA_DIR": str(data)}).test_client()
    bundle = client.get("/ConceptMap?url=https://terminology.example.org/fhir/ConceptMap/ncci-ptp-practitioner").json
    assert [e["resource"]["id"] for e in bundle.get("entry", [])] == ["ncci-ptp-practitioner-v322r0"]
    assert client.get("/ConceptMap/ncci-ptp-practitioner-../../../etc/x").status_code == 404
    capsys.readouterr()
    assert main(["ncci", "list"]) == 0
    assert "'../../../etc/x' (unsafe name: not served)" in capsys.readouterr().out


def test_a_request_naming_an_unsafe_edition_is_a_400(tmp_path, data):
    assert main(["import", "ncci-ptp", str(_ptp(tmp_path))]) == 0
    client = create_app({"DATA_DIR": str(data)}).test_client()
    body = check_body(item(1, "Z0001", system=CPT), item(2, "Z0002", system=CPT), edition="../../../etc/x")
    response = client.post("/$bundling-check", json=body)
    assert response.status_code == 400
    (issue,) = response.json["issue"]
    assert issue["expression"] == ["edition"]
    assert "edition name '../../../etc/x' is not valid" in issue["details"]["text"]


def test_lock_timeout_must_be_seconds(tmp_path, data, capsys):
    with pytest.raises(SystemExit):
        main(["import", "mue", str(_mue(tmp_path)), "--lock-timeout", "soon"])
    assert "'soon' is not a number of seconds" in capsys.readouterr().err
