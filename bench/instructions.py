"""Compare the cost per request of two checkouts: instructions (callgrind) or CPU time, request by request.

The wrk benchmarks (bench.core_http, bench.batch_http, bench.bench_bundling) measure req/s, which on
a shared 2-core machine moves by more than the 10 % this is meant to catch. This harness runs the
same request kinds through each checkout's WSGI app in-process (as gunicorn calls it: a WSGI environ
in, the body iterated and closed) and counts what one request costs:

- ``--method callgrind`` (default): CPU instructions per request under ``valgrind --tool=callgrind``,
  counted only over the measured requests (client requests from a tiny C helper switch counting on
  and dump it per kind); deterministic, whatever else the machine is doing.
- ``--method time``: the fastest of many rounds of in-process wall time per request (quick, noisier).
- ``--profile KIND``: cProfile of KIND in the current checkout, top functions by own time.

Request kinds follow the wrk scripts: the codes of ``bench/wrk_codes.lua`` (20 known, 2 unknown: about
9 %), the filters of its ``expand`` mode, 100-coding ``$batch-validate-code`` bodies as
``bench/wrk_batch.lua`` builds them, and the typical and worst 10-line ``$bundling-check`` claims of
``bench/bench_bundling.py`` over its synthetic NCCI edition (generated once, imported per checkout).
Each kind runs with the caches as served and, where the wrk benchmark has an ``--uncached`` form,
with the response cache and answer memo off. Every checkout runs under its own ``.venv``.

    .venv/bin/python -m bench.instructions [--base /work/wt/base] [--current .] [--method time]
                                            [--kinds lookup,expand] [--groups core,uncached,bundling]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
CPT = "http://www.ama-assn.org/go/cpt"
VS_ALL = "https://terminology.example.org/fhir/ValueSet/cpt-spine-all"
# bench/wrk_codes.lua: 20 known codes (some with modifiers) and 2 unknown ones.
# fmt: off
KNOWN = ["72020", "72125", "72126", "72127", "72240", "72255", "72265", "72270", "62284", "62302", "62303",
         "62304", "62305", "72126:26", "62302:59", "72125:XS", "26", "59", "72127:26", "72240:26"]
# fmt: on
UNKNOWN = ["99999", "00000"]
FILTERS = ["cerv", "myelo", "contrast", "thoracic", "7212", "lumbo", "injection", "regions"]
BATCH_SIZE = 100
BATCH_BODIES = 8

# Groups: one app (one child process) each, with its environment.
GROUPS = {
    "core": {},
    "uncached": {"TERMINOLOGY_RESPONSE_CACHE_MB": "0", "TERMINOLOGY_RESULT_CACHE_SIZE": "0"},
    "bundling": {},
}
KINDS = {
    "core": ["lookup", "cs-validate", "vs-validate", "expand", "batch"],
    # batch-distinct: every item of a body differs, so answering a repeat once inside a request (as the
    # current code does) cannot flatter the uncached batch figure.
    "uncached": ["lookup", "cs-validate", "vs-validate", "expand", "batch", "batch-distinct"],
    "bundling": ["bundling-typical", "bundling-worst"],
}
# Requests measured per kind (whole cycles of its request list) and warm-up cycles before.
MEASURED_CYCLES = {"batch": 1, "batch-distinct": 4, "bundling-typical": 4, "bundling-worst": 4}
WARM_CYCLES = 3

TOGGLE_C = r"""
#include <valgrind/callgrind.h>
void perf_zero(void) { CALLGRIND_ZERO_STATS; }
void perf_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void perf_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
void perf_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


# ---------------------------------------------------------------- requests (shared by parent and child)


def _codes() -> list[str]:
    return [*KNOWN, *UNKNOWN]


def _coding_param(code: str) -> str:
    return f'{{"name":"system","valueUri":"{CPT}"}},{{"name":"code","valueCode":"{code}"}}'


