"""Test-only WSGI app for the gunicorn tests: the service plus GET /test/slow, held open until released.

Never imported by the service; tests start it with ``gunicorn ... slow_app:create_slow_app()``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from terminology import create_app

# Longest a held request waits for its release file (a safety bound, not a timing assertion).
HOLD_LIMIT_SECONDS = 60


def create_slow_app():
    """Create the service with a /test/slow route that waits for a release file in SLOW_APP_GATE_DIR."""
    app = create_app()
    gate = Path(os.environ["SLOW_APP_GATE_DIR"])

    @app.route("/test/slow/<name>")
    def slow(name: str):
        """Say the request started, then hold it until the test creates ``release``."""
        (gate / f"started-{name}").touch()
        deadline = time.monotonic() + HOLD_LIMIT_SECONDS
        while not (gate / "release").exists():
            if time.monotonic() > deadline:
                return {"released": False}, 500
            time.sleep(0.02)
        return {"released": True, "name": name, "pid": os.getpid()}

    return app
