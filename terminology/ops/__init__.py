"""Operations: GET /livez, /readyz and /metrics, the per-request JSON log line, and access control."""

from __future__ import annotations

from flask import Flask

from terminology.ops import access, health, telemetry


def init_app(app: Flask) -> None:
    """Install probes, telemetry and access control (their settings are in ``app.config``)."""
    # Telemetry first, so its clock and request id exist when access control refuses a request.
    telemetry.init_app(app)
    health.init_app(app)
    access.init_app(app)
