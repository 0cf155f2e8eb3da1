"""gunicorn integration for `terminology serve`: FHIR error answers from the worker, and a clean SIGTERM.

``FhirSyncWorker`` is gunicorn's sync worker with two changes:

- What gunicorn answers itself (a malformed request line or header, 414, 431, 501, a worker
  timeout) is a FHIR ``OperationOutcome`` instead of gunicorn's ``text/html`` page, logged as one
  JSON request line and counted in the metrics like every other answer.
- On SIGTERM it finishes its request, then keeps accepting the connections already queued on the
  listening socket until none is left, so a shutdown resets none of them.

``report_start_up_error`` (the master's ``sys.excepthook``) prints a content error that stops
start-up as `terminology check` does (each file and element, no traceback).

``stop_accepting_on_shutdown`` (a ``when_ready`` hook) makes the master shut the door first: when
it stops, the kernel drops new connection attempts to the listening socket (clients retry their SYN
and are refused once the socket is closed: their request was never sent), while the connections
already queued stay, for the workers to drain.
"""

from __future__ import annotations

import ctypes
import select
import socket
import struct
import sys
import time

import orjson
from gunicorn import util
from gunicorn.workers.sync import SyncWorker

from terminology.errors import ContentError
from terminology.fhir.outcome import SERVER_ERROR_TEXT, status_outcome, status_phrase
from terminology.ops.telemetry import REQUEST_ID_HEADER, UNMATCHED, new_request_id

# Linux: a classic BPF program of one instruction, "return 0" (keep no byte of any packet).
SO_ATTACH_FILTER = 26
_DROP_EVERYTHING = (ctypes.c_ubyte * 8).from_buffer_copy(struct.pack("HBBI", 0x06, 0, 0, 0))


def fhir_error_bytes(status: int, reason: str, text: str, request_id: str) -> bytes:
    """Return a whole HTTP/1.1 answer whose body is an OperationOutcome (the connection then closes)."""
    # gunicorn words some statuses with another's phrase (its 501 says "Bad Request").
    reason = status_phrase(status) or reason
    body = orjson.dumps(status_outcome(status, text or reason))
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        "Content-Type: application/fhir+json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\n"
        f"{REQUEST_ID_HEADER}: {request_id}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def report_start_up_error(kind, error, trace) -> None:
    """Print a content error that ended the master as its problem list; anything else as Python does.

    The master preloads the app before any gunicorn hook runs, so a content file that fails the
    strict policy escapes gunicorn uncaught (exit status 1): this ``sys.excepthook`` prints it as
    `terminology check` does, one line per file and element, instead of a traceback.
    """
    if isinstance(error, ContentError):
        print(error.report(), file=sys.stderr)
    else:
        sys.__excepthook__(kind, error, trace)


def refuse_new_connections(listener) -> bool:
    """Drop every new connection attempt to a listening TCP socket; keep those already queued.

    Returns False where the kernel offers no socket filters (not Linux, or a Unix socket).
    """
    raw = getattr(listener, "sock", listener)
    if not sys.platform.startswith("linux") or raw.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    program = struct.pack("HL", 1, ctypes.addressof(_DROP_EVERYTHING))
    try:
        raw.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
    except OSError:
        return False
    return True


def stop_accepting_on_shutdown(arbiter) -> None:
    """Make the master refuse new connections before it closes its sockets and stops the workers.

    Only a shutdown does this: a reload (SIGHUP) keeps the sockets open for the new workers.
    """
    stop = arbiter.stop

    def stop_after_refusing(graceful: bool = True) -> None:
        refused = [refuse_new_connections(listener) for listener in arbiter.LISTENERS]
        if refused and all(refused):
            arbiter.log.info("Refusing new connections; the workers serve those already queued")
        elif refused:
            arbiter.log.info("New connections cannot be refused here; the workers serve those queued")
        stop(graceful)

    arbiter.stop = stop_after_refusing


