"""Every timeout and bound archconform uses, in one place, each with the reason for its number.

A cluster profile may override any field (``Timeouts.for_cluster``); a slow EKS control plane
needs more patience than a kind cluster on a laptop. Steps never hard-code a number: they take
one of these by name, so a timeout message can say which budget ran out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    #: One API request. The client's own socket timeout; long enough for a loaded API server.
    api_request: float = 30.0
    #: Whether the API server answers at all (GET /version): a user waiting on a wrong context or a
    #: dead cluster should hear about it in seconds.
    reachability: float = 5.0
    #: Time between two checks of a polled wait (watches are used where the API offers them).
    poll_interval: float = 2.0
    #: Server-side apply of a whole system, and waiting for its objects to be accepted.
    apply: float = 120.0
    #: A pod from creation to Ready, image already loaded on the node (kind) or pulled (EKS).
    pod_start: float = 180.0
    #: A Deployment rollout to complete (all replicas updated and available).
    rollout: float = 600.0
    #: NetworkPolicy changes reaching the dataplane; CNIs converge within seconds, 30 s is generous.
    policy_propagation: float = 30.0
    #: One connect attempt from inside a pod (the isolation probe). Short: a blocked flow hangs.
    probe: float = 3.0
    #: How many times a cluster probe is retried before a difference from the model counts.
    probe_retries: int = 3
    #: A whole node drain including PDB back-off (kubectl's default is unbounded; we bound it).
    drain: float = 600.0
    #: Back-off between eviction attempts refused with 429 (kubectl drain waits 5 s).
    eviction_backoff: float = 5.0
    #: HPA from minReplicas to maxReplicas under load: the HPA syncs every 15 s, pods must start.
    scale_up: float = 900.0
    #: HPA back down after load stops: default scale-down stabilization is 300 s, plus steps.
    scale_down: float = 900.0
    #: A database restore from the newest backup, disaster to first successful query.
    restore: float = 1800.0
    #: A backup Job to complete.
    backup: float = 900.0
    #: Creating an ephemeral cluster (kind: about 1-2 min; EKS: about 15 min, see for_cluster).
    cluster_create: float = 600.0
    #: Deleting an ephemeral cluster or a namespace with everything in it.
    cluster_delete: float = 300.0
    #: Deleting a namespace (finalizers included).
    namespace_delete: float = 300.0
    #: A Locust run's start-up: the first request must be made within this many seconds.
    load_start: float = 30.0
    #: Locust's own graceful stop (users finish their request, final stats written) before SIGKILL.
    load_stop: float = 15.0
    #: A local database server (backup experiment) starting or stopping.
    db_start: float = 60.0
    #: How often a long wait prints a progress line.
    progress_interval: float = 15.0

    @classmethod
    def for_cluster(cls, kind: str) -> "Timeouts":
        """The defaults adjusted for a cluster kind."""
        base = cls()
        if kind == "eks":
            # EKS control plane creation takes about 15 minutes; node groups a few more.
            return dataclasses.replace(base, cluster_create=2400.0, cluster_delete=1800.0,
                                       pod_start=300.0)
        if kind == "k3s":
            return dataclasses.replace(base, cluster_create=300.0)
        return base

    def replace(self, **changes: float) -> "Timeouts":
        return dataclasses.replace(self, **changes)


DEFAULT_TIMEOUTS = Timeouts()
