"""A throwaway PostgreSQL server on loopback for the test run, from the machine's own binaries.

Used when TEST_POSTGRES_URL is not given. Without PostgreSQL installed the PostgreSQL half of
the suite is skipped, unless INCIDENT_BOT_REQUIRE_POSTGRES=1 (as CI sets) makes that a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ports import free_port
from tests.waiting import HANG_SECONDS


def find_bindir() -> Path | None:
    for candidate in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)]:
        if candidate and Path(candidate).is_file():
            return Path(candidate).parent
    return None


class PostgresMissing(RuntimeError):
    """No PostgreSQL to run against: neither TEST_POSTGRES_URL nor local binaries."""


def admin_postgres() -> tuple[str, PostgresServer | None]:
    """The PostgreSQL server to create throwaway databases on: TEST_POSTGRES_URL's, or one started
    here from the machine's binaries (the caller stops it). Raises PostgresMissing, saying how to get one."""
    if url := os.environ.get("TEST_POSTGRES_URL"):
        return url, None
    bindir = find_bindir()
    if bindir is None:
        raise PostgresMissing("PostgreSQL is not installed (no pg_ctl): apt-get install postgresql, or set TEST_POSTGRES_URL")
    server = PostgresServer(bindir)
    return server.start(), server


class PostgresServer:
    """initdb + pg_ctl in a temporary directory; trust authentication on 127.0.0.1 only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="incident-bot-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *args: str, timeout: float = HANG_SECONDS) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, timeout=timeout, capture_output=True, stdin=subprocess.DEVNULL)

    def start(self) -> str:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", str(int(HANG_SECONDS)), "start")
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start; see " + str(self.root / "log"))

    def stop(self) -> None:
        """Stops the server without its shutdown checkpoint (nothing will start it again) and
        leaves removing its files, one copy of the template per test, to a process of its own:
        the run ends without waiting for either."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            # The shell returns at once; the rm it starts in the background outlives it.
            subprocess.run(["sh", "-c", 'rm -rf -- "$0" >/dev/null 2>&1 &', str(self.root)], check=False, stdin=subprocess.DEVNULL)
