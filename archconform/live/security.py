"""Pod security on a live cluster: admission refuses what the namespace's level forbids, and the
running containers really have the identity and restrictions the document promises.

Admission (Pod Security admission, restated from the Kubernetes docs "Pod Security Admission"):
a namespace labelled ``pod-security.kubernetes.io/enforce: <level>`` makes the API server refuse
a pod that violates the level with 403 Forbidden and the message
``pods "<name>" is forbidden: violates PodSecurity "<level>:<version>": <checks>``. The probe is
a privileged pod created with ``dryRun=All``: admission runs in full, nothing is stored, nothing
needs cleaning up. A refusal by anything else (a webhook, a quota) is not the promise.

Runtime (what the kernel says, not what the spec asks for), read per container of every running
pod of a workload:

- through the stand-in workload's ``/whoami`` (uid/gid, ``NoNewPrivs``, capability sets from
  ``/proc/self/status`` of the serving process, a create tried in ``/``), asked from inside the
  pod; or, for other images, through a shell in the container (``id``, ``/proc/self/status``,
  ``touch /...``, ``/proc/self/mountinfo``): an exec'd process gets the container's user,
  capabilities and no_new_privs from the same OCI process spec.
- the root filesystem is read-only when a create in ``/`` fails with EROFS, or the root mount is
  ``ro``; EACCES only shows that this user may not write there.
- capabilities are dropped when both the effective and the bounding set hold nothing beyond the
  allowed ones (a bounding set keeps what a setuid binary could regain).
- privilege escalation is off when ``NoNewPrivs`` is 1 (``allowPrivilegeEscalation: false``).

Init containers have finished by the time a pod runs and cannot be inspected; the evidence says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from archconform.errors import ClusterError, PromiseBroken, UsageError
from archconform.settings import Timeouts

from . import probes
from .probes import CannotObserve, InPodClientMissing, evidence, pod_ref, verdict

#: The namespace label Pod Security admission enforces.
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
LEVELS = ("privileged", "baseline", "restricted")
#: Name of the dry-run probe pod (never stored: dryRun=All).
PROBE_POD = "archconform-privileged-probe"

#: Linux capability numbers (include/uapi/linux/capability.h), named as Kubernetes writes them.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)

#: The shell fallback for images without the stand-in: one line per fact, parsed below.
SHELL_PROBE = r"""
echo "uid=$(id -u)"
echo "gid=$(id -g)"
grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status
f="/.archconform-write-probe-$$"
if out=$(touch "$f" 2>&1); then rm -f "$f"; echo "root=writable"; else echo "root=refused $out"; fi
awk '$5 == "/" { m = $6 } END { print "rootmount=" m }' /proc/self/mountinfo
"""


def capability_names(hex_mask: str | int) -> list[str]:
    """A /proc/self/status capability mask -> sorted Kubernetes-style names."""
    mask = int(hex_mask, 16) if isinstance(hex_mask, str) else int(hex_mask)
    out = [CAPABILITIES[b] if b < len(CAPABILITIES) else f"CAP_{b}" for b in range(64) if mask >> b & 1]
    return sorted(out)


def normalise_capability(name: str) -> str:
    name = name.strip().upper()
    return name[4:] if name.startswith("CAP_") else name


# ------------------------------------------------------------------------------------------------
# admission
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdmissionAnswer:
    """What the API server said to a privileged pod in a namespace."""

    namespace: str
    enforce: str | None          # the namespace's live enforce label
    admitted: bool
    status: int | None
    reason: str
    message: str

    def describe(self) -> str:
        label = f"{ENFORCE_LABEL}={self.enforce}" if self.enforce else f"no {ENFORCE_LABEL} label"
        if self.admitted:
            return f"namespace {self.namespace} ({label}): the privileged pod was admitted (dry run)"
        return (f"namespace {self.namespace} ({label}): refused with {self.status} {self.reason}: "
                f"{self.message}")


#: The probe pod's requests and limits: tiny, so that a namespace's quota admits it (dry run only).
PROBE_RESOURCES = {"cpu": "10m", "memory": "16Mi"}


def privileged_pod(namespace: str, *, image: str) -> dict:
    """A pod every level but privileged refuses: privileged, root, escalation, all caps."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": PROBE_POD, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "archconform"}},
        "spec": {"containers": [{
            "name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
            # a quota that demands requests and limits must not refuse it before Pod Security does
            "resources": {"requests": PROBE_RESOURCES, "limits": PROBE_RESOURCES},
            "securityContext": {"privileged": True, "allowPrivilegeEscalation": True,
                                "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}}]},
    }


def try_privileged_pod(kube: Any, namespace: str, *, image: str) -> AdmissionAnswer:
    """Create the privileged probe pod with dryRun=All and return the API server's answer."""
    from archconform.kube import APIError  # the facade's error classes (no client import)

    ns_obj = kube.get("Namespace", namespace)
    if ns_obj is None:
        raise ClusterError(f"namespace/{namespace} does not exist on the cluster")
    enforce = ((ns_obj.get("metadata") or {}).get("labels") or {}).get(ENFORCE_LABEL)
    try:
        kube.create(privileged_pod(namespace, image=image), namespace=namespace, dry_run=True)
    except APIError as exc:
        return AdmissionAnswer(namespace, enforce, False, exc.status, exc.reason or "",
                               exc.server_message or str(exc))
    return AdmissionAnswer(namespace, enforce, True, 201, "", "")


def rejects_privileged_pod(kube: Any, namespace: str, level: str, *, image: str) -> AdmissionAnswer:
    """Pod Security admission refuses a privileged pod in the namespace at ``level``, in the API
    server's own words (``violates PodSecurity "<level>:..."``); PromiseBroken otherwise."""
    if level not in LEVELS or level == "privileged":
        raise UsageError(f"a privileged pod is refused at the baseline and restricted levels; "
                         f"got {level!r}")
    answer = try_privileged_pod(kube, namespace, image=image)
    evidence(f"a privileged pod in namespace {namespace} (dry run)", answer.describe())
    expected = re.compile(rf'violates PodSecurity "{re.escape(level)}:[^"]*"')
    ok = (not answer.admitted and answer.status == 403 and bool(expected.search(answer.message)))
    verdict("passed" if ok else "failed", measured=answer.describe()[:200],
            promised=f'refused: violates PodSecurity "{level}:..."')
    if ok:
        return answer
    promise = (f"promised namespace {namespace} enforces the {level!r} Pod Security Standard at "
               f"admission")
    if answer.admitted:
        label = (f"its {ENFORCE_LABEL} label is {answer.enforce!r}" if answer.enforce
                 else f"it has no {ENFORCE_LABEL} label")
        raise PromiseBroken(f"{promise}; the API server admitted a privileged pod there "
                            f"(dry run): {label}")
    if "violates PodSecurity" in answer.message:
        raise PromiseBroken(f"{promise}; the privileged pod was refused, but not by Pod Security "
                            f"admission at that level: {answer.status} {answer.reason}: "
                            f"{answer.message}")
    # Another admission check answered first (a quota, a LimitRange, a webhook): Pod Security's
    # answer is unknown, so this is no verdict either way (on a real control plane a quota that
    # demands limits refused the probe before PSA was asked).
    raise ClusterError(f"could not judge Pod Security in namespace {namespace}: the privileged probe pod was "
                       f"refused by another admission check first: {answer.status} {answer.reason}: "
                       f"{answer.message}")


# ------------------------------------------------------------------------------------------------
# runtime identity
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """Who a running container is, as the kernel reports it."""

    pod: str
    container: str
    source: str
    uid: int | None
    euid: int | None
    gid: int | None
    effective: tuple[str, ...]
    bounding: tuple[str, ...]
    no_new_privs: bool | None
    root_writable: bool | None
    root_read_only: bool | None     # EROFS on a create in /, or the root mount is ro
    root_error: str = ""

    @property
    def where(self) -> str:
        return f"{self.pod} container {self.container}"

    def describe(self) -> str:
        caps = lambda s: ",".join(s) or "none"  # noqa: E731
        root = ("read-only" if self.root_read_only else "writable" if self.root_writable
                else f"not writable ({self.root_error or 'unknown'}), not a read-only mount")
        return (f"{self.where}: uid {self.uid} (euid {self.euid}) gid {self.gid}; "
                f"CapEff {caps(self.effective)}; CapBnd {caps(self.bounding)}; "
                f"NoNewPrivs {self._flag(self.no_new_privs)}; root filesystem {root} "
                f"[{self.source}]")

    @staticmethod
    def _flag(value: bool | None) -> str:
        return "?" if value is None else "1" if value else "0"


def identity_from_whoami(pod: str, container: str, data: dict) -> Identity:
    """An Identity from the stand-in's /whoami answer."""
    caps = data.get("capabilities") or {}
    root = data.get("root_filesystem") or {}
    read_only = bool(root.get("read_only")) or root.get("mount_read_only") is True
    return Identity(pod, container, "the stand-in's /whoami", _int(data.get("uid")),
                    _int(data.get("euid", data.get("uid"))), _int(data.get("gid")),
                    tuple(sorted((caps.get("effective") or {}).get("names") or [])),
                    tuple(sorted((caps.get("bounding") or {}).get("names") or [])),
                    data.get("no_new_privs"), root.get("writable"), read_only,
                    str(root.get("error") or ""))


def identity_from_shell(pod: str, container: str, output: str) -> Identity:
    """An Identity from the SHELL_PROBE output."""
    facts: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=") if "=" in line.split(":")[0] else line.partition(":")
        if sep:
            facts[key.strip()] = value.strip()
    root = facts.get("root", "")
    writable = root == "writable" if root else None
    read_only = ("read-only file system" in root.lower()) or \
        ("ro" in facts.get("rootmount", "").split(","))
    error = "EROFS" if "read-only file system" in root.lower() else \
        "EACCES" if "permission denied" in root.lower() else root.replace("refused", "").strip()
    uid = _int(facts.get("uid"))
    return Identity(pod, container, "a shell in the container", uid, uid, _int(facts.get("gid")),
                    tuple(capability_names(facts["CapEff"])) if "CapEff" in facts else (),
                    tuple(capability_names(facts["CapBnd"])) if "CapBnd" in facts else (),
                    (facts["NoNewPrivs"] == "1") if "NoNewPrivs" in facts else None,
                    writable, read_only, error)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def container_identity(kube: Any, pod: dict, container: str, *,
                       timeouts: Timeouts | None = None) -> Identity:
    """The container's identity: the stand-in's /whoami, else a shell's view."""
    t = timeouts or kube.timeouts
    c = probes.containers_of(pod, container)[0]
    try:
        _, data = probes.http_json(kube, pod, "/whoami", port=probes.workload_port(c),
                                   container=container, timeouts=t)
        return identity_from_whoami(pod_ref(pod), container, data)
    except InPodClientMissing:
        pass
    md = pod.get("metadata") or {}
    result = kube.exec(md.get("name"), md.get("namespace"), ["sh", "-c", SHELL_PROBE],
                       container=container, timeout=t.api_request)
    if result.rc is None or "uid=" not in (result.stdout or ""):
        why = result.error or (result.stderr or "").strip()[:200] or f"exit code {result.rc}"
        raise CannotObserve(f"cannot inspect {pod_ref(pod)} container {container}: it runs "
                            f"neither the stand-in workload nor a shell with id and grep ({why})")
    return identity_from_shell(pod_ref(pod), container, result.stdout)


class RuntimeSecurity:
    """The identities of a workload's running containers, read once per scenario."""

    def __init__(self, kube: Any, *, timeouts: Timeouts | None = None) -> None:
        self.kube = kube
        self.timeouts = timeouts or kube.timeouts
        self._cache: dict[tuple[str, str], list[Identity]] = {}
        self.skipped_init: dict[tuple[str, str], list[str]] = {}

    def identities(self, kind: str, ref: str) -> list[Identity]:
        key = (kind, ref)
        if key not in self._cache:
            found, init = [], []
            for pod in probes.workload_pods(self.kube, kind, ref):
                for c in probes.containers_of(pod):
                    found.append(container_identity(self.kube, pod, c["name"], timeouts=self.timeouts))
                init += [f"{pod_ref(pod)} init container {c.get('name')}"
                         for c in (pod.get("spec") or {}).get("initContainers") or []]
            self._cache[key] = found
            self.skipped_init[key] = init
            text = "\n".join(i.describe() for i in found)
            if init:
                text += ("\nnot inspected (finished before the pod ran): " + ", ".join(init))
            evidence(f"runtime identity of the containers of {kind} {ref}", text)
        return self._cache[key]

    def _judge(self, kind: str, ref: str, promise: str, bad: list[tuple[Identity, str]]) -> None:
        found = self.identities(kind, ref)
        verdict("failed" if bad else "passed", promised=promise,
                measured=f"{len(found) - len(bad)} of {len(found)} running containers")
        if bad:
            raise PromiseBroken(f"promised every container of {kind} {ref} {promise}; "
                                f"{len(bad)} of {len(found)} running containers do not:\n"
                                + "\n".join(f"{i.where}: {why}" for i, why in bad))

    def runs_as(self, kind: str, ref: str, uid: int) -> None:
        bad = [(i, f"runs as uid {i.uid} (euid {i.euid})") for i in self.identities(kind, ref)
               if i.uid != uid or (i.euid is not None and i.euid != uid)]
        self._judge(kind, ref, f"runs as user {uid}", bad)

    def runs_as_non_root(self, kind: str, ref: str) -> None:
        bad = [(i, f"runs as uid {i.uid} (euid {i.euid}): root") for i in self.identities(kind, ref)
               if i.uid in (0, None) or i.euid == 0]
        self._judge(kind, ref, "runs as a non-root user", bad)

    def read_only_root(self, kind: str, ref: str) -> None:
        bad = []
        for i in self.identities(kind, ref):
            if i.root_read_only:
                continue
            if i.root_writable:
                bad.append((i, "a file could be created in / (the root filesystem is writable)"))
            else:
                bad.append((i, f"a create in / failed with {i.root_error or 'an error'}, not "
                               f"EROFS, and / is not mounted read-only: the filesystem is "
                               f"writable, this user only lacks permission"))
        self._judge(kind, ref, "has a read-only root filesystem", bad)

    def capabilities_within(self, kind: str, ref: str, allowed: Iterable[str] = ()) -> None:
        keep = {normalise_capability(c) for c in allowed}
        bad = []
        for i in self.identities(kind, ref):
            extra_eff = sorted(set(i.effective) - keep)
            extra_bnd = sorted(set(i.bounding) - keep)
            if extra_eff or extra_bnd:
                bad.append((i, f"effective {','.join(extra_eff) or 'none'} and bounding "
                               f"{','.join(extra_bnd) or 'none'} beyond the allowed"))
        promise = ("runs with no capabilities" if not keep
                   else f"runs with no capabilities except {', '.join(sorted(keep))}")
        self._judge(kind, ref, promise, bad)

    def no_privilege_escalation(self, kind: str, ref: str) -> None:
        bad = [(i, "NoNewPrivs is 0: a setuid binary could gain privileges"
                if i.no_new_privs is False else "NoNewPrivs could not be read")
               for i in self.identities(kind, ref) if i.no_new_privs is not True]
        self._judge(kind, ref, "cannot escalate privileges", bad)


def parse_capabilities(text: str) -> list[str]:
    """"NET_BIND_SERVICE, CHOWN" -> ["CHOWN", "NET_BIND_SERVICE"]."""
    items = [normalise_capability(c) for c in re.split(r"[,\s]+", text) if c.strip()]
    unknown = [c for c in items if c not in CAPABILITIES]
    if unknown:
        raise UsageError(f"unknown capabilities: {', '.join(unknown)} (Kubernetes names such as "
                         f"NET_BIND_SERVICE, without CAP_)")
    return sorted(set(items))
