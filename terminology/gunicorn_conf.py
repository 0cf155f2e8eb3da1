"""Gunicorn settings used by `terminology serve` (and the container image)."""

import os

bind = os.environ.get("TERMINOLOGY_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("TERMINOLOGY_WORKERS", "2"))
worker_class = "sync"
# Load content once in the master; workers share it copy-on-write.
preload_app = True
timeout = int(os.environ.get("TERMINOLOGY_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("TERMINOLOGY_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Refuse oversized request lines and headers before Flask sees them.
limit_request_line = 8190
limit_request_fields = 100
accesslog = None
errorlog = "-"
loglevel = os.environ.get("TERMINOLOGY_LOG_LEVEL", "info")
wsgi_app = "terminology:create_app()"
