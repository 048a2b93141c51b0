"""The provider interface and the shared plumbing of every cluster kind.

A provider creates (or attaches to) one cluster per run, hands out its kubeconfig, loads the
workload image into it, and deletes it. Deletion is idempotent and safe to call from a signal
handler's unwinding, an atexit hook and the normal session end alike.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ClusterError, PrerequisiteMissing
from ..machine import pid_alive  # noqa: F401 (the providers' and the reaper's name for it)
from ..settings import Timeouts

log = logging.getLogger("archconform.clusters")
progress = logging.getLogger("archconform.progress")

LIVE_KINDS = ("kind", "kwok", "k3s", "eks", "existing")
ALL_KINDS = ("none", *LIVE_KINDS)

#: What a scenario may need a cluster to really do. A provider lists those it cannot do in
#: ``Provider.lacks`` (capability -> why), and a scenario with a step that needs one of them is
#: skipped with that reason before anything is deployed (steps declare needs with
#: ``steps._vocabulary.needs``).
CAPABILITIES: dict[str, str] = {
    "containers": "processes really run in the pods (exec, logs, port-forward, start-up time, runtime identity)",
    "probes": "the kubelet runs liveness, readiness and startup probes and restarts containers",
    "pod-network": "packets flow between pods and cluster DNS answers (NetworkPolicy enforcement)",
    "traffic": "requests reach pods through a Service, a NodePort or an Ingress",
    "volumes": "a storage provisioner creates volumes that really hold data",
}

#: The stand-in image every system deploys (built from workload/).
WORKLOAD_IMAGE = "archconform/workload:0.1.0"


@dataclass
class ClusterHandle:
    """What scenarios get: where the cluster is and whose it is."""

    kind: str
    name: str
    kubeconfig: str | None
    context: str | None
    profile: str
    run_id: str
    owned: bool                     # created by this run (and so deleted by it)
    facts: dict = field(default_factory=dict)   # version, nodes, CNI, ... (for the report)

    def describe(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "facts"} | dict(self.facts)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ClusterHandle":
        return cls(**data)


class Provider(ABC):
    """One cluster kind. Subclasses implement the verbs; ``run`` runs their commands."""

    kind: str = ""
    #: Capabilities (CAPABILITIES) this kind cannot show, each with the reason a skip names.
    lacks: dict[str, str] = {}
    #: True when the nodes are simulated: observed verdicts are labelled as such.
    simulated: bool = False
    #: True when the cluster is processes of this machine that a SIGKILLed run would leave
    #: behind: the session then starts archconform.clusters.reaper beside it.
    reaped: bool = False

    def __init__(self, *, run_id: str, workdir: Path, timeouts: Timeouts, keep: bool = False,
                 reuse: str | None = None, context: str | None = None, root: Path | None = None,
                 options: dict | None = None):
        self.run_id = run_id
        #: Kind-specific choices from the command line (kind: ``node_image``).
        self.options = dict(options or {})
        self.workdir = Path(workdir)
        self.timeouts = timeouts
        self.keep = keep
        self.reuse = reuse
        self.context = context
        self.root = root or Path.cwd()
        self.name = reuse or f"archconform-{run_id}"
        self.handle: ClusterHandle | None = None

    # -- the interface -------------------------------------------------------------------
    @classmethod
    def lacks_for(cls, options: dict | None = None) -> dict[str, str]:
        """What this kind cannot show with these options (default: ``lacks``)."""
        return dict(cls.lacks)

    @abstractmethod
    def check_prerequisites(self) -> None:
        """Fail within seconds, in one line, if a tool or service this kind needs is missing."""

    def prepare(self) -> None:
        """Get what creation needs onto this machine (a build, a download); run once by the run's
        owner before any scenario. Most kinds need nothing."""

    @abstractmethod
    def create(self) -> ClusterHandle:
        """Create (or attach to) the cluster and return its handle."""

    def kubeconfig(self) -> str | None:
        return self.handle.kubeconfig if self.handle else None

    def load_image(self, image: str) -> None:  # pragma: no cover - overridden where possible
        raise ClusterError(f"--cluster {self.kind} cannot load local images; push {image} to a registry "
                           "the cluster can pull from and pass --workload-image REGISTRY/IMAGE:TAG")

    @abstractmethod
    def delete(self) -> None:
        """Delete what this run created. Idempotent; never deletes what it did not create."""

    def describe(self) -> dict:
        return self.handle.describe() if self.handle else {"kind": self.kind, "name": self.name}

    # -- shared helpers ------------------------------------------------------------------
    def run(self, argv: list[str], *, timeout: float, what: str, input: bytes | None = None,
            check: bool = True, stream: bool = False, env: dict[str, str] | None = None,
            log_file: Path | None = None, explain: Callable[[str], str] | None = None) -> subprocess.CompletedProcess:
        """Run a provider command bounded in time; on failure a one-line ClusterError.

        The child gets its own process group so that an interrupt kills it and everything it
        started, and the subprocess never outlives us (the group is killed on any exception).
        With ``log_file`` its output is appended there (a command whose output is a log), and the
        failure's line is ``explain(tail of the log)`` (default: its last line).
        """
        log.info("running: %s", " ".join(argv))
        sink = open(log_file, "ab") if log_file is not None else None
        try:
            out_to = sink if sink is not None else (None if stream else subprocess.PIPE)
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                    stdout=out_to, stderr=subprocess.STDOUT if sink is not None else out_to,
                                    start_new_session=True, env=env)
            try:
                out, err = proc.communicate(input=input, timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                where = f"; log: {log_file}" if log_file is not None else ""
                raise ClusterError(f"{what} did not finish within {int(timeout)}s ({argv[0]} killed{where})") from None
            except BaseException:
                kill_group(proc)
                raise
        finally:
            if sink is not None:
                sink.close()
        result = subprocess.CompletedProcess(argv, proc.returncode, out or b"", err or b"")
        if check and proc.returncode != 0:
            if log_file is not None:
                tail = tail_of(log_file)
                raise ClusterError(f"{what} failed (exit {proc.returncode}): {(explain or last_line)(tail)} "
                                   f"(log: {log_file})")
            raise ClusterError(f"{what} failed (exit {proc.returncode}): {last_line(result.stderr or result.stdout)}")
        return result


def tail_of(path: Path, size: int = 4096) -> str:
    """The last ``size`` bytes of a file as text ("" when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


#: The folder holding the archconform package.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def package_env() -> dict[str, str]:
    """The environment of a child started as ``python -m archconform...`` (the package on its path
    even when archconform is not installed, as under bin/build-cluster)."""
    path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def kill_group(proc: subprocess.Popen) -> None:
    """Terminate a child's whole process group, then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def last_line(data: bytes | str) -> str:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def require_binaries(kind: str, *names_and_hints: tuple[str, str]) -> list[str]:
    """Return one 'NAME not found on PATH (install: HINT)' per missing binary."""
    return [f"{name} not found on PATH (install: {hint})" for name, hint in names_and_hints if not shutil.which(name)]


def docker_daemon_problem(timeout: float = 5.0) -> str | None:
    """None when `docker info` answers, else a short reason. Bounded: never hangs a run."""
    if not shutil.which("docker"):
        return "docker not found on PATH (install Docker: https://docs.docker.com/get-docker/)"
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"Docker daemon did not answer within {int(timeout)}s (is it starting or hung?)"
    if proc.returncode != 0 or not proc.stdout.strip():
        return f"Docker daemon not reachable ({last_line(proc.stderr)}); start Docker and retry"
    return None


def raise_missing(kind: str, problems: list[str]) -> None:
    if problems:
        raise PrerequisiteMissing(f"--cluster {kind} cannot run: " + "; ".join(problems))
