"""FHIR R4 terminology service: the application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping | None = None) -> Flask:
    """Create the Flask app: read settings, load and validate content, register blueprints.

    :param config: settings that override the environment (tests pass a mapping here).
    :raise ContentError: when a content file is invalid (start-up stops).
    """
    from terminology.api import bundling, codesystem, conceptmap, errors, metadata, resources, valueset
    from terminology.config import settings_from_env
    from terminology.content.loader import load_registry

    app = Flask(__name__)
    app.config.from_mapping(settings_from_env())
    if config:
        app.config.update(config)
    app.json.sort_keys = False
    app.url_map.strict_slashes = False
    app.extensions["terminology.registry"] = load_registry([Path(d) for d in app.config["CONTENT_DIRS"]])
    errors.init_app(app)
    for module in (metadata, codesystem, valueset, conceptmap, resources):
        app.register_blueprint(module.bp)
    bundling.init_app(app)
    return app
