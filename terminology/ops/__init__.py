"""Operations: GET /livez, /readyz and /metrics, the per-request JSON log line, and access control."""

from __future__ import annotations

from flask import Flask

from terminology.ops import access, health, telemetry
from terminology.ops.settings import ops_settings_from_env


def init_app(app: Flask) -> None:
    """Read the operations settings (test config wins) and install probes, telemetry and access control."""
    for key, value in ops_settings_from_env().items():
        app.config.setdefault(key, value)
    # Telemetry first, so its clock and request id exist when access control refuses a request.
    telemetry.init_app(app)
    health.init_app(app)
    access.init_app(app)
