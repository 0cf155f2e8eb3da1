"""The `terminology` command: check (exit codes and messages) and argument handling."""

from __future__ import annotations

import pytest

from terminology.cli import build_parser, main
from tests.conftest import SYNTHETIC_CS, write_resource


def test_check_bundled_content_prints_one_line_summary(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["ok: 4 code systems (28 concepts), 6 value sets, 3 concept maps in 3 directories"]


def test_check_reports_file_and_element_and_exits_1(tmp_path, capsys):
    bad = dict(SYNTHETIC_CS, status=["active"])
    path = write_resource(tmp_path, "bad.json", bad)
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: CodeSystem.status:")


def test_check_reads_directories_from_the_environment(tmp_path, monkeypatch, capsys):
    write_resource(tmp_path, "cs.json", SYNTHETIC_CS)
    monkeypatch.setenv("TERMINOLOGY_CONTENT_DIRS", str(tmp_path))
    assert main(["check"]) == 0
    assert "1 code systems (3 concepts)" in capsys.readouterr().out


def test_serve_accepts_host_port_and_workers():
    args = build_parser().parse_args(["serve", "--host", "127.0.0.1", "--port", "8081", "--workers", "3"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8081, 3)


def test_unknown_command_exits_2():
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2