def request_specs(kind: str, claims: dict | None = None) -> list[tuple[str, str, str, bytes]]:
    """Return the (method, path, query, body) requests of one cycle of ``kind``."""
    if kind == "lookup":
        return [("GET", "/CodeSystem/$lookup", f"system={CPT}&code={c}", b"") for c in _codes()]
    if kind == "cs-validate":
        return [("GET", "/CodeSystem/$validate-code", f"url={CPT}&code={c}", b"") for c in _codes()]
    if kind == "vs-validate":
        return [
            ("POST", "/ValueSet/$validate-code", "",
             f'{{"resourceType":"Parameters","parameter":[{{"name":"url","valueUri":"{VS_ALL}"}},'
             f"{_coding_param(c)}]}}".encode())
            for c in _codes()
        ]  # fmt: skip
    if kind == "expand":
        return [("GET", "/ValueSet/$expand", f"url={VS_ALL}&count=10&filter={f}", b"") for f in FILTERS]
    if kind in ("batch", "batch-distinct"):
        rng = random.Random(7)
        known = [c for c in KNOWN if c not in ("72240:26", "72127:26")]  # bench/wrk_batch.lua's list
        bodies = []
        for _ in range(BATCH_BODIES if kind == "batch" else 1):
            if kind == "batch":
                codes = [rng.choice(UNKNOWN) if rng.randrange(11) == 0 else rng.choice(known)
                         for _ in range(BATCH_SIZE)]  # fmt: skip
            else:
                codes = [*KNOWN, *UNKNOWN]  # each of the 22 codes once
            items = [
                '{"name":"validation","resource":{"resourceType":"Parameters","parameter":['
                f"{_coding_param(code)}]}}}}"
                for code in codes
            ]
            body = (
                f'{{"resourceType":"Parameters","parameter":[{{"name":"url","valueUri":"{VS_ALL}"}},'
                + ",".join(items)
                + "]}"
            )
            bodies.append(("POST", "/ValueSet/$batch-validate-code", "", body.encode()))
        return bodies
    if kind.startswith("bundling-"):
        body = json.dumps(claims[kind.removeprefix("bundling-")]).encode()
        return [("POST", "/$bundling-check", "", body)]
    raise SystemExit(f"unknown kind {kind}")


# ---------------------------------------------------------------- child: runs inside one checkout


