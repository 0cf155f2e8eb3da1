"""Run the HL7 terminology test suite (tx-ecosystem IG, `tests/`) against this server.

    python -m bench.tx_suite PATH/TO/tests                      # start a server, tx-resource mode
    python -m bench.tx_suite PATH/TO/tests --server http://host:8000
    python -m bench.tx_suite PATH/TO/tests --content-dir        # setup loaded at start-up instead
    python -m bench.tx_suite PATH/TO/tests --suite version --filter vs1w --output /tmp/tx-out
    python -m bench.tx_suite PATH/TO/tests --package PATH/TO/hl7.fhir.r4.core/package

It does what the official Java runner (``java -jar validator_cli.jar -txtests``) does against an
R4 server: for every test of the selected modes (default ``general``; suites and tests without a
mode always run) it converts the suite's R5 request to R4, adds the suite's setup resources as
``tx-resource`` parameters and the profile parameters (``parameters-default.json``), sends it the
way the official client does (POST for ``$expand`` and whenever a parameter is not a primitive,
GET with query parameters otherwise; ``Accept: application/fhir+json``, ``Accept-Language`` as the
test says), converts the answer back to R5, scrubs what the comparison ignores and compares it
with the expected file by the suite's rules (see ``bench.tx_compare``); the capability statements
are compared in pattern mode. It prints ``N passed, N failed`` per suite and in total, and writes
each failure (request, expected, actual, the difference) under ``--output``.

``--content-dir`` runs the same tests the other way tx servers are deployed: each suite's setup
resources are written (as R4) into a content directory, a server is started on it with
``TERMINOLOGY_CONTENT_POLICY=lenient`` (one server per distinct setup: suites disagree about
some resources), and no ``tx-resource`` is sent.

The suite's data is not part of this repository: give the path of a checkout of
``github:HL7/fhir-tx-ecosystem-ig`` (its ``tests`` folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import free_port
from bench.tx_compare import Comparison, scrub
from bench.tx_versions import to_r4, to_r5

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODES = ("general",)
FHIR_JSON = "application/fhir+json"
# The official client's operations: path, and whether it always POSTs.
OPERATIONS = {
    "expand": ("ValueSet/$expand", True),
    "validate-code": ("ValueSet/$validate-code", False),
    "cs-validate-code": ("CodeSystem/$validate-code", False),
    "lookup": ("CodeSystem/$lookup", False),
    "translate": ("ConceptMap/$translate", False),
    "batch-validate": ("ValueSet/$batch-validate-code", True),
    "batch": ("", True),
}
# A comparison in an R4 run: items marked `"$optional$": "version:4"` may be absent.
FHIR_VERSION = "4.0.1"
VERSION_MODE = "version:4"


# -- the suite -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCase:
    """One test of the suite, as test-cases.json describes it."""

    suite: str
    name: str
    operation: str
    request: str | None
    response: str
    http_code: str = "2xx"
    accept_language: str | None = None
    profile: str | None = None
    # An extra header the test sends when its mode is on (name, value).
    header: tuple[str, str] | None = None


@dataclass
class Suite:
    """One suite: its setup files and the tests selected to run."""

    name: str
    setup: list[str]
    tests: list[TestCase]
    skipped: int = 0


def _choose(test: dict, name: str, modes: Iterable[str]) -> str | None:
    """Pick ``name:<mode>`` when a mode is on (``response:flat``), else ``name``."""
    for mode in modes:
        if f"{name}:{mode}" in test:
            return test[f"{name}:{mode}"]
    return test.get(name)


def load_suites(
    tests_dir: Path, modes: Iterable[str], names: Iterable[str] = (), name_filter: str | None = None
) -> list[Suite]:
    """Read test-cases.json and keep the suites and tests the modes (and filters) select."""
    modes = list(modes)
    wanted = set(names)
    document = json.loads((tests_dir / "test-cases.json").read_text(encoding="utf-8"))
    suites = []
    for suite in document["suites"]:
        if suite.get("disabled") or (suite.get("mode") and suite["mode"] not in modes):
            continue
        if wanted and suite["name"] not in wanted:
            continue
        selected, skipped = [], 0
        for test in suite["tests"]:
            if test.get("disabled") or (test.get("mode") and test["mode"] not in modes):
                skipped += 1
                continue
            if "version" in test and not FHIR_VERSION.startswith(test["version"]):
                skipped += 1
                continue
            if name_filter and name_filter not in test["name"]:
                continue
            selected.append(
                TestCase(
                    suite["name"],
                    test["name"],
                    test["operation"],
                    _choose(test, "request", modes),
                    _choose(test, "response", modes),
                    test.get("http-code", "2xx"),
                    test.get("Accept-Language"),
                    test.get("profile"),
                    _header(test, modes),
                )
            )
        if selected or not name_filter:
            suites.append(Suite(suite["name"], list(suite.get("setup", [])), selected, skipped))
    return suites


def _header(test: dict, modes: list[str]) -> tuple[str, str] | None:
    """Return the test's extra header when its mode is on (as the official runner sends it)."""
    header = test.get("header")
    if isinstance(header, dict) and header.get("mode") in modes:
        return header["name"], header["value"]
    return None


