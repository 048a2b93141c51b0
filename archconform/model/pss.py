"""Pod Security Standards (baseline, restricted), restated field by field from the Kubernetes
page "Pod Security Standards" and the checks of k8s.io/pod-security-admission (policy/check_*.go),
at the latest policy version.

Baseline: HostProcess; host namespaces; privileged; capabilities.add beyond the default list;
hostPath volumes; hostPort other than 0; AppArmor (field type and the legacy annotation);
SELinux type/user/role; /proc mount type; seccomp Unconfined; unsafe sysctls; host field in
probes and lifecycle handlers (1.34+).
Restricted adds: volume types (configMap, csi, downwardAPI, emptyDir, ephemeral,
persistentVolumeClaim, projected, secret only); allowPrivilegeEscalation false; runAsNonRoot
true; runAsUser not 0; seccomp RuntimeDefault or Localhost; capabilities drop ALL and add at
most NET_BIND_SERVICE; /proc mount Default even for user-namespaced pods.

Windows pods (``spec.os.name: windows``) are exempt from the Linux-only restricted checks
(allowPrivilegeEscalation, seccomp, capabilities). Pods with ``hostUsers: false`` (user
namespaces) are exempt from runAsNonRoot / runAsUser and, at baseline, from procMount.

Pod Security Admission enforces on Pods only: a Deployment whose template violates its
namespace's enforced level is accepted, and its ReplicaSet's pod creations are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from archconform.errors import ManifestError
from archconform.manifests import WORKLOAD_KINDS, pod_template

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                         "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@dataclass(frozen=True)
class Violation:
    """One failed control: its level, the control name, the field path and what is wrong."""

    level: str
    control: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.control}: {self.field}: {self.message}"


def _containers(spec: dict):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(key) or []):
            yield f"spec.{key}[{i}]", c


def _baseline(meta: dict, spec: dict) -> list[Violation]:
    out: list[Violation] = []
    v = lambda control, f, msg: out.append(Violation("baseline", control, f, msg))  # noqa: E731
    psc = spec.get("securityContext") or {}
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        v("HostProcess", "spec.securityContext.windowsOptions.hostProcess", "must be unset or false")
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(f):
            v("Host Namespaces", f"spec.{f}", "must be unset or false")
    for i, vol in enumerate(spec.get("volumes") or []):
        if "hostPath" in vol:
            v("HostPath Volumes", f"spec.volumes[{i}].hostPath", f"volume {vol.get('name')!r} uses hostPath")
    se = psc.get("seLinuxOptions") or {}
    _selinux(se, "spec.securityContext.seLinuxOptions", v)
    if (psc.get("seccompProfile") or {}).get("type") == "Unconfined":
        v("Seccomp", "spec.securityContext.seccompProfile.type", "Unconfined is not allowed")
    ap = (psc.get("appArmorProfile") or {}).get("type")
    if ap is not None and ap not in ("RuntimeDefault", "Localhost"):
        v("AppArmor", "spec.securityContext.appArmorProfile.type", f"{ap} is not allowed (RuntimeDefault or Localhost)")
    for k, val in ((meta.get("annotations") or {}).items()):
        if k.startswith(APPARMOR_ANNOTATION) and not (val == "runtime/default" or str(val).startswith("localhost/")):
            v("AppArmor", f"metadata.annotations[{k}]", f"{val} is not allowed (runtime/default or localhost/*)")
    for i, s in enumerate(psc.get("sysctls") or []):
        if s.get("name") not in SAFE_SYSCTLS:
            v("Sysctls", f"spec.securityContext.sysctls[{i}].name", f"{s.get('name')} is not in the safe set")
    user_ns = spec.get("hostUsers") is False
    for path, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            v("HostProcess", f"{path}.securityContext.windowsOptions.hostProcess", "must be unset or false")
        if sc.get("privileged"):
            v("Privileged Containers", f"{path}.securityContext.privileged", "must be unset or false")
        extra = sorted(set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES)
        if extra:
            v("Capabilities", f"{path}.securityContext.capabilities.add", f"{', '.join(extra)} beyond the default set")
        for j, p in enumerate(c.get("ports") or []):
            if p.get("hostPort") not in (None, 0):
                v("Host Ports", f"{path}.ports[{j}].hostPort", f"hostPort {p['hostPort']}")
        _selinux(sc.get("seLinuxOptions") or {}, f"{path}.securityContext.seLinuxOptions", v)
        if sc.get("procMount") not in (None, "Default") and not user_ns:
            v("/proc Mount Type", f"{path}.securityContext.procMount", f"{sc['procMount']} (Default only)")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            v("Seccomp", f"{path}.securityContext.seccompProfile.type", "Unconfined is not allowed")
        cap = (sc.get("appArmorProfile") or {}).get("type")
        if cap is not None and cap not in ("RuntimeDefault", "Localhost"):
            v("AppArmor", f"{path}.securityContext.appArmorProfile.type", f"{cap} is not allowed")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            for handler in ("httpGet", "tcpSocket"):
                host = ((c.get(probe) or {}).get(handler) or {}).get("host")
                if host not in (None, ""):
                    v("Host Probes / Lifecycle Hooks", f"{path}.{probe}.{handler}.host", f"host {host!r} must be unset")
        for hook in ("postStart", "preStop"):
            for handler in ("httpGet", "tcpSocket"):
                host = ((((c.get("lifecycle") or {}).get(hook)) or {}).get(handler) or {}).get("host")
                if host not in (None, ""):
                    v("Host Probes / Lifecycle Hooks", f"{path}.lifecycle.{hook}.{handler}.host", f"host {host!r} must be unset")
    return out


def _selinux(se: dict, path: str, v) -> None:
    if se.get("type") not in (None, *SELINUX_TYPES):
        v("SELinux", f"{path}.type", f"{se['type']} is not an allowed type")
    for f in ("user", "role"):
        if se.get(f):
            v("SELinux", f"{path}.{f}", "must be unset")


def _restricted(meta: dict, spec: dict) -> list[Violation]:
    out: list[Violation] = []
    v = lambda control, f, msg: out.append(Violation("restricted", control, f, msg))  # noqa: E731
    psc = spec.get("securityContext") or {}
    windows = ((spec.get("os") or {}).get("name")) == "windows"
    user_ns = spec.get("hostUsers") is False
    for i, vol in enumerate(spec.get("volumes") or []):
        kinds = [k for k in vol if k != "name"]
        bad = [k for k in kinds if k not in RESTRICTED_VOLUMES and k != "hostPath"]  # hostPath: reported by baseline
        if bad:
            v("Volume Types", f"spec.volumes[{i}].{bad[0]}", f"volume {vol.get('name')!r} of type {bad[0]} is not allowed")
    pod_nonroot = psc.get("runAsNonRoot")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if not user_ns:
        if pod_nonroot is False:
            v("Running as Non-root", "spec.securityContext.runAsNonRoot", "must be true")
        if psc.get("runAsUser") == 0:
            v("Running as Non-root user", "spec.securityContext.runAsUser", "must not be 0")
    if not windows and pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        v("Seccomp", "spec.securityContext.seccompProfile.type", f"{pod_seccomp} (RuntimeDefault or Localhost)")
    for path, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if not windows and sc.get("allowPrivilegeEscalation") is not False:
            v("Privilege Escalation", f"{path}.securityContext.allowPrivilegeEscalation", "must be false")
        if not user_ns:
            nonroot = sc.get("runAsNonRoot")
            if nonroot is False or (nonroot is None and pod_nonroot is not True):
                v("Running as Non-root", f"{path}.securityContext.runAsNonRoot", "must be true (here or at pod level)")
            if sc.get("runAsUser") == 0:
                v("Running as Non-root user", f"{path}.securityContext.runAsUser", "must not be 0")
        if not windows:
            st = (sc.get("seccompProfile") or {}).get("type")
            if st is None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
                v("Seccomp", f"{path}.securityContext.seccompProfile.type", "must be RuntimeDefault or Localhost (here or at pod level)")
            elif st is not None and st not in ("RuntimeDefault", "Localhost"):
                v("Seccomp", f"{path}.securityContext.seccompProfile.type", f"{st} (RuntimeDefault or Localhost)")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                v("Capabilities", f"{path}.securityContext.capabilities.drop", "must include ALL")
            extra = sorted(set(caps.get("add") or []) - {"NET_BIND_SERVICE"})
            if extra:
                v("Capabilities", f"{path}.securityContext.capabilities.add", f"{', '.join(extra)} (only NET_BIND_SERVICE)")
        if user_ns and sc.get("procMount") not in (None, "Default"):
            v("/proc Mount Type", f"{path}.securityContext.procMount", f"{sc['procMount']} (Default only at restricted)")
    return out


def violations(workload: dict, level: str) -> list[Violation]:
    """Every control of ``level`` (and the levels below it) that the pod template fails, with
    field paths relative to the pod (``spec.containers[0].securityContext...``)."""
    if level not in LEVELS:
        raise ManifestError(f"unknown Pod Security level {level!r} (one of {', '.join(LEVELS)})")
    tmpl = pod_template(workload)
    if tmpl is None:
        raise ManifestError(f"{workload.get('kind')} {(workload.get('metadata') or {}).get('name')}: no pod template")
    meta, spec = tmpl.get("metadata") or {}, tmpl.get("spec") or {}
    if level == "privileged":
        return []
    out = _baseline(meta, spec)
    if level == "restricted":
        out += _restricted(meta, spec)
    return out


def highest_level(workload: dict) -> str:
    """The strictest level the workload satisfies."""
    if not violations(workload, "restricted"):
        return "restricted"
    return "baseline" if not violations(workload, "baseline") else "privileged"


def namespace_level(ns_obj: dict | None, mode: str = "enforce") -> str:
    """The level a namespace enforces (label ``pod-security.kubernetes.io/<mode>``); without the
    label the built-in default is privileged (unless the cluster's admission configuration sets
    other defaults, which the manifests do not show)."""
    labels = ((ns_obj or {}).get("metadata") or {}).get("labels") or {}
    level = labels.get(f"pod-security.kubernetes.io/{mode}", "privileged")
    if level not in LEVELS:
        raise ManifestError(f"namespace {((ns_obj or {}).get('metadata') or {}).get('name')}: unknown Pod Security level {level!r}")
    return level


def admission_findings(manifests: Iterable[dict]) -> list[str]:
    """Workloads whose pods their namespace's enforced level would reject."""
    objs = list(manifests)
    ns = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "Namespace"}
    out = []
    for w in objs:
        if w.get("kind") not in WORKLOAD_KINDS:
            continue
        name = (w.get("metadata") or {}).get("namespace") or "default"
        level = namespace_level(ns.get(name))
        bad = violations(w, level)
        if bad:
            out.append(f"{w['kind']} {name}/{w['metadata']['name']}: namespace enforces {level}; its pods are rejected: "
                       + "; ".join(f"{x.control} ({x.field})" for x in bad))
    return out
