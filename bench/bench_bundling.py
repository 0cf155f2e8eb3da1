"""Benchmark NCCI import and $bundling-check: import time, index size, worker RSS, p50, throughput."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.harness import HELLO_APP, run_wrk_post, worker_memory
from bench.harness import served as served_app

REPO = Path(__file__).resolve().parent.parent
CPT = "http://www.ama-assn.org/go/cpt"


def typical_codes(index_file: Path, lines: int) -> list[str]:
    """Pick a claim with one PTP edit among its lines (the common case): a pair plus unrelated codes."""
    conn = sqlite3.connect(index_file)
    col1, col2 = conn.execute(
        "SELECT col1, col2 FROM ptp WHERE indicator = 1 AND deletion > 20270000 LIMIT 1 OFFSET 300000"
    ).fetchone()
    chosen = [col1, col2]
    for (code,) in conn.execute("SELECT DISTINCT col1 FROM ptp ORDER BY col1 LIMIT 2000 OFFSET 7000"):
        clash = conn.execute(
            f"SELECT 1 FROM ptp WHERE col1 IN ({','.join('?' * len(chosen))}) AND col2 = ? "
            f"UNION SELECT 1 FROM ptp WHERE col2 IN ({','.join('?' * len(chosen))}) AND col1 = ?",
            (*chosen, code, *chosen, code),
        ).fetchone()
        if clash is None:
            chosen.append(code)
        if len(chosen) == lines:
            break
    conn.close()
    return chosen


def claim_codes(index_file: Path, lines: int) -> list[str]:
    """Pick a column 1 code and column 2 codes it has edits with: a claim that hits many pairs."""
    conn = sqlite3.connect(index_file)
    col1 = conn.execute(
        "SELECT col1 FROM ptp WHERE indicator != 9 ORDER BY col1 LIMIT 1 OFFSET 500000"
    ).fetchone()[0]
    rows = conn.execute(
        "SELECT DISTINCT col2 FROM ptp WHERE col1 = ? AND indicator != 9 ORDER BY col2 LIMIT ?",
        (col1, lines - 1),
    ).fetchall()
    conn.close()
    return [col1, *(r[0] for r in rows)]


SYNTHETIC_SYSTEM = "urn:terminology-bench:synthetic-codes"


def write_code_system(out: Path) -> Path:
    """Write a complete synthetic CodeSystem holding every generated code.

    A real deployment loads the licensed CPT and HCPCS files, so billed codes are known; the
    synthetic codes stand in for them (under their own system) so the benchmark claims do not
    turn into a list of unknown-code warnings.
    """
    from bench.generate_ncci import codes

    out.mkdir(parents=True, exist_ok=True)
    resource = {
        "resourceType": "CodeSystem",
        "id": "bench-synthetic-codes",
        "url": SYNTHETIC_SYSTEM,
        "version": "1",
        "name": "BenchSyntheticCodes",
        "status": "active",
        "content": "complete",
        "concept": [{"code": code, "display": f"Synthetic procedure {code}"} for code in codes(20_000)],
    }
    path = out / "bench-synthetic-codes.json"
    path.write_text(json.dumps(resource))
    return out


def body_for(codes: list[str]) -> dict:
    """Build a 10-line Parameters body, one line with a bypass modifier and some units."""
    items = []
    for i, code in enumerate(codes, 1):
        parts = [
            {"name": "sequence", "valueInteger": i},
            {"name": "code", "valueCoding": {"system": SYNTHETIC_SYSTEM, "code": code}},
            {"name": "quantity", "valueInteger": 1 + i % 3},
            {"name": "provider", "valueString": "Practitioner/bench"},
        ]
        if i == 3:
            parts.append({"name": "modifier", "valueCoding": {"system": CPT, "code": "59"}})
        items.append({"name": "item", "part": parts})
    return {"resourceType": "Parameters", "parameter": [{"name": "date", "valueDate": "2026-07-15"}, *items]}


def in_process(data_dir: Path, content: list[str], body: dict, rounds: int) -> dict:
    """Time the engine check and the full HTTP handler in-process (Flask test client)."""
    from terminology import create_app
    from terminology.fhir.bundling_mapping import bundling_input
    from terminology.fhir.params import OperationParams

    app = create_app({"DATA_DIR": str(data_dir), "CONTENT_DIRS": content, "ACCESS_LOG": False})
    checker = app.extensions["terminology.bundling"]
    registry = app.extensions["terminology.registry"]
    parsed = bundling_input(OperationParams.from_parameters(body), registry)
    for _ in range(200):
        checker.check(parsed.lines, parsed.options)
    engine = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = checker.check(parsed.lines, parsed.options)
        engine.append(time.perf_counter() - start)
    client = app.test_client()
    full = []
    for _ in range(rounds // 5):
        start = time.perf_counter()
        response = client.post("/$bundling-check", json=body)
        full.append(time.perf_counter() - start)
    assert response.status_code == 200
    rules = sorted({f.rule for f in result.findings})
    return {
        "engine_p50_ms": statistics.median(engine) * 1000,
        "engine_p99_ms": sorted(engine)[int(len(engine) * 0.99)] * 1000,
        "handler_p50_ms": statistics.median(full) * 1000,
        "findings": len(result.findings),
        "rules": rules,
    }


def warm_up(url: str, body: dict, times: int) -> None:
    """Send a few requests before measuring memory."""
    with requests.Session() as session:
        for _ in range(times):
            session.post(url, json=body, headers={"Content-Type": "application/fhir+json"}, timeout=10)


def main() -> None:
    """Generate (if needed), import, and measure; print a JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=REPO / "bench/results/work")
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-import", action="store_true", help="reuse the index of an earlier run")
    parser.add_argument(
        "--http-rounds",
        type=int,
        default=3,
        help="paired hello-world/claims wrk rounds; the median ratio is reported (default 3)",
    )
    args = parser.parse_args()
    files, data = args.work / "files", args.work / "data"
    index_file = data / "ncci.sqlite"
    report: dict = {"note": "figures taken on a shared 2-core machine"}
    if not args.skip_import or not index_file.exists():
        if not (files / "ccipra-v322r0-f4.TXT").exists():
            subprocess.run([sys.executable, str(REPO / "bench/generate_ncci.py"), str(files)], check=True)
        index_file.unlink(missing_ok=True)
        cli = [sys.executable, "-m", "terminology", "import"]
        env = {**os.environ, "TERMINOLOGY_DATA_DIR": str(data)}
        started = time.monotonic()
        parts = sorted(str(p) for p in files.glob("ccipra-*.TXT"))
        subprocess.run([*cli, "ncci-ptp", *parts], check=True, env=env)
        report["ptp_import_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        subprocess.run([*cli, "mue", str(next(files.glob("MCR_MUE_*.csv")))], check=True, env=env)
        report["mue_import_s"] = round(time.monotonic() - started, 2)
    report["index_mb"] = round(index_file.stat().st_size / 1e6, 1)
    from terminology.config import bundled_content_dirs

    content = [*bundled_content_dirs(), str(write_code_system(args.work / "content"))]
    claims = {"worst": claim_codes(index_file, 10), "typical": typical_codes(index_file, 10)}
    bodies = {name: body_for(codes) for name, codes in claims.items()}
    for name, body in bodies.items():
        report[f"in_process_{name}"] = in_process(data, content, body, args.rounds)
    served: dict = {}
    content_env = {"TERMINOLOGY_CONTENT_DIRS": ":".join(content)}
    service_app = "terminology:create_app()"
    bare_env = {"TERMINOLOGY_DATA_DIR": str(args.work / "no-index"), **content_env}
    with served_app(service_app, args.workers, bare_env) as bare:
        for body in bodies.values():
            warm_up(bare.base + "/$bundling-check", body, 300)
        served["bare_worker"] = worker_memory(bare.pid)[0]
    service_env = {"TERMINOLOGY_DATA_DIR": str(data), **content_env}
    # Both servers run side by side and every round measures the ceiling next to the claims:
    # the host's speed drifts from minute to minute, and the ratio is what the target is about.
    with (
        served_app(HELLO_APP, args.workers) as hello,
        served_app(service_app, args.workers, service_env) as service,
    ):
        for body in bodies.values():
            warm_up(service.base + "/$bundling-check", body, 300)
            warm_up(hello.base + "/hello", body, 300)
        served["bundling_worker"] = worker_memory(service.pid)[0]
        served["hello_worker"] = worker_memory(hello.pid)[0]
        rounds = []
        for _ in range(args.http_rounds):
            ceiling = run_wrk_post(hello.base, "/hello", bodies["worst"], args.connections, args.seconds)
            row = {"hello": ceiling["rps"]}
            for name, body in bodies.items():
                result = run_wrk_post(service.base, "/$bundling-check", body, args.connections, args.seconds)
                row[name], row[f"{name}_p50_ms"] = result["rps"], result["p50"]
            rounds.append(row)
            print(json.dumps({"round": row}), file=sys.stderr, flush=True)
    served["hello_rps"] = statistics.median(r["hello"] for r in rounds)
    for name in bodies:
        ratios = [r[name] / r["hello"] for r in rounds]
        served[f"bundling_{name}_rps"] = statistics.median(r[name] for r in rounds)
        served[f"bundling_{name}_p50_ms"] = statistics.median(r[f"{name}_p50_ms"] for r in rounds)
        served[f"throughput_ratio_{name}"] = round(statistics.median(ratios), 2)
        served[f"throughput_ratio_{name}_range"] = [round(min(ratios), 2), round(max(ratios), 2)]
    report.update(served)
    report["worker_rss_above_bare_mb"] = round(
        served["bundling_worker"]["rss_mb"] - served["bare_worker"]["rss_mb"], 1
    )
    report["claims"] = claims
    print(json.dumps(report, indent=2))
    (REPO / "bench/results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench/results/bundling.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
