"""`cxpulse airflow start|stop|status|install`: Airflow 3 for real, with the project's DAGs.

`start` runs the four components as `airflow <component>` processes (api-server, scheduler,
dag-processor, triggerer) with the LocalExecutor, Airflow's home in `$CXPULSE_HOME/airflow` and its
metadata on SQLite there, or on the database of `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN` when that is
set (PostgreSQL in production: `postgresql+psycopg2://user:password@host:5432/db`; Airflow's own
`..._CMD` / `..._SECRET` variants work too). The URL's password stays in the environment: whatever
cxpulse prints or records shows it as `***`. Before starting the components it migrates the metadata
DB and runs `install`, which creates the pool the DAGs need. `docker-compose.yaml` runs the same commands with the same
settings (tests/cxpulse/test_compose.py checks it).

Each component runs in a session of its own (its workers and subprocesses follow it), its output
in `$AIRFLOW_HOME/run/<component>.log`, its pid and start time in `$AIRFLOW_HOME/run/airflow.json`;
`stop` ends those process groups and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxpulse.airflow_local import DAG_ORDER, DAGS_FOLDER, WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION
from cxpulse.config import Settings, to_env

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
POOL_SLOTS = 1
DEFAULT_PORT = 8080

# Settings every deployment of the cxpulse DAGs uses, local or docker-compose (same values).
SHARED_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    # The DAGs are meant to run once installed: no manual unpausing in the UI.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
}
SQL_ALCHEMY_CONN = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
# Airflow reads the metadata DB's URL from a command's output or a secrets backend with these instead
SQL_ALCHEMY_CONN_INDIRECT = (f"{SQL_ALCHEMY_CONN}_CMD", f"{SQL_ALCHEMY_CONN}_SECRET")
# Settings whose value depends on where Airflow runs (paths, hosts): set by every deployment too.
DEPLOYMENT_SETTINGS = (
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
)


class AirflowServiceError(RuntimeError):
    """Airflow did not start or stop, or its API refused a call; the message says what and where."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of a refused API call


@dataclass(frozen=True)
class AirflowInfo:
    home: Path
    url: str
    password_file: Path
    pids: dict[str, int]
    database: str  # the metadata DB's URL, password hidden


def airflow_home(settings: Settings) -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or settings.home / "airflow").resolve()


def _run_dir(home: Path) -> Path:
    return home / "run"


def metadata_database(env: dict[str, str]) -> str:
    """The metadata DB of an `airflow_env()`, for people: its URL with the password as `***`, or the
    variable Airflow reads the URL from."""
    if env.get(SQL_ALCHEMY_CONN):
        return redact_url(env[SQL_ALCHEMY_CONN])
    return "from " + next(name for name in SQL_ALCHEMY_CONN_INDIRECT if os.environ.get(name))


def redact_url(url: str) -> str:
    """A database URL with its password (in the user part or a `password=` parameter) shown as `***`,
    parsed as Airflow's SQLAlchemy parses it; the whole URL hidden when it does not parse."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "*** (not a valid SQLAlchemy URL)"
    query = {key: "***" if "password" in key.lower() else value for key, value in parsed.query.items()}
    # a query value is rendered percent-encoded
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _hide_password(text: str) -> str:
    """`text` without the metadata DB's password (error output of the `airflow` CLI may quote it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(os.environ.get(SQL_ALCHEMY_CONN, ""))
    except (ArgumentError, ValueError):  # no URL, or one that does not parse: nothing to recognise
        return text
    secrets = [str(v) for k, v in parsed.query.items() if "password" in k.lower()] + [str(parsed.password or "")]
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def airflow_env(settings: Settings, port: int = DEFAULT_PORT) -> dict[str, str]:
    """The environment of every component (and of the `airflow` CLI against this installation)."""
    home = airflow_home(settings)
    conn = os.environ.get(SQL_ALCHEMY_CONN) or f"sqlite:///{home}/airflow.db"
    indirect = not os.environ.get(SQL_ALCHEMY_CONN) and any(map(os.environ.get, SQL_ALCHEMY_CONN_INDIRECT))
    env = {
        "AIRFLOW_HOME": str(home),
        **SHARED_SETTINGS,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        # the caller's database, else SQLite in Airflow's home (unset: Airflow runs the caller's _CMD)
        **({} if indirect else {SQL_ALCHEMY_CONN: conn}),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        # a local installation: the UI on this machine only, one api-server worker (2-core laptops)
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # LocalExecutor starts this many worker processes; the warehouse pool runs one task at a time
        "AIRFLOW__CORE__PARALLELISM": "4",
        # the tasks and the landing watcher see the settings of the caller (secrets stay in the environment)
        **to_env(settings),
    }
    return env


