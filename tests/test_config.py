"""The settings object: one parser per type, clear start-up errors, and the README table kept true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from terminology.config import (
    Settings,
    SettingsError,
    bundled_content_dirs,
    comma_list,
    default_data_dir,
    load_settings,
)
from tests.support import clean_environment

README = Path(__file__).resolve().parent.parent / "README.md"
# Rows of the table that are not TERMINOLOGY_* settings (read by libraries the service uses).
OTHER_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR"}


def _readme_rows() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Environment variables", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = re.match(r"\| `([A-Z_]+)` \|([^|]*)\|", line)
        if found:
            rows[found.group(1)] = found.group(2).strip()
    return rows


def test_readme_table_lists_every_setting_and_nothing_else():
    rows = _readme_rows()
    documented = set(rows) - OTHER_VARIABLES
    settings = {Settings.variable(name) for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the README table"
    assert documented - settings == set(), "README rows that are not settings"


def test_readme_defaults_match_the_simple_defaults():
    rows = _readme_rows()
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=False)
        cell = rows[Settings.variable(name)]
        if isinstance(default, bool):
            assert f"`{str(default).lower()}`" in cell, name
        elif isinstance(default, int) or (isinstance(default, str) and default):
            assert f"`{default}`" in cell, name
        elif default == "":
            assert "`" not in cell or name in ("feedback_db", "base_url", "cds_service_url"), name


def test_environment_values_are_typed(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_WORKERS", "4")
    monkeypatch.setenv("TERMINOLOGY_ACCESS_LOG", "off")
    monkeypatch.setenv("TERMINOLOGY_METRICS_OPEN", "yes")
    monkeypatch.setenv("TERMINOLOGY_CONTENT_DIRS", "/a::/b")
    monkeypatch.setenv("TERMINOLOGY_BASE_URL", "https://tx.example.org/fhir/")
    monkeypatch.setenv("TERMINOLOGY_AUTH_MODE", " Static ")
    settings = load_settings()
    assert settings.workers == 4 and settings.access_log is False and settings.metrics_open is True
    assert settings.content_dirs == ["/a", "/b"]
    assert settings.base_url == "https://tx.example.org/fhir"
    assert settings.auth_mode == "static"


def test_empty_variables_mean_the_default(monkeypatch):
    for name in ("TERMINOLOGY_WORKERS", "TERMINOLOGY_METRICS", "TERMINOLOGY_CONTENT_DIRS"):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert (settings.workers, settings.metrics, settings.content_dirs) == (2, True, bundled_content_dirs())


def test_overrides_use_the_app_config_names_and_win(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_EXPANSION_LIMIT", "7")
    assert load_settings().expansion_limit == 7
    settings = load_settings({"EXPANSION_LIMIT": 9, "MAX_CONTENT_LENGTH": 1024, "TESTING": True})
    assert settings.expansion_limit == 9 and settings.max_body_bytes == 1024
    config = settings.flask_config()
    assert config["MAX_CONTENT_LENGTH"] == config["MAX_BODY_BYTES"] == 1024


def test_every_bad_value_is_named_at_once(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_WORKERS", "zero")
    monkeypatch.setenv("TERMINOLOGY_METRICS", "maybe")
    monkeypatch.setenv("TERMINOLOGY_RESULT_CACHE_SIZE", "-1")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in ("TERMINOLOGY_WORKERS", "TERMINOLOGY_METRICS", "TERMINOLOGY_RESULT_CACHE_SIZE"):
        assert name in message
    assert "'zero'" in message and "Traceback" not in message


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1:http", "[::1]:0", "fd://x"])
def test_a_bind_address_gunicorn_cannot_use_is_a_bad_setting(monkeypatch, address):
    monkeypatch.setenv("TERMINOLOGY_BIND", address)
    with pytest.raises(SettingsError, match="TERMINOLOGY_BIND: Value error, must be HOST:PORT"):
        load_settings()


@pytest.mark.parametrize("address", ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0", "unix:/tmp/t.sock", "fd://3"])
def test_bind_addresses_gunicorn_takes(monkeypatch, address):
    monkeypatch.setenv("TERMINOLOGY_BIND", address)
    assert load_settings().bind == address


def test_one_data_dir_default_for_the_index_the_feedback_and_imports(monkeypatch):
    from terminology.importers.common import default_content_dir

    monkeypatch.delenv("TERMINOLOGY_DATA_DIR", raising=False)
    assert load_settings().data_dir == default_data_dir()
    assert default_content_dir() == Path(default_data_dir()) / "content"


@pytest.mark.parametrize("command", [["check"], ["serve", "--port", "8000"]])
def test_a_bad_setting_stops_commands_without_a_traceback(tmp_path, command):
    env = clean_environment(tmp_path, TERMINOLOGY_MAX_BODY_BYTES="lots")
    run = subprocess.run(
        [sys.executable, "-m", "terminology", *command], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 1
    assert "TERMINOLOGY_MAX_BODY_BYTES" in run.stderr and "'lots'" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_database_wait_ends_well_before_gunicorn_replaces_the_worker(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_TIMEOUT", "6")
    monkeypatch.setenv("TERMINOLOGY_DATABASE_TIMEOUT", "4")
    with pytest.raises(SettingsError, match=r"TERMINOLOGY_DATABASE_TIMEOUT \(4\) must be at most half of "
                                            r"TERMINOLOGY_TIMEOUT \(6\)"):  # fmt: skip
        load_settings()
    monkeypatch.setenv("TERMINOLOGY_DATABASE_TIMEOUT", "3")
    assert load_settings().database_timeout == 3
    # Unset, it is 5 seconds, or half of a shorter worker timeout.
    monkeypatch.delenv("TERMINOLOGY_DATABASE_TIMEOUT")
    assert load_settings().database_timeout == 3
    monkeypatch.delenv("TERMINOLOGY_TIMEOUT")
    assert load_settings().database_timeout == 5


@pytest.mark.parametrize("name", ["TERMINOLOGY_AUTH_ALGORITHMS", "TERMINOLOGY_CDS_ALGORITHMS"])
@pytest.mark.parametrize("algorithms", ["HS256", "RS256,none", " , "])
def test_jwt_algorithms_are_asymmetric_only(monkeypatch, name, algorithms):
    monkeypatch.setenv(name, algorithms)
    with pytest.raises(SettingsError, match=f"{name}: Value error, .*asymmetric algorithms only"):
        load_settings()


def test_comma_lists_are_read_without_blanks(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_CDS_ALGORITHMS", " ES384 ,, RS256 ")
    assert load_settings().cds_algorithms == "ES384,RS256"
    assert comma_list(" a, ,b ,") == ["a", "b"]


def test_a_cors_origin_must_be_an_origin(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_CORS_ORIGINS", "https://ehr.example.org, ehr.example.org")
    with pytest.raises(SettingsError, match=re.escape("TERMINOLOGY_CORS_ORIGINS: Value error, 'ehr.example.org' is not an origin")):
        load_settings()
