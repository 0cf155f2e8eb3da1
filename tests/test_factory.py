"""The app factory: settings from the environment, the test config mapping, fail-fast loading."""

from __future__ import annotations

import pytest

from terminology import create_app
from terminology.config import bundled_content_dirs, load_settings
from terminology.errors import ContentError
from tests.conftest import SYNTHETIC_CS, write_resource


def test_defaults_point_at_the_bundled_content(monkeypatch):
    monkeypatch.delenv("TERMINOLOGY_CONTENT_DIRS", raising=False)
    settings = load_settings()
    assert settings.content_dirs == bundled_content_dirs()
    assert [d.rsplit("/", 1)[1] for d in bundled_content_dirs()] == ["codesystems", "valuesets", "conceptmaps"]


def test_content_dirs_from_environment_are_colon_separated(tmp_path, monkeypatch):
    write_resource(tmp_path / "a", "cs.json", SYNTHETIC_CS)
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("TERMINOLOGY_CONTENT_DIRS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    app = create_app()
    assert app.config["CONTENT_DIRS"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert app.extensions["terminology.registry"].counts()["CodeSystem"] == 1


def test_config_mapping_overrides_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_EXPANSION_LIMIT", "7")
    assert create_app().config["EXPANSION_LIMIT"] == 7
    assert create_app({"EXPANSION_LIMIT": 9}).config["EXPANSION_LIMIT"] == 9


def test_bad_integer_setting_stops_start_up(monkeypatch):
    monkeypatch.setenv("TERMINOLOGY_MAX_BODY_BYTES", "lots")
    with pytest.raises(SystemExit, match="TERMINOLOGY_MAX_BODY_BYTES"):
        create_app()


def test_bad_content_stops_start_up(tmp_path):
    write_resource(tmp_path, "bad.json", dict(SYNTHETIC_CS, content="everything"))
    with pytest.raises(ContentError) as caught:
        create_app({"CONTENT_DIRS": [str(tmp_path)]})
    assert caught.value.element == "CodeSystem.content"


def test_no_view_or_hook_is_async(app):
    # TerminologyFlask.ensure_sync skips Flask's coroutine wrapping; an async view would break.
    import inspect

    functions = list(app.view_functions.values())
    for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        for hooks in registry.values():
            functions.extend(hooks)
    assert functions
    assert not any(inspect.iscoroutinefunction(f) for f in functions)
