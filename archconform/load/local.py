"""The workload (workload/archconform_workload) as a local process on 127.0.0.1.

The same server the systems deploy, started from the source tree: a loopback target for
Locust in tests and benchmarks, and for trying a locustfile before it meets a cluster.

    with LocalWorkload(env={"WORKLOAD_RATE_LIMIT": "100/min"}) as target:
        run_locust("rate_limit.py", host=target.base_url, ...)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping, Sequence

from archconform.errors import ArchconformError
from archconform.settings import DEFAULT_TIMEOUTS, Timeouts

#: The workload's source folder (its package is importable from here).
WORKLOAD_DIR = Path(__file__).resolve().parents[2] / "workload"
_LISTENING = re.compile(r"listening on (tcp|udp) (\S+):(\d+)$")
_READY = "ready to serve"


class LocalWorkloadError(ArchconformError):
    """The local workload process did not start."""


class LocalWorkload:
    """One workload process bound to loopback on free ports (``ports="0,0/udp"``: one TCP, one
    UDP). ``env`` adds WORKLOAD_* settings. ``command_prefix`` runs the server under another
    command (``unshare``/``setpriv``, to imitate a pod's securityContext). Start with
    ``start()`` or ``with``."""

    def __init__(self, *, env: Mapping[str, str] | None = None, ports: str = "0",
                 bind: str = "127.0.0.1", timeouts: Timeouts | None = None,
                 command_prefix: Sequence[str] = (), python: str | None = None):
        self.env = dict(env or {})
        #: The interpreter that runs the (stdlib-only) workload; the caller's by default.
        self.python = python or sys.executable
        self.command_prefix = list(command_prefix)
        self.ports_spec = ports
        self.bind = bind
        self.timeouts = timeouts or DEFAULT_TIMEOUTS
        self.tcp_ports: list[int] = []
        self.udp_ports: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="archconform-workload-"))
        self.log_path = self._dir / "workload.log"

    # -- addresses ---------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.bind

    @property
    def port(self) -> int:
        return self.tcp_ports[0]

    @property
    def base_url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def url(self, path: str = "/", *, port: int | None = None) -> str:
        return f"http://{self.bind}:{port or self.port}{path}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "LocalWorkload":
        env = {key: value for key, value in os.environ.items() if not key.startswith("WORKLOAD_")}
        env.update({"WORKLOAD_PORTS": self.ports_spec, "WORKLOAD_BIND": self.bind,
                    "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        env.update(self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WORKLOAD_DIR),
                                                          os.environ.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*self.command_prefix, self.python, "-m", "archconform_workload", "serve"],
                stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=str(self._dir),
                start_new_session=True)
        deadline = time.monotonic() + self.timeouts.load_start
        while time.monotonic() < deadline:
            text = self.log_text()
            if _READY in text:
                for line in text.splitlines():
                    match = _LISTENING.search(line.strip())
                    if match:
                        (self.tcp_ports if match.group(1) == "tcp" else self.udp_ports).append(
                            int(match.group(3)))
                return self
            if self.process.poll() is not None:
                last = (text.strip().splitlines() or ["no output"])[-1]
                raise LocalWorkloadError(f"the workload exited with code {self.process.returncode} "
                                         f"before serving: {last}")
            time.sleep(0.05)
        self.kill()
        raise LocalWorkloadError(f"the workload did not start serving within "
                                 f"{self.timeouts.load_start:g}s")

    def terminate(self) -> None:
        """Send SIGTERM (the graceful stop)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        """Exit code, or None if still running after ``timeout`` seconds."""
        assert self.process is not None, "not started"
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(5)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` (default: its drain
        budget plus the probe timeout). Returns the exit code."""
        if self.process is None:
            return None
        if timeout is None:
            drain = float(self.env.get("WORKLOAD_DRAIN_SECONDS", "5") or 5)
            delay = float(self.env.get("WORKLOAD_SHUTDOWN_DELAY_SECONDS", "0") or 0)
            timeout = drain + delay + self.timeouts.probe
        self.terminate()
        code = self.wait(timeout)
        if code is None:
            self.kill()
            code = self.process.returncode
        return code

    def __enter__(self) -> "LocalWorkload":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
