"""Import integrity: cut files, wrong column counts, damaged zips, lost rows and missing parts fail the import."""

from __future__ import annotations

import errno
import shutil
import zipfile
from datetime import date

import pytest

from terminology.errors import ImportFailure
from terminology.ncci.importers import MueTable, read_mue, read_ptp
from terminology.ncci.index import ImportChecks, NcciIndex, import_mue, import_ptp, index_path
from tests.ncci_fixtures import mue_row, ptp_row, write_mue, write_ptp, write_ptp_zip

RATIONALES = ("Mutually exclusive procedures", "Standards of medical/surgical practice")
REPLACE = ImportChecks(replace=True)


def _ptp_rows(count: int, start: int = 0) -> list[str]:
    """Synthetic rows (Z codes), two rationales taking turns, as real files repeat a few texts."""
    return [
        ptp_row(f"Z{n // 50:04d}", f"Z{5000 + n % 50:04d}", rationale=RATIONALES[n % 2])
        for n in range(start, start + count)
    ]


def _mue_rows(count: int) -> list[str]:
    return [mue_row(f"Z{n:04d}", 1 + n % 3, 2 + n % 2) for n in range(count)]


def _seeded(tmp_path, rows: int = 100):
    """An index holding PTP v322r0 (rows rows) and its bytes, to show a failed import left it alone."""
    data = tmp_path / "data"
    (tmp_path / "seed").mkdir()
    import_ptp(data, [write_ptp(tmp_path / "seed" / "ccipra-v322r0-f1.TXT", _ptp_rows(rows))])
    return data, index_path(data).read_bytes()


def _cut(path, keep: int):
    path.write_bytes(path.read_bytes()[:keep])
    return path


# --- cut lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut_from_end", [3, 12, 25], ids=["rationale-end", "rationale-middle", "rationale-start"])
def test_a_ptp_part_cut_inside_its_last_rationale_fails_naming_file_and_line(tmp_path, cut_from_end):
    data, before = _seeded(tmp_path)
    path = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", _ptp_rows(100))
    _cut(path, len(path.read_bytes()) - 2 - cut_from_end)  # CRLF and some characters of the last line
    with pytest.raises(ImportFailure) as info:
        import_ptp(data, [path], checks=REPLACE)
    assert (info.value.path, info.value.line) == (str(path), 106)  # 6 preamble lines + 100 rows
    assert "ends in the middle of this line" in info.value.message
    assert index_path(data).read_bytes() == before


def test_a_cut_that_breaks_a_field_fails_as_a_bad_row(tmp_path):
    path = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", _ptp_rows(10))
    text = path.read_bytes()
    _cut(path, text.rindex(b"\t2020") + 5)  # the last line now ends inside its effective date
    with pytest.raises(ImportFailure, match=r":16: expected 7 tab-separated fields, found 4"):
        list(read_ptp(path))


def test_a_last_line_that_only_lacks_its_line_end_is_whole(tmp_path):
    """A last row without CRLF is read when its rationale is a whole text an earlier row used."""
    path = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", _ptp_rows(10))
    full = [row for _f, _n, row in read_ptp(path)]
    for keep in (2, 1):  # without CRLF, and cut between CR and LF
        _cut(path, len(path.read_bytes()) - keep)
        assert [row for _f, _n, row in read_ptp(path)] == full
        path = write_ptp(path, _ptp_rows(10))


def test_a_last_line_without_line_end_and_a_rationale_seen_nowhere_else_fails(tmp_path):
    rows = [*_ptp_rows(3), ptp_row("Z0009", "Z0010", rationale="A rationale on one line only")]
    path = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", rows)
    _cut(path, len(path.read_bytes()) - 2)
    with pytest.raises(ImportFailure, match=r":10: the file ends in the middle of this line"):
        list(read_ptp(path))
    write_ptp(path, rows)  # with its CRLF the same line is read
    assert len(list(read_ptp(path))) == 4


def test_an_mue_csv_cut_mid_row_fails_and_leaves_the_index(tmp_path):
    data = tmp_path / "data"
    mue = write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", _mue_rows(40))
    import_mue(data, mue)
    before = index_path(data).read_bytes()
    (tmp_path / "cut").mkdir()
    cut = write_mue(tmp_path / "cut" / mue.name, _mue_rows(40))
    _cut(cut, len(cut.read_bytes()) - 6)  # "Clinical: Da"
    with pytest.raises(ImportFailure) as info:
        import_mue(data, cut, checks=REPLACE)
    assert (info.value.path, info.value.line) == (str(cut), 47)  # notice 5 lines, header 2, 40 rows
    assert "ends in the middle of this line" in info.value.message
    assert index_path(data).read_bytes() == before


