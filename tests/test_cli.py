"""The `terminology` command: check (exit codes and messages) and argument handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminology.cli import build_parser, main
from tests.conftest import SYNTHETIC_CS, write_resource


def test_check_bundled_content_prints_one_line_summary(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["ok: 6 code systems (160 concepts), 6 value sets, 3 concept maps in 3 directories"]
    # The README shows the same line, so that a newcomer knows what a good check prints.
    readme = Path(__file__).resolve().parent.parent / "README.md"
    assert f"\n{out[0]}\n" in readme.read_text(encoding="utf-8")


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
    # One of each reads in the singular (issue 16: "1 editions", "1 feedback entries").
    assert "1 code system (3 concepts), 0 value sets, 0 concept maps in 1 directory" in capsys.readouterr().out


def test_serve_accepts_host_port_and_workers():
    args = build_parser().parse_args(["serve", "--host", "127.0.0.1", "--port", "8081", "--workers", "3"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8081, 3)


def test_unknown_command_exits_2():
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


def test_version_is_printed(capsys):
    from terminology.version import __version__

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"terminology {__version__}"


def test_version_and_help_read_no_settings_and_every_command_checks_them(monkeypatch, capsys):
    monkeypatch.setenv("TERMINOLOGY_METRICS", "maybe")
    for argv in (["--version"], ["--help"], ["feedback", "export", "--help"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 0, argv
    capsys.readouterr()
    # Even the commands that need no setting (fetch, auth hash-token) stop, before doing anything.
    for argv in (["check"], ["fetch", "--into", "unused", "http://127.0.0.1:9/x"], ["auth", "hash-token"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert "TERMINOLOGY_METRICS: Input should be a valid boolean" in str(caught.value.code), argv
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "99999"], "argument --port: '99999' is not a TCP port (1-65535)"),
        (["serve", "--port", "http"], "argument --port: 'http' is not a TCP port (1-65535)"),
        (["serve", "--workers", "0"], "argument --workers: '0' is not a whole number of at least 1"),
    ],
)
def test_bad_serve_arguments_are_usage_errors_not_tracebacks(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_counted_nouns():
    from terminology.text import counted

    assert counted(1, "edition") == "1 edition"
    assert counted(2, "edition") == "2 editions"
    assert counted(1_125_012, "row") == "1,125,012 rows"
    assert counted(1, "feedback entry", "feedback entries") == "1 feedback entry"
    assert counted(0, "feedback entry", "feedback entries") == "0 feedback entries"


def test_check_lists_every_problem_and_exits_1(tmp_path, capsys, monkeypatch):
    # `check` is strict whatever the serving policy is.
    monkeypatch.setenv("TERMINOLOGY_CONTENT_POLICY", "lenient")
    first = write_resource(tmp_path, "a.json", dict(SYNTHETIC_CS, status=["active"]))
    second = write_resource(tmp_path, "b.json", {k: v for k, v in SYNTHETIC_CS.items() if k != "url"} | {"id": "b"})
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"error: {first}: CodeSystem.status: Input should be a valid string" in err
    assert f"error: {second}: CodeSystem.url: is required: a resource without a url cannot be referenced" in err
    assert err[-1] == "2 problems found"
