"""Run a locustfile in a child process, bounded in users and time, and parse what it measured.

    result = run_locust("cpu_burn.py", host=url, users=20, spawn_rate=5, duration_s=120)
    result.requests, result.failures, result.rps, result.p95_ms, result.history

    with start_locust("browse.py", host=url, users=10, spawn_rate=10, duration_s=300) as load:
        drain_a_node()                      # load keeps flowing meanwhile
    result = load.result()

The caller never imports locust (gevent would monkey-patch it); Locust runs as
``python -m locust -f <child helper>,<locustfile> --headless ... --csv PREFIX --only-summary``
in its own process group. A watchdog thread bounds the run: no request within
``Timeouts.load_start`` -> ``LoadDidNotStart``; still running after its hard bound -> SIGTERM,
then SIGKILL ``stop_grace_s`` later -> ``LoadTimeout``. A target that refuses connections is
found before Locust starts (a TCP connect bounded by ``Timeouts.probe``).
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from archconform.errors import PrerequisiteMissing, UsageError
from archconform.load.errors import (LoadDidNotStart, LoadError, LoadTimeout, LocustCrashed,
                                     TargetUnreachable)
from archconform.load.results import LoadResult, has_stats, parse_history, parse_results
from archconform.settings import DEFAULT_TIMEOUTS, Timeouts

#: The folder of the project's locustfiles and shapes.
LOADTESTS_DIR = Path(__file__).resolve().parents[2] / "loadtests"
#: The shapes file a bare shape class name refers to.
SHAPES_FILE = LOADTESTS_DIR / "shapes.py"
#: Locust runs with this file as an extra locustfile (see its docstring).
CHILD_HELPER = Path(__file__).resolve().with_name("_locust_child.py")
#: Upper bound on simulated users of one run. The laptop-cluster scenarios need tens; a run
#: asking for more than this is a typo, not a test.
MAX_USERS = 1000
#: Seconds Locust gets, once its run time is over or after SIGTERM, to stop its users and write
#: its stats before it is killed. Locust needs about one second; 15 absorbs a loaded machine.
#: (A candidate for Timeouts.load_stop; kept here until settings.py has it.)
STOP_GRACE_S: float | None = None   # None: Timeouts.load_stop
#: How often the watchdog looks at the child.
_POLL_S = 0.1


def locustfile_path(locustfile: str | os.PathLike[str]) -> Path:
    """An existing path as given, else a file of loadtests/ (``"cpu_burn"`` or ``"cpu_burn.py"``)."""
    path = Path(locustfile)
    if path.is_file():
        return path.resolve()
    for candidate in (LOADTESTS_DIR / path, LOADTESTS_DIR / f"{path}.py"):
        if candidate.is_file():
            return candidate.resolve()
    available = sorted(p.name for p in LOADTESTS_DIR.glob("*.py") if p.name != "shapes.py")
    raise UsageError(f"no locustfile {locustfile!r}; loadtests/ has: {', '.join(available)}")


def _class_names(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise UsageError(f"{path}: line {exc.lineno}: {exc.msg}") from None
    return [node.name for node in tree.body if isinstance(node, ast.ClassDef)]


def shape_spec(shape: str) -> str:
    """``"RampHoldStop"`` (a class of loadtests/shapes.py) or ``"path/file.py:Class"`` ->
    ``"/abs/file.py:Class"``, checked without importing the file."""
    path_text, sep, class_name = shape.rpartition(":")
    path = Path(path_text) if sep else SHAPES_FILE
    if not path.is_file():
        raise UsageError(f"shape {shape!r}: no file {path}")
    names = _class_names(path)
    if class_name not in names:
        raise UsageError(f"shape {shape!r}: {path.name} has no class {class_name}; "
                         f"it has: {', '.join(names) or 'none'}")
    return f"{path.resolve()}:{class_name}"


def preflight(host: str, *, timeout: float) -> None:
    """Raise TargetUnreachable unless the host URL accepts a TCP connection."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"load target {host!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        raise TargetUnreachable(f"load target {host} refuses connections "
                                f"(nothing listens on {parts.hostname}:{port})") from None
    except (TimeoutError, socket.timeout):
        raise TargetUnreachable(f"load target {host} did not accept a connection within "
                                f"{timeout:g}s") from None
    except OSError as exc:
        raise TargetUnreachable(f"load target {host} is unreachable: "
                                f"{exc.strerror or exc}") from None


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


def _tail(path: Path, count: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-count:])
    except OSError:
        return ""


