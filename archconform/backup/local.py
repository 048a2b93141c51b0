"""The local engine: a real PostgreSQL server on 127.0.0.1, started from binaries in a temp dir.

``LocalPostgres`` is the server (a context manager: initdb, start on a free port, stop and remove
everything on exit, exceptions included). ``LocalEngine`` runs the experiment's operations
against it:

- backup: the system's own backup command (``BackupCommand``), run with the local binaries first
  on PATH, its connection variables pointed at the local server, and each volume mount path
  mapped to a local directory; its shell, and so its pipefail semantics, are the command's own;
- disaster: immediate shutdown of the server (SIGQUIT, no checkpoint) and removal of its data
  directory;
- restore, the documented procedure: re-init an empty cluster (as the postgres image's entrypoint
  does on an empty volume, creating the application database), start it, load the newest dump
  with psql (plain SQL, gzip or not) or pg_restore (custom format), stopping at the first error.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from ..errors import format_duration
from ..settings import DEFAULT_TIMEOUTS, Timeouts
from .binaries import PgBinaries, find_binaries
from .cronjob import DATABASE_URL_VAR, BackupCommand
from .dump import DumpFacts, inspect_dump
from .engine import (BackupRecord, Engine, Instant, PsycopgSession, RestoreRecord, check_table_name,
                     judge_backup)
from .errors import (BackupFailed, RestoreFailed, ServerDidNotStart, first_line, last_lines,
                     redact_dsn)

#: How often the start-up wait tries to connect. Start-up takes about 0.3 s here.
_READY_POLL = 0.05
#: Port collisions (another process took the free port we picked) are retried this many times.
_PORT_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalPostgres:
    """A PostgreSQL server of our own on 127.0.0.1, in a temporary directory.

    ``with LocalPostgres() as pg: pg.dsn`` gives a password-authenticated URL to database
    ``database``. On exit (also on exceptions) the server is stopped and the directory removed.
    ``timeouts.pod_start`` bounds the start-up (a database becoming ready is this project's
    closest named budget).
    """

    host = "127.0.0.1"

    def __init__(self, *, binaries: PgBinaries | None = None, database: str = "app",
                 user: str = "postgres", password: str | None = None,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS, port: int | None = None, fsync: bool = False,
                 workdir: str | os.PathLike | None = None, template: str | os.PathLike | None = None):
        self.binaries = binaries or find_binaries()
        self.database = database
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.timeouts = timeouts
        self.port = port or 0
        self._fixed_port = port is not None
        #: fsync off by default: durability across an OS crash is moot when the experiment
        #: destroys the data directory on purpose, and it makes the tests much faster.
        self.fsync = fsync
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="archconform-pg-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o711)   # the server's OS user must reach data/ below
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "server.log"
        #: A data directory made by ``make_template`` (same user and password) to copy instead of
        #: running initdb on the first start; re-inits (the restore procedure) always run initdb.
        self.template = Path(template) if template else None
        self._proc: subprocess.Popen | None = None
        self._closed = False

    # -- addresses ---------------------------------------------------------------------------
    def url(self, database: str | None = None) -> str:
        """Connection URL (with the password) for ``database`` (default: the application's)."""
        return (f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                f"@{self.host}:{self.port}/{quote(database or self.database, safe='')}")

    @property
    def dsn(self) -> str:
        return self.url()

    @property
    def redacted_dsn(self) -> str:
        return redact_dsn(self.dsn)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def describe(self) -> str:
        return f"local PostgreSQL {self.binaries.version} on {self.host}:{self.port} ({self.binaries.source})"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "LocalPostgres":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """initdb (or copy the template) when there is no cluster yet, start, create the database."""
        if not (self.data_dir / "PG_VERSION").exists():
            if self.template is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                subprocess.run(["cp", "-a", str(self.template), str(self.data_dir)], check=True)
            else:
                self.initdb()
        self.launch()
        self.create_database()

    @classmethod
    def make_template(cls, directory: str | os.PathLike, *, binaries: PgBinaries | None = None,
                      user: str = "postgres", password: str, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> Path:
        """initdb once into ``directory``/data, for servers created with ``template=`` and the same
        ``user`` and ``password`` (a test suite's servers start in a fraction of the time)."""
        maker = cls(binaries=binaries, user=user, password=password, timeouts=timeouts, workdir=directory)
        maker.initdb()
        return maker.data_dir

    def initdb(self) -> None:
        """Create an empty database cluster in ``data_dir`` (password auth on TCP)."""
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(mode=0o700)
        self.binaries.chown_for_server(self.data_dir)
        pwfile = self.workdir / ".pwfile"
        pwfile.write_text(self.password + "\n")
        self.binaries.chown_for_server(pwfile)
        os.chmod(pwfile, 0o600)
        try:
            proc = subprocess.run(
                [self.binaries.tool("initdb"), "-D", str(self.data_dir), "-U", self.user,
                 f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                capture_output=True, text=True, cwd=self.workdir, timeout=self.timeouts.pod_start,
                **self.binaries.run_as_kwargs())
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise ServerDidNotStart(f"initdb failed (exit {proc.returncode}) in {self.data_dir}: "
                                    f"{last_lines(proc.stderr or proc.stdout)}")

    def launch(self) -> None:
        """Start the postgres server on the data directory and wait until it accepts a login."""
        if self.running:
            return
        attempts = 1 if self._fixed_port else _PORT_ATTEMPTS
        for attempt in range(attempts):
            if not self._fixed_port and (attempt > 0 or not self.port):
                self.port = free_port(self.host)
            if self._launch_once(last=attempt == attempts - 1):
                atexit.register(self.close)
                return

    def _launch_once(self, *, last: bool) -> bool:
        with open(self.log_path, "ab") as log:
            log_start = log.tell()
            self._proc = subprocess.Popen(
                [self.binaries.tool("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                 "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
                 "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=50"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                start_new_session=True, **self.binaries.run_as_kwargs())
        deadline = time.monotonic() + self.timeouts.pod_start
        import psycopg

        while True:
            rc = self._proc.poll()
            if rc is not None:
                text = self._log_since(log_start)
                self._proc = None
                if not last and ("could not bind" in text or "Address already in use" in text):
                    return False
                raise ServerDidNotStart(
                    f"PostgreSQL {self.binaries.version} did not start on {self.host}:{self.port} "
                    f"(postgres exited {rc}); last log lines: {last_lines(text)}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=1).close()
                return True
            except psycopg.Error:
                pass
            if time.monotonic() > deadline:
                text = self._log_since(log_start)
                self.stop(immediate=True)
                raise ServerDidNotStart(
                    f"PostgreSQL {self.binaries.version} did not accept a login on {self.host}:{self.port} "
                    f"within {format_duration(self.timeouts.pod_start)}; last log lines: {last_lines(text)}")
            time.sleep(_READY_POLL)

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def create_database(self) -> None:
        """Create the application database if it does not exist (what the postgres image's
        entrypoint does for POSTGRES_DB on an empty volume)."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server: fast shutdown (SIGINT), or immediate (SIGQUIT: no checkpoint, like a
        crash). Escalates to SIGKILL of its process group when it does not go."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        grace = self.timeouts.pod_start
        for sig in ((signal.SIGQUIT,) if immediate else (signal.SIGINT, signal.SIGQUIT)):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def destroy_data(self) -> None:
        """The disaster: stop immediately and delete the data directory."""
        self.stop(immediate=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def close(self) -> None:
        """Stop the server and remove the temporary directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            atexit.unregister(self.close)
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def tool_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment for client tools: local binaries first on PATH, no inherited PG*."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != DATABASE_URL_VAR}
        env["PATH"] = f"{self.binaries.bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env.update(extra or {})
        return env

    def connection_values(self) -> dict[str, str]:
        """The values the usual connection variables take for this server."""
        return {
            DATABASE_URL_VAR: self.dsn, "PGHOST": self.host, "PGPORT": str(self.port),
            "PGUSER": self.user, "POSTGRES_USER": self.user, "PGPASSWORD": self.password,
            "POSTGRES_PASSWORD": self.password, "PGDATABASE": self.database, "POSTGRES_DB": self.database,
        }


def restore_script(facts: DumpFacts, path: str) -> str:
    """The documented load step as a shell script reading ``$DATABASE_URL``: psql for plain SQL
    (through ``gzip -dc`` when compressed, with pipefail so a broken gzip fails the restore),
    pg_restore for a custom-format archive; both stop at the first error."""
    import shlex

    q = shlex.quote(path)
    if facts.custom:
        return f'pg_restore --exit-on-error --no-owner --no-privileges -d "$DATABASE_URL" {q}'
    if facts.compressed:
        return f'set -o pipefail; gzip -dc -- {q} | psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL"'
    return f'psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f {q}'


class LocalEngine(Engine):
    """The experiment's operations against a ``LocalPostgres``, with the system's backup command.

    ``path_map`` maps container paths to local directories; by default every volume mount of
    the command maps to ``<workdir>/volumes/<volume name>``.
    """

    def __init__(self, server: LocalPostgres, command: BackupCommand, *,
                 path_map: dict[str, str] | None = None, timeouts: Timeouts | None = None):
        self.server = server
        self.command = command
        self.timeouts = timeouts or server.timeouts
        self.path_map = dict(path_map or {})
        for mount_path, volume in command.mounts.items():
            self.path_map.setdefault(mount_path, str(server.workdir / "volumes" / volume))
        for local in self.path_map.values():
            Path(local).mkdir(parents=True, exist_ok=True)
        self.description = server.describe()

    # -- writer ------------------------------------------------------------------------------
    def connect(self) -> PsycopgSession:
        return PsycopgSession(self.server.dsn, connect_timeout=self.timeouts.probe)

    # -- backup ------------------------------------------------------------------------------
    def backup_env(self) -> dict[str, str]:
        """The command's environment: the variables it declares, pointed at the local server
        (a literal command that declares none gets ``$DATABASE_URL``)."""
        local = self.server.connection_values()
        declared = list(self.command.env) + list(self.command.env_refs)
        env = {}
        for name in declared or [DATABASE_URL_VAR]:
            if name in local:
                env[name] = local[name]
            elif name in self.command.env:
                env[name] = self.command.env[name]
        return self.server.tool_env(env)

    def _argv(self) -> list[str]:
        argv = list(self.command.mapped(self.path_map))
        if not Path(argv[0]).exists():
            candidate = self.server.binaries.bin_dir / Path(argv[0]).name
            if candidate.exists():
                argv[0] = str(candidate)
        return argv

    def _dump_files(self) -> dict[Path, int]:
        files = {}
        for local in self.path_map.values():
            for path in Path(local).rglob("*"):
                if path.is_file():
                    files[path] = path.stat().st_mtime_ns
        return files

    def take_backup(self, table: str) -> BackupRecord:
        check_table_name(table)
        before = self._dump_files()
        argv = self._argv()
        started = Instant.now()
        try:
            proc = subprocess.run(argv, env=self.backup_env(), cwd=self.server.workdir, capture_output=True,
                                  text=True, timeout=self.timeouts.backup)
            rc, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as exc:
            raise BackupFailed(f"backup command of {self.command.source} did not finish within "
                               f"{format_duration(self.timeouts.backup)}: {first_line(exc.stderr)}") from None
        except OSError as exc:
            raise BackupFailed(f"backup command of {self.command.source} could not run: {exc}") from None
        completed = Instant.now()
        after = self._dump_files()
        fresh = [p for p, mtime in after.items() if before.get(p) != mtime]
        newest = max(fresh, key=lambda p: after[p]) if fresh else None
        facts = inspect_dump(newest, table, pg_restore=self.server.binaries.tool("pg_restore")) if newest else None
        judge_backup(exit_code=rc, stderr=stderr, facts=facts, script=" ".join(self.command.argv),
                     source=self.command.source)
        assert facts is not None
        return BackupRecord(started, completed, str(newest), facts, rc, redact_dsn(" ".join(argv)))

    # -- disaster and restore ----------------------------------------------------------------
    def disaster(self) -> None:
        self.server.destroy_data()

    def restore(self, backup: BackupRecord) -> RestoreRecord:
        started = Instant.now()
        phases = []
        mark = started
        try:
            self.server.initdb()
            phases.append(("re-init", Instant.now().seconds_since(mark)))
            mark = Instant.now()
            self.server.launch()
            self.server.create_database()
            phases.append(("start", Instant.now().seconds_since(mark)))
        except ServerDidNotStart as exc:
            raise RestoreFailed(f"restore of {backup.location} failed: {exc}") from exc
        mark = Instant.now()
        script = restore_script(backup.facts, backup.location)
        try:
            proc = subprocess.run(["/bin/bash", "-c", script], env=self.server.tool_env({DATABASE_URL_VAR: self.server.dsn}),
                                  cwd=self.server.workdir, capture_output=True, text=True,
                                  timeout=self.timeouts.restore)
        except subprocess.TimeoutExpired:
            raise RestoreFailed(f"restore of {backup.location} did not finish within "
                                f"{format_duration(self.timeouts.restore)}") from None
        tool = "pg_restore" if backup.facts.custom else "psql"
        if proc.returncode != 0:
            raise RestoreFailed(f"restore of {backup.location} failed ({tool} exit {proc.returncode}): "
                                f"{redact_dsn(first_line(proc.stderr or proc.stdout))}")
        completed = Instant.now()
        phases.append(("load", completed.seconds_since(mark)))
        return RestoreRecord(started, completed, script, tuple(phases))

    # -- reading -----------------------------------------------------------------------------
    def probe(self, table: str) -> tuple[int, int | None]:
        check_table_name(table)
        session = PsycopgSession(self.server.dsn, connect_timeout=self.timeouts.probe)
        try:
            count, newest = session.execute(f"SELECT count(*), max(seq) FROM {table}")[0]
        finally:
            session.close()
        return int(count), (int(newest) if newest is not None else None)

    def read_stamps(self, table: str) -> list[tuple[int, datetime]]:
        check_table_name(table)
        session = PsycopgSession(self.server.dsn, connect_timeout=self.timeouts.probe)
        try:
            return [(int(s), w) for s, w in session.execute(f"SELECT seq, written_at FROM {table} ORDER BY seq")]
        finally:
            session.close()

    def close(self) -> None:
        """The server belongs to the caller's ``with LocalPostgres()``; nothing else to release."""
