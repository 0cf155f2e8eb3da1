"""Benchmark of the importers: synthetic 11,000-code CPT import time, $lookup throughput, worker memory.

Run from the repository root: ``.venv/bin/python -m bench.importers_bench [--codes 11000]``.
Everything is written to a temporary directory; the figures go to stdout (and bench/results/).

The `$lookup` comparison asks the full release for codes spread evenly over all of it, and the
fragment for every code it has. The headline ratio is taken with the answer and response caches
off, so both sides do the same work per request; the figure "as served" (caches on) is printed
beside it, and differs mostly because the fragment's few codes are all answered from the caches.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import requests as requests_lib

from bench.harness import ROOT as REPOSITORY
from bench.harness import SERVICE_APP, served, worker_memory
from terminology import create_app
from terminology.config import bundled_content_dirs
from terminology.engine.systems import CPT
from terminology.importers.cpt import import_cpt
from tests.importers.synthetic import write_cpt_release


def synthetic_codes(count: int) -> dict[str, str]:
    """Return ``count`` synthetic codes (Z0000..., then Y0000...) with descriptors of realistic length."""
    codes = {}
    for n in range(count):
        prefix = "ZYXW"[n // 10000]
        codes[f"{prefix}{n % 10000:04d}"] = (
            f"Synthetic procedure {n}, of a synthetic region; with synthetic material, "
            f"including synthetic guidance and synthetic interpretation, variant {n % 7}"
        )
    return codes


def fragment_cpt_codes(content_dirs: list[str]) -> list[str]:
    """Return every non-modifier CPT code of the bundled fragment."""
    from terminology.content.loader import load_registry

    registry = load_registry([Path(d) for d in content_dirs])
    cpt = registry.code_system(CPT)
    return [c.code for c in cpt.order if not cpt.is_modifier(c)]


def time_import(folder: Path, out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    report = import_cpt(folder, "2026", out)
    return time.perf_counter() - started, report.concepts


def lookup_rate(client, codes: list[str], requests: int, seed: int) -> float:
    """Return $lookup calls per CPU second over random codes (Flask test client: no network).

    CPU time of this process, not wall time: on a machine shared with other work the wall clock
    mostly measures the neighbours.
    """
    chooser = random.Random(seed)
    picks = [chooser.choice(codes) for _ in range(requests)]
    started = time.process_time()
    for code in picks:
        response = client.get("/CodeSystem/$lookup", query_string={"system": CPT, "code": code})
        if response.status_code != 200:
            raise SystemExit(
                f"lookup of {code} failed: {response.status_code} {response.get_data(as_text=True)}"
            )
    return requests / (time.process_time() - started)


def worker_memory_with(content_dirs: list[str], sample: list[str]) -> list[dict]:
    """Serve the content (2 workers, 127.0.0.1), do some lookups, return each worker's memory (MB)."""
    env = {"TERMINOLOGY_CONTENT_DIRS": ":".join(content_dirs), "TERMINOLOGY_LOG_LEVEL": "warning"}
    with served(SERVICE_APP, 2, env) as server, requests_lib.Session() as session:
        url = f"{server.base}/CodeSystem/$lookup?system={CPT}&code="
        for code in sample * 20:
            session.get(url + code, timeout=5)
        return worker_memory(server.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codes", type=int, default=11000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict = {"codes": args.codes, "machine": f"{os.cpu_count()} CPUs, shared with other work"}
    with tempfile.TemporaryDirectory(prefix="terminology-bench-") as tmp:
        tmp_path = Path(tmp)
        base = synthetic_codes(args.codes)
        folder = write_cpt_release(tmp_path / "ama", base)
        out = tmp_path / "content"
        seconds, concepts = time_import(folder, out)
        size = (out / "cpt-2026.json").stat().st_size
        results["import"] = {"seconds": round(seconds, 2), "concepts": concepts, "json_bytes": size}
        print(f"import: {concepts} concepts in {seconds:.2f} s ({size / 1e6:.1f} MB JSON)")

        started = time.perf_counter()
        quiet = {"ACCESS_LOG": False, "METRICS": False}  # compare the engine, not the log line
        uncached = {**quiet, "RESULT_CACHE_SIZE": 0, "RESPONSE_CACHE_MB": 0}
        full_dirs, fragment_dirs = [str(out)], bundled_content_dirs()
        create_app(config={"CONTENT_DIRS": full_dirs, **quiet})
        results["app_start_full_seconds"] = round(time.perf_counter() - started, 2)
        fragment_codes = fragment_cpt_codes(fragment_dirs)
        # Codes spread evenly over the whole release (every k-th of the sorted codes).
        full_codes = sorted(base)[:: max(1, len(base) // 1000)]
        for label, config in (("caches off", uncached), ("as served, caches on", quiet)):
            clients = {
                "fragment": create_app(config={"CONTENT_DIRS": fragment_dirs, **config}).test_client(),
                "full": create_app(config={"CONTENT_DIRS": full_dirs, **config}).test_client(),
            }
            rates: dict[str, list[float]] = {"fragment": [], "full": []}
            for round_number in range(args.rounds):
                # Alternate the order so that machine noise falls on both sides.
                order = [("fragment", fragment_codes), ("full", full_codes)]
                for name, codes in order if round_number % 2 == 0 else reversed(order):
                    rates[name].append(lookup_rate(clients[name], codes, args.requests, round_number))
            medians = {name: statistics.median(values) for name, values in rates.items()}
            ratio = medians["full"] / medians["fragment"]
            per_second = {k: [round(v) for v in values] for k, values in rates.items()}
            results[f"lookup_per_second ({label})"] = per_second
            results[f"lookup_median_ratio_full_over_fragment ({label})"] = round(ratio, 3)
            print(f"$lookup per CPU second, {label} (test client): fragment {medians['fragment']:.0f} "
                  f"({len(fragment_codes)} codes), full release {medians['full']:.0f} "
                  f"({len(full_codes)} codes spread over {len(base):,}): ratio {ratio:.2f}")  # fmt: skip

        memory_full = worker_memory_with([str(out)], full_codes[:50])
        memory_fragment = worker_memory_with(bundled_content_dirs(), fragment_codes)
        results["worker_memory_mb"] = {"full": memory_full, "fragment": memory_fragment}
        for name, workers in (("full", memory_full), ("fragment", memory_fragment)):
            for w in workers:
                print(f"worker ({name}): RSS {w['rss_mb']:.0f} MiB, PSS {w['pss_mb']:.0f} MiB, "
                      f"private {w['private_mb']:.0f} MiB")  # fmt: skip
    results_dir = REPOSITORY / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "importers.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
