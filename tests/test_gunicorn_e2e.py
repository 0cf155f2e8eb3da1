"""End-to-end tests of `terminology serve` under real gunicorn: graceful shutdown, metrics, logs."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import START_LIMIT, clean_environment, free_port, stop, wait_ready

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPOSITORY / "terminology" / "gunicorn_conf.py"
LOOKUP = "/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=72125"


@pytest.fixture
def slow_server(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn",
            "--config", str(GUNICORN_CONF),
            "--bind", f"127.0.0.1:{port}",
            "--workers", "2",
            "--pythonpath", str(REPOSITORY / "tests"),
            "slow_app:create_slow_app()",
        ],
        cwd=REPOSITORY,
        env=clean_environment(tmp_path, SLOW_APP_GATE_DIR=str(gate), TERMINOLOGY_ACCESS_LOG="false"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process, gate
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_lets_in_flight_requests_finish(slow_server):
    base, process, gate = slow_server
    results: dict[str, requests.Response | Exception] = {}

    def call(name: str) -> None:
        try:
            results[name] = requests.get(f"{base}/test/slow/{name}", timeout=START_LIMIT)
        except requests.RequestException as exc:
            results[name] = exc

    # Two workers, two held requests: both workers are busy when SIGTERM arrives.
    threads = [threading.Thread(target=call, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + START_LIMIT
    while not all((gate / f"started-{n}").exists() for n in ("a", "b")):
        assert time.monotonic() < deadline, "the held requests never started"
        time.sleep(0.02)

    process.send_signal(signal.SIGTERM)
    # Release only once the master has begun its graceful shutdown (it logs it on stderr).
    log = b""
    while b"Handling signal: term" not in log:
        assert time.monotonic() < deadline, "gunicorn did not acknowledge SIGTERM"
        log += process.stderr.read1(4096)
    (gate / "release").touch()
    for thread in threads:
        thread.join(timeout=START_LIMIT)

    for name in ("a", "b"):
        response = results[name]
        assert isinstance(response, requests.Response), response
        assert response.status_code == 200
        assert response.json()["released"] is True
    assert process.wait(timeout=START_LIMIT) == 0


def test_serve_runs_workers_with_shared_metrics_and_json_logs(tmp_path):
    port = free_port()
    log_file = tmp_path / "stdout.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "terminology",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            cwd=REPOSITORY,
            env=clean_environment(tmp_path, TERMINOLOGY_MAX_BODY_BYTES="2048"),
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, process)
            session = requests.Session()
            for i in range(20):
                response = session.get(base + LOOKUP, headers={"X-Request-Id": f"e2e-{i}"})
                assert response.status_code == 200
                assert response.headers["X-Request-Id"] == f"e2e-{i}"
            big = {"resourceType": "Parameters", "parameter": [{"name": "filter", "valueString": "x" * 4096}]}
            too_large = session.post(f"{base}/ValueSet/$expand", data=orjson.dumps(big),
                                     headers={"Content-Type": "application/fhir+json"})  # fmt: skip
            assert too_large.status_code == 413
            assert too_large.json()["resourceType"] == "OperationOutcome"
            metrics = requests.get(f"{base}/metrics", timeout=10).text
        finally:
            exit_code = stop(process)
    assert exit_code == 0

    # Every worker's requests are counted, whichever worker answers the scrape.
    counts = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "terminology_requests_total"
    }
    assert counts[(("operation", "CodeSystem/$lookup"), ("status", "200"))] == 20
    assert counts[(("operation", "ValueSet/$expand"), ("status", "413"))] == 1
    assert (
        'terminology_content_info{type="CodeSystem",url="http://www.ama-assn.org/go/cpt",version="2026"} 1.0'
        in metrics
    )
    # The multiprocess directory was created under TMPDIR because PROMETHEUS_MULTIPROC_DIR was unset.
    assert list(tmp_path.glob("terminology-metrics-*/counter_*.db"))

    entries = [orjson.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    lookups = [e for e in entries if e["operation"] == "CodeSystem/$lookup"]
    assert sorted(e["request_id"] for e in lookups) == sorted(f"e2e-{i}" for i in range(20))