class LoadRun:
    """A Locust run going on in a child process. Use ``start_locust`` to make one."""

    def __init__(self, command: list[str], *, env: dict[str, str], workdir: Path, prefix: str,
                 final_prefix: str, marker: Path, host: str, description: str,
                 load_start: float, term_after: float, stop_grace_s: float,
                 keep_files: bool):
        self.command = command
        self.host = host
        self.description = description
        self.workdir = workdir
        self.prefix = prefix
        self._final_prefix = final_prefix
        self._marker = marker
        self._load_start = load_start
        self._term_after = term_after
        self._stop_grace = stop_grace_s
        self._keep_files = keep_files
        stem = Path(prefix).name
        self._stdout_path = workdir / f"{stem}.locust.stdout"
        self._stderr_path = workdir / f"{stem}.locust.stderr"
        self._error: LoadError | None = None
        self._stopped = False
        self._killed = False
        self._result: LoadResult | None = None
        self._lock = threading.Lock()
        self.started_at = time.monotonic()
        with open(self._stdout_path, "wb") as out, open(self._stderr_path, "wb") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                            env=env, cwd=str(workdir), start_new_session=True)
        self._done = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name=f"locust-watchdog-{self.process.pid}",
                                          daemon=True)
        self._watchdog.start()

    # -- state -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def started(self) -> bool:
        """Whether the first request has been made."""
        return self._marker.exists()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def snapshot(self):
        """The per-second history so far (list of HistoryPoint), while the run goes on."""
        return parse_history(f"{self.prefix}_stats_history.csv")

    def stderr_tail(self, lines: int = 20) -> str:
        return _tail(self._stderr_path, lines)

    # -- control -----------------------------------------------------------------------------
    def wait_started(self, timeout: float | None = None) -> None:
        """Block until the first request; LoadDidNotStart (and the run stopped) otherwise."""
        limit = self._load_start if timeout is None else timeout
        deadline = self.started_at + limit
        while not self.started:
            if self._done.is_set() or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        if self.started:
            return
        if not self._done.is_set():
            self._fail(LoadDidNotStart(self._not_started_message(limit)))
        self.result()  # raises the recorded error (crash, not started)
        raise LoadDidNotStart(self._not_started_message(limit))  # pragma: no cover - defensive

    def stop(self) -> LoadResult:
        """End the run now (Locust writes its stats), and return what it measured."""
        if self.running:
            self._stopped = True
            self._terminate()
        return self.result()

    def result(self, timeout: float | None = None) -> LoadResult:
        """Wait for the run to end (at most its hard bound, or ``timeout``) and parse it."""
        bound = self._term_after + self._stop_grace + 5.0 if timeout is None else timeout
        if not self._done.wait(bound):
            self._fail(LoadTimeout(f"Locust ({self.description}) still running after "
                                   f"{bound:g}s of waiting for its result; killed"))
            self._done.wait(self._stop_grace + 5.0)
        with self._lock:
            if self._result is None:
                self._result = self._collect()
            result = self._result
        if self._error is not None:
            self._error.result = result
            raise self._error
        return result

    def __enter__(self) -> "LoadRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()  # raises if the run itself went wrong (crash, never started, ...)
        else:
            self._stop_quietly()  # do not hide the body's exception behind a load error

    # -- internals ---------------------------------------------------------------------------
    def _stop_quietly(self) -> None:
        if self.running:
            self._stopped = True
            self._terminate()
        self._done.wait(self._stop_grace + 5.0)

    def _not_started_message(self, limit: float) -> str:
        history = self.snapshot()
        users = f"{history[-1].users} users running" if history else "no stats yet"
        return (f"Locust ({self.description}) made no request within {limit:g}s of starting "
                f"({users}); a shape that never starts users, or a locustfile whose tasks never "
                f"send a request?")

    def _fail(self, error: LoadError) -> None:
        if self._error is None:
            self._error = error
        self._terminate()

    def _terminate(self) -> None:
        """SIGTERM (Locust stops and writes its stats), SIGKILL to the group after the grace."""
        if self.process.poll() is not None:
            return
        try:
            self.process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(self._stop_grace)
        except subprocess.TimeoutExpired:
            self._kill()

    def _kill(self) -> None:
        self._killed = True
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed child always ends
            pass

    def _watch(self) -> None:
        try:
            while self.process.poll() is None:
                now = time.monotonic() - self.started_at
                if not self.started and now >= self._load_start and self._error is None:
                    self._fail(LoadDidNotStart(self._not_started_message(self._load_start)))
                    break
                if now >= self._term_after and self._error is None:
                    self._fail(LoadTimeout(
                        f"Locust ({self.description}) was still running {self._term_after:g}s "
                        f"after it started, past its run time; stopped"))
                    break
                time.sleep(_POLL_S)
        finally:
            if self.process.poll() is None:
                self._terminate()
            # Anything Locust started in its group goes with it.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._done.set()

    def _collect(self) -> LoadResult:
        code = self.process.returncode
        complete = has_stats(self.prefix, final_prefix=self._final_prefix)
        if complete:
            result = parse_results(self.prefix, final_prefix=self._final_prefix)
        else:
            result = parse_results(self.prefix)
        result.exit_code = code
        result.wall_seconds = self.elapsed
        result.command = list(self.command)
        result.stopped = self._stopped
        if self._error is None:
            self._error = self._diagnose(result, code, complete)
        if not self._keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return result

    def _diagnose(self, result: LoadResult, code: int | None, complete: bool) -> LoadError | None:
        if self._killed:
            return LoadTimeout(f"Locust ({self.description}) did not stop within "
                               f"{self._stop_grace:g}s of SIGTERM; killed")
        if code not in (0, None) and not (self._stopped and code == -signal.SIGTERM):
            last = _last_line(self._stderr_path) or "no error output"
            return LocustCrashed(f"Locust ({self.description}) exited with code {code}: {last}",
                                 exit_code=code)
        if not complete and not self._stopped:
            last = _last_line(self._stderr_path) or "no error output"
            return LocustCrashed(f"Locust ({self.description}) wrote no stats: {last}",
                                 exit_code=code)
        if result.requests == 0 and result.exceptions:
            return LocustCrashed(f"Locust ({self.description}) made no request; its tasks "
                                 f"raised: {result.exceptions[0]}", exit_code=code)
        if result.requests and result.refused == result.requests:
            return TargetUnreachable(f"load target {self.host} refused every connection "
                                     f"({result.requests} requests)")
        return None


