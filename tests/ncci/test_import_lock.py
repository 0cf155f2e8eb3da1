"""One import at a time: the import lock, waiting and timing out, and the files killed imports leave."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from terminology.cli import main
from terminology.errors import ImportFailure
from terminology.ncci.import_lock import ImportLock, import_running
from terminology.ncci.index import ImportChecks, NcciIndex, import_mue, import_ptp, index_path
from tests.ncci_fixtures import mue_row, ptp_row, write_mue, write_ptp

ROOT = Path(__file__).resolve().parents[2]
SAFETY = 60  # seconds: only ever reached when the code under test hangs


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_DATA_DIR", str(tmp_path / "data"))


def _seeded(tmp_path):
    data = tmp_path / "data"
    import_ptp(data, [write_ptp(tmp_path / "ccipra-v321r0-f1.TXT", [ptp_row("Z0001", "Z0002")])])
    return data


def _mue(tmp_path):
    return write_mue(
        tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", [mue_row("Z0001", 1, 2), mue_row("Z0002", 2, 3)]
    )


class _Watched(io.StringIO):
    """A progress stream that tells when the import writes that it waits for the lock."""

    def __init__(self, waiting: threading.Event) -> None:
        super().__init__()
        self.waiting = waiting

    def write(self, text: str) -> int:
        if "waiting for another import" in text:
            self.waiting.set()
        return super().write(text)


def test_a_ptp_and_an_mue_import_started_together_both_land(tmp_path, monkeypatch):
    """The PTP import stops right after copying the index; the MUE import starts meanwhile.

    Without a lock the MUE import lands first and the PTP import then swaps in its older copy,
    which has no MUE table: one edition is gone although both exit 0. With the lock the MUE
    import waits (and says so) until the PTP import is done, then builds on its result.
    """
    data = _seeded(tmp_path)
    copied, go = threading.Event(), threading.Event()
    real_copy = shutil.copyfile

    def copy_then_pause(src, dst, *args, **kwargs):
        result = real_copy(src, dst, *args, **kwargs)
        if threading.current_thread().name == "ptp":
            copied.set()
            go.wait(SAFETY)
        return result

    monkeypatch.setattr(shutil, "copyfile", copy_then_pause)
    failures: list[BaseException] = []

    def run(action, then=None):
        try:
            action()
        except BaseException as exc:
            failures.append(exc)
        finally:
            if then is not None:
                then.set()

    ptp_file = write_ptp(tmp_path / "ccipra-v322r0-f1.TXT", [ptp_row("Z0003", "Z0004")])
    ptp = threading.Thread(name="ptp", target=run, args=(lambda: import_ptp(data, [ptp_file]),))
    ptp.start()
    assert copied.wait(SAFETY)
    stream = _Watched(go)  # the MUE import saying it waits releases the PTP import
    mue_file = _mue(tmp_path)
    mue = threading.Thread(
        name="mue", target=run, args=(lambda: import_mue(data, mue_file, progress_stream=stream), go)
    )
    mue.start()
    ptp.join(SAFETY)
    mue.join(SAFETY)
    assert failures == []
    assert "waiting for another import of" in stream.getvalue()
    editions = NcciIndex(index_path(data)).editions()
    assert sorted((e.kind, e.name) for e in editions) == [("mue", "2026-07-01"), ("ptp", "v321r0"), ("ptp", "v322r0")]


def test_an_import_that_cannot_get_the_lock_in_time_fails_naming_the_holder(tmp_path, capsys):
    data = _seeded(tmp_path)
    before = index_path(data).read_bytes()
    with ImportLock(index_path(data), 0, print):
        assert import_running(index_path(data)).startswith(f"pid {os.getpid()} on ")
        with pytest.raises(ImportFailure) as info:
            import_mue(data, _mue(tmp_path), checks=ImportChecks(lock_timeout=0))
        assert main(["import", "mue", str(_mue(tmp_path)), "--lock-timeout", "0"]) == 1
    assert info.value.path == str(index_path(data)) + ".lock"
    assert f"another import still holds the lock (pid {os.getpid()} on " in info.value.message
    assert "after 0 s; try again when it has finished, or wait longer with --lock-timeout" in info.value.message
    err = capsys.readouterr().err
    assert "waiting for another import of" in err and "error: " in err and "the index is unchanged" in err
    assert index_path(data).read_bytes() == before
    assert import_running(index_path(data)) is None


def test_files_left_by_killed_imports_are_removed_by_the_next_import(tmp_path, capsys):
    data = _seeded(tmp_path)
    left = data / "ncci.sqlite.import-4194301"
    left.write_bytes(b"\0" * 2_000_000)
    assert main(["ncci", "list", "--data-dir", str(data)]) == 0
    listed = capsys.readouterr().out
    assert "ncci.sqlite.import-4194301 (2.0 MB): left by an import that was killed; the next import removes it" in listed
    summary = import_mue(data, _mue(tmp_path))
    assert not left.exists()
    assert summary.notes == ["removed ncci.sqlite.import-4194301 (2.0 MB), left by an import that was killed"]


def test_the_file_of_a_running_import_is_left_alone(tmp_path, capsys):
    data = _seeded(tmp_path)
    running = data / "ncci.sqlite.import-4194302"
    with ImportLock(index_path(data), 0, print):
        running.write_bytes(b"\0" * 1000)  # as the import holding the lock would
        with pytest.raises(ImportFailure):
            import_mue(data, _mue(tmp_path), checks=ImportChecks(lock_timeout=0))
        assert running.exists()
        assert main(["ncci", "list", "--data-dir", str(data)]) == 0
        out = capsys.readouterr().out
        assert f"an import is running: pid {os.getpid()} on " in out
        assert f"ncci.sqlite.import-4194302 (0.0 MB): in use by the running import (pid {os.getpid()} on " in out
    assert running.exists()


_STALLED_IMPORT = """
import sys
from terminology.ncci import index