def test_an_mue_csv_cut_inside_quotes_fails(tmp_path):
    path = write_mue(tmp_path / "mue.csv", [*_mue_rows(3), 'Z0100,1,2 Date of Service Edit: Policy,"Clinical, Data"'])
    _cut(path, len(path.read_bytes()) - 4)
    with pytest.raises(ImportFailure, match=r"mue.csv:11: not well-formed CSV \(unexpected end of data\)"):
        list(read_mue(path, MueTable(None)))


def test_an_mue_row_with_a_wrong_column_count_fails(tmp_path):
    path = write_mue(tmp_path / "mue.csv", [*_mue_rows(2), mue_row("Z0100", 1, 2) + ","])
    with pytest.raises(ImportFailure, match=r"mue.csv:10: expected 4 comma-separated fields as in the header, found 5"):
        list(read_mue(path, MueTable(None)))


def test_an_mue_csv_with_lf_line_ends_reads_like_crlf(tmp_path):
    """The public MUE CSV excerpt we checked uses LF line ends throughout; CMS's CRLF reads the same."""
    crlf = write_mue(tmp_path / "crlf.csv", _mue_rows(5))
    lf = tmp_path / "lf.csv"
    lf.write_bytes(crlf.read_bytes().replace(b"\r\n", b"\n"))
    assert [r for _f, _n, r in read_mue(lf, MueTable(None))] == [r for _f, _n, r in read_mue(crlf, MueTable(None))]


# --- damaged zips ---------------------------------------------------------------------------------


def test_a_zip_whose_crc_check_fails_is_refused(tmp_path):
    data, before = _seeded(tmp_path)
    path = write_ptp_zip(tmp_path / "ccipra-v323r0-f1.zip", "ccipra-v323r0-f1.TXT", _ptp_rows(100))
    raw = bytearray(path.read_bytes())
    at = raw.index(b"Z0001\tZ5000")  # a byte of row data inside the (stored) member
    raw[at + 1] = ord("9")
    path.write_bytes(bytes(raw))
    with pytest.raises(ImportFailure) as info:
        import_ptp(data, [path])
    assert info.value.path == f"{path}!ccipra-v323r0-f1.TXT"
    assert "the zip member is damaged (Bad CRC-32" in info.value.message
    assert index_path(data).read_bytes() == before


