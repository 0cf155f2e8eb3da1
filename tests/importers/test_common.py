"""One error class and one CLI runner serve every importer: CPT/HCPCS/PC-TC content and the NCCI index."""

from __future__ import annotations

import os
import signal
from datetime import date

import pytest

import terminology.importers.common as common
import terminology.ncci.importers as ncci_readers
from terminology.cli import main
from terminology.errors import ImportFailure
from terminology.importers.common import ImportReport, run_import
from terminology.importers.hcpcs import import_hcpcs
from terminology.ncci.index import import_mue
from tests.importers.synthetic import hcpcs_record, write_hcpcs_text
from tests.ncci_fixtures import mue_row, write_mue


def _bad_hcpcs(tmp_path):
    path = write_hcpcs_text(tmp_path / "hcpcs.txt")
    path.write_text(path.read_text() + hcpcs_record("ZZ003", "5", "Synthetic bad record id") + "\n")
    return path


def _bad_mue(tmp_path):
    return write_mue(tmp_path / "mue.csv", [mue_row("Z0001", 1, 2), "Z0002,x,2 Date of Service Edit: Policy,y"])


def test_content_and_ncci_importers_raise_the_one_import_failure(tmp_path, out):
    with pytest.raises(ImportFailure) as content:
        import_hcpcs(_bad_hcpcs(tmp_path), "2026-10", out)
    with pytest.raises(ImportFailure) as ncci:
        import_mue(tmp_path / "data", _bad_mue(tmp_path), effective=date(2026, 7, 1))
    assert type(content.value) is type(ncci.value) is ImportFailure
    assert (content.value.line, ncci.value.line) == (5, 9)
    assert not hasattr(common, "ImportProblem")
    assert ncci_readers.ImportFailure is ImportFailure


def test_both_command_families_report_a_failure_the_same_way(tmp_path, out, monkeypatch, capsys):
    monkeypatch.setenv("TERMINOLOGY_DATA_DIR", str(tmp_path / "data"))
    hcpcs, mue = _bad_hcpcs(tmp_path), _bad_mue(tmp_path)
    assert main(["import", "hcpcs", str(hcpcs), "--version", "2026-10", "--out", str(out)]) == 1
    content_err = capsys.readouterr().err.splitlines()
    assert main(["import", "mue", str(mue), "--effective", "2026-07-01"]) == 1
    ncci_err = capsys.readouterr().err.splitlines()
    assert content_err[0].startswith(f"error: {hcpcs}:5: ") and content_err[1:] == ["nothing was written"]
    assert ncci_err[0].startswith(f"error: {mue}:9: ") and ncci_err[1:] == ["the index is unchanged"]


def test_the_runner_prints_notes_and_the_summary(tmp_path, capsys):
    report = ImportReport(written=[tmp_path / "x.json"], notes=["a note"], concepts=3)
    assert run_import(lambda: report, "nothing was written") == 0
    captured = capsys.readouterr()
    assert captured.err == "note: a note\n"
    assert captured.out.startswith(f"wrote {tmp_path / 'x.json'}\n3 concepts in ")


def test_the_runner_turns_sigterm_into_a_clean_stop(capsys):
    """SIGTERM (kubectl delete, docker stop) unwinds the import: its cleanup runs, then exit 143."""
    previous = signal.getsignal(signal.SIGTERM)
    cleaned = []

    def action():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**8):  # the handler runs at the next bytecode; this loop never ends normally
                pass
            raise AssertionError("SIGTERM was not delivered")
        finally:
            cleaned.append(True)

    assert run_import(action, "nothing was written") == 143
    assert cleaned == [True]
    assert capsys.readouterr().err == "interrupted: nothing was written\n"
    assert signal.getsignal(signal.SIGTERM) is previous
