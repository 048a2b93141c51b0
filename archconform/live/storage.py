"""Storage on a live cluster: claims bind as promised, grow where promised, and StatefulSet pods
keep their own data across a restart.

- A claim is checked against the promise (size, access mode, storage class) only on a cluster
  that has the promised class: a kind cluster has ``standard`` and nothing else, so a promise of
  ``fast-ssd`` cannot be shown there (``CannotObserve`` names the missing class and the classes
  the cluster has). Bound means ``status.phase: Bound``; the size promised is the request and
  the bound capacity is at least that; the access mode is in ``status.accessModes``.
- Expansion (Kubernetes docs "Expanding Persistent Volumes Claims"): only a class with
  ``allowVolumeExpansion: true`` lets a claim's request grow; the claim is then patched and is
  expanded when ``status.capacity`` reaches the new size (or the controller reports
  ``FileSystemResizePending``, which completes when a pod next mounts it). A class that does not
  allow it is a platform gap, not a verdict on the system.
- StatefulSet volumes: pod ``<sts>-<i>`` owns claim ``<template>-<sts>-<i>`` (StatefulSet
  controller naming); every pod's claims are bound to distinct PersistentVolumes. Data survives
  a restart when a file written into the volume through ``exec`` is read back after the pod was
  deleted and recreated under the same name (a new UID), on the same claim.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from archconform.errors import ClusterError, PlatformGap, PromiseBroken, UsageError, WaitTimeout
from archconform.model.quantity import bytes_of
from archconform.settings import Timeouts

from . import probes
from .probes import CannotObserve, evidence, verdict

log = logging.getLogger("archconform.live")

ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
#: The file each pod's volume gets for the restart check (removed afterwards).
MARKER_FILE = ".archconform-restart-check"


def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


def storage_class(kube: Any, name: str) -> dict:
    """The cluster's StorageClass; CannotObserve naming the ones it does have."""
    obj = kube.get("StorageClass", name)
    if obj is None:
        have = sorted(_md(c).get("name", "") for c in kube.list("StorageClass"))
        raise CannotObserve(f"the storage class {name!r} the document promises does not exist on "
                            f"this cluster (it has: {', '.join(have) or 'none'})")
    return obj


@dataclass(frozen=True)
class ClaimState:
    ref: str
    phase: str
    storage_class: str | None
    request: str | None
    capacity: str | None
    access_modes: tuple[str, ...]
    volume: str | None

    def describe(self) -> str:
        return (f"persistentvolumeclaim/{self.ref}: {self.phase}, class {self.storage_class}, "
                f"request {self.request}, capacity {self.capacity}, access modes "
                f"{','.join(self.access_modes) or 'none'}, volume {self.volume or 'none'}")


def claim_state(claim: dict) -> ClaimState:
    md, spec, status = _md(claim), claim.get("spec") or {}, claim.get("status") or {}
    return ClaimState(f"{md.get('namespace')}/{md.get('name')}", str(status.get("phase") or "Pending"),
                      spec.get("storageClassName"),
                      ((spec.get("resources") or {}).get("requests") or {}).get("storage"),
                      (status.get("capacity") or {}).get("storage"),
                      tuple(status.get("accessModes") or ()), spec.get("volumeName"))


def wait_bound(kube: Any, ref: str, *, timeout: float) -> dict:
    """The claim once Bound (a WaitForFirstConsumer class binds when a pod first uses it)."""
    ns, name = probes.split_ref(ref)

    def check():
        claim = kube.get("PersistentVolumeClaim", name, namespace=ns)
        if claim is None:
            return False, "the claim does not exist"
        state = claim_state(claim)
        return state.phase == "Bound", state.describe()

    try:
        kube.wait_for(f"persistentvolumeclaim/{ref} to be Bound", check, timeout=timeout)
    except WaitTimeout as exc:
        raise PromiseBroken(f"promised persistentvolumeclaim/{ref} is bound; not Bound after "
                            f"{exc.timeout:g}s: {exc.last_state}") from None
    return kube.get("PersistentVolumeClaim", name, namespace=ns)


