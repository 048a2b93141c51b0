"""What the build scripts share about this machine: the cache folder, Debian packages, last lines.

Standard library only: bin/build-cluster and bin/docker-engine import it before any venv exists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable


def cache_dir() -> Path:
    """``$ARCHCONFORM_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/archconform``."""
    explicit = os.environ.get("ARCHCONFORM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "archconform"


def last_line(text: str | bytes | None) -> str:
    """The last non-empty line of a command's output (what a one-line error quotes)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def tail(path: Path, size: int = 4096) -> str:
    """The end of a log file ("" when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def apt_missing(packages: list[str] | tuple[str, ...]) -> list[str]:
    """The Debian packages of the list that are not installed."""
    return [p for p in packages
            if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                              text=True).stdout.strip() != "install ok installed"]


def apt_install(packages: list[str] | tuple[str, ...], *, why: str, error: type[Exception],
                say: Callable[[str], None], log: Path | None = None) -> None:
    """Install Debian packages with apt-get (root only); ``error(one line)`` when that cannot be."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise error(f"{why} needs the Debian packages {', '.join(packages)}; installing them needs root and "
                    "apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]):
        say(f"{' '.join(args[:2])} {' '.join(packages) if args[1] == 'install' else ''}".rstrip()
            + (f" (log: {log})" if log else ""))
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as fh:
                fh.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise error(f"{' '.join(args[:2])} {' '.join(packages)} failed (exit {proc.returncode}): "
                        f"{last_line(proc.stdout + proc.stderr)}")


def pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie does not; one that is our own child is reaped here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone (reap it).
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def one_line_errors(run: Callable[[], int], errors: type[Exception] | tuple[type[Exception], ...],
                    interrupted: str) -> int:
    """A command's exit code: ``run()``'s, or 2 with one ``archconform: ...`` line for ``errors``,
    or 130 with ``interrupted`` on Ctrl-C (never a traceback)."""
    try:
        return run()
    except errors as exc:
        print(f"archconform: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"archconform: {interrupted}", file=sys.stderr)
        return 130
