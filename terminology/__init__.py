"""FHIR R4 terminology service: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from terminology.version import __version__

__all__ = ["__version__", "create_app"]


class TerminologyFlask(Flask):
    """Flask without the per-call coroutine check: every view and hook here is synchronous.

    Flask's ``ensure_sync`` inspects each hook and view on every request to see whether it is a
    coroutine; overriding it is Flask's documented way to change how views are run.
    """

    def ensure_sync(self, func):
        """Return ``func`` unchanged (the service defines no async views or hooks)."""
        return func


def create_app(config: Mapping | None = None) -> Flask:
    """Create the Flask app: read settings, load and validate content, register blueprints.

    :param config: settings that override the environment, by their ``app.config`` names (tests
        pass a mapping here); keys that are not settings go to Flask's config as they are.
    :raise SettingsError: when a setting has a bad value (start-up stops with its variable named).
    :raise ContentError: when a content file is invalid (start-up stops).
    """
    from terminology import ops
    from terminology.api import (
        batch,
        bundling_check,
        cdshooks,
        codesystem,
        cors,
        errors,
        http,
        metadata,
        orders,
        resources,
        response_cache,
        translate,
        valueset,
    )
    from terminology.config import load_settings, setting_field
    from terminology.content.loader import load_registry
    from terminology.service.operations import TerminologyService

    settings = load_settings(config)
    app = TerminologyFlask(__name__)
    app.extensions["terminology.settings"] = settings
    # Every setting is mirrored into app.config; the mapping's other keys (TESTING...) are Flask's own.
    app.config.from_mapping(settings.flask_config())
    app.config.update({key: value for key, value in (config or {}).items() if setting_field(key) is None})
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    registry = load_registry(
        [Path(d) for d in settings.content_dirs], settings.content_policy, settings.pattern_limits()
    )
    app.extensions["terminology.registry"] = registry
    app.extensions["terminology.service"] = TerminologyService(registry, settings)
    errors.init_app(app)
    ops.init_app(app)
    fhir_modules = (metadata, codesystem, valueset, translate, resources, batch)
    for module in fhir_modules:
        app.register_blueprint(module.bp)
    bundling_check.init_app(app)
    orders.init_app(app)
    cdshooks.init_app(app)
    cors.init_app(app)
    http.init_app(app, [*(module.bp.name for module in fhir_modules), bundling_check.bp.name, orders.bp.name])
    # Last: it wraps the finished app's WSGI callable.
    response_cache.init_app(app)
    return app