def read_json(path: Path) -> dict:
    """Read one of the suite's JSON files (some start with a byte-order mark)."""
    return json.loads(path.read_text(encoding="utf-8-sig"))


# -- HTTP ------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the server said: status, content type and body."""

    status: int
    content_type: str
    body: bytes


Transport = Callable[[str, str, dict, bytes | None], Answer]


def requests_transport(base: str, timeout: float = 30.0) -> Transport:
    """Send requests to a running server with `requests` (one kept-alive session)."""
    import requests

    session = requests.Session()

    def send(method: str, path: str, headers: dict, body: bytes | None) -> Answer:
        response = session.request(
            method, f"{base.rstrip('/')}/{path}", headers=headers, data=body, timeout=timeout
        )
        return Answer(response.status_code, response.headers.get("Content-Type", ""), response.content)

    return send


def flask_transport(client) -> Transport:
    """Send requests through a Flask test client (the project's tests use this)."""

    def send(method: str, path: str, headers: dict, body: bytes | None) -> Answer:
        response = client.open(f"/{path}", method=method, headers=headers, data=body)
        return Answer(response.status_code, response.headers.get("Content-Type", ""), response.get_data())

    return send


def is_primitive_parameter(parameter: dict) -> bool:
    """Say whether a Parameters parameter is a primitive value (the client then may use GET)."""
    if "resource" in parameter or "part" in parameter:
        return False
    values = [k for k in parameter if k.startswith("value")]
    return bool(values) and not isinstance(parameter[values[0]], (dict, list))


def build_request(
    operation: str, parameters: dict, accept_language: str | None
) -> tuple[str, str, dict, bytes | None]:
    """Return (method, path, headers, body) as the official R4 client sends the operation."""
    path, always_post = OPERATIONS[operation]
    headers = {"Accept": FHIR_JSON, "User-Agent": "tx_suite (HL7 terminology test runner)"}
    if accept_language:
        headers["Accept-Language"] = accept_language
    items = parameters.get("parameter", []) if parameters.get("resourceType") == "Parameters" else []
    if not always_post and all(is_primitive_parameter(p) for p in items):
        query = [(p["name"], str(_primitive(p))) for p in items]
        return "GET", f"{path}?{urllib.parse.urlencode(query)}" if query else path, headers, None
    headers["Content-Type"] = f"{FHIR_JSON};charset=UTF-8"
    return "POST", path, headers, json.dumps(parameters).encode("utf-8")