def _environ(method: str, path: str, query: str, body: bytes) -> dict:
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode().decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if method == "POST":
        environ["CONTENT_TYPE"] = "application/fhir+json"
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _call(app, spec, statuses: list) -> None:
    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    result = app(_environ(*spec), start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _count_inside(target: str, toggle) -> None:
    """Count instructions only while ``module:Qualified.name`` runs (outermost calls; no recursion)."""
    import functools
    import importlib

    module_name, _, qualname = target.partition(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    depth = [0]

    @functools.wraps(original)
    def counted(*args, **kwargs):
        depth[0] += 1
        if depth[0] == 1:
            toggle.perf_toggle()
        try:
            return original(*args, **kwargs)
        finally:
            if depth[0] == 1:
                toggle.perf_toggle()
            depth[0] -= 1

    if isinstance(owner, type) and isinstance(owner.__dict__.get(name), staticmethod):
        setattr(owner, name, staticmethod(counted))
        return
    setattr(owner, name, counted)
    # Modules that imported the function by name hold it too (bound methods kept elsewhere do not see this).
    for module in list(sys.modules.values()):
        for attribute, value in list(getattr(module, "__dict__", {}).items()):
            if value is original:
                setattr(module, attribute, counted)


def child(args: argparse.Namespace) -> int:
    """Build the app of this checkout, run each kind's requests and report (or dump) the counts."""
    spec = json.loads(Path(args.spec).read_text())
    log = open(args.log, "w")  # noqa: SIM115 (the app's JSON request lines go here)
    real_stdout = sys.stdout
    sys.stdout = log
    from terminology import create_app

    app = create_app()
    # The heap loaded at start-up (content, modules) is set aside from the cyclic garbage collector:
    # otherwise a full collection, which walks all of it, lands in one kind's window or another's
    # depending on what ran before, and moves a figure by 10 %.
    gc.collect()
    gc.freeze()
    toggle = None
    if args.method == "callgrind":
        import ctypes

        toggle = ctypes.CDLL(args.toggle)
        toggle.perf_dump.argtypes = [ctypes.c_char_p]
        toggle.perf_start()
        for target in args.inside:
            _count_inside(target, toggle)
    results = {}
    for kind in spec["kinds"]:
        requests = [(*r[:3], r[3].encode("latin-1")) for r in spec["requests"][kind]]
        statuses: list = []
        for _ in range(WARM_CYCLES):
            for r in requests:
                _call(app, r, statuses)
        bad = sorted({s for s in statuses if not s.startswith(("200", "404", "400", "422"))})
        if bad:
            raise SystemExit(f"{kind}: unexpected statuses {bad}")
        cycles = MEASURED_CYCLES.get(kind, 2)
        count = cycles * len(requests)
        if args.method == "callgrind":
            # Two windows, of ``cycles`` and of twice as many: their difference is the cost of the
            # extra requests alone, free of what a window costs whatever it holds (zeroing, dumping).
            for window, repeat in (("short", cycles), ("long", 2 * cycles)):
                toggle.perf_zero()
                for _ in range(repeat):
                    for r in requests:
                        _call(app, r, statuses)
                toggle.perf_dump(f"{kind} {window}".encode())
            results[kind] = {"requests": count}
        elif args.method == "profile":
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(cycles * 20):
                for r in requests:
                    _call(app, r, statuses)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            total = count = 0
            by_module: dict[str, list] = {}
            for (filename, _, _), (_, calls, tottime, _, _) in stats.stats.items():
                module = filename.split("site-packages/")[-1].split("/terminology/")[-1]
                row = by_module.setdefault(module, [0, 0.0])
                row[0] += calls
                row[1] += tottime
                total += tottime
                count += calls
            requests_run = cycles * 20 * len(requests)
            out.write(f"per request: {count / requests_run:.0f} calls, {total / requests_run * 1e6:.0f} us "
                      "(profiled); own time by module:\n")  # fmt: skip
            for module, (calls, tottime) in sorted(by_module.items(), key=lambda kv: -kv[1][1])[: args.top]:
                out.write(
                    f"  {tottime / requests_run * 1e6:8.1f} us {calls / requests_run:8.1f} calls  {module}\n"
                )
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
            results[kind] = {"profile": out.getvalue(), "requests": cycles * 20 * len(requests)}
        else:
            best = float("inf")
            for _ in range(args.rounds):
                started = time.perf_counter()
                for _ in range(cycles):
                    for r in requests:
                        _call(app, r, statuses)
                best = min(best, time.perf_counter() - started)
            results[kind] = {"requests": count, "us": best / count * 1e6}
    sys.stdout = real_stdout
    Path(args.out).write_text(json.dumps(results))
    return 0


# ---------------------------------------------------------------- parent: prepares data, runs children


def _python(checkout: Path) -> str:
    """The checkout's own .venv, else this interpreter (PYTHONPATH puts the checkout's code first)."""
    own = checkout / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def _toggle_library(work: Path) -> Path:
    lib = work / "callgrind_toggle.so"
    source = work / "callgrind_toggle.c"
    if not lib.exists() or not source.exists() or source.read_text() != TOGGLE_C:
        source.write_text(TOGGLE_C)
        subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    return lib


def _content_dirs(checkout: Path) -> list[str]:
    code = (
        "import json\n"
        "try:\n from terminology.config import bundled_content_dirs as d; dirs = d()\n"
        "except ImportError:\n from terminology.config import DEFAULT_CONTENT_DIRS as dirs\n"
        "print(json.dumps([str(x) for x in dirs]))"
    )
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        [_python(checkout), "-c", code], cwd=checkout, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _tree(checkout: Path, path: str) -> str:
    """Return the git object id of ``path`` at the checkout's HEAD ("HEAD" itself: the commit)."""
    ref = "HEAD" if path == "HEAD" else f"HEAD:{path}"
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


def prepare_bundling(work: Path, checkouts: dict[str, Path]) -> tuple[dict, dict[str, dict]]:
    """Generate the synthetic NCCI edition once, import it per checkout; return claims and environments."""
    sys.path.insert(0, str(HERE.parent.parent))
    from bench.bench_bundling import body_for, claim_codes, typical_codes, write_code_system

    files = work / "ncci-files"
    if not (files / "ccipra-v322r0-f4.TXT").exists():
        subprocess.run([sys.executable, str(HERE.parent / "generate_ncci.py"), str(files)], check=True)
    content = write_code_system(work / "content")
    envs = {}
    index_for_claims = None
    for label, checkout in checkouts.items():
        # One index per version of the importer: a checkout with the same importer reuses it.
        data = work / f"index-{_tree(checkout, 'terminology/ncci')[:12]}"
        index = data / "ncci.sqlite"
        if not index.exists():
            print(f"importing the synthetic NCCI edition with {label} ({checkout}) ...", file=sys.stderr)
            env = {**os.environ, "TERMINOLOGY_DATA_DIR": str(data), "PYTHONPATH": str(checkout)}
            cli = [_python(checkout), "-m", "terminology", "import"]
            parts = sorted(str(p) for p in files.glob("ccipra-*.TXT"))
            subprocess.run(
                [*cli, "ncci-ptp", *parts], check=True, env=env, cwd=checkout, stdout=subprocess.DEVNULL
            )
            mue = str(next(files.glob("MCR_MUE_*.csv")))
            subprocess.run([*cli, "mue", mue], check=True, env=env, cwd=checkout, stdout=subprocess.DEVNULL)
        index_for_claims = index_for_claims or index
        dirs = [*_content_dirs(checkout), str(content)]
        envs[label] = {"TERMINOLOGY_DATA_DIR": str(data), "TERMINOLOGY_CONTENT_DIRS": ":".join(dirs)}
    claims = {
        "typical": body_for(typical_codes(index_for_claims, 10)),
        "worst": body_for(claim_codes(index_for_claims, 10)),
    }
    return claims, envs


def run_child(checkout: Path, group: str, kinds: list[str], method: str, work: Path, env: dict,
              claims: dict | None, rounds: int, top: int, keep: Path | None = None,
              inside: tuple[str, ...] = ()) -> dict:  # fmt: skip
    """Run one group of kinds in a child process of ``checkout``; return per-kind figures."""
    specs = {k: [(m, p, q, b.decode("latin-1")) for m, p, q, b in request_specs(k, claims)] for k in kinds}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmp = Path(tmp)
        spec = tmp / "spec.json"
        spec.write_text(json.dumps({"kinds": kinds, "requests": specs}))
        out = tmp / "out.json"
        # The feedback store and imported data of a plain run go to a scratch directory.
        child_env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(checkout),
                     "TERMINOLOGY_DATA_DIR": str(tmp / "data"), **GROUPS[group], **env}  # fmt: skip
        command = [_python(checkout), str(HERE), "--child", "--spec", str(spec), "--out", str(out),
                   "--method", method, "--log", str(tmp / "requests.log"), "--rounds", str(rounds),
                   "--top", str(top)]  # fmt: skip
        if method == "callgrind":
            lib = _toggle_library(work)
            collect = ["--collect-atstart=no"] if inside else []
            command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", *collect,
                       f"--callgrind-out-file={tmp}/cg.out", *command, "--toggle", str(lib),
                       *(f"--inside={target}" for target in inside)]  # fmt: skip
        done = subprocess.run(command, cwd=checkout, env=child_env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{checkout} {group} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        results = json.loads(out.read_text())
        if method == "callgrind":
            windows: dict[tuple[str, str], int] = {}
            for dump in tmp.glob("cg.out*"):
                trigger, total = None, None
                for line in dump.read_text(errors="replace").splitlines():
                    if line.startswith("desc: Trigger: Client Request: "):
                        trigger = line.removeprefix("desc: Trigger: Client Request: ").strip()
                    elif line.startswith("summary:"):
                        # The events counted in the window. (The "totals:" line at the end is not: it
                        # also holds costs of the calls that were running when the counts were zeroed.)
                        total = int(line.split()[1])
                if trigger is None or total is None or " " not in trigger:
                    continue
                kind, window = trigger.rsplit(" ", 1)
                if kind in results:
                    windows[(kind, window)] = total
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        label = checkout.name or "root"
                        shutil.copy(dump, keep / f"callgrind.{label}.{group}.{kind}.{window}")
            for kind, figures in results.items():
                if (kind, "short") in windows and (kind, "long") in windows:
                    extra = windows[(kind, "long")] - windows[(kind, "short")]
                    figures["instructions"] = extra / figures["requests"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--toggle", help=argparse.SUPPRESS)
    parser.add_argument(
        "--inside",
        action="append",
        default=[],
        help="count only inside this function (module:Qualified.name; repeatable: the union); "
        "a name the checkout lacks fails its run",
    )
    parser.add_argument("--base", type=Path, default=Path("/work/wt/base"), help="the reference checkout")
    parser.add_argument("--current", type=Path, default=HERE.parent.parent, help="the checkout to compare")
    parser.add_argument("--method", choices=("callgrind", "time", "profile"), default="callgrind")
    parser.add_argument("--groups", default=",".join(GROUPS), help="core,uncached,bundling")
    parser.add_argument("--kinds", default="", help="only these kinds (comma-separated)")
    parser.add_argument("--rounds", type=int, default=30, help="--method time: rounds, the fastest counts")
    parser.add_argument("--top", type=int, default=35, help="--method profile: functions shown")
    parser.add_argument("--profile", default="", help="profile this kind in --current (GROUP:KIND)")
    parser.add_argument("--work", type=Path, default=HERE.parent / "results" / "instructions")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--keep", type=Path, help="keep the callgrind dumps here, for callgrind_annotate"
    )
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.profile:
        group, kind = args.profile.split(":")
        checkouts = {"current": args.current.resolve()}
        claims, envs = prepare_bundling(args.work, checkouts) if group == "bundling" else (None, {})
        result = run_child(checkouts["current"], group, [kind], "profile", args.work,
                           envs.get("current", {}), claims, args.rounds, args.top)  # fmt: skip
        print(result[kind]["profile"])
        return 0
    checkouts = {"base": args.base.resolve(), "current": args.current.resolve()}
    groups = [g for g in args.groups.split(",") if g]
    only = {k for k in args.kinds.split(",") if k}
    claims, envs = (None, {})
    if "bundling" in groups:
        claims, envs = prepare_bundling(args.work, checkouts)
    unit = "instructions/request" if args.method == "callgrind" else "us/request (fastest round)"
    field = "instructions" if args.method == "callgrind" else "us"
    figures: dict = {}
    for group in groups:
        kinds = [k for k in KINDS[group] if not only or k in only]
        if not kinds:
            continue
        for label, checkout in checkouts.items():
            started = time.monotonic()
            result = run_child(checkout, group, kinds, args.method, args.work, envs.get(label, {}), claims,
                               args.rounds, args.top, args.keep, tuple(args.inside))  # fmt: skip
            print(f"  {label} {group}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            for kind in kinds:
                figures.setdefault(f"{group}:{kind}", {})[label] = result[kind][field]
    commits = {label: _tree(c, "HEAD")[:8] for label, c in checkouts.items()}
    print(f"{unit}; base {checkouts['base']} @ {commits['base']}, current {checkouts['current']} @ "
          f"{commits['current']}")  # fmt: skip
    scale = 1e3 if args.method == "callgrind" else 1
    suffix = " k" if args.method == "callgrind" else ""
    print(f"| {'request kind':30} | {'base' + suffix:>10} | {'current' + suffix:>10} | {'ratio':>6} |")
    print(f"|{'-' * 32}|{'-' * 11}:|{'-' * 11}:|{'-' * 6}:|")
    for name, row in figures.items():
        ratio = row["current"] / row["base"]
        flag = " !" if ratio > 1.10 else ""
        print(f"| {name:30} | {row['base'] / scale:>10.1f} | {row['current'] / scale:>10.1f} | "
              f"{ratio:>5.2f}{flag} |")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"method": args.method, "commits": commits, "figures": figures}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
