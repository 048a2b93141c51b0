"""Debian root filesystems from debootstrap, cached: the ground every locally built image stands on.

Nothing can be pulled here, but Debian's packages can be installed. ``build(name, packages)``
runs ``debootstrap --variant=minbase --include=<packages> bookworm`` into a temporary folder
under the cache, packs it into ``<cache>/rootfs/<name>-<key>.tar`` (the key hashes the suite,
the package list and the mirror) and removes the folder. A second call with the same inputs is a
no-op. The mirror is the one this machine's apt already uses (/etc/apt/sources.list.d/*.sources
or /etc/apt/sources.list), so the build reaches nothing apt does not.

Needs root (debootstrap creates device nodes and chroots); installs Debian's debootstrap with
apt-get when it is missing. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import machine

SUITE = "bookworm"
PROGRESS_EVERY = 15.0
#: A debootstrap of a few hundred packages takes minutes; this is the hard limit.
TIMEOUT = 1800.0


class RootfsError(Exception):
    """One line: which root filesystem could not be built and why."""


cache_dir = machine.cache_dir


def _say(message: str) -> None:
    print(f"[rootfs {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (first ``URIs:``/``deb`` entry of a main archive)."""
    candidates: list[str] = []
    folder = Path("/etc/apt/sources.list.d")
    for path in sorted(folder.glob("*.sources")) if folder.is_dir() else []:
        for m in re.finditer(r"^URIs:\s*(\S+)", path.read_text(errors="replace"), re.M):
            candidates.append(m[1])
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", legacy.read_text(errors="replace"), re.M):
            candidates.append(m[1])
    for uri in candidates:
        if "security" not in uri and uri.rstrip("/").endswith("/debian"):
            return uri
    if candidates:
        return candidates[0]
    raise RootfsError("no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")


def key(packages: list[str], mirror: str, suite: str = SUITE) -> str:
    data = json.dumps({"suite": suite, "packages": sorted(packages), "mirror": mirror, "variant": "minbase"})
    return hashlib.sha256(data.encode()).hexdigest()[:12]


def path_for(name: str, packages: list[str], *, mirror: str | None = None) -> Path:
    return cache_dir() / "rootfs" / f"{name}-{SUITE}-{key(packages, mirror or apt_mirror())}.tar"


def _ensure_debootstrap(say) -> str:
    if not shutil.which("debootstrap"):
        machine.apt_install(["debootstrap"], why="building a root filesystem", error=RootfsError, say=say)
    found = shutil.which("debootstrap")
    if not found:
        raise RootfsError("apt-get installed debootstrap but it is not on PATH")
    return found


_last_line = machine.last_line


def _run_logged(argv: list[str], *, log: Path, what: str, say, timeout: float = TIMEOUT) -> None:
    """Run a long command into a log, saying its latest line every PROGRESS_EVERY seconds."""
    started = time.monotonic()
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(PROGRESS_EVERY):
            say(f"{what}: {time.monotonic() - started:.0f}s, {_last_line(_tail(log))[:120]}")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RootfsError(f"{what} did not finish within {timeout:.0f}s; last line: "
                          f"{_last_line(_tail(log))} (log: {log})") from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        stop.set()
    if proc.returncode != 0:
        raise RootfsError(f"{what} failed (exit {proc.returncode}): {_last_line(_tail(log))} (log: {log})")


_tail = machine.tail


def build(name: str, packages: list[str], *, say=_say, clean: tuple[str, ...] = ()) -> Path:
    """The tar of a bookworm minbase root filesystem with ``packages``; built when missing.

    ``clean``: paths inside the root filesystem removed before packing (caches, docs)."""
    mirror = apt_mirror()
    final = path_for(name, packages, mirror=mirror)
    if final.is_file():
        return final
    if os.geteuid() != 0:
        raise RootfsError(f"building the {name} root filesystem needs root (debootstrap)")
    debootstrap = _ensure_debootstrap(say)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    log = final.with_suffix(".log")
    log.write_text("")
    started = time.monotonic()
    try:
        target = work / "root"
        say(f"{name}: debootstrap {SUITE} minbase with {len(packages)} packages from {mirror} (log: {log})")
        _run_logged([debootstrap, "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(target),
                     mirror], log=log, what=f"{name}: debootstrap", say=say)
        for rel in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                    "usr/share/info", *clean):
            victim = target / rel
            if victim.is_dir() and not victim.is_symlink():
                for child in victim.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
            elif victim.exists() or victim.is_symlink():
                victim.unlink()
        tmp_tar = work / "rootfs.tar"
        say(f"{name}: packing the root filesystem")
        _run_logged(["tar", "--numeric-owner", "--xattrs", "-C", str(target), "-cf", str(tmp_tar), "."],
                    log=log, what=f"{name}: tar", say=say)
        tmp_tar.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"{name}: built in {time.monotonic() - started:.0f}s -> {final} ({final.stat().st_size >> 20} MiB)")
    for older in final.parent.glob(f"{name}-{SUITE}-*"):   # a cache, not a history
        if older.stem != final.stem and older.suffix in (".tar", ".log"):
            older.unlink(missing_ok=True)
    return final
