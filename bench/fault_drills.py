"""Fault drills on real processes (127.0.0.1): kill -9 during an import, cut files, concurrent imports,
a worker killed and SIGTERM under load. Prints what was lost: rows, acknowledged feedback, and failed
requests that a client could not retry (the target is 0, 0, 0).

    python -m bench.fault_drills                     # this checkout, 600,000 synthetic PTP rows
    python -m bench.fault_drills --rows 2600000      # a full-size edition (each import ~30 s)
    python -m bench.fault_drills --code ../base      # the same drills against another checkout

Every row and code is synthetic (bench/generate_ncci.py). Results also go to
bench/results/fault_drills.json. What "could retry" means, per request:

- the connection was refused (nothing was sent), or the server answered 503: any client may retry;
- a GET, or a POST of a read-only operation ($bundling-check: affectsState false), that failed after
  it was sent (reset, timeout, 5xx): repeating it is safe, so it counts as retryable (and is listed);
- a CDS Hooks feedback POST that failed after it was sent: the client cannot tell whether it was
  stored, so it counts as NOT retryable, unless the drill finds the service stores a repeated
  entry only once (then repeating it is safe);
- any other answer to a valid request (4xx, or 5xx that is not 503 on feedback) is a failure that
  retrying does not fix.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3

from bench.harness import free_port

REPO = Path(__file__).resolve().parent.parent
CPT = "http://www.ama-assn.org/go/cpt"
EDITION, NEXT_EDITION = "v322r0", "v323r0"  # 2026 Q3 and Q4
MUE_NAME = "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"
NEXT_MUE_NAME = "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv"


# --- the code under test ------------------------------------------------------------------------


@dataclass
class Checkout:
    """A checkout whose `terminology` command the drills run (its own .venv, else this Python)."""

    root: Path
    python: str
    flags: set[str] = field(default_factory=set)

    @classmethod
    def at(cls, root: Path) -> Checkout:
        venv = root / ".venv" / "bin" / "python"
        checkout = cls(root, str(venv) if venv.exists() else sys.executable)
        # Older code has no --replace (a re-import replaced silently): use the options it has.
        helptext = checkout.run(["import", "ncci-ptp", "--help"], root).stdout
        checkout.flags = {flag for flag in ("--replace", "--force") if flag in helptext}
        return checkout

    def env(self, data: Path) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERMINOLOGY_")}
        return {**env, "TERMINOLOGY_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}

    def command(self, args: list[str]) -> list[str]:
        return [self.python, "-m", "terminology", *args]

    def run(self, args: list[str], data: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(args), cwd=self.root, env=self.env(data), capture_output=True, text=True, timeout=900
        )

    def start(self, args: list[str], data: Path, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(args), cwd=self.root, env=self.env(data), text=True, **kwargs)

    def replace(self) -> list[str]:
        return ["--replace"] if "--replace" in self.flags else []


# --- the index, read directly -------------------------------------------------------------------


def index_rows(data: Path) -> dict[str, int]:
    """Return rows actually stored per edition ("ptp practitioner v322r0" -> count); {} without an index."""
    path = data / "ncci.sqlite"
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = {}
        for edition_id, kind, setting, name in conn.execute("SELECT id, kind, setting, name FROM edition"):
            table = "ptp" if kind == "ptp" else "mue"
            (count,) = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE edition = ?", (edition_id,)
            ).fetchone()
            found[f"{kind} {setting} {name}"] = count
        return found
    finally:
        conn.close()


def leftovers(data: Path) -> list[str]:
    return [f"{p.name} ({p.stat().st_size / 1e6:.0f} MB)" for p in sorted(data.glob("ncci.sqlite.import-*"))]


# --- files --------------------------------------------------------------------------------------


def generate(files: Path, rows: int) -> None:
    marker = files / f".rows-{rows}"
    if marker.exists():
        return
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir(parents=True)
    subprocess.run(
        [sys.executable, str(REPO / "bench/generate_ncci.py"), str(files), "--rows", str(rows)], check=True
    )
    marker.touch()


def parts(files: Path, edition: str = EDITION) -> list[Path]:
    return sorted(files.glob(f"ccipra-{edition}-f*.TXT"))


def renamed(files: Path, out: Path) -> list[Path]:
    """Copy the four parts under the next quarter's names (same rows: a new edition to import)."""
    out.mkdir(parents=True, exist_ok=True)
    copies = []
    for part in parts(files):
        copy = out / part.name.replace(EDITION, NEXT_EDITION)
        if not copy.exists():
            shutil.copyfile(part, copy)
        copies.append(copy)
    return copies


