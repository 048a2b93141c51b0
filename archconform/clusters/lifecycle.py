"""One cluster per run, created once, always deleted.

``ClusterSession`` is shared by every process of a run (the pytest process, or the pytest-xdist
controller and its workers): the first process that needs the cluster creates it under a file
lock and records it in ``state.json``; the others read the record. Only the process that owns
the run (the xdist controller, or plain pytest) deletes it, at session end, on failure, on Ctrl-C
and on SIGTERM (turned into KeyboardInterrupt so pytest unwinds), with an atexit fallback.
While it deletes, further interrupts are held so a second Ctrl-C cannot leak the cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from filelock import FileLock

from ..errors import ArchconformError, ClusterError
from ..settings import Timeouts
from . import make_provider
from .base import ClusterHandle, Provider, package_env, progress

log = logging.getLogger("archconform.clusters")



def install_sigterm_as_interrupt() -> None:
    """SIGTERM → KeyboardInterrupt in the main thread, so finalizers and session end run."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _raise(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, _raise)


@contextlib.contextmanager
def interrupts_held(reason: str):
    """Hold SIGINT/SIGTERM while critical cleanup runs; re-deliver nothing (we are exiting)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def _hold(signum, frame):  # noqa: ARG001
        held.append(signum)
        progress.warning("%s: interrupt held until cleanup finishes", reason)

    previous = {s: signal.signal(s, _hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class ClusterSession:
    """The run's cluster, shared through ``<workdir>/state.json`` under ``<workdir>/cluster.lock``."""

    def __init__(self, *, kind: str, run_id: str, workdir: Path, root: Path, timeouts: Timeouts | None = None,
                 keep: bool = False, reuse: str | None = None, context: str | None = None,
                 bootstrap: Callable[[Provider, ClusterHandle], None] | None = None,
                 owner_pid: int | None = None, options: dict | None = None):
        self.kind, self.run_id, self.workdir, self.root = kind, run_id, Path(workdir), root
        self.options = dict(options or {})
        #: The process that deletes the cluster at the end (the xdist controller, or plain pytest).
        self.owner_pid = owner_pid or os.getpid()
        self.timeouts = timeouts or Timeouts.for_cluster(kind)
        self.keep, self.reuse, self.context = keep, reuse, context
        self.bootstrap = bootstrap
        self.state_file = self.workdir / "state.json"
        self._provider: Provider | None = None

    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = make_provider(self.kind, run_id=self.run_id, workdir=self.workdir, timeouts=self.timeouts,
                                           keep=self.keep, reuse=self.reuse, context=self.context, root=self.root,
                                           options=self.options)
        return self._provider

    def check_prerequisites(self) -> None:
        self.provider().check_prerequisites()

    def _read_state(self) -> dict | None:
        if self.state_file.is_file():
            return json.loads(self.state_file.read_text())
        return None

    def _write_state(self, **state) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def acquire(self) -> ClusterHandle:
        """The run's cluster, created by the first caller; later callers (any process) reuse it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.workdir / "cluster.lock")):
            state = self._read_state()
            if state and state["status"] == "ready":
                return ClusterHandle.from_json(state["handle"])
            if state and state["status"] == "failed":
                raise ClusterError(state["error"])
            if state and state["status"] == "deleted":
                raise ClusterError(f"cluster {state['handle']['name']} was already deleted by this run")
            provider = self.provider()
            # Record intent before creating: an interrupt mid-creation still leads to deletion.
            self._write_state(status="creating", handle={"kind": self.kind, "name": provider.name})
            if provider.reaped and not self.keep:
                self._start_reaper()
            try:
                handle = provider.create()
                self._write_state(status="creating", handle=handle.to_json())
                if self.bootstrap:
                    self.bootstrap(provider, handle)
            except ArchconformError as exc:
                self._write_state(status="failed", error=str(exc), handle=(provider.handle or handle_stub(provider)).to_json())
                raise
            except BaseException as exc:
                if provider.handle is not None:
                    self._write_state(status="failed", error=f"cluster creation interrupted: {exc}",
                                      handle=provider.handle.to_json())
                raise
            self._write_state(status="ready", handle=handle.to_json())
            return handle

    def _start_reaper(self) -> None:
        """archconform.clusters.reaper deletes the cluster if the owner dies without unwinding."""
        with open(self.workdir / "reaper.log", "ab") as log_fh:
            subprocess.Popen([sys.executable, "-m", "archconform.clusters.reaper", "--owner", str(self.owner_pid),
                              "--kind", self.kind, "--run-id", self.run_id, "--workdir", str(self.workdir),
                              "--root", str(self.root)],
                             stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=str(self.root), env=package_env())

    def release(self) -> None:
        """Delete the cluster if this run created it (idempotent; safe from atexit)."""
        state = self._read_state()
        if not state or state.get("status") == "deleted":
            return
        handle_data = state.get("handle") or {}
        provider = self.provider()
        if provider.handle is None and "run_id" in handle_data:
            provider.handle = ClusterHandle.from_json(handle_data)
        elif provider.handle is None:
            # Interrupted before the provider produced a handle: a name is all we have.
            provider.handle = handle_stub(provider)
        if self.keep or not provider.handle.owned:
            if self.keep and provider.handle.owned:
                progress.warning("keeping cluster %s (--keep-cluster); kubeconfig: %s", provider.handle.name,
                                 provider.handle.kubeconfig)
            self._write_state(status="kept" if self.keep else "deleted", handle=provider.handle.to_json())
            return
        with interrupts_held(f"deleting cluster {provider.handle.name}"):
            provider.delete()
            self._write_state(status="deleted", handle=provider.handle.to_json())

    def register_atexit(self) -> None:
        atexit.register(self._atexit)

    def _atexit(self) -> None:
        try:
            self.release()
        except Exception as exc:  # last resort: say what leaked, never raise at exit
            log.error("could not delete the run's cluster at exit: %s", exc)


def handle_stub(provider: Provider) -> ClusterHandle:
    return ClusterHandle(kind=provider.kind, name=provider.name, kubeconfig=None, context=None, profile="",
                         run_id=provider.run_id, owned=not provider.reuse)
