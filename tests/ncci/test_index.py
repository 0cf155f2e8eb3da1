"""The SQLite index: atomic imports, side-by-side editions, re-import, CLI and readers."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from terminology.cli import build_parser, main
from terminology.errors import ImportFailure
from terminology.importers.common import import_group
from terminology.ncci.index import ImportChecks, NcciIndex, import_mue, import_ptp, index_path
from tests.ncci_fixtures import mue_row, ptp_row, write_mue, write_ptp, write_ptp_zip


def _pairs(data_dir, edition):
    conn = sqlite3.connect(index_path(data_dir))
    try:
        return conn.execute(
            "SELECT col1, col2 FROM ptp JOIN edition ON edition.id = ptp.edition WHERE edition.name = ? "
            "ORDER BY col1, col2",
            (edition,),
        ).fetchall()
    finally:
        conn.close()


def test_import_several_parts_as_one_edition(tmp_path):
    f1 = write_ptp(
        tmp_path / "ccipra-v322r0-f1.TXT",
        [ptp_row("Z0001", "Z0002"), ptp_row("Z0001", "Z0002", "20100101", "20191231", 0)],
    )
    f2 = write_ptp_zip(tmp_path / "ccipra-v322r0-f2.zip", "ccipra-v322r0-f2.TXT", [ptp_row("Z0003", "Z0004")])
    summary = import_ptp(tmp_path / "data", [f1, f2])
    assert (summary.edition, summary.setting, summary.quarter) == ("v322r0", "practitioner", "2026Q3")
    assert (summary.rows, summary.pairs, summary.editions) == (3, 2, 1)
    assert "3 rows, 2 pairs; 1 edition in" in str(summary)  # singular: issue 16 "1 editions"
    index = NcciIndex(index_path(tmp_path / "data"))
    (edition,) = index.editions("ptp")
    assert (edition.start, edition.end, edition.files) == (
        "2026-07-01",
        "2026-09-30",
        "ccipra-v322r0-f1.TXT ccipra-v322r0-f2.zip",
    )
    assert len(index.ptp_rows(edition, ["Z0001", "Z0002", "Z0003"])) == 2


def test_failed_import_leaves_the_old_index_serving(tmp_path):
    data = tmp_path / "data"
    good = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])
    import_ptp(data, [good])
    before = index_path(data).read_bytes()
    bad = write_ptp(tmp_path / "ccipra-v323r0-f1.TXT", [ptp_row("Z0005", "Z0006"), "Z0007\tZ0008\tbroken"])
    with pytest.raises(ImportFailure) as info:
        import_ptp(data, [bad])
    assert (info.value.path, info.value.line) == (str(bad), 8)
    assert index_path(data).read_bytes() == before
    # No temporary file is left behind (the lock file stays: it is unlocked, and reused by the next import).
    assert sorted(p.name for p in data.iterdir()) == ["ncci.sqlite", "ncci.sqlite.lock"]
    assert _pairs(data, "v322r0") == [("Z0001", "Z0002")]


def test_editions_live_side_by_side_and_reimport_replaces_only_one(tmp_path):
    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v321r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0003")])])
    import_ptp(data, [write_ptp(tmp_path / "ccioph-v322r0-f1.TXT", [ptp_row("Z0001", "Z0009")])])
    (tmp_path / "again").mkdir()
    again = write_ptp(tmp_path / "again" / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0004")])
    summary = import_ptp(data, [again], checks=ImportChecks(replace=True))
    assert summary.editions == 3
    assert _pairs(data, "v321r0") == [("Z0001", "Z0002")]
    index = NcciIndex(index_path(data))
    practitioner = {e.name: e for e in index.editions("ptp", "practitioner")}
    assert sorted(practitioner) == ["v321r0", "v322r0"]
    assert [r[:2] for r in index.ptp_rows(practitioner["v322r0"], ["Z0001", "Z0003", "Z0004"])] == [
        ("Z0001", "Z0004")
    ]
    (outpatient,) = index.editions("ptp", "outpatient")
    assert [r[:2] for r in index.ptp_rows(outpatient, ["Z0001", "Z0009"])] == [("Z0001", "Z0009")]


def test_pair_probes_find_both_orientations_and_match_an_index_without_pair_sets(tmp_path):
    data = tmp_path / "data"
    codes = [f"Z{n:04d}" for n in range(1, 31)]  # 435 pairs: more than one query's worth
    codes += ["Z12", "Z-032", "Z0031X"]  # not codes a PTP row can hold: never looked up, no error
    rows = [ptp_row("Z0001", "Z0030"), ptp_row("Z0017", "Z0002"), ptp_row("Z0005", "Z0005")]
    rows += [ptp_row("Z0003", "Z0004", "20100101", "20191231", 0), ptp_row("Z0003", "Z0004")]
    rows += [ptp_row("Z0003", "Z9999")]  # a partner outside the claim
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", rows)])
    index = NcciIndex(index_path(data))
    (edition,) = index.editions("ptp")
    found = index.ptp_rows(edition, list(reversed(codes)))
    assert [r[:2] for r in found] == [
        ("Z0001", "Z0030"),
        ("Z0003", "Z0004"),
        ("Z0003", "Z0004"),
        ("Z0017", "Z0002"),
    ]
    # Upper and lower case make the same pair number; rows are still read for the exact codes.
    assert index.ptp_rows(edition, ["z0017", "Z0002"]) == []
    conn = sqlite3.connect(index_path(data))
    conn.execute("DROP TABLE ptp_pair_set")  # as a file imported by an earlier version
    conn.commit()
    conn.close()
    older = NcciIndex(index_path(data))
    assert older.ptp_rows(older.editions("ptp")[0], codes) == found


def test_an_import_into_an_older_file_gives_its_editions_pair_sets(tmp_path):
    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v321r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    conn = sqlite3.connect(index_path(data))
    conn.execute("DROP TABLE ptp_pair_set")
    conn.execute("CREATE INDEX ptp_pair ON ptp(edition, min(col1, col2), max(col1, col2))")
    conn.commit()
    conn.close()
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0004", "Z0003")])])
    index = NcciIndex(index_path(data))
    older, newer = index.editions("ptp")
    assert [r[:2] for r in index.ptp_rows(older, ["Z0001", "Z0002", "Z0003"])] == [("Z0001", "Z0002")]
    assert [r[:2] for r in index.ptp_rows(newer, ["Z0004", "Z0003", "Z0001"])] == [("Z0004", "Z0003")]
    conn = sqlite3.connect(index_path(data))
    try:
        sets = conn.execute("SELECT edition, length(pairs) FROM ptp_pair_set ORDER BY edition").fetchall()
        retired = conn.execute("SELECT name FROM sqlite_master WHERE name = 'ptp_pair'").fetchall()
    finally:
        conn.close()
    assert sets == [(older.id, 8), (newer.id, 8)]
    assert retired == []


def test_reimport_replaces_the_pair_set_of_the_replaced_edition(tmp_path):
    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    (tmp_path / "again").mkdir()
    rows = [ptp_row("Z0003", "Z0004"), ptp_row("Z0004", "Z0003"), ptp_row("Z0003", "Z0004", "20100101")]
    import_ptp(data, [write_ptp(tmp_path / "again" / "ccipra-v322r0-f1.TXT", rows)], checks=ImportChecks(replace=True))
    conn = sqlite3.connect(index_path(data))
    try:
        sets = conn.execute("SELECT edition, pairs FROM ptp_pair_set").fetchall()
        (edition_id,) = conn.execute("SELECT id FROM edition").fetchone()
    finally:
        conn.close()
    # One number for each (column 1, column 2) pair, however many rows it has; sorted.
    numbers = sorted([int("Z0003", 36) << 26 | int("Z0004", 36), int("Z0004", 36) << 26 | int("Z0003", 36)])
    assert sets == [(edition_id, b"".join(n.to_bytes(8, "little") for n in numbers))]


def test_pair_sets_beyond_the_budget_are_let_go_and_read_again(tmp_path):
    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v321r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0003")])])
    index = NcciIndex(index_path(data))
    index.PAIR_SET_BUDGET = 20  # room for one set of one pair (and its end marker)
    first, second = index.editions("ptp")
    for _ in range(2):
        assert [r[:2] for r in index.ptp_rows(first, ["Z0001", "Z0002", "Z0003"])] == [("Z0001", "Z0002")]
        assert [r[:2] for r in index.ptp_rows(second, ["Z0001", "Z0002", "Z0003"])] == [("Z0001", "Z0003")]
        assert list(index._pair_sets) == [second.id]


def test_edition_option_and_undecodable_names(tmp_path):
    path = write_ptp(tmp_path / "edits.TXT", [ptp_row("Z0001", "Z0002")])
    with pytest.raises(ImportFailure, match="pass --edition"):
        import_ptp(tmp_path / "data", [path])
    with pytest.raises(ImportFailure, match="cannot derive the quarter"):
        import_ptp(tmp_path / "data", [path], edition="local")
    summary = import_ptp(tmp_path / "data", [path], setting="outpatient", edition="v320r1")
    assert (summary.edition, summary.setting, summary.quarter) == ("v320r1", "outpatient", "2026Q1")


def test_mue_import_and_its_checks(tmp_path):
    data = tmp_path / "data"
    path = write_mue(
        tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv",
        [mue_row("Z0001", 1, 2), mue_row("Z0002", 3, 3)],
    )
    summary = import_mue(data, path)
    assert (summary.edition, summary.setting, summary.rows, summary.quarter) == (
        "2026-07-01",
        "practitioner",
        2,
        "2026Q3",
    )
    index = NcciIndex(index_path(data))
    (edition,) = index.editions("mue")
    assert index.mue_table(edition) == {
        "Z0001": (1, 2, "Clinical: Data"),
        "Z0002": (3, 3, "Clinical: Data"),
    }
    with pytest.raises(ImportFailure, match="contradicts"):
        import_mue(data, path, setting="dme")
    plain = write_mue(tmp_path / "mue.csv", [mue_row("Z0001", 1, 2)])
    with pytest.raises(ImportFailure, match="pass --effective"):
        import_mue(data, plain)
    assert import_mue(data, plain, effective=date(2026, 4, 1)).quarter == "2026Q2"
    twice = write_mue(tmp_path / "twice.csv", [mue_row("Z0001", 1, 2), mue_row("Z0001", 2, 2)])
    with pytest.raises(ImportFailure, match=r"twice\.csv:9: code Z0001 already appears on line 8"):
        import_mue(data, twice, effective=date(2026, 4, 1))


def test_reader_sees_a_new_import_and_reports_readiness(tmp_path):
    data = tmp_path / "data"
    index = NcciIndex(index_path(data))
    assert index.ready() == (True, "no NCCI index is installed; only the shipped CPT rules apply")
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    index._checked = -1e9  # skip the once-a-second wait
    assert [e.name for e in index.editions()] == ["v322r0"]
    assert index.ready()[1].endswith("1 PTP edition, 0 MUE tables")
    index_path(data).write_bytes(b"not a database at all" * 10)
    index._checked = -1e9
    ok, detail = index.ready()
    assert not ok and "cannot be read" in detail


def test_the_edition_picked_for_a_date_follows_a_new_import(tmp_path):
    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    index = NcciIndex(index_path(data))
    picked, covers = index.edition_for("ptp", "practitioner", "2026-10-15")
    assert (picked.name, covers) == ("v322r0", False)
    assert index.edition_for("ptp", "practitioner", "2026-10-15") == (picked, False)  # asked again
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v323r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    index._checked = -1e9  # skip the once-a-second wait
    picked, covers = index.edition_for("ptp", "practitioner", "2026-10-15")
    assert (picked.name, covers) == ("v323r0", True)


def test_cli_imports_and_reports_failures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TERMINOLOGY_DATA_DIR", str(tmp_path / "data"))
    ptp = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])
    assert main(["import", "ncci-ptp", str(ptp), "--setting", "practitioner"]) == 0
    assert "imported ptp practitioner v322r0 (2026Q3): 1 row, 1 pair;" in capsys.readouterr().out
    mue = write_mue(
        tmp_path / "mue.csv", [mue_row("Z0001", 1, 2), "Z0002,x,2 Date of Service Edit: Policy,y"]
    )
    assert main(["import", "mue", str(mue), "--effective", "2026-07-01"]) == 1
    err = capsys.readouterr().err
    assert f"error: {mue}:9: MUE value 'x'" in err and "the index is unchanged" in err
    with pytest.raises(SystemExit):
        main(["import", "mue", str(mue), "--effective", "July"])


def test_import_group_is_shared_by_importer_modules():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    group = import_group(commands)
    assert import_group(commands) is group
    assert {"ncci-ptp", "mue"} <= set(group.choices)
    assert {"cpt", "hcpcs", "pctc"} <= set(group.choices)  # the content importers share the group
    group.add_parser("zz-synthetic").set_defaults(handler=lambda args: 0)
    assert parser.parse_args(["import", "zz-synthetic"]).import_kind == "zz-synthetic"


def test_progress_reports_rows_per_second():
    import io

    from terminology.ncci.index import Progress

    stream = io.StringIO()
    progress = Progress("ncci-ptp practitioner v322r0", stream, interval=0)
    progress.add(50_000)
    assert stream.getvalue().startswith("ncci-ptp practitioner v322r0: 50,000 rows (")
    assert stream.getvalue().rstrip().endswith("rows/s)")


def test_the_index_is_opened_per_process_not_at_start_up(tmp_path):
    from terminology import create_app

    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    app = create_app({"DATA_DIR": str(data)})
    index = app.extensions["terminology.ncci"]
    assert index._conn is None  # nothing is held open in a gunicorn master before it forks
    assert [e.name for e in index.editions("ptp")] == ["v322r0"]
    first = index._conn
    index._pid = -1  # as seen from a freshly forked worker
    index.editions()
    assert index._conn is not None and index._conn is not first