def _primitive(parameter: dict) -> object:
    value = next(v for k, v in parameter.items() if k.startswith("value"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# -- running ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """The result of one test."""

    test: TestCase
    passed: bool
    message: str | None = None
    warnings: list[str] = field(default_factory=list)
    request: dict | None = None
    actual: object = None
    expected: object = None
    seconds: float = 0.0


class Runner:
    """Runs selected tests through a transport and compares the answers."""

    def __init__(
        self,
        tests_dir: Path,
        transport: Transport,
        modes: Iterable[str] = DEFAULT_MODES,
        send_setup: bool = True,
        externals: dict | None = None,
        strict_fragments: bool = False,
    ) -> None:
        self.tests_dir = tests_dir
        self.send = transport
        self.modes = frozenset(modes)
        self.send_setup = send_setup
        self.externals = externals
        self.strict_fragments = strict_fragments
        self._files: dict[str, dict] = {}

    def _file(self, name: str) -> dict:
        if name not in self._files:
            self._files[name] = read_json(self.tests_dir / name)
        return self._files[name]

    def _comparison(self, test: TestCase, pattern_mode: bool = False) -> Comparison:
        externals = None
        if self.externals is not None:
            externals = self.externals.get(test.response, {})
        return Comparison(
            self.modes | {VERSION_MODE},
            externals,
            pattern_mode,
            self.strict_fragments,
            {"version": FHIR_VERSION},
        )

    def setup_resources(self, suite: Suite) -> list[dict]:
        """Return the suite's setup resources converted to R4."""
        return [to_r4(self._file(name)) for name in suite.setup]

    def run_suite(self, suite: Suite) -> list[Outcome]:
        """Run every selected test of a suite."""
        setup = self.setup_resources(suite) if self.send_setup else []
        return [self.run_test(test, setup) for test in suite.tests]

    def run_test(self, test: TestCase, setup: list[dict]) -> Outcome:
        """Run one test; never raises (a broken answer is a failed test)."""
        started = time.perf_counter()
        try:
            outcome = self._run(test, setup)
        except Exception as exc:  # a runner must report, not stop, on a bad answer
            outcome = Outcome(test, False, f"{type(exc).__name__}: {exc}")
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _run(self, test: TestCase, setup: list[dict]) -> Outcome:
        if not (self.tests_dir / test.response).exists():
            return Outcome(test, False, f"the suite has no file {test.response}")
        expected = self._file(test.response)
        if test.operation in ("metadata", "term-caps"):
            path = "metadata" if test.operation == "metadata" else "metadata?mode=terminology"
            request = {"method": "GET", "path": path, "headers": {"Accept": FHIR_JSON}}
            answer = self.send("GET", path, {"Accept": FHIR_JSON}, None)
            actual = _parse(answer)
            comparison = self._comparison(test, pattern_mode=True)
            message = _status_problem("2xx", answer.status) or comparison.compare(expected, to_r5(actual))
            return Outcome(test, message is None, message, comparison.warnings, request, actual, expected)
        if test.operation not in OPERATIONS:
            return Outcome(test, False, f"the runner does not know operation '{test.operation}'")
        parameters = to_r4(self._file(test.request)) if test.request else {"resourceType": "Parameters"}
        self._add_setup_and_profile(test, parameters, setup)
        method, path, headers, body = build_request(test.operation, parameters, test.accept_language)
        if test.header:
            headers[test.header[0]] = test.header[1]
        request = {
            "method": method,
            "path": path,
            "headers": headers,
            "body": parameters if body is not None else None,
        }
        answer = self.send(method, path, headers, body)
        actual = _parse(answer)
        if not isinstance(actual, dict):
            message = f"HTTP {answer.status}: the answer is not JSON ({answer.content_type}): {actual!r}"
            return Outcome(test, False, message, [], request, actual, expected)
        problem = _r5_element_in_r4(actual)
        converted = scrub(to_r5(actual))
        comparison = self._comparison(test)
        message = _status_problem(test.http_code, answer.status)
        if message and converted.get("resourceType") == "OperationOutcome":
            message += f" ({_outcome_texts(converted)})"
        message = (
            message
            or _unexpected_outcome(expected, converted, answer.status)
            or problem
            or comparison.compare(expected, converted)
        )
        return Outcome(test, message is None, message, comparison.warnings, request, converted, expected)

    def _add_setup_and_profile(self, test: TestCase, parameters: dict, setup: list[dict]) -> None:
        """Add the setup resources as tx-resource (batch: to the first entry) and the profile."""
        profile = self._file(test.profile or "parameters-default.json")
        if parameters.get("resourceType") == "Bundle":
            entries = [e["resource"] for e in parameters.get("entry", []) if "resource" in e]
            if entries:
                entries[0].setdefault("parameter", []).extend(
                    {"name": "tx-resource", "resource": r} for r in setup
                )
            for entry in entries:
                entry.setdefault("parameter", []).extend(profile.get("parameter", []))
            return
        items = parameters.setdefault("parameter", [])
        items.extend({"name": "tx-resource", "resource": r} for r in setup)
        items.extend(json.loads(json.dumps(profile.get("parameter", []))))


def _parse(answer: Answer) -> object:
    try:
        return json.loads(answer.body)
    except ValueError:
        return answer.body[:300].decode("utf-8", "replace")


def _status_problem(wanted: str, status: int) -> str | None:
    low = {"2xx": 200, "3xx": 300, "4xx": 400, "5xx": 500}[wanted]
    if low <= status < low + 100:
        return None
    return f"Response Code fail: should be '{wanted}' but is '{status}'"


def _unexpected_outcome(expected: dict, actual: dict, status: int) -> str | None:
    """Say what an OperationOutcome that came instead of the expected resource reports."""
    if actual.get("resourceType") != "OperationOutcome" or expected.get("resourceType") == "OperationOutcome":
        return None
    wanted = expected.get("resourceType")
    return f"HTTP {status}: an OperationOutcome instead of a {wanted}: {_outcome_texts(actual)}"


def _outcome_texts(outcome: dict) -> str:
    texts = [i.get("details", {}).get("text") or i.get("code") for i in outcome.get("issue", [])]
    return "; ".join(map(str, texts))


def _r5_element_in_r4(resource: dict) -> str | None:
    """An R4 client cannot read R5-only elements: report them as the failure they would be."""
    if resource.get("resourceType") != "ValueSet":
        return None
    expansion = resource.get("expansion", {})
    if "property" in expansion:
        return "expansion.property is R5: in R4 it is the extension-ValueSet.expansion.property extension"

    def walk(items: list) -> str | None:
        for item in items:
            if "property" in item:
                return "expansion.contains.property is R5: in R4 it is an extension"
            found = walk(item.get("contains", []))
            if found:
                return found
        return None

    return walk(expansion.get("contains", []))


# -- servers ---------------------------------------------------------------------------------------


@contextmanager
def started_server(env: dict, log_path: Path, workers: int = 2):
    """Start this project's server (gunicorn, its settings) on 127.0.0.1; yield its base URL.

    Raises RuntimeError with the end of the server's log when it does not start.
    """
    import requests

    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "terminology" / "gunicorn_conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "terminology:create_app()",
            ],
            cwd=ROOT,
            env={**os.environ, "TERMINOLOGY_ACCESS_LOG": "false", "TERMINOLOGY_TIMEOUT": "30", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"the server did not start (exit {process.returncode}): {tail.strip()}")
            try:
                if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /metadata within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def bundled_content_dirs() -> list[str]:
    """The content directories the server loads by default (TERMINOLOGY_CONTENT_DIRS or bundled)."""
    from terminology.config import load_settings

    return list(load_settings().content_dirs)


def write_content(runner: Runner, suite: Suite, directory: Path) -> None:
    """Write a suite's setup resources, as R4, one file each, into a content directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, (name, resource) in enumerate(zip(suite.setup, runner.setup_resources(suite), strict=True)):
        flat = name.replace("/", "--")
        (directory / f"{index:03d}-{flat}").write_text(json.dumps(resource, indent=1), encoding="utf-8")


# -- reporting -------------------------------------------------------------------------------------


def write_failure(output: Path, outcome: Outcome) -> None:
    """Write one failure: the request sent, the expected and actual answers, and why they differ."""
    folder = output / outcome.test.suite / outcome.test.name
    folder.mkdir(parents=True, exist_ok=True)
    if outcome.request is not None:
        (folder / "request.json").write_text(json.dumps(outcome.request, indent=2), encoding="utf-8")
    if outcome.expected is not None:
        (folder / "expected.json").write_text(json.dumps(outcome.expected, indent=2), encoding="utf-8")
    if outcome.actual is not None:
        (folder / "actual.json").write_text(json.dumps(outcome.actual, indent=2), encoding="utf-8")
    (folder / "diff.txt").write_text(f"{outcome.message}\n", encoding="utf-8")


def report(results: dict[str, list[Outcome]], label: str, stream=None) -> tuple[int, int]:
    """Print `N passed, N failed` per suite and in total (default on stdout); return the totals."""
    stream = stream or sys.stdout
    total_pass = total_fail = 0
    width = max((len(name) for name in results), default=10)
    for name, outcomes in results.items():
        passed = sum(o.passed for o in outcomes)
        failed = len(outcomes) - passed
        total_pass += passed
        total_fail += failed
        print(f"{name:<{width}}  {passed} passed, {failed} failed", file=stream)
    count = total_pass + total_fail
    share = f" ({100 * total_pass / count:.1f} %)" if count else ""
    print(f"{'total':<{width}}  {total_pass} passed, {total_fail} failed{share}  [{label}]", file=stream)
    return total_pass, total_fail


def run(args: argparse.Namespace) -> int:
    """Run the selected suites in the chosen mode; print the figures; exit 1 on any failure."""
    tests_dir = Path(args.tests).resolve()
    if (tests_dir / "tests" / "test-cases.json").exists():
        tests_dir = tests_dir / "tests"
    modes = [m for m in args.modes.split(",") if m]
    suites = load_suites(tests_dir, modes, args.suite or (), args.filter)
    externals = json.loads(Path(args.externals).read_text(encoding="utf-8")) if args.externals else None
    output = (
        Path(args.output)
        if args.output
        else Path(tempfile.gettempdir()) / ("tx-suite-content" if args.content_dir else "tx-suite")
    )
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    results: dict[str, list[Outcome]] = {}

    def run_on(base: str, chosen: list[Suite], send_setup: bool) -> None:
        runner = Runner(
            tests_dir, requests_transport(base), modes, send_setup, externals, args.strict_fragments
        )
        for suite in chosen:
            results[suite.name] = runner.run_suite(suite)

    packages = [str(Path(p).resolve()) for p in args.package or ()]
    if packages and args.server:
        raise SystemExit("--package is loaded by the servers this runner starts; load it into yours instead")
    if args.content_dir:
        if args.server:
            raise SystemExit("--content-dir starts its own servers (one per distinct setup); drop --server")
        groups: dict[tuple, list[Suite]] = {}
        for suite in suites:
            groups.setdefault(tuple(suite.setup), []).append(suite)
        probe = Runner(tests_dir, requests_transport(""), modes)
        for number, group in enumerate(groups.values()):
            content = output / "content" / f"{number:02d}-{group[0].name}"
            write_content(probe, group[0], content)
            env = {
                "TERMINOLOGY_CONTENT_DIRS": ":".join([*bundled_content_dirs(), *packages, str(content)]),
                "TERMINOLOGY_CONTENT_POLICY": "lenient",
            }
            try:
                with started_server(env, output / "logs" / f"{group[0].name}.log") as base:
                    run_on(base, group, send_setup=False)
            except RuntimeError as exc:
                for suite in group:
                    results[suite.name] = [Outcome(t, False, str(exc)) for t in suite.tests]
        label = "general mode, content loaded at start-up (lenient)"
    elif args.server:
        run_on(args.server, suites, send_setup=True)
        label = "general mode, tx-resource"
    else:
        env = {}
        if packages:
            # A package holds other resources too: the lenient policy takes only its terminology.
            env = {
                "TERMINOLOGY_CONTENT_DIRS": ":".join([*bundled_content_dirs(), *packages]),
                "TERMINOLOGY_CONTENT_POLICY": "lenient",
            }
        with started_server(env, output / "logs" / "server.log") as base:
            run_on(base, suites, send_setup=True)
        label = "general mode, tx-resource"
    if packages:
        names = [Path(p).parent.name if Path(p).name == "package" else Path(p).name for p in packages]
        label += f", with {', '.join(names)}"
    if modes != list(DEFAULT_MODES):
        label = label.replace("general mode", f"modes {'+'.join(modes)}")
    failures = [o for outcomes in results.values() for o in outcomes if not o.passed]
    for outcome in failures:
        write_failure(output, outcome)
    summary = {
        name: [
            {
                "test": o.test.name,
                "passed": o.passed,
                "message": o.message,
                "warnings": o.warnings,
                "seconds": round(o.seconds, 3),
            }
            for o in outcomes
        ]
        for name, outcomes in results.items()
    }
    (output / "results.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    if args.verbose:
        for outcome in failures:
            print(f"FAIL {outcome.test.suite}/{outcome.test.name}: {(outcome.message or '').splitlines()[0]}")
    _, failed = report(results, label)
    print(f"details of each failure: {output}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.tx_suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tests", help="the suite's tests folder (holding test-cases.json), or the repository")
    parser.add_argument(
        "--server", help="base URL of a running server (default: start one on the bundled content)"
    )
    parser.add_argument(
        "--content-dir",
        action="store_true",
        help="load each suite's setup at start-up (lenient policy) instead of sending tx-resource",
    )
    parser.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help="comma-separated modes to run (default general; e.g. general,flat)",
    )
    parser.add_argument("--suite", action="append", help="run only this suite (repeatable)")
    parser.add_argument("--filter", help="run only tests whose name contains this text")
    parser.add_argument(
        "--output", help="folder for failure details and results.json (default: a temp folder)"
    )
    parser.add_argument("--externals", help="exact message texts by file (e.g. messages-tx.fhir.org.json)")
    parser.add_argument(
        "--strict-fragments",
        action="store_true",
        help="check every fragment of $external:n:...$ patterns (the official runner checks "
        "only the text before the first ':' of the fragment)",
    )
    parser.add_argument(
        "--package",
        action="append",
        help="a FHIR package folder the started servers also load (lenient: its terminology only), e.g. "
        "hl7.fhir.r4.core's package/ for the FHIR core code systems a general server is expected to know",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print one line per failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
