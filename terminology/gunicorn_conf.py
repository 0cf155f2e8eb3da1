"""Gunicorn settings used by `terminology serve` (and the container image), from the service settings."""

import gc
import glob
import os
import sys
import tempfile

from terminology.config import load_settings
from terminology.gunicorn_server import report_start_up_error

_settings = load_settings()
# A content file refused by the strict policy stops start-up with its file and element, no traceback
# (`terminology serve` and a bare `gunicorn --config` alike: both read this file before the preload).
sys.excepthook = report_start_up_error

bind = _settings.bind
# Default chosen by measurement on 2 cores (README, "Gunicorn sizing"): one sync worker per core.
workers = _settings.workers
# gunicorn's sync worker, answering its own errors (malformed HTTP, 414, 431, timeouts) as FHIR
# OperationOutcomes and draining queued connections on SIGTERM (terminology/gunicorn_server.py).
worker_class = "terminology.gunicorn_server.FhirSyncWorker"
# Load content once in the master; workers share it copy-on-write.
preload_app = True
# A worker silent for this long is killed and replaced (a stuck request, not a slow one).
timeout = _settings.timeout
# On SIGTERM workers stop accepting and finish in-flight requests for up to this long.
graceful_timeout = _settings.graceful_timeout
keepalive = 5
# Refuse oversized request lines and headers before Flask sees them; the body limit is Flask's
# MAX_CONTENT_LENGTH (TERMINOLOGY_MAX_BODY_BYTES, 413 OperationOutcome above it).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Heartbeat files on tmpfs when there is one: a disk-backed /tmp can stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
# The app writes one JSON line per request itself; gunicorn's access log would duplicate it.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level
wsgi_app = "terminology:create_app()"
# gunicorn's control socket (gunicornc) is off unless TERMINOLOGY_CONTROL_SOCKET names a path: its
# default path is shared by every server under one HOME, and a read-only HOME logs an error at boot.
if _settings.control_socket:
    control_socket = _settings.control_socket
else:
    control_socket_disable = True


def pre_fork(server, worker):
    """Keep the preloaded content shared: the workers' garbage collector never writes to it.

    Content is read-only after start-up, but a collection in a worker writes to the header of every
    object it visits, turning the master's pages into private copies in each worker (copy-on-write).
    Objects that exist before the fork are moved out of the collector's sight (they are never freed
    anyway: the app lives as long as the process).
    """
    gc.freeze()


def when_ready(server):
    """On shutdown, refuse new connections before stopping, so the workers can drain the queue."""
    from terminology.gunicorn_server import stop_accepting_on_shutdown

    stop_accepting_on_shutdown(server)


if _settings.metrics:
    # prometheus_client multiprocess mode: every worker writes its samples to files in this
    # directory and /metrics adds them up. It must be set before prometheus_client is imported
    # (the app is preloaded after this file runs) and must not hold files from an earlier run.
    _metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="terminology-metrics-"
    )
    os.makedirs(_metrics_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
    if os.environ.get("TERMINOLOGY_METRICS_DIR_OWNER") != str(os.getpid()):
        # Wipe once per master (not again if gunicorn re-reads this file on SIGHUP).
        for stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
            os.remove(stale)
        os.environ["TERMINOLOGY_METRICS_DIR_OWNER"] = str(os.getpid())

    def child_exit(server, worker):
        """Drop a dead worker's live gauges from the multiprocess metrics."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