def _mismatches(state: ClaimState, size: str, access_mode: str, class_name: str) -> list[str]:
    out = []
    if state.storage_class != class_name:
        out.append(f"class {state.storage_class!r}, not {class_name!r}")
    if state.request is None or bytes_of(state.request) != bytes_of(size):
        out.append(f"requests {state.request}, not {size}")
    if state.capacity is None or bytes_of(state.capacity) < bytes_of(size):
        out.append(f"bound capacity {state.capacity} is less than {size}")
    if access_mode not in state.access_modes:
        out.append(f"bound access modes {','.join(state.access_modes) or 'none'} lack {access_mode}")
    return out


def _check_args(size: str, access_mode: str) -> None:
    if access_mode not in ACCESS_MODES:
        raise UsageError(f"unknown access mode {access_mode!r}; expected one of {', '.join(ACCESS_MODES)}")
    bytes_of(size)  # ManifestError for a malformed quantity


def claim_bound(kube: Any, ref: str, size: str, access_mode: str, class_name: str, *,
                timeouts: Timeouts | None = None) -> ClaimState:
    """The claim is Bound with the promised size, access mode and class."""
    _check_args(size, access_mode)
    t = timeouts or kube.timeouts
    storage_class(kube, class_name)
    state = claim_state(wait_bound(kube, ref, timeout=t.pod_start))
    evidence(f"persistentvolumeclaim/{ref} on the cluster", state.describe())
    bad = _mismatches(state, size, access_mode, class_name)
    verdict("failed" if bad else "passed", measured=state.describe()[:200],
            promised=f"{size} {access_mode} on {class_name}")
    if bad:
        raise PromiseBroken(f"promised persistentvolumeclaim/{ref} is bound with {size} "
                            f"{access_mode} on the {class_name!r} class; it is " + "; ".join(bad))
    return state


def statefulset_claims(kube: Any, ref: str) -> tuple[dict, list[tuple[str, str, str]]]:
    """(live StatefulSet, [(pod, template, claim name)]) for every replica and claim template."""
    sts = probes.live_object(kube, "StatefulSet", ref)
    spec = sts.get("spec") or {}
    templates = [_md(t).get("name") for t in spec.get("volumeClaimTemplates") or []]
    if not templates:
        raise PromiseBroken(f"promised every pod of statefulset/{ref} has its own volume; the "
                            f"StatefulSet has no volumeClaimTemplates")
    name = _md(sts).get("name")
    replicas = int(spec.get("replicas", 1))
    return sts, [(f"{name}-{i}", t, f"{t}-{name}-{i}") for i in range(replicas) for t in templates]


def own_volumes(kube: Any, ref: str, size: str, access_mode: str, class_name: str, *,
                timeouts: Timeouts | None = None) -> list[ClaimState]:
    """Every pod of the StatefulSet has its own claim per template, Bound as promised, on a
    PersistentVolume no other pod has."""
    _check_args(size, access_mode)
    t = timeouts or kube.timeouts
    storage_class(kube, class_name)
    ns, _ = probes.split_ref(ref)
    _, claims = statefulset_claims(kube, ref)
    states, problems = [], []
    for pod_name, template, claim_name in claims:
        state = claim_state(wait_bound(kube, f"{ns}/{claim_name}", timeout=t.pod_start))
        states.append(state)
        problems += [f"{claim_name} ({pod_name}): {m}" for m in _mismatches(state, size, access_mode, class_name)]
        pod = kube.get("Pod", pod_name, namespace=ns)
        uses = [(v.get("persistentVolumeClaim") or {}).get("claimName")
                for v in ((pod or {}).get("spec") or {}).get("volumes") or []]
        if pod is None:
            problems.append(f"pod {pod_name} does not exist")
        elif claim_name not in uses:
            problems.append(f"pod {pod_name} does not mount {claim_name} (it mounts {', '.join(filter(None, uses)) or 'no claim'})")
    volumes: dict[str, list[str]] = {}
    for state in states:
        if state.volume:
            volumes.setdefault(state.volume, []).append(state.ref)
    problems += [f"claims {', '.join(r)} share volume {v}" for v, r in volumes.items() if len(r) > 1]
    evidence(f"volumes of the pods of statefulset/{ref}", "\n".join(s.describe() for s in states))
    verdict("failed" if problems else "passed", promised=f"own {size} {access_mode} on {class_name}",
            measured=f"{len(states)} claims, {len(volumes)} distinct volumes")
    if problems:
        raise PromiseBroken(f"promised every pod of statefulset/{ref} has its own volume bound "
                            f"with {size} {access_mode} on the {class_name!r} class:\n"
                            + "\n".join(problems))
    return states