def _run_files(stem: str) -> list[str]:
    """Every file one run of locustfile ``stem`` writes into its folder."""
    csvs = [f"{stem}{final}_{kind}.csv" for final in ("", "_final")
            for kind in ("stats", "failures", "exceptions")]
    return [*csvs, f"{stem}_stats_history.csv", f"{stem}.first-request", f"{stem}.locust.stdout",
            f"{stem}.locust.stderr"]


def _users(count: int) -> str:
    return f"{int(count)} user" + ("" if int(count) == 1 else "s")


def _child_env(env: Mapping[str, str] | None, extra: Mapping[str, str]) -> dict[str, str]:
    # LOCUST_* variables are Locust options; only the caller's explicit ones reach the child.
    child = {key: value for key, value in os.environ.items() if not key.startswith("LOCUST_")}
    child.update(env or {})
    child.update(extra)
    child["PYTHONUNBUFFERED"] = "1"
    return child


def start_locust(locustfile: str | os.PathLike[str], *, host: str, users: int,
                 spawn_rate: float, duration_s: float, shape: str | None = None,
                 tags: Iterable[str] | None = None, env: Mapping[str, str] | None = None,
                 csv_dir: str | os.PathLike[str] | None = None, timeout_s: float | None = None,
                 timeouts: Timeouts | None = None, stop_grace_s: float | None = STOP_GRACE_S,
                 check_target: bool = True, wait_started: bool = False) -> LoadRun:
    """Start Locust in the background and return its ``LoadRun`` (``.stop()``, ``.result()``,
    ``.snapshot()``, ``.wait_started()``, a context manager that stops it on exit).

    ``users`` is the number of users, or with ``shape`` the most users the shape may ask for;
    ``duration_s`` is the run time (with a shape: its bound). ``timeout_s`` is the hard bound
    after which the child is stopped (default: duration + ``timeouts.load_start`` for start-up).
    ``env`` goes to the child (locustfile and shape knobs). With ``csv_dir`` the CSV files stay
    there (one run of a given locustfile at a time per folder); otherwise they live in a
    temporary folder removed after parsing.
    """
    timeouts = timeouts or DEFAULT_TIMEOUTS
    if stop_grace_s is None:
        stop_grace_s = timeouts.load_stop
    if importlib.util.find_spec("locust") is None:
        raise PrerequisiteMissing("locust is not installed (pip install 'locust==2.47.*')")
    if not 1 <= int(users) <= MAX_USERS or int(users) != users:
        raise UsageError(f"users must be a whole number from 1 to {MAX_USERS}, got {users}")
    if not spawn_rate > 0:
        raise UsageError(f"spawn_rate must be positive, got {spawn_rate}")
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise UsageError(f"duration_s must be a positive number of seconds, got {duration_s}")
    path = locustfile_path(locustfile)
    spec = shape_spec(shape) if shape else None
    if check_target:
        preflight(host, timeout=timeouts.probe)

    keep = csv_dir is not None
    if keep:
        workdir = Path(csv_dir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="archconform-load-"))
    stem = path.stem
    prefix = str(workdir / stem)
    final_prefix = str(workdir / f"{stem}_final")
    marker = workdir / f"{stem}.first-request"
    # A kept csv_dir may hold an earlier run of the same locustfile: its files must not be
    # mistaken for this run's (the first-request marker above all).
    for name in _run_files(stem):
        (workdir / name).unlink(missing_ok=True)

    command = [sys.executable, "-m", "locust", "-f", f"{CHILD_HELPER},{path}", "--headless",
               "--host", host, "--csv", prefix, "--only-summary", "--exit-code-on-error", "0",
               "--loglevel", "INFO"]
    extra = {"ARCHCONFORM_LOAD_MARKER": str(marker), "ARCHCONFORM_LOAD_FINAL_PREFIX": final_prefix}
    if spec:
        extra.update(ARCHCONFORM_LOAD_SHAPE=spec, ARCHCONFORM_LOAD_MAX_USERS=str(int(users)),
                     ARCHCONFORM_LOAD_MAX_SECONDS=f"{duration_s:g}")
        description = f"{path.name} with shape {spec.rpartition(':')[2]}, at most {_users(users)}"
    else:
        command += ["-u", str(int(users)), "-r", f"{spawn_rate:g}",
                    "-t", f"{max(1, math.ceil(duration_s))}s"]
        description = f"{path.name}, {_users(users)}"
    if tags:
        command += ["--tags", *tags]
    term_after = timeout_s if timeout_s is not None else duration_s + timeouts.load_start
    run = LoadRun(command, env=_child_env(env, extra), workdir=workdir, prefix=prefix,
                  final_prefix=final_prefix, marker=marker, host=host, description=description,
                  load_start=timeouts.load_start, term_after=term_after,
                  stop_grace_s=stop_grace_s, keep_files=keep)
    if wait_started:
        run.wait_started()
    return run


def run_locust(locustfile: str | os.PathLike[str], *, host: str, users: int, spawn_rate: float,
               duration_s: float, shape: str | None = None, tags: Iterable[str] | None = None,
               env: Mapping[str, str] | None = None, csv_dir: str | os.PathLike[str] | None = None,
               timeout_s: float | None = None, timeouts: Timeouts | None = None,
               stop_grace_s: float | None = STOP_GRACE_S, check_target: bool = True) -> LoadResult:
    """Run a locustfile to its end and return what it measured (see ``start_locust``)."""
    return start_locust(locustfile, host=host, users=users, spawn_rate=spawn_rate,
                        duration_s=duration_s, shape=shape, tags=tags, env=env, csv_dir=csv_dir,
                        timeout_s=timeout_s, timeouts=timeouts, stop_grace_s=stop_grace_s,
                        check_target=check_target).result()
