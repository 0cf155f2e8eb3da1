"""Benchmark `$batch-validate-code`: codes validated per second, 100 codings per request vs one.

Starts the service under the project's gunicorn settings on 127.0.0.1 and drives
POST ValueSet/$validate-code (one code per request) and POST ValueSet/$batch-validate-code
(100 codings per request, about 9 % unknown) with wrk at concurrency 1, 4 and 10.
Target: >= 50,000 codes/s with batches. Needs wrk (Debian: apt-get install wrk).

    .venv/bin/python -m bench.batch_http [--duration 10] [--workers 2] [--size 100] [--uncached]
"""

from __future__ import annotations

import argparse
import os
import shutil

from bench.harness import ROOT, SERVICE_APP, run_wrk, served
from terminology.config import load_settings

LUA = ROOT / "bench" / "wrk_batch.lua"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--workers", type=int, default=load_settings().workers)
    parser.add_argument("--size", type=int, default=100, help="codings per batch request (default 100)")
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="turn the per-worker answer memo off (TERMINOLOGY_RESULT_CACHE_SIZE=0): every distinct item "
        "of a batch is checked (a repeat within one request is answered once)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    os.environ["BENCH_BATCH"] = str(args.size)
    caches = {"TERMINOLOGY_RESULT_CACHE_SIZE": "0"} if args.uncached else {}
    with served(SERVICE_APP, args.workers, caches) as server:
        base = server.base
        run_wrk(base, LUA, "batch", 4, 2)  # warm-up
        print(
            f"workers={args.workers} duration={args.duration}s batch size={args.size}; ~9 % unknown codes; "
            f"answer memo {'off' if args.uncached else 'on (default)'}"
        )
        print(f"{'request':40} {'conc':>4} {'req/s':>8} {'codes/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        single_best = batch_best = 0.0
        for mode, per_request in (("single", 1), ("batch", args.size)):
            for c in (1, 4, 10):
                r = run_wrk(base, LUA, mode, c, args.duration)
                codes = r["rps"] * per_request
                label = (
                    "POST ValueSet/$validate-code"
                    if mode == "single"
                    else "POST ValueSet/$batch-validate-code"
                )
                print(f"{label:40} {c:>4} {r['rps']:>8.0f} {codes:>9.0f} {r['p50']:>7.2f} {r['p99']:>7.2f}")
                if mode == "single":
                    single_best = max(single_best, codes)
                else:
                    batch_best = max(batch_best, codes)
        print(f"best: {batch_best:,.0f} codes/s batched vs {single_best:,.0f} codes/s one per request "
              f"({batch_best / single_best:.1f}x); target >= 50,000 codes/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
