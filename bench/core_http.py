"""Benchmark the core operations over HTTP with wrk against a Flask hello-world ceiling.

Starts `terminology serve` and bench/hello.py under the same gunicorn settings on 127.0.0.1,
then drives GET CodeSystem/$lookup, GET CodeSystem/$validate-code, POST ValueSet/$validate-code
and GET ValueSet/$expand?filter=… with random codes (about 9 % unknown) at concurrency 1 and 10.
Prints req/s, p50, p99 and the ratio to hello-world. Needs wrk (Debian: apt-get install wrk).

    .venv/bin/python -m bench.core_http [--duration 10] [--workers 2] [--rounds 3] [--uncached]

The random codes repeat, so with the defaults most answers come from the response cache and the
answer memo; --uncached turns both off (TERMINOLOGY_RESPONSE_CACHE_MB=0,
TERMINOLOGY_RESULT_CACHE_SIZE=0) to show what computing every answer costs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics

from bench.harness import HELLO_APP, ROOT, SERVICE_APP, run_wrk, served
from terminology.config import load_settings

LUA = ROOT / "bench" / "wrk_codes.lua"
OPERATIONS = [
    ("GET CodeSystem/$lookup", "lookup"),
    ("GET CodeSystem/$validate-code", "cs-validate"),
    ("POST ValueSet/$validate-code", "vs-validate"),
    ("GET ValueSet/$expand?filter", "expand"),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--workers", type=int, default=load_settings().workers)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat each paired run; the median ratio is reported (default 1)",
    )
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="turn the response cache and the answer memo off: every answer is computed",
    )
    args = parser.parse_args()
    caches = {}
    if args.uncached:
        caches = {"TERMINOLOGY_RESPONSE_CACHE_MB": "0", "TERMINOLOGY_RESULT_CACHE_SIZE": "0"}
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with served(HELLO_APP, args.workers) as hello, served(SERVICE_APP, args.workers, caches) as service:
        hello_base, service_base = hello.base, service.base
        for base, mode in ((hello_base, "hello"), (service_base, "lookup")):
            run_wrk(base, LUA, mode, 10, 2)  # warm-up
        print(
            f"workers={args.workers} duration={args.duration}s wrk -t1; 'unknown' codes are ~9 % of "
            f"requests; {'caches off' if args.uncached else 'caches on (defaults)'}"
        )
        print(
            "each operation run is paired with an adjacent hello-world run; ratio = operation / that ceiling"
        )
        print(
            f"{'operation':34} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'hello/s':>8} {'ratio':>6}"
        )
        for label, mode in OPERATIONS:
            for c in (1, 10):
                pairs = []
                for _ in range(args.rounds):
                    ceiling = run_wrk(hello_base, LUA, "hello", c, args.duration)
                    pairs.append((run_wrk(service_base, LUA, mode, c, args.duration), ceiling))
                # With several rounds, the pair whose ratio is the median is reported.
                r, ceiling = sorted(pairs, key=lambda p: p[0]["rps"] / p[1]["rps"])[len(pairs) // 2]
                ratios = [p[0]["rps"] / p[1]["rps"] for p in pairs]
                spread = f"  ({min(ratios):.2f}-{max(ratios):.2f})" if len(pairs) > 1 else ""
                print(
                    f"{label:34} {c:>4} {r['rps']:>8.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                    f"{ceiling['rps']:>8.0f} {statistics.median(ratios):>6.2f}{spread}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
