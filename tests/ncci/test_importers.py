"""Readers of the CMS PTP and MUE layouts (synthetic fixtures in the exact layouts)."""

from __future__ import annotations

from datetime import date

import pytest

from terminology.errors import ImportFailure
from terminology.ncci.importers import (
    MueTable,
    mue_file_effective,
    mue_file_setting,
    ptp_file_info,
    quarter_of_edition,
    read_mue,
    read_ptp,
)
from tests.ncci_fixtures import mue_row, ptp_row, write_mue, write_ptp, write_ptp_zip


def test_edition_names_decode_to_quarters():
    assert str(quarter_of_edition("v322r0")) == "2026Q3"
    assert str(quarter_of_edition("v321r0")) == "2026Q2"
    assert quarter_of_edition("v322r0").start == date(2026, 7, 1)
    assert quarter_of_edition("v322r0").end == date(2026, 9, 30)
    assert quarter_of_edition("v323r1").end == date(2026, 12, 31)
    assert quarter_of_edition("v325r0") is None  # minor 5 is no quarter
    assert quarter_of_edition("spring") is None


def test_file_names_give_edition_setting_and_part():
    info = ptp_file_info("/x/medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f3.zip")
    assert (info.edition, info.setting, info.part) == ("v322r0", "practitioner", 3)
    info = ptp_file_info("ccioph-v321r0-f1.TXT")
    assert (info.edition, info.setting, info.part) == ("v321r0", "outpatient", 1)
    assert mue_file_effective("MCR_MUE_PractitionerServices_Eff_07-01-2026.csv") == date(2026, 7, 1)
    assert mue_file_effective("medicare-ncci-2026-q3-practitioner-services-mue-table.csv") == date(2026, 7, 1)
    assert mue_file_setting("MCR_MUE_OutpatientHospitalServices_Eff_07-01-2026.csv") == "outpatient"
    assert mue_file_setting("MCR_MUE_DMESupplierServices_Eff_07-01-2026.csv") == "dme"


def test_ptp_txt_is_read_with_latin1_crlf_and_preamble(tmp_path):
    path = write_ptp(
        tmp_path / "ccipra-v322r0-f1.TXT",
        [ptp_row("Z0001", "Z0002"), ptp_row("Z0003", "Z0004", "19960101", "20231231", 0, "Standards", "*")],
    )
    rows = list(read_ptp(path))
    assert [(line, row) for _f, line, row in rows] == [
        (7, ("Z0001", "Z0002", False, 20200101, 99991231, 1, "Mutually exclusive procedures")),
        (8, ("Z0003", "Z0004", True, 19960101, 20231231, 0, "Standards")),
    ]


def test_ptp_zip_member_is_read(tmp_path):
    path = write_ptp_zip(
        tmp_path / "ccipra-v322r0-f2.zip", "ccipra-v322r0-f2.TXT", [ptp_row("Z0005", "Z0006")]
    )
    ((name, line, row),) = list(read_ptp(path))
    assert name.endswith("!ccipra-v322r0-f2.TXT") and line == 7 and row[:2] == ("Z0005", "Z0006")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Z0001\tZ0002\t\t20200101\t*\t1", "expected 7 tab-separated fields, found 6"),
        (ptp_row("Z001", "Z0002"), "column 1 'Z001'"),
        (ptp_row("Z0001", "Z0002", "2020-01-01"), "effective date '2020-01-01'"),
        (ptp_row("Z0001", "Z0002", deletion="20201301"), "deletion date '20201301'"),
        (ptp_row("Z0001", "Z0002", indicator=2), "modifier indicator '2'"),
        (ptp_row("Z0001", "Z0002", prior="x"), "prior-1996 flag"),
    ],
)
def test_bad_ptp_rows_name_file_and_line(tmp_path, row, message):
    path = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0003"), row])
    with pytest.raises(ImportFailure) as info:
        list(read_ptp(path))
    assert info.value.line == 8 and info.value.path == str(path)
    assert message in str(info.value)


def test_a_file_without_the_ptp_header_is_refused(tmp_path):
    path = tmp_path / "ccipra-v322r0-f1.TXT"
    path.write_bytes(b"a\r\nb\r\nc\r\nd\r\ne\r\nf\r\nZ0001\tZ0002\t\t20200101\t*\t1\tx\r\n")
    with pytest.raises(ImportFailure, match="line 3 must start with"):
        list(read_ptp(path))


def test_mue_csv_with_notice_and_wrapped_header(tmp_path):
    path = write_mue(
        tmp_path / "MCR_MUE_OutpatientHospitalServices_Eff_07-01-2026.csv",
        [mue_row("Z0001", 1, 2, "CMS Policy"), mue_row("Z0002", 4, 3)],
        "outpatient",
    )
    table = MueTable(None)
    rows = list(read_mue(path, table))
    assert table.setting == "outpatient"
    assert [row for _f, _n, row in rows] == [("Z0001", 1, 2, "CMS Policy"), ("Z0002", 4, 3, "Clinical: Data")]
    # The notice spans 5 physical lines and the header 2, so data starts on line 8.
    assert [n for _f, n, _r in rows] == [8, 9]


def test_bad_mue_rows_name_the_line(tmp_path):
    path = write_mue(tmp_path / "mue.csv", [mue_row("Z0001", 1, 2), "Z0002,2,4 Something,Clinical: Data"])
    with pytest.raises(ImportFailure, match=r"mue.csv:9: MUE adjudication indicator '4 Something'"):
        list(read_mue(path, MueTable(None)))
    path = write_mue(tmp_path / "mue2.csv", ["Z0002,two,2 Date of Service Edit: Policy,CMS Policy"])
    with pytest.raises(ImportFailure, match=r"mue2.csv:8: MUE value 'two'"):
        list(read_mue(path, MueTable(None)))
    path = tmp_path / "notmue.csv"
    path.write_text("a,b,c,d\n1,2,3,4\n")
    with pytest.raises(ImportFailure, match="no 'HCPCS/CPT Code' header"):
        list(read_mue(path, MueTable(None)))
