"""A Docker Engine for machines that have none running: Debian's docker.io, started and stopped by us.

kind needs a Docker daemon. Where one answers, it is used as it is and never touched. Where none
answers, ``start()`` installs Debian's ``docker.io`` package if ``dockerd`` is missing (root and
apt only), starts ``dockerd`` in the background with its log and pid under the cache folder,
waits for it to answer (progress every 15 s, a named timeout), and leaves a marker saying this
project started it. ``stop()`` stops only a daemon that marker names, so a daemon the user runs
is never stopped.

    bin/docker-engine start     # a daemon answers afterwards (started by us if none did)
    bin/docker-engine stop      # stop it again, only if we started it
    bin/docker-engine status    # one line: who runs it, its version

dockerd does to the machine what a container runtime does on its own (its bridge, its iptables
chains); nothing else here changes the machine. Standard library only (runs before any venv).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import machine

#: Seconds to wait for a started dockerd to answer ``docker info``.
START_TIMEOUT = 90.0
#: Seconds to wait for dockerd to exit after SIGTERM (it stops its containers first).
STOP_TIMEOUT = 60.0
PROGRESS_EVERY = 15.0
#: The Debian package and what it provides.
PACKAGE = "docker.io"
#: Where a running dockerd writes its pid (its default).
DOCKERD_PIDFILE = Path("/var/run/docker.pid")


class EngineError(Exception):
    """One line: what is wrong with the Docker Engine and what to do."""


def state_dir() -> Path:
    return machine.cache_dir() / "docker-engine"


def _say(message: str) -> None:
    print(f"[docker-engine {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_last_line = machine.last_line


def server_version(docker: str | None = None, timeout: float = 20.0) -> str | None:
    """The daemon's version when one answers on the default socket, else None."""
    docker = docker or shutil.which("docker")
    if not docker:
        return None
    try:
        out = subprocess.run([docker, "info", "--format", "{{json .ServerVersion}}"], capture_output=True,
                             text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        version = json.loads(out.stdout.strip() or "null")
    except ValueError:
        return None
    return version or None


def _marker() -> Path:
    return state_dir() / "started-by-archconform.json"


_pid_alive = machine.pid_alive


def ours() -> dict | None:
    """The marker of a dockerd this project started and that still runs, else None."""
    try:
        record = json.loads(_marker().read_text())
    except (OSError, ValueError):
        return None
    pid = record.get("pid")
    if isinstance(pid, int) and _pid_alive(pid):
        return record
    return None


def _install(say) -> None:
    machine.apt_install([PACKAGE, "iptables"], why="no Docker daemon answers and dockerd is not installed; Docker Engine",
                        error=EngineError, say=say, log=state_dir() / "apt.log")


def start(*, say=_say, timeout: float = START_TIMEOUT) -> str:
    """Make sure a Docker daemon answers; returns one line saying whose it is."""
    version = server_version()
    if version:
        mine = ours()
        return f"Docker {version} answers ({'started by archconform' if mine else 'not ours; left as it is'})"
    if not shutil.which("dockerd"):
        _install(say)
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise EngineError(f"{PACKAGE} is installed but dockerd is not on PATH")
    if os.geteuid() != 0:
        raise EngineError("no Docker daemon answers; starting dockerd needs root (start Docker yourself)")
    if DOCKERD_PIDFILE.exists() and not ours():
        pid_text = DOCKERD_PIDFILE.read_text().strip()
        if pid_text.isdigit() and _pid_alive(int(pid_text)):
            raise EngineError(f"a dockerd (pid {pid_text}) runs but does not answer on /var/run/docker.sock; "
                              "it is not ours, so it is left alone: look at its log")
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "dockerd.log"
    say(f"starting {dockerd} (log: {log})")
    with open(log, "ab") as fh:
        proc = subprocess.Popen([dockerd], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _marker().write_text(json.dumps({"pid": proc.pid, "started_at": time.time(), "log": str(log)}) + "\n")
    began = time.monotonic()
    last_said = began
    while True:
        version = server_version(timeout=10)
        if version:
            say(f"Docker {version} answers after {time.monotonic() - began:.0f}s (pid {proc.pid})")
            return f"Docker {version} answers (started by archconform, pid {proc.pid})"
        if proc.poll() is not None:
            _marker().unlink(missing_ok=True)
            raise EngineError(f"dockerd exited with code {proc.returncode} before answering: "
                              f"{_last_line(log.read_text(errors='replace'))} (log: {log})")
        now = time.monotonic()
        if now - began > timeout:
            _terminate(proc.pid)
            _marker().unlink(missing_ok=True)
            raise EngineError(f"dockerd did not answer within {timeout:.0f}s (waited for `docker info`); "
                              f"last log line: {_last_line(log.read_text(errors='replace'))} (log: {log})")
        if now - last_said >= PROGRESS_EVERY:
            say(f"waiting for dockerd to answer ({now - began:.0f}s of {timeout:.0f}s)")
            last_said = now
        time.sleep(0.5)


def _terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(*, say=_say) -> str:
    """Stop the daemon only if this project started it; one line saying what happened."""
    mine = ours()
    if not mine:
        _marker().unlink(missing_ok=True)
        return "no dockerd started by archconform runs; nothing stopped"
    say(f"stopping dockerd (pid {mine['pid']}, started by archconform)")
    _terminate(int(mine["pid"]))
    _marker().unlink(missing_ok=True)
    return f"dockerd (pid {mine['pid']}) stopped"


def status() -> str:
    version = server_version()
    mine = ours()
    if version:
        return f"Docker {version} answers ({'started by archconform, pid %d' % mine['pid'] if mine else 'not ours'})"
    installed = "dockerd installed" if shutil.which("dockerd") else f"dockerd not installed ({PACKAGE})"
    return f"no Docker daemon answers; {installed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/docker-engine", description=(
        "Start Debian's Docker Engine when no Docker daemon answers (installing docker.io if needed), "
        "and stop it again only if archconform started it."))
    parser.add_argument("action", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    def run() -> int:
        print({"start": start, "stop": stop, "status": status}[args.action]())
        return 0

    return machine.one_line_errors(run, EngineError, "interrupted")

if __name__ == "__main__":
    sys.exit(main())