def _airflow(*args: str) -> list[str]:
    """`airflow ...` from this interpreter's environment (the venv cxpulse is installed in)."""
    return [sys.executable, "-m", "airflow", *args]


def _cli(env: dict[str, str], *args: str, timeout_s: float = 600) -> str:
    done = subprocess.run(
        _airflow(*args), env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise AirflowServiceError(
            f"`airflow {' '.join(args)}` failed ({done.returncode}): {_hide_password(done.stderr[-2000:])}"
        )
    return done.stdout


def install(env: dict[str, str] | None = None) -> None:
    """Create (or reset) the pool the cxpulse DAGs run in, in the Airflow that `env` / the environment
    points at. Every warehouse task waits for its slot: without the pool Airflow never schedules them."""
    _cli(env or {}, "pools", "set", WAREHOUSE_POOL, str(POOL_SLOTS), WAREHOUSE_POOL_DESCRIPTION)


def password_file(home: Path) -> Path:
    # Simple auth manager (the pinned Airflow has no FAB provider): it generates the admin password
    # here the first time the api-server starts; `[core] simple_auth_manager_passwords_file` moves it.
    configured = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return Path(configured) if configured else home / "simple_auth_manager_passwords.json.generated"


def _state_path(home: Path) -> Path:
    return _run_dir(home) / "airflow.json"


def _started_at(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _running(home: Path) -> tuple[dict[str, int], int | None]:
    """The live components recorded for this home, and the port they were started on. A pid counts
    only while its start time is the recorded one (Airflow retitles its processes and overwrites
    their environment, so the command line cannot identify them; a reused pid has another start time)."""
    state = _state(home)
    pids = {c: e["pid"] for c, e in state.get("components", {}).items() if _started_at(e["pid"]) == e["started"]}
    return pids, state.get("port")


def _state(home: Path) -> dict[str, Any]:
    try:
        return json.loads(_state_path(home).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def health(url: str, timeout_s: float = 3) -> dict[str, Any] | None:
    """Airflow's health endpoint (no login needed), or None when the api-server does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def all_healthy(report: dict[str, Any] | None) -> bool:
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return bool(report) and all((report.get(p) or {}).get("status") == "healthy" for p in parts)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start(settings: Settings, port: int = DEFAULT_PORT, timeout_s: float = 300) -> AirflowInfo:
    """Migrate the metadata DB, install the pool, start the four components, wait until all are healthy.
    Idempotent: when they already run for this home, returns them."""
    home = airflow_home(settings)
    run_dir = _run_dir(home)
    run_dir.mkdir(parents=True, exist_ok=True)
    pids, running_port = _running(home)
    if pids:
        if running_port != port or set(pids) != set(COMPONENTS):
            raise AirflowServiceError(
                f"Airflow of {home} already runs ({', '.join(sorted(pids))} on port {running_port}): "
                "`cxpulse airflow stop` first"
            )
    else:
        env = airflow_env(settings, port)
        _cli(env, "db", "migrate")  # also writes airflow.cfg with its generated secrets, once
        install(env)
        for component in COMPONENTS:
            with (run_dir / f"{component}.log").open("ab") as log:
                process = subprocess.Popen(
                    _airflow(component),
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: stop() ends it with its children
                )
            pids[component] = process.pid
        started = {c: {"pid": pid, "started": _started_at(pid)} for c, pid in pids.items()}
        state = {"port": port, "components": started, "database": metadata_database(env)}
        _state_path(home).write_text(json.dumps(state))
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + timeout_s
    while not all_healthy(health(url)):
        alive, _ = _running(home)
        failure = None
        for component, pid in pids.items():
            if component not in alive:
                log_path = run_dir / f"{component}.log"
                failure = f"airflow {component} (pid {pid}) exited; its log {log_path} ends with:\n{_tail(log_path)}"
        if failure is None and time.monotonic() > deadline:
            failure = f"Airflow did not become healthy in {timeout_s:.0f} s: {health(url)}; logs in {run_dir}"
        if failure:
            stop(settings)
            raise AirflowServiceError(failure)
        time.sleep(1)
    return AirflowInfo(home, url, password_file(home), pids, _state(home).get("database", ""))


def stop(settings: Settings, timeout_s: float = 60) -> list[str]:
    """End the process groups of the components started for this home (LocalExecutor workers, log
    servers and the triggerer's subprocess included); returns the components stopped."""
    home = airflow_home(settings)
    groups = {
        component: entry["pid"]
        for component, entry in _state(home).get("components", {}).items()
        # our process, or its group outliving it; never a pid that another process reuses
        if _started_at(entry["pid"]) in (entry["started"], None) and _group_alive(entry["pid"])
    }
    deadline = time.monotonic() + timeout_s
    # The api-server last: a task still running under the scheduler reports its end through the API
    # (stopped first, the task's supervisor retried it for ~40 s before the scheduler could exit).
    for last in (False, True):
        batch = [pgid for component, pgid in groups.items() if (component == "api-server") == last]
        for pgid in batch:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        for pgid in batch:
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _group_alive(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
    _state_path(home).unlink(missing_ok=True)
    return sorted(groups)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_running_member(pgid)


def _has_running_member(pgid: int) -> bool:
    """A group whose members have all exited but are not reaped yet (zombies: their parent, often the
    process that ran `start`, has not waited for them) still answers killpg(0); it is stopped all the
    same. Without /proc (not Linux) the signal's answer is all there is."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            return True
    return False


def status(settings: Settings) -> dict[str, Any]:
    """Which components run, on which port, on which metadata DB (password hidden), whether they are
    healthy, the last run of each DAG."""
    home = airflow_home(settings)
    pids, port = _running(home)
    url = f"http://localhost:{port}" if port else None
    report = health(url) if url else None
    last_runs: dict[str, dict | None] = {}
    pool: dict | None = None  # None: could not ask; {}: Airflow says there is no such pool
    if url and report and password_file(home).exists():
        try:
            api = AirflowApi(url, password_file(home))
            last_runs = {dag_id: api.last_run(dag_id) for dag_id in DAG_ORDER}
            pool = api.get(f"/api/v2/pools/{WAREHOUSE_POOL}")
        except AirflowServiceError as exc:
            pool = {} if exc.status == 404 else None
        except (OSError, ValueError):
            pass
    return {
        "home": home,
        "pids": pids,
        "url": url,
        "health": report,
        "healthy": all_healthy(report) and set(pids) == set(COMPONENTS),
        # as recorded by `start` (the components' environment, not the caller's)
        "database": _state(home).get("database") if pids else None,
        "password_file": password_file(home),
        "pool": pool,
        "last_runs": last_runs,
    }


class AirflowApi:
    """Airflow's REST API (v2) with the admin password the simple auth manager generated."""

    def __init__(self, url: str, passwords: Path, user: str = "admin", timeout_s: float = 60) -> None:
        # generous timeouts: one api-server worker also serves the tasks' execution API calls
        self.url = url
        self.timeout_s = timeout_s
        secret = json.loads(passwords.read_text())[user]
        body = json.dumps({"username": user, "password": secret}).encode()
        request = urllib.request.Request(
            f"{url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            self.token = json.loads(response.read())["access_token"]

    def get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AirflowServiceError(f"GET {path}: HTTP {exc.code} {exc.read()[:500]!r}", exc.code) from None

    def dag_runs(self, dag_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest runs first."""
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit={limit}")["dag_runs"]

    def last_run(self, dag_id: str) -> dict[str, Any] | None:
        runs = self.dag_runs(dag_id, limit=1)
        return runs[0] if runs else None
