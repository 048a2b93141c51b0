"""Helpers for the systems/ tests: rendering once, quantities, pod security, kind-overlay diffs.

These tests check the systems under test offline: every rendered object is valid for the
Kubernetes version the kind cluster runs, the kind overlay keeps the promise-relevant numbers of
the base, references resolve, and no secret value is committed.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator

from archconform import manifests
from archconform.systems import SYSTEMS, project_root

SYSTEM_NAMES = sorted(SYSTEMS)
PROFILES = ("base", "kind")

#: The annotation a committed Secret carries instead of data: a JSON object key -> template
#: ("random:N" or a string with ${key} references to other keys of the same Secret).
#: NOTE: archconform.manifests.GENERATE_ANNOTATION still says "archconform.io/generate-keys";
#: the systems follow the brief for issue 3 ("archconform.io/generate"); the lead owns the constant.
GENERATE_ANNOTATION = "archconform.io/generate"

#: The stand-in image every application container runs, and the paths it serves (workload/ contract).
STAND_IN_IMAGE = "archconform/workload:0.1.0"
STAND_IN_PATHS = {"/health", "/healthz", "/ready", "/startup", "/ping", "/", "/metrics"}

#: Objects that need a CRD: (apiVersion, kind) -> namespaced. They may only appear in crds/.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): True,
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): True,
    ("argoproj.io/v1alpha1", "Application"): True,
    ("postgresql.cnpg.io/v1", "Cluster"): True,
    ("redis.io/v1beta2", "RedisCluster"): True,
    ("networking.istio.io/v1alpha3", "VirtualService"): True,
    ("keda.sh/v1alpha1", "ScaledObject"): True,
    ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass"): True,
}

POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def system_dir(system: str) -> Path:
    return project_root() / "systems" / system


@functools.lru_cache(maxsize=None)
def _rendered(system: str, profile: str) -> manifests.Manifests:
    return manifests.render(system, profile)


def rendered(system: str, profile: str) -> manifests.Manifests:
    """A private copy of the rendered system (tests may not leak mutations into each other)."""
    objs = _rendered(system, profile)
    return manifests.Manifests(copy.deepcopy(list(objs)), source=objs.source)


def crd_documents(system: str) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted((system_dir(system) / "crds").glob("*.yaml")):
        for obj in manifests.load_yaml_documents(path.read_text(), source=str(path)):
            out.append((path, obj))
    return out


def key(obj: dict) -> tuple[str, str, str]:
    md = obj.get("metadata") or {}
    return (obj.get("kind", ""), md.get("namespace") or "", md.get("name", ""))


def pod_templates(objs) -> Iterator[tuple[dict, dict]]:
    """(workload, pod template) for every object that carries pods."""
    for o in objs:
        if o.get("kind") in POD_TEMPLATE_KINDS:
            tmpl = manifests.pod_template(o)
            if tmpl:
                yield o, tmpl


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """matchLabels + matchExpressions (In, NotIn, Exists, DoesNotExist), upstream semantics."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Quantities

_SUFFIX = {
    "": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
    "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


def quantity(value: object) -> Fraction:
    """A Kubernetes quantity ("250m", "1Gi", 2, "1.5") as an exact Fraction of base units."""
    text = str(value).strip()
    m = _QTY.match(text)
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return Fraction(m.group(1)) * _SUFFIX[m.group(2) or ""]


# ---------------------------------------------------------------------------------------------
# Kind overlay: what may differ from base

QUOTA_SCALABLE = {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory"}


def _strip_pod_spec(spec: dict) -> None:
    for k in ("affinity", "tolerations", "nodeSelector"):
        spec.pop(k, None)
    for key_ in ("initContainers", "containers"):
        for c in spec.get(key_) or []:
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    (res.get(part) or {}).pop(r, None)


def _strip_pvc_spec(spec: dict) -> None:
    spec.pop("storageClassName", None)
    spec.pop("accessModes", None)
    ((spec.get("resources") or {}).get("requests") or {}).pop("storage", None)


def promise_view(obj: dict) -> dict:
    """The object with every field the kind overlay may change removed; the rest must be equal."""
    o = copy.deepcopy(obj)
    kind = o.get("kind")
    tmpl = manifests.pod_template(o)
    if tmpl and kind != "Pod":
        _strip_pod_spec(tmpl.get("spec") or {})
    elif kind == "Pod":
        _strip_pod_spec(o.get("spec") or {})
    if kind == "PersistentVolumeClaim":
        _strip_pvc_spec(o.get("spec") or {})
    if kind == "StatefulSet":
        for vct in o.get("spec", {}).get("volumeClaimTemplates") or []:
            _strip_pvc_spec(vct.get("spec") or {})
    if kind == "ResourceQuota":
        hard = o.get("spec", {}).get("hard") or {}
        for k in QUOTA_SCALABLE:
            hard.pop(k, None)
    return o


def diff_paths(a: object, b: object, path: str = "") -> list[str]:
    """Field paths where two JSON-like values differ (for messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: absent in base, {json.dumps(b[k])[:80]} in kind")
            elif k not in b:
                out.append(f"{path}.{k}: {json.dumps(a[k])[:80]} in base, absent in kind")
            else:
                out.extend(diff_paths(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff_paths(x, y, f"{path}[{i}]"))
        return out
    if a != b:
        return [f"{path or '(root)'}: {json.dumps(a)[:80]} in base, {json.dumps(b)[:80]} in kind"]
    return []


def container_resources(obj: dict) -> dict[str, dict]:
    """container name -> resources for every container of a workload."""
    return {c["name"]: c.get("resources") or {} for _, c in manifests.iter_containers(obj)}


# ---------------------------------------------------------------------------------------------
# Pod Security Standards (a deliberately small, upstream-faithful subset for these manifests)

BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}


def pss_violations(spec: dict, level: str) -> list[str]:
    """What a pod spec does that the Pod Security Standard `level` (baseline|restricted) forbids."""
    out: list[str] = []
    if level not in ("baseline", "restricted"):
        return out
    psc = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            out.append(f"{host}: true")
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    for v in spec.get("volumes") or []:
        vtype = next((k for k in v if k != "name"), None)
        if vtype == "hostPath":
            out.append(f"volume {v['name']}: hostPath")
        if level == "restricted" and vtype not in RESTRICTED_VOLUMES:
            out.append(f"volume {v['name']}: type {vtype} not allowed")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(f"{name}: hostPort {p['hostPort']}")
        caps = sc.get("capabilities") or {}
        added = set(caps.get("add") or [])
        if added - BASELINE_CAPS:
            out.append(f"{name}: adds capabilities {sorted(added - BASELINE_CAPS)}")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp == "Unconfined":
            out.append(f"{name}: seccomp Unconfined")
        if level != "restricted":
            continue
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation is not false")
        if not (sc.get("runAsNonRoot") is True or (psc.get("runAsNonRoot") is True and sc.get("runAsNonRoot") is not False)):
            out.append(f"{name}: runAsNonRoot is not true")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid == 0:
            out.append(f"{name}: runAsUser 0")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities do not drop ALL")
        if added - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities other than NET_BIND_SERVICE: {sorted(added)}")
    return out


def named_ports(spec: dict) -> dict[str, dict]:
    """port name -> container port entry, over all containers of a pod spec."""
    out = {}
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        for p in c.get("ports") or []:
            if p.get("name"):
                out[p["name"]] = p
    return out


def probes(container: dict) -> Iterator[tuple[str, dict]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if container.get(kind):
            yield kind, container[kind]
