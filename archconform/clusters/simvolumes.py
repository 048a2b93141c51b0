"""Simulated volumes for --cluster kwok: bind every pending claim to a PV that holds no data.

KWOK runs no kubelet and no CSI driver, so a claim would stay Pending for ever and the pods of
every StatefulSet with it; nothing else of the system could then be judged. This daemon (one
per kwok cluster, started and stopped with it) plays a provisioner: for each Pending claim it
creates a PersistentVolume pre-bound to that claim (same class, size and access modes, labelled
``archconform.io/simulated=true``), and the real PV controller binds the two. When a claim is
deleted its PV (Released) is deleted too. No storage verdict is ever taken from these volumes:
storage scenarios skip on kwok (their data is not real).

    python -m archconform.clusters.simvolumes --kubeconfig FILE --run-id ID
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from ..kube import AlreadyExists, APIError, Kube, NotFound, Unreachable

log = logging.getLogger("archconform.simvolumes")

SIMULATED_LABEL = "archconform.io/simulated"
#: Seconds between two passes over the claims (a claim is bound about this long after it appears).
INTERVAL = 1.0
#: Consecutive unreachable passes after which the daemon concludes its cluster is gone.
GIVE_UP_AFTER = 60


def volume_for(claim: dict) -> dict:
    """A PV pre-bound to ``claim``: what a provisioner would create, with no data behind it."""
    md, spec = claim["metadata"], claim.get("spec") or {}
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"sim-{md['uid']}", "labels": {SIMULATED_LABEL: "true"},
                     "annotations": {"pv.kubernetes.io/provisioned-by": "archconform.io/simulated-volumes"}},
        "spec": {"capacity": {"storage": size},
                 "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                 "storageClassName": spec.get("storageClassName") or "",
                 "volumeMode": spec.get("volumeMode") or "Filesystem",
                 "persistentVolumeReclaimPolicy": "Delete",
                 "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": md["namespace"],
                              "name": md["name"], "uid": md["uid"]},
                 # No kubelet mounts it: the path names the claim, nothing is written anywhere.
                 "hostPath": {"path": f"/simulated/{md['namespace']}/{md['name']}"}},
    }


def one_pass(kube: Kube) -> tuple[int, int]:
    """Provision every pending claim and delete every released simulated PV; (created, deleted)."""
    created = deleted = 0
    for claim in kube.list("PersistentVolumeClaim"):
        if (claim.get("status") or {}).get("phase") != "Pending" or (claim.get("spec") or {}).get("volumeName"):
            continue
        if claim["metadata"].get("deletionTimestamp"):
            continue
        try:
            kube.create(volume_for(claim))
            created += 1
            log.info("bound a simulated volume to claim %s/%s", claim["metadata"]["namespace"],
                     claim["metadata"]["name"])
        except AlreadyExists:
            pass
    for volume in kube.list("PersistentVolume", label_selector={SIMULATED_LABEL: "true"}):
        if (volume.get("status") or {}).get("phase") in ("Released", "Failed"):
            try:
                kube.delete("PersistentVolume", volume["metadata"]["name"])
                deleted += 1
            except NotFound:
                pass
    return created, deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archconform.clusters.simvolumes")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    unreachable = 0
    with Kube(args.kubeconfig, None, run_id=args.run_id) as kube:
        while unreachable < GIVE_UP_AFTER:
            try:
                one_pass(kube)
                unreachable = 0
            except Unreachable:
                unreachable += 1
            except APIError as exc:
                log.warning("pass failed: %s", exc)
            time.sleep(INTERVAL)
    log.info("the API server has not answered for %d passes: stopping", GIVE_UP_AFTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