def data_rows(path: Path) -> int:
    """Count the data rows of a generated PTP part or MUE table (lines that start with a code)."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line[:5].isalnum() and line[5:6] in (b"\t", b","))


def cut_mid_line(path: Path, out: Path, share: float) -> Path:
    """Write ``out``: ``path`` cut a few characters before the end of the line at ``share`` of its bytes."""
    raw = path.read_bytes()
    end_of_line = raw.index(b"\n", int(len(raw) * share))
    out.write_bytes(raw[: end_of_line - 6])
    return out


def cut_at_line_end(path: Path, out: Path, share: float) -> Path:
    raw = path.read_bytes()
    out.write_bytes(raw[: raw.index(b"\n", int(len(raw) * share)) + 1])
    return out


def damaged_zip(path: Path, out: Path) -> Path:
    """Zip ``path`` (stored, as a download of it would hold it) and change one byte of its data."""
    with zipfile.ZipFile(out, "w") as archive:
        archive.write(path, path.name)
    raw = bytearray(out.read_bytes())
    at = raw.index(b"\r\n", len(raw) // 2) - 3
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    out.write_bytes(bytes(raw))
    return out


# --- import drills ------------------------------------------------------------------------------


def baseline(code: Checkout, files: Path, work: Path) -> Path:
    """An index holding the full PTP edition v322r0 and the MUE table of 2026-07-01."""
    data = work / "baseline"
    shutil.rmtree(data, ignore_errors=True)
    for args in (["import", "ncci-ptp", *map(str, parts(files))], ["import", "mue", str(files / MUE_NAME)]):
        result = code.run(args, data)
        if result.returncode != 0:
            raise SystemExit(f"baseline import failed: {result.stderr}")
    return data


def fresh_copy(source: Path, data: Path) -> Path:
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.copyfile(source / "ncci.sqlite", data / "ncci.sqlite")
    return data


def drill_kill_during_import(code: Checkout, files: Path, base: Path, work: Path) -> dict:
    """kill -9 a re-import of the same edition once it reports progress; then run one more import."""
    data = fresh_copy(base, work / "kill9")
    before = index_rows(data)
    process = code.start(
        ["import", "ncci-ptp", *code.replace(), *map(str, parts(files))],
        data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for line in process.stderr:
        if "rows (" in line:  # the progress line: rows are being written to the new file
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    after = index_rows(data)
    left = leftovers(data)
    following = code.run(["import", "mue", str(_next_mue(files, work))], data)
    return {
        "drill": "kill -9 during a PTP import",
        "rows_lost": _lost(before, after),
        "index_intact": before == after,
        "left_after_kill": left,
        "next_import_exit": following.returncode,
        "left_after_next_import": leftovers(data),
    }


def _next_mue(files: Path, work: Path) -> Path:
    path = work / "next" / NEXT_MUE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        shutil.copyfile(files / MUE_NAME, path)
    return path


def _lost(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(max(rows - after.get(name, 0), 0) for name, rows in before.items())


def drill_cut_files(code: Checkout, files: Path, base: Path, work: Path) -> list[dict]:
    """Import cut or damaged copies as the next edition; count rows an accepted import lost."""
    cut = work / "cut"
    shutil.rmtree(cut, ignore_errors=True)
    cut.mkdir(parents=True)
    next_parts = renamed(files, work / "next")
    full_rows = sum(data_rows(p) for p in next_parts)
    f1, f2, f3, f4 = next_parts
    mue_rows = data_rows(files / MUE_NAME)
    cases = [
        (
            "PTP part f4 cut in the middle of a line",
            "ptp",
            [f1, f2, f3, cut_mid_line(f4, cut / f4.name, 0.6)],
        ),
        (
            "PTP part f2 cut at a line end (half of it)",
            "ptp",
            [f1, cut_at_line_end(f2, cut / f2.name, 0.5), f3, f4],
        ),
        (
            "PTP part f3 as a zip that fails its CRC check",
            "ptp",
            [f1, f2, damaged_zip(f3, cut / f3.name.replace(".TXT", ".zip")), f4],
        ),
        ("PTP part f3 missing", "ptp", [f1, f2, f4]),
        (
            "MUE CSV cut in the middle of a row",
            "mue",
            [cut_mid_line(_next_mue(files, work), cut / NEXT_MUE_NAME, 0.5)],
        ),
    ]
    results = []
    for label, kind, paths in cases:
        data = fresh_copy(base, work / "cut-data")
        before = index_rows(data)
        args = ["import", "ncci-ptp" if kind == "ptp" else "mue", *map(str, paths)]
        result = code.run(args, data)
        after = index_rows(data)
        name = f"ptp practitioner {NEXT_EDITION}" if kind == "ptp" else "mue practitioner 2026-10-01"
        expected = full_rows if kind == "ptp" else mue_rows
        imported = after.get(name, 0)
        results.append(
            {
                "drill": f"cut file: {label}",
                "exit": result.returncode,
                "refused": result.returncode != 0,
                "rows_expected": expected,
                "rows_imported": imported,
                # A refused import loses nothing (the operator fetches the file again); an accepted one
                # that holds fewer rows than the full file silently lost the difference.
                "rows_lost": (expected - imported if result.returncode == 0 else 0) + _lost(before, after),
                "index_intact_when_refused": result.returncode == 0 or before == after,
                "message": _last_error(result.stderr),
            }
        )
    return results


def _last_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith(("error", "Traceback", "zipfile"))]
    return (lines[0] if lines else stderr.strip().splitlines()[-1] if stderr.strip() else "")[:300]


def drill_concurrent_imports(code: Checkout, files: Path, base: Path, work: Path, runs: int) -> dict:
    """Start the next PTP edition and the next MUE table at the same moment; count editions lost."""
    next_parts = renamed(files, work / "next")
    mue = _next_mue(files, work)
    full = {
        f"ptp practitioner {NEXT_EDITION}": sum(data_rows(p) for p in next_parts),
        "mue practitioner 2026-10-01": data_rows(mue),
    }
    lost, rows, outcomes = 0, 0, []
    for _ in range(runs):
        data = fresh_copy(base, work / "concurrent")
        started = [
            code.start(args, data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for args in (["import", "ncci-ptp", *map(str, next_parts)], ["import", "mue", str(mue)])
        ]
        errors = [process.communicate(timeout=900)[1] for process in started]
        exits = [process.returncode for process in started]
        present = index_rows(data)
        missing = [
            name for name, exit_ in zip(full, exits, strict=True) if exit_ == 0 and name not in present
        ]
        lost += len(missing)
        rows += sum(full[name] for name in missing)
        waited = any("waiting for another import" in text for text in errors)
        outcomes.append({"exits": exits, "missing": missing, "one_waited": waited})
    return {
        "drill": "a PTP and an MUE import started together",
        "runs": outcomes,
        "editions_lost": lost,
        "rows_lost": rows,
    }


# --- serving drills -----------------------------------------------------------------------------


class Server:
    """`terminology serve` on 127.0.0.1 with two workers."""

    def __init__(self, code: Checkout, data: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (data / "server.log").open("a")
        self.process = code.start(
            ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
            data,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            try:
                if requests.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not start")

    def workers(self) -> list[int]:
        pid = self.process.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=90)
        self.log.close()


@dataclass
class Outcome:
    kind: str  # "get", "check" (read-only POST) or "feedback"
    result: str  # "ok", "refused", "503", "after-send", "http-<status>"
    fhir_body: bool = True
    card: str | None = None


class Load:
    """Client threads sending a mix of $lookup GETs, $bundling-check POSTs and feedback POSTs."""

    def __init__(self, base: str, name: str, threads: int = 6) -> None:
        self.base = base
        self.name = name
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _client(self, number: int) -> None:
        session = requests.Session()
        sent = 0
        while not self.stop.is_set():
            sent += 1
            kind = ("get", "check", "feedback")[sent % 3]
            card = f"drill-{self.name}-{number}-{sent}" if kind == "feedback" else None
            outcome = self._send(session, kind, card)
            with self.lock:
                self.outcomes.append(outcome)
            if outcome.result == "refused":
                time.sleep(0.05)  # the server is gone: do not spin

    def _send(self, session: requests.Session, kind: str, card: str | None) -> Outcome:
        try:
            if kind == "get":
                response = session.get(
                    f"{self.base}/CodeSystem/$lookup",
                    params={"system": CPT, "code": "72125"},
                    timeout=(5, 30),
                )
            elif kind == "check":
                response = session.post(f"{self.base}/$bundling-check", json=CLAIM, timeout=(5, 30))
            else:
                response = session.post(
                    f"{self.base}/cds-services/bundling-order-sign/feedback",
                    json=feedback(card),
                    timeout=(5, 30),
                )
        except requests.ConnectionError as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            refused = isinstance(reason, urllib3.exceptions.NewConnectionError) or isinstance(
                exc, requests.ConnectTimeout
            )
            session.close()
            return Outcome(kind, "refused" if refused else "after-send", card=card)
        except requests.RequestException:
            session.close()
            return Outcome(kind, "after-send", card=card)
        fhir = response.headers.get("Content-Type", "").split(";")[0] in (
            "application/fhir+json",
            "application/json",
        )
        if response.status_code == 200:
            return Outcome(kind, "ok", fhir, card)
        return Outcome(
            kind, "503" if response.status_code == 503 else f"http-{response.status_code}", fhir, card
        )


CLAIM = {
    "resourceType": "Parameters",
    "parameter": [
        {"name": "date", "valueDate": "2026-07-15"},
        *(
            {
                "name": "item",
                "part": [
                    {"name": "sequence", "valueInteger": n},
                    {"name": "code", "valueCoding": {"system": CPT, "code": code}},
                    {"name": "quantity", "valueInteger": 1},
                ],
            }
            for n, code in enumerate(("72125", "72126", "72127", "62284"), 1)
        ),
    ],
}


def feedback(card: str) -> dict:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"userComment": "fault drill (synthetic)"},
                "outcomeTimestamp": "2026-07-15T10:06:00Z",
            }
        ]
    }


def stored_cards(code: Checkout, data: Path) -> Counter:
    result = code.run(["feedback", "export", "--data-dir", str(data)], data)
    cards: Counter = Counter()
    for line in result.stdout.splitlines():
        cards[json.loads(line).get("card")] += 1
    return cards


def feedback_is_idempotent(code: Checkout, base_url: str, data: Path) -> bool:
    """Send one entry twice: a service that stores it once lets clients repeat an unanswered POST."""
    card = f"drill-idempotency-{time.time_ns()}"
    for _ in range(2):
        requests.post(
            f"{base_url}/cds-services/bundling-order-sign/feedback", json=feedback(card), timeout=30
        )
    return stored_cards(code, data)[card] == 1


def summarise(name: str, outcomes: list[Outcome], idempotent: bool, cards: Counter) -> dict:
    failures = [o for o in outcomes if o.result != "ok"]
    by_class = Counter(f"{o.kind} {o.result}" for o in failures)
    not_retryable = 0
    for outcome in failures:
        if outcome.result in ("refused", "503"):
            continue
        if outcome.kind in ("get", "check") and (
            outcome.result == "after-send" or outcome.result.startswith("http-5")
        ):
            continue  # read-only: safe to repeat
        if outcome.kind == "feedback" and idempotent and outcome.result != "http-400":
            continue
        not_retryable += 1
    acknowledged = [o.card for o in outcomes if o.kind == "feedback" and o.result == "ok"]
    return {
        "drill": name,
        "requests": len(outcomes),
        "ok": len(outcomes) - len(failures),
        "failed": len(failures),
        "failed_by_kind_and_class": dict(sorted(by_class.items())),
        "error_bodies_not_fhir": sum(1 for o in failures if o.result.startswith("http-") and not o.fhir_body),
        "not_retryable": not_retryable,
        "feedback_acknowledged": len(acknowledged),
        "acknowledged_feedback_lost": sum(1 for card in acknowledged if cards[card] == 0),
        # Feedback POSTs that failed after they were sent and were stored all the same: a client that
        # repeated them would have stored them twice.
        "feedback_unanswered_but_stored": sum(
            1 for o in failures if o.kind == "feedback" and o.result != "refused" and cards[o.card] > 0
        ),
    }


def drill_worker_kill(code: Checkout, base: Path, work: Path, seconds: float, kills: int) -> dict:
    """kill -9 a serving worker ``kills`` times under load (gunicorn starts a new one each time)."""
    data = fresh_copy(base, work / "serve-kill")
    server = Server(code, data)
    try:
        idempotent = feedback_is_idempotent(code, server.base, data)
        with Load(server.base, "worker-kill") as load:
            time.sleep(seconds / (kills + 1))
            for kill in range(kills):
                workers = server.workers()
                os.kill(workers[kill % len(workers)], signal.SIGKILL)
                time.sleep(seconds / (kills + 1))
    finally:
        server.stop()
    result = summarise(
        f"worker killed (kill -9) under load, {kills} times",
        load.outcomes,
        idempotent,
        stored_cards(code, data),
    )
    result["feedback_idempotent"] = idempotent
    return result


def drill_sigterm(code: Checkout, base: Path, work: Path, seconds: float) -> dict:
    data = fresh_copy(base, work / "serve-term")
    server = Server(code, data)
    try:
        idempotent = feedback_is_idempotent(code, server.base, data)
        with Load(server.base, "sigterm") as load:
            time.sleep(seconds / 2)
            server.process.send_signal(signal.SIGTERM)
            exit_code = server.process.wait(timeout=90)
            time.sleep(1)  # clients now see refused connections: the service is gone, as intended
    finally:
        server.stop()
    result = summarise(
        "SIGTERM to the master under load", load.outcomes, idempotent, stored_cards(code, data)
    )
    result["master_exit"] = exit_code
    return result


# --- report -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/terminology-fault-drills"))
    parser.add_argument("--rows", type=int, default=600_000, help="synthetic PTP rows (default 600,000)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout to drill (default: this one)")
    parser.add_argument("--seconds", type=float, default=10, help="load time of each serving drill")
    parser.add_argument("--concurrent-runs", type=int, default=3)
    parser.add_argument("--worker-kills", type=int, default=5, help="workers killed in the worker drill")
    parser.add_argument("--only", choices=("imports", "serving"), help="run one group of drills")
    args = parser.parse_args()
    code = Checkout.at(args.code.resolve())
    work = args.work
    files = work / "files"
    generate(files, args.rows)
    print(f"drilling {code.root} ({args.rows:,} synthetic PTP rows; work in {work})", file=sys.stderr)
    base = baseline(code, files, work)
    results: list[dict] = []
    if args.only in (None, "imports"):
        results.append(drill_kill_during_import(code, files, base, work))
        results += drill_cut_files(code, files, base, work)
        results.append(drill_concurrent_imports(code, files, base, work, args.concurrent_runs))
    if args.only in (None, "serving"):
        results.append(drill_worker_kill(code, base, work, args.seconds, args.worker_kills))
        results.append(drill_sigterm(code, base, work, args.seconds))
    rows_lost = sum(r.get("rows_lost", 0) for r in results)
    editions_lost = sum(r.get("editions_lost", 0) for r in results)
    feedback_lost = sum(r.get("acknowledged_feedback_lost", 0) for r in results)
    not_retryable = sum(r.get("not_retryable", 0) for r in results)
    for result in results:
        print(json.dumps(result))
    totals = {
        "code": str(code.root),
        "rows": args.rows,
        "rows_lost": rows_lost,
        "editions_lost": editions_lost,
        "acknowledged_feedback_lost": feedback_lost,
        "failed_requests_not_retryable": not_retryable,
    }
    print(
        f"LOST: rows {rows_lost:,} (editions {editions_lost}), acknowledged feedback {feedback_lost}, "
        f"failed requests a client could not retry {not_retryable}"
    )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fault_drills.json").write_text(json.dumps({"totals": totals, "drills": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