class FhirSyncWorker(SyncWorker):
    """gunicorn's sync worker, answering its own errors as OperationOutcomes and draining on SIGTERM."""

    def init_process(self) -> None:
        """Start serving (gunicorn calls this in the new worker process)."""
        self._terminating = False
        self._timed_out = False
        self._answered: int | None = None  # the status of the error answer being written
        self._request_id = ""
        # gunicorn's handle_error decides the status and logs; its page writer is the only thing
        # replaced (it is called from nowhere else), so gunicorn's own classification stays in force.
        util.write_error = self._write_error
        super().init_process()

    def handle_exit(self, sig, frame) -> None:
        """SIGTERM: finish the current request, then drain the queue (see run)."""
        self._terminating = True
        super().handle_exit(sig, frame)

    def handle_abort(self, sig, frame) -> None:
        """SIGABRT: the master found this worker silent for longer than the timeout."""
        self._timed_out = True
        super().handle_abort(sig, frame)

    def run(self) -> None:
        """Serve until told to stop; after SIGTERM, also serve what is already queued."""
        super().run()
        if self._terminating:
            self._drain()

    def _drain(self) -> None:
        # Within the master's graceful timeout, less a second for the worker to exit.
        deadline = time.monotonic() + max(self.cfg.graceful_timeout - 1, 0)
        while time.monotonic() < deadline:
            served = False
            for listener in self.sockets:
                try:
                    client, addr = listener.accept()
                except OSError:  # nothing queued (EAGAIN), or the socket is gone
                    continue
                served = True
                util.close_on_exec(client)
                # A connection opened ahead of need (browsers pre-connect) may never send a request:
                # closing it unanswered is safe (the client retries), waiting for it is not.
                remaining = deadline - time.monotonic()
                if not select.select([client], [], [], max(min(self.cfg.keepalive or 2, remaining), 0))[0]:
                    client.close()
                    continue
                client.settimeout(max(remaining, 0.1))
                self.handle(listener, client, addr)
                self.notify()
            if not served:
                return

    def handle_error(self, req, client, addr, exc) -> None:
        """Answer what went wrong outside the app with an OperationOutcome, and log it as a request."""
        started = time.perf_counter()
        self._request_id = new_request_id()
        self._answered = None
        if isinstance(exc, SystemExit):
            # The master's timeout (SIGABRT) or a quick shutdown (SIGQUIT/SIGINT) cut a request short.
            if self._timed_out:
                self.log.error("request cut short by the worker timeout (%s s)", self.cfg.timeout)
                text = (
                    f"The request was not answered within the server's worker timeout ({self.cfg.timeout} s) "
                    "and was stopped"
                )
            else:
                text = "The server is shutting down; send the request again"
            self._write_error(client, 503, "Service Unavailable", text)
        else:
            super().handle_error(req, client, addr, exc)
        if self._answered is not None:
            self._record(req, self._answered, started, self._request_id)

    def _write_error(self, sock, status: int, reason: str, text: str) -> None:
        """Write the error answer (gunicorn's ``util.write_error``, as an OperationOutcome)."""
        self._answered = status
        if status == 500:
            text = SERVER_ERROR_TEXT  # gunicorn's own 500s carry no message; never a trace
        request_id = self._request_id or new_request_id()
        util.write_nonblock(sock, fhir_error_bytes(status, reason, text, request_id))

    def _record(self, req, status: int, started: float, request_id: str) -> None:
        """Write the JSON request line and count the answer in the metrics, as the app does."""
        telemetry = getattr(self.wsgi, "extensions", {}).get("terminology.telemetry")
        if telemetry is None:
            return
        method = getattr(req, "method", None) or "-"
        path = getattr(req, "path", None) or "-"
        try:
            telemetry.record({}, method, path, UNMATCHED, status, started, request_id)
        except Exception:  # a log line must never take the worker down
            self.log.exception("cannot record the error answer")