def test_a_cut_zip_is_refused_as_a_cut_download(tmp_path):
    path = write_ptp_zip(tmp_path / "ccipra-v323r0-f1.zip", "ccipra-v323r0-f1.TXT", _ptp_rows(50))
    _cut(path, len(path.read_bytes()) // 2)
    with pytest.raises(ImportFailure, match="not a complete zip archive"):
        list(read_ptp(path))


def test_a_zip_compressed_member_that_is_corrupt_is_refused(tmp_path):
    path = tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.zip"
    csv_file = write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", _mue_rows(300))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv_file, csv_file.name)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ImportFailure, match=r"!MCR_MUE_PractitionerServices_Eff_07-01-2026.csv: the zip member is damaged"):
        list(read_mue(path, MueTable(None)))


# --- rows lost against the edition replaced or followed ----------------------------------------


def test_a_reimport_that_loses_rows_needs_force(tmp_path):
    data, before = _seeded(tmp_path, rows=100)
    (tmp_path / "short").mkdir()
    short = write_ptp(tmp_path / "short" / "ccipra-v322r0-f1.TXT", _ptp_rows(97))
    with pytest.raises(ImportFailure) as info:
        import_ptp(data, [short], checks=REPLACE)
    assert info.value.path == str(short)
    assert "97 rows is 3.0 % fewer than the ptp practitioner edition v322r0 (2026Q3, 100 rows" in info.value.message
    assert "which this import replaces; more than 2 % fewer looks like a cut file" in info.value.message
    assert index_path(data).read_bytes() == before
    # Within the allowed share, or with --force, or with a larger threshold, it is imported.
    summary = import_ptp(data, [short], checks=ImportChecks(replace=True, force=True))
    assert summary.rows == 97
    assert any("imported anyway (--force)" in note for note in summary.notes)
    summary = import_ptp(data, [write_ptp(short, _ptp_rows(96))], checks=ImportChecks(replace=True, max_row_loss=1.5))
    assert summary.rows == 96


def test_a_new_quarter_is_compared_with_the_quarter_before(tmp_path):
    data, before = _seeded(tmp_path, rows=100)  # v322r0 = 2026 Q3
    half = write_ptp(tmp_path / "ccipra-v323r0-f1.TXT", _ptp_rows(50))
    with pytest.raises(ImportFailure, match=r"fewer than the ptp practitioner edition v322r0 .* which this import follows"):
        import_ptp(data, [half])
    assert index_path(data).read_bytes() == before
    # Growth is normal (the PTP table is cumulative); a quarter two years on is not compared.
    assert import_ptp(data, [write_ptp(half, _ptp_rows(120))]).rows == 120
    assert import_ptp(data, [write_ptp(tmp_path / "ccipra-v340r0-f1.TXT", _ptp_rows(10))]).rows == 10


def test_an_mue_table_that_lost_rows_needs_force(tmp_path):
    data = tmp_path / "data"
    import_mue(data, write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv", _mue_rows(100)))
    fewer = write_mue(tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", _mue_rows(90))
    with pytest.raises(ImportFailure, match=r"90 rows is 10.0 % fewer than the mue practitioner edition 2026-04-01"):
        import_mue(data, fewer)
    assert import_mue(data, fewer, checks=ImportChecks(force=True)).rows == 90
    assert [e.name for e in NcciIndex(index_path(data)).editions("mue")] == ["2026-04-01", "2026-07-01"]


# --- parts ----------------------------------------------------------------------------------------


def test_a_missing_part_needs_force_and_a_part_given_twice_is_refused(tmp_path):
    f1 = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", _ptp_rows(10))
    f3 = write_ptp(tmp_path / "ccipra-v322r0-f3.TXT", _ptp_rows(10, 10))
    data = tmp_path / "data"
    with pytest.raises(ImportFailure, match=r"part f2 is missing \(given: f1, f3\); pass every part, or --force"):
        import_ptp(data, [f1, f3])
    assert not index_path(data).exists()
    zipped = write_ptp_zip(tmp_path / "ccipra-v322r0-f1.zip", "ccipra-v322r0-f1.TXT", _ptp_rows(10))
    with pytest.raises(ImportFailure, match=r"part f1 is given twice \(ccipra-v322r0-f1.TXT and ccipra-v322r0-f1.zip\)"):
        import_ptp(data, [f1, zipped], checks=ImportChecks(force=True))
    summary = import_ptp(data, [f1, f3], checks=ImportChecks(force=True))
    assert summary.rows == 20 and "part f2 is missing (given: f1, f3); imported anyway (--force)" in summary.notes


def test_fewer_parts_than_cms_ships_is_noted(tmp_path):
    parts = [write_ptp(tmp_path / f"ccipra-v322r0-f{n}.TXT", _ptp_rows(5, 5 * n)) for n in (1, 2)]
    summary = import_ptp(tmp_path / "data", parts)
    assert summary.notes == ["parts f1-f2 only: CMS ships each PTP table in 4 parts"]


def test_an_mue_import_reads_its_effective_date_before_comparing(tmp_path):
    data = tmp_path / "data"
    plain = write_mue(tmp_path / "mue.csv", _mue_rows(10))
    import_mue(data, plain, effective=date(2026, 7, 1))
    # The same table again for the next quarter: no rows lost, nothing replaced.
    assert import_mue(data, plain, effective=date(2026, 10, 1)).rows == 10


# --- the index itself -----------------------------------------------------------------------------


def test_an_index_that_is_not_one_fails_cleanly(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    index_path(data).write_bytes(b"not an index" * 1000)
    with pytest.raises(ImportFailure, match=r"not a readable NCCI index .*: move it aside to start a new one"):
        import_mue(data, write_mue(tmp_path / "mue.csv", _mue_rows(3)), effective=date(2026, 7, 1))
    assert sorted(p.name for p in data.iterdir()) == ["ncci.sqlite", "ncci.sqlite.lock"]


def test_a_full_disk_fails_cleanly(tmp_path, monkeypatch):
    data, before = _seeded(tmp_path)

    def full(src, dst, *args, **kwargs):
        with open(dst, "wb") as out:
            out.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(ImportFailure, match=r"the new index could not be written \(\[Errno 28\] No space left"):
        import_mue(data, write_mue(tmp_path / "mue.csv", _mue_rows(3)), effective=date(2026, 7, 1))
    assert sorted(p.name for p in data.iterdir()) == ["ncci.sqlite", "ncci.sqlite.lock"]
    assert index_path(data).read_bytes() == before
