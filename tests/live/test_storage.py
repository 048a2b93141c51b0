"""Storage against the fake API server: claims bound as promised (a class the cluster lacks is a
skip naming it), expansion (a class that forbids it is a platform gap), StatefulSet pods on their
own volumes, and data kept across a pod restart, written and read back through exec into real
folders standing in for the volumes.

(KWOK has no storage, so bound volumes and their data stay on the fake until a kind cluster runs
here.)
"""

from __future__ import annotations

import threading

import pytest

from archconform.errors import PlatformGap, PromiseBroken, UsageError
from archconform.live import storage
from archconform.live.probes import CannotObserve
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures
from tests.live.test_probes_harness import container, live_pods, namespace, pod  # noqa: F401


def _class(name: str = "standard", *, expand: bool | None = None) -> dict:
    obj = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
           "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    if expand is not None:
        obj["allowVolumeExpansion"] = expand
    return obj


def _claim(name: str, ns: str, *, size: str = "10Gi", cls: str = "standard", phase: str = "Bound",
           capacity: str | None = None, volume: str | None = None, mode: str = "ReadWriteOnce") -> dict:
    obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
           "spec": {"accessModes": [mode], "storageClassName": cls,
                    "resources": {"requests": {"storage": size}}},
           "status": {"phase": phase}}
    if phase == "Bound":
        obj["spec"]["volumeName"] = volume or f"pvc-{name}"
        obj["status"].update(capacity={"storage": capacity or size}, accessModes=[mode])
    return obj


def test_a_claim_bound_as_promised(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class())
    fake_kube.put(_claim("user-john-disk", "user-john-storage"))
    state = storage.claim_bound(fake_cluster, "user-john-storage/user-john-disk", "10Gi", "ReadWriteOnce", "standard")
    assert (state.phase, state.capacity, state.volume) == ("Bound", "10Gi", "pvc-user-john-disk")


def test_a_promised_class_the_cluster_lacks_cannot_be_observed(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class())
    fake_kube.put(_claim("postgres-data", "finch-production", size="20Gi"))
    with pytest.raises(CannotObserve) as err:
        storage.claim_bound(fake_cluster, "finch-production/postgres-data", "20Gi", "ReadWriteOnce", "fast-ssd")
    assert str(err.value) == ("the storage class 'fast-ssd' the document promises does not exist on this "
                              "cluster (it has: standard)")


def test_a_claim_that_differs_from_the_promise_is_described(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class())
    fake_kube.put(_class("gp3"))
    fake_kube.put(_claim("data", "shop", size="5Gi", capacity="5Gi"))
    with pytest.raises(PromiseBroken) as err:
        storage.claim_bound(fake_cluster, "shop/data", "10Gi", "ReadWriteMany", "gp3")
    assert str(err.value) == ("promised persistentvolumeclaim/shop/data is bound with 10Gi ReadWriteMany on "
                              "the 'gp3' class; it is class 'standard', not 'gp3'; requests 5Gi, not "
                              "10Gi; bound capacity 5Gi is less than 10Gi; bound access modes "
                              "ReadWriteOnce lack ReadWriteMany")


def test_a_claim_binds_later_or_never(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class())
    fake_kube.put(_claim("data", "shop", phase="Pending"))
    fake_kube.schedule(0.3, fake_kube.put, _claim("data", "shop"))
    assert storage.claim_bound(fake_cluster, "shop/data", "10Gi", "ReadWriteOnce", "standard").phase == "Bound"
    fake_kube.put(_claim("never", "shop", phase="Pending"))
    with pytest.raises(PromiseBroken, match=r"not Bound after 5s: persistentvolumeclaim/shop/never: Pending"):
        storage.claim_bound(fake_cluster, "shop/never", "10Gi", "ReadWriteOnce", "standard")


def _statefulset(fake, *, replicas: int = 2, ns: str = "tbyte", volumes: list[str] | None = None) -> None:
    c = container("postgres", image="postgres:15-alpine",
                  mounts=[{"name": "postgres-data", "mountPath": "/var/lib/postgresql/data"}])
    fake.put(namespace(ns))
    fake.put(_class())
    fake.put({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "postgres", "namespace": ns},
              "spec": {"replicas": replicas, "serviceName": "postgres",
                       "selector": {"matchLabels": {"app": "postgres"}},
                       "template": {"metadata": {"labels": {"app": "postgres"}}, "spec": {"containers": [c]}},
                       "volumeClaimTemplates": [{"metadata": {"name": "postgres-data"},
                                                 "spec": {"accessModes": ["ReadWriteOnce"],
                                                          "resources": {"requests": {"storage": "20Gi"}}}}]}})
    for i in range(replicas):
        claim = f"postgres-data-postgres-{i}"
        fake.put(_claim(claim, ns, size="20Gi", volume=(volumes or [None] * replicas)[i]))
        fake.put(pod(f"postgres-{i}", ns, labels={"app": "postgres"}, containers=[c],
                     volumes=[{"name": "postgres-data", "persistentVolumeClaim": {"claimName": claim}}]))


def test_statefulset_pods_have_their_own_volumes(fake_kube, fake_cluster):  # noqa: F811
    _statefulset(fake_kube)
    states = storage.own_volumes(fake_cluster, "tbyte/postgres", "20Gi", "ReadWriteOnce", "standard")
    assert [s.volume for s in states] == ["pvc-postgres-data-postgres-0", "pvc-postgres-data-postgres-1"]


def test_statefulset_pods_sharing_one_volume_break_the_promise(fake_kube, fake_cluster):  # noqa: F811
    _statefulset(fake_kube, volumes=["pv-shared", "pv-shared"])
    with pytest.raises(PromiseBroken) as err:
        storage.own_volumes(fake_cluster, "tbyte/postgres", "20Gi", "ReadWriteOnce", "standard")
    assert str(err.value).endswith("claims tbyte/postgres-data-postgres-0, tbyte/postgres-data-postgres-1 share volume pv-shared")


