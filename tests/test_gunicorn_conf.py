"""Real gunicorn on 127.0.0.1, spoken to over raw sockets: FHIR error answers, SIGTERM drain, control socket,
and a start-up that bad content stops without a traceback."""

from __future__ import annotations

import errno
import select
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from tests.conftest import SYNTHETIC_CS, write_resource
from tests.helpers import fhir_valid
from tests.support import START_LIMIT, clean_environment, free_port, wait_ready

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPOSITORY / "terminology" / "gunicorn_conf.py"
LOOKUP = "/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=72125"


@contextmanager
def gunicorn(tmp_path: Path, workers: int = 1, **env: str):
    """Run the service (plus the test-only /test/slow route) under the project's gunicorn settings."""
    gate = tmp_path / "gate"
    gate.mkdir(exist_ok=True)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    port = free_port()
    environment = clean_environment(tmp_path, SLOW_APP_GATE_DIR=str(gate), HOME=str(home), **env)
    environment.pop("XDG_RUNTIME_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--pythonpath", str(REPOSITORY / "tests"), "slow_app:create_slow_app()"],
        cwd=REPOSITORY, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield port, process, gate
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer until the server closes; return status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=START_LIMIT) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    return int(status_line.split()[1]), headers, body


def assert_outcome(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> dict:
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"].startswith("application/fhir+json")
    assert headers["x-content-type-options"] == "nosniff"
    assert int(headers["content-length"]) == len(body)
    outcome = fhir_valid(orjson.loads(body))
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == code
    return outcome


def test_malformed_http_gets_operation_outcomes_and_no_control_socket(tmp_path):
    with gunicorn(tmp_path, TERMINOLOGY_ACCESS_LOG="true") as (port, process, _gate):
        assert_outcome(exchange(port, b"NOT-HTTP\r\n\r\n"), 400, "invalid")
        assert_outcome(exchange(port, b"GET / HTTP/9.9\r\n\r\n"), 400, "invalid")
        long_uri = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert_outcome(exchange(port, long_uri), 414, "too-long")
        many_headers = b"".join(b"X-%d: y\r\n" % i for i in range(150))
        assert_outcome(
            exchange(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n" + many_headers + b"\r\n"), 431, "too-long"
        )
        big_header = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n"
        assert_outcome(exchange(port, big_header), 431, "too-long")
        gzip = b"POST /$versions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: bogus, chunked\r\n\r\n0\r\n\r\n"
        unsupported = assert_outcome(exchange(port, gzip), 501, "not-supported")
        # The caller is told which coding is not supported (it is no internal error).
        assert "Unsupported transfer coding: 'bogus, chunked'" in unsupported["issue"][0]["details"]["text"]
        # A malformed chunked body reaches the app, which answers 400 (not 500).
        for body in (b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"5;\x01=1\r\n{}\r\n0\r\n\r\n"):
            chunked = (b"POST /CodeSystem/$lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n" + body)  # fmt: skip
            assert_outcome(exchange(port, chunked), 400, "invalid")
        # A well-formed chunked body is read as usual.
        good = (b"POST /$versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")  # fmt: skip
        assert exchange(port, good)[0] == 200
        home = tmp_path / "home"
        assert not list(home.rglob("*.ctl")), "a control socket was created under HOME"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=START_LIMIT)
    assert process.returncode == 0
    assert b"control" not in err.lower(), err
    # gunicorn's own answers are logged as request lines too (one JSON line each).
    statuses = [orjson.loads(line)["status"] for line in out.splitlines() if line.startswith(b"{")]
    assert {400, 414, 431, 501} <= set(statuses)


def test_worker_timeout_is_an_operation_outcome(tmp_path):
    with gunicorn(tmp_path, TERMINOLOGY_TIMEOUT="2") as (port, _process, _gate):
        # /test/slow is held until a release file that never comes: the master's timeout stops it.
        answer = exchange(port, b"GET /test/slow/stuck HTTP/1.1\r\nHost: x\r\n\r\n")
        outcome = assert_outcome(answer, 503, "timeout")
        assert "worker timeout (2 s)" in outcome["issue"][0]["details"]["text"]
        # The worker is replaced and the service answers again.
        assert exchange(port, f"GET {LOOKUP} HTTP/1.1\r\nHost: x\r\n\r\n".encode())[0] == 200


def test_sigterm_serves_queued_connections_and_refuses_new_ones(tmp_path):
    control = tmp_path / "gunicorn.ctl"
    with gunicorn(tmp_path, TERMINOLOGY_ACCESS_LOG="false", TERMINOLOGY_CONTROL_SOCKET=str(control)) as (
        port, process, gate,
    ):  # fmt: skip
        deadline = time.monotonic() + START_LIMIT
        while not control.exists():  # asked for, the control socket is where the setting says
            assert time.monotonic() < deadline, "no control socket at TERMINOLOGY_CONTROL_SOCKET"
            time.sleep(0.05)
        held = socket.create_connection(("127.0.0.1", port), timeout=START_LIMIT)
        held.sendall(b"GET /test/slow/held HTTP/1.1\r\nHost: x\r\n\r\n")
        while not (gate / "started-held").exists():
            assert time.monotonic() < deadline, "the held request never started"
            time.sleep(0.02)
        # The only worker is busy: these connections wait in the listening socket's queue.
        queued = []
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", port), timeout=START_LIMIT)
            sock.sendall(f"GET {LOOKUP} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            queued.append(sock)
        process.send_signal(signal.SIGTERM)
        log = b""
        while b"Refusing new connections" not in log:
            assert time.monotonic() < deadline, "gunicorn did not start its shutdown"
            log += process.stderr.read1(4096)
        # Arriving after SIGTERM: the kernel drops its SYN, so it is never queued and never reset.
        late = socket.socket()
        late.setblocking(False)
        late.connect_ex(("127.0.0.1", port))
        (gate / "release").touch()
        assert read_answer(held)[0] == 200
        for sock in queued:
            assert read_answer(sock)[0] == 200  # drained: answered, not reset
            sock.close()
        assert process.wait(timeout=START_LIMIT) == 0
        # Once the server is gone the retried SYN is refused: the client knows nothing was sent.
        _ready, writable, _ = select.select([], [late], [], START_LIMIT)
        assert writable, "the late connection never completed or failed"
        assert late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
        late.close()
        held.close()


def test_error_answers_carry_the_standard_reason_phrase():
    from terminology.gunicorn_server import fhir_error_bytes

    # gunicorn hands its 501 over as "Bad Request"; the status line says what the status means.
    assert fhir_error_bytes(501, "Bad Request", "x", "id").startswith(b"HTTP/1.1 501 Not Implemented\r\n")
    assert fhir_error_bytes(431, "Request Header Fields Too Large", "x", "id").startswith(
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    )


SERVE = ["-m", "terminology", "serve", "--host", "127.0.0.1", "--port", "{port}"]
# A bare gunicorn start with the project's settings, naming the app as the README and bench do.
BARE_GUNICORN = ["-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", "127.0.0.1:{port}", "terminology:create_app()"]  # fmt: skip


@pytest.mark.parametrize("command", [SERVE, BARE_GUNICORN], ids=["terminology-serve", "bare-gunicorn"])
def test_bad_content_stops_start_up_with_each_file_and_element_and_no_traceback(tmp_path, command):
    content = tmp_path / "content"
    status = write_resource(content, "status.json", dict(SYNTHETIC_CS, status="bogus"))
    nameless = write_resource(content, "nameless.json", {k: v for k, v in SYNTHETIC_CS.items() if k != "url"})
    port = str(free_port())
    finished = subprocess.run(
        [sys.executable, *(part.replace("{port}", port) for part in command)],
        cwd=REPOSITORY, env=clean_environment(tmp_path, TERMINOLOGY_CONTENT_DIRS=str(content)),
        capture_output=True, text=True, timeout=START_LIMIT,
    )  # fmt: skip
    assert finished.returncode != 0
    assert "Traceback" not in finished.stderr
    lines = finished.stderr.splitlines()
    refused_status = "CodeSystem.status: 'bogus' is not one of active, draft, retired, unknown"
    assert f"error: {status}: {refused_status}" in lines
    assert any(line.startswith(f"error: {nameless}: CodeSystem.url: ") for line in lines)
    assert lines[-1] == "2 problems found"


def test_the_master_freezes_the_preloaded_objects_before_each_fork(tmp_path):
    """Objects loaded before the fork stay out of the workers' garbage collector, so their pages stay shared."""
    probe = (
        f"import gc, runpy; conf = runpy.run_path({str(GUNICORN_CONF)!r}); assert gc.get_freeze_count() == 0; "
        "conf['pre_fork'](None, None); print(gc.get_freeze_count())"
    )
    env = clean_environment(tmp_path, TERMINOLOGY_METRICS="false")
    finished = subprocess.run([sys.executable, "-c", probe], cwd=REPOSITORY, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert int(finished.stdout) > 1000  # every object the master holds, the loaded content among them