def expand(kube: Any, ref: str, size: str, *, timeouts: Timeouts | None = None) -> ClaimState:
    """Grow the claim's request to ``size`` and wait until the volume has it (PlatformGap when
    its class does not allow expansion). The claim keeps the larger size: claims cannot shrink."""
    t = timeouts or kube.timeouts
    ns, name = probes.split_ref(ref)
    claim = kube.get("PersistentVolumeClaim", name, namespace=ns)
    if claim is None:
        raise ClusterError(f"persistentvolumeclaim/{ref} does not exist on the cluster")
    before = claim_state(claim)
    if before.request and bytes_of(size) <= bytes_of(before.request):
        raise UsageError(f"{size} is not larger than the claim's request {before.request}: "
                         f"expansion needs a larger size")
    cls = storage_class(kube, before.storage_class or "")
    if cls.get("allowVolumeExpansion") is not True:
        raise PlatformGap(f"promised persistentvolumeclaim/{ref} can be expanded; its storage "
                          f"class {before.storage_class!r} (provisioner "
                          f"{cls.get('provisioner')}) on this cluster does not allow volume "
                          f"expansion (allowVolumeExpansion is not true)")
    kube.patch("PersistentVolumeClaim", name, {"spec": {"resources": {"requests": {"storage": size}}}},
               namespace=ns)
    want = bytes_of(size)

    def check():
        current = kube.get("PersistentVolumeClaim", name, namespace=ns) or {}
        state = claim_state(current)
        conditions = {c.get("type") for c in (current.get("status") or {}).get("conditions") or []}
        done = (state.capacity is not None and bytes_of(state.capacity) >= want) or \
            "FileSystemResizePending" in conditions
        return done, state.describe() + (f"; conditions {','.join(sorted(conditions))}" if conditions else "")

    start = time.monotonic()
    try:
        last = kube.wait_for(f"persistentvolumeclaim/{ref} to be expanded to {size}", check,
                             timeout=t.pod_start)
    except WaitTimeout as exc:
        raise PromiseBroken(f"promised persistentvolumeclaim/{ref} can be expanded to {size}; "
                            f"not expanded after {exc.timeout:g}s: {exc.last_state}") from None
    took = time.monotonic() - start
    evidence(f"expansion of persistentvolumeclaim/{ref} to {size}",
             f"before: {before.describe()}\nafter {took:.1f}s: {last}")
    verdict("passed", measured=f"expanded in {took:.1f}s", promised=f"expandable to {size}")
    return claim_state(kube.get("PersistentVolumeClaim", name, namespace=ns) or {})


# ------------------------------------------------------------------------------------------------
# data across a restart
# ------------------------------------------------------------------------------------------------