def test_expansion_needs_a_class_that_allows_it(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class())
    fake_kube.put(_claim("user-john-disk", "user-john-storage"))
    with pytest.raises(PlatformGap) as err:
        storage.expand(fake_cluster, "user-john-storage/user-john-disk", "11Gi")
    assert str(err.value) == ("promised persistentvolumeclaim/user-john-storage/user-john-disk can be expanded; "
                              "its storage class 'standard' (provisioner rancher.io/local-path) on this "
                              "cluster does not allow volume expansion (allowVolumeExpansion is not true)")
    assert not fake_kube.requests_for("PATCH")
    with pytest.raises(UsageError, match="not larger than the claim's request 10Gi"):
        storage.expand(fake_cluster, "user-john-storage/user-john-disk", "10Gi")


def test_expansion_is_patched_and_waited_for(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class(expand=True))
    fake_kube.put(_claim("user-john-disk", "user-john-storage"))

    def resizer():
        fake_kube.patch_status("PersistentVolumeClaim", "user-john-disk", namespace="user-john-storage",
                               status={"capacity": {"storage": "11Gi"}})

    fake_kube.schedule(0.5, resizer)
    state = storage.expand(fake_cluster, "user-john-storage/user-john-disk", "11Gi")
    assert (state.request, state.capacity) == ("11Gi", "11Gi")
    patch = fake_kube.requests_for("PATCH", "persistentvolumeclaims/user-john-disk")[0]
    assert patch.body == {"spec": {"resources": {"requests": {"storage": "11Gi"}}}}


def test_an_expansion_that_never_happens_is_reported(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(_class(expand=True))
    fake_kube.put(_claim("data", "shop"))
    with pytest.raises(PromiseBroken, match="can be expanded to 20Gi; not expanded after 5s: .*capacity 10Gi"):
        storage.expand(fake_cluster, "shop/data", "20Gi")


class Controller:
    """The StatefulSet controller for one pod: recreates it under the same name (a new UID),
    on the same volume or, scripted, on a fresh empty one."""

    def __init__(self, fake, pods, name: str, ns: str, *, lose_data: bool = False) -> None:
        self.fake, self.pods, self.name, self.ns, self.lose = fake, pods, name, ns, lose_data
        self.template = fake.get("Pod", name, ns)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.1):
            if self.fake.get("Pod", self.name, self.ns) is None:
                if self.lose:
                    self.pods.volume(self.ns, self.name, "/var/lib/postgresql/data")
                fresh = pod(self.name, self.ns, labels={"app": "postgres"},
                            containers=self.template["spec"]["containers"], volumes=self.template["spec"]["volumes"])
                self.fake.put(fresh)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def _volumes(pods, ns: str, replicas: int = 2, *, shared: bool = False) -> None:
    first = None
    for i in range(replicas):
        pods.back(ns, f"postgres-{i}", workload=False)
        if shared and first is not None:
            pods.backing[(ns, f"postgres-{i}")].volumes["/var/lib/postgresql/data"] = first
        else:
            first = pods.volume(ns, f"postgres-{i}", "/var/lib/postgresql/data")


def test_pods_keep_their_own_data_across_a_restart(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _statefulset(fake_kube)
    _volumes(live_pods, "tbyte")
    old_uid = fake_kube.get("Pod", "postgres-0", "tbyte")["metadata"]["uid"]
    with Controller(fake_kube, live_pods, "postgres-0", "tbyte"):
        result = storage.keeps_data_across_restart(fake_cluster, "tbyte/postgres")
    assert (result.restarted, result.claim, result.pods) == ("postgres-0", "postgres-data-postgres-0",
                                                             ("postgres-0", "postgres-1"))
    assert fake_kube.get("Pod", "postgres-0", "tbyte")["metadata"]["uid"] != old_uid
    assert fake_kube.requests_for("DELETE", "/pods/postgres-0")
    writes = [a for a in live_pods.execs if a[:3] == ["sh", "-c", 'printf %s "$1" > "$2"']]
    assert len(writes) == 2 and writes[0][-1] == "/var/lib/postgresql/data/.archconform-restart-check"
    for backing in live_pods.backing.values():             # the markers are removed afterwards
        for folder in backing.volumes.values():
            assert not (folder / storage.MARKER_FILE).exists()


def test_a_restart_onto_an_empty_volume_loses_the_data(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _statefulset(fake_kube)
    _volumes(live_pods, "tbyte")
    with Controller(fake_kube, live_pods, "postgres-0", "tbyte", lose_data=True):
        with pytest.raises(PromiseBroken) as err:
            storage.keeps_data_across_restart(fake_cluster, "tbyte/postgres")
    assert str(err.value) == ("promised the pods of statefulset/tbyte/postgres keep their own data across a "
                              "pod restart:\npod postgres-0 read no marker from "
                              "/var/lib/postgresql/data/.archconform-restart-check (after its restart)")


def test_pods_on_one_shared_volume_read_each_others_data(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _statefulset(fake_kube)
    _volumes(live_pods, "tbyte", shared=True)
    with Controller(fake_kube, live_pods, "postgres-0", "tbyte"):
        with pytest.raises(PromiseBroken) as err:
            storage.keeps_data_across_restart(fake_cluster, "tbyte/postgres")
    assert str(err.value) == ("promised the pods of statefulset/tbyte/postgres keep their own data across a "
                              "pod restart:\npod postgres-0 read the marker of postgres-1 from "
                              "/var/lib/postgresql/data/.archconform-restart-check (after its restart)")
