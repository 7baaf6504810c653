"""A throwaway PostgreSQL server for the tests, started from the machine's PostgreSQL binaries
(`initdb`, `pg_ctl`: on PATH or in /usr/lib/postgresql/<version>/bin) in a temporary directory, on a
free port, with a generated password; stopped and removed afterwards. Like the Kafka broker of
tests/conftest.py, nothing is expected to run before the test.

PostgreSQL refuses to run as root: under root (CI containers) the server runs as the `postgres`
user, so its directory lives in the system temp folder (pytest's is readable by root only)."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cxpulse.broker import free_port

USER = "airflow"
DATABASE = "airflow"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str
    password: str
    database: str
    bindir: Path

    def url(self, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://{self.user}:{self.password}@localhost:{self.port}/{self.database}"

    def psql(self, sql: str) -> str:
        """`sql` through psql (a client we did not write), rows as `a|b` lines."""
        psql = shutil.which("psql") or str(self.bindir / "psql")
        done = subprocess.run(
            [psql, "-h", "localhost", "-p", str(self.port), "-U", self.user, "-d", self.database, "-At", "-c", sql],
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (PATH first, then the newest Debian install), or None."""
    candidates = [shutil.which("initdb")] + sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    for initdb in filter(None, candidates):
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").exists():
            return folder
    return None


@contextmanager
def postgres_server(bindir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(free_port(), USER, secrets.token_urlsafe(18), DATABASE, bindir)
    root = Path(tempfile.mkdtemp(prefix="cxpulse-postgres-"))
    owner: dict = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        owner = {"user": account.pw_uid, "group": account.pw_gid}
        os.chown(root, account.pw_uid, account.pw_gid)

    def run(*args: str) -> None:
        done = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=120, check=False, **owner)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout[-1500:]}{done.stderr[-1500:]}"

    data, log, secret = root / "data", root / "server.log", root / "password"
    started = False
    try:
        run("touch", str(secret))  # created by the server's user, readable by it only
        secret.chmod(0o600)
        secret.write_text(server.password)
        # password authentication on TCP, as a remote Postgres would ask; sockets in the data folder
        run(str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={secret}", "--auth=scram-sha-256",
            "-E", "UTF8", "--no-instructions")  # fmt: skip
        secret.unlink()
        options = f"-p {server.port} -c listen_addresses=localhost -c unix_socket_directories={root}"
        # -w: returns once the server accepts connections (pg_ctl's own readiness check)
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "120", "start")
        started = True
        server_db = PostgresServer(server.port, USER, server.password, "postgres", bindir)
        server_db.psql(f"create database {DATABASE}")
        yield server
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