real = index._batched

def stalled(rows, size=index._BATCH):
    for batch in real(rows, size):
        yield batch
        print("importing", flush=True)
        sys.stdin.readline()  # the test ends this process here

index._batched = stalled
from terminology.cli import main
sys.exit(main(["import", "ncci-ptp", "--replace", sys.argv[1]]))
"""


def _stalled_import(data: Path, ptp_file: Path) -> subprocess.Popen:
    """Start a real import process and return once it is writing its temporary index."""
    process = subprocess.Popen(
        [sys.executable, "-c", _STALLED_IMPORT, str(ptp_file)],
        cwd=ROOT,
        env={**os.environ, "TERMINOLOGY_DATA_DIR": str(data)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "importing\n"
    return process


def test_an_import_killed_with_sigkill_leaves_the_index_and_the_next_import_cleans_up(tmp_path, capsys):
    data = _seeded(tmp_path)
    before = index_path(data).read_bytes()
    ptp_file = write_ptp(tmp_path / "ccipra-v321r0-f1.TXT", [ptp_row("Z0001", "Z0002"), ptp_row("Z0005", "Z0006")])
    process = _stalled_import(data, ptp_file)
    temporary = data / f"ncci.sqlite.import-{process.pid}"
    assert temporary.exists()
    process.kill()
    process.communicate(timeout=SAFETY)
    assert temporary.exists()  # nothing can clean up after SIGKILL ...
    assert index_path(data).read_bytes() == before  # ... and nothing was lost
    assert import_running(index_path(data)) is None  # the kernel released the lock
    assert main(["import", "ncci-ptp", "--replace", str(ptp_file)]) == 0  # ... the next import does
    assert not temporary.exists()
    err = capsys.readouterr().err
    assert f"note: removed ncci.sqlite.import-{process.pid} (" in err
    assert "note: replaced ptp practitioner edition v321r0 (2026Q2, 1 rows, imported " in err


def test_an_import_stopped_with_sigterm_removes_its_file_and_says_the_index_is_unchanged(tmp_path):
    data = _seeded(tmp_path)
    before = index_path(data).read_bytes()
    ptp_file = write_ptp(tmp_path / "ccipra-v321r0-f1.TXT", [ptp_row("Z0001", "Z0002"), ptp_row("Z0005", "Z0006")])
    process = _stalled_import(data, ptp_file)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=SAFETY)
    assert process.returncode == 143
    assert "interrupted: the index is unchanged" in err
    assert sorted(p.name for p in data.iterdir()) == ["ncci.sqlite", "ncci.sqlite.lock"]
    assert index_path(data).read_bytes() == before