def _mount_of(sts: dict, template: str) -> tuple[str, str]:
    """(container, mountPath) of the claim template in the StatefulSet's pod template."""
    for c in ((sts.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        for m in c.get("volumeMounts") or []:
            if m.get("name") == template:
                return c["name"], str(m["mountPath"]).rstrip("/") or "/"
    raise PromiseBroken(f"no container of statefulset/{_md(sts).get('namespace')}/"
                        f"{_md(sts).get('name')} mounts its claim template {template}")


def _exec(kube: Any, pod: str, ns: str, container: str, command: list[str], what: str,
          timeout: float) -> str:
    result = kube.exec(pod, ns, command, container=container, timeout=timeout)
    if result.rc != 0:
        why = result.error or (result.stderr or "").strip()[:200] or f"exit code {result.rc}"
        raise ClusterError(f"{what} in pod/{ns}/{pod} container {container} failed: {why}")
    return result.stdout


@dataclass(frozen=True)
class RestartCheck:
    pods: tuple[str, ...]
    restarted: str
    claim: str
    seconds: float

    def describe(self) -> str:
        return (f"a marker written to the volume of each of {', '.join(self.pods)}; "
                f"pod {self.restarted} deleted and back in {self.seconds:.1f}s on claim "
                f"{self.claim}; every pod read back its own marker")


def keeps_data_across_restart(kube: Any, ref: str, *, timeouts: Timeouts | None = None,
                              restart: int = 0) -> RestartCheck:
    """Write a distinct marker into every pod's volume, delete pod ``restart`` (its ordinal),
    wait for the StatefulSet to bring it back, and read every marker back: each pod must see
    exactly its own (a shared volume would show the others')."""
    t = timeouts or kube.timeouts
    ns, _ = probes.split_ref(ref)
    sts, claims = statefulset_claims(kube, ref)
    template = claims[0][1]
    container, mount = _mount_of(sts, template)
    pods = sorted({p for p, _, _ in claims})
    if not 0 <= restart < len(pods):
        raise UsageError(f"statefulset/{ref} has no pod with ordinal {restart}")
    path = f"{mount}/{MARKER_FILE}"
    markers = {p: secrets.token_hex(8) for p in pods}
    write = lambda p: _exec(kube, p, ns, container,  # noqa: E731
                            ["sh", "-c", 'printf %s "$1" > "$2"', "sh", markers[p], path],
                            f"writing {path}", t.api_request)
    read = lambda p: _exec(kube, p, ns, container,  # noqa: E731 - a missing file reads as ""
                           ["sh", "-c", 'cat "$1" 2>/dev/null; exit 0', "sh", path],
                           f"reading {path}", t.api_request).strip()
    victim = pods[restart]
    claim = next(c for p, tp, c in claims if p == victim and tp == template)
    try:
        for p in pods:
            write(p)
        before = kube.get("Pod", victim, namespace=ns)
        uid = _md(before or {}).get("uid")
        claim_obj = kube.get("PersistentVolumeClaim", claim, namespace=ns) or {}
        claim_uid = _md(claim_obj).get("uid")
        start = time.monotonic()
        kube.delete("Pod", victim, namespace=ns)

        def back():
            pod = kube.get("Pod", victim, namespace=ns)
            if pod is None:
                return False, "deleted, not recreated yet"
            if _md(pod).get("uid") == uid:
                return False, "the old pod is still terminating"
            return probes.is_ready(pod), f"recreated, phase {(pod.get('status') or {}).get('phase')}, ready {probes.is_ready(pod)}"

        kube.wait_for(f"pod/{ns}/{victim} to be recreated and ready", back, timeout=t.pod_start)
        took = time.monotonic() - start
        after_claim = kube.get("PersistentVolumeClaim", claim, namespace=ns) or {}
        seen = {p: read(p) for p in pods}
    finally:
        for p in pods:
            try:
                _exec(kube, p, ns, container, ["rm", "-f", path], f"removing {path}", t.api_request)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the outcome
                log.warning("could not remove %s from pod/%s/%s: %s", path, ns, p, exc)
    problems = []
    if _md(after_claim).get("uid") != claim_uid:
        problems.append(f"claim {claim} is not the same claim after the restart (a new UID)")
    for p in pods:
        if seen[p] != markers[p]:
            others = [q for q in pods if q != p and seen[p] == markers[q]]
            problems.append(f"pod {p} read {'the marker of ' + others[0] if others else 'no marker' if not seen[p] else 'a different marker'}"
                            f" from {path}" + (" (after its restart)" if p == victim else ""))
    result = RestartCheck(tuple(pods), victim, claim, took)
    evidence(f"data on the volumes of statefulset/{ref} across a pod restart",
             result.describe() if not problems else "\n".join(problems))
    verdict("failed" if problems else "passed", measured=f"{len(pods) - len(problems)} of {len(pods)} pods",
            promised="each pod keeps its own data across a restart")
    if problems:
        raise PromiseBroken(f"promised the pods of statefulset/{ref} keep their own data across "
                            f"a pod restart:\n" + "\n".join(problems))
    return result

