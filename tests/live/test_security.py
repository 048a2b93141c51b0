"""Pod security at runtime against the fake API server: Pod Security admission refusals with the
API server's real Status shape, and container identities read through exec from real stand-in
processes (pod-like under unshare + setpriv where this machine allows it) or scripted.

(Pod Security admission by the real API server is in test_real_control_plane.py; runtime identities
need running containers, so they stay on the fake until a kind cluster runs here.)
"""

from __future__ import annotations

import json

import pytest

from archconform.errors import ClusterError, PromiseBroken, UsageError
from archconform.live import security
from archconform.live.probes import CannotObserve
from archconform.live.security import RuntimeSecurity
from tests.fakekube import ExecReply, statuses
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures
from tests.live.test_probes_harness import (POD_LIKE, container, deployment, live_pods,  # noqa: F401
                                            namespace, pod, pod_like_unavailable)

LABELS = {"app": "web"}
IMAGE = "archconform/workload:0.1.0"


def _refuse_at(level: str, ns: str = "tbyte"):
    """Pod Security admission as the API server runs it, for a namespace labelled with a level."""
    def admit(obj):
        if obj["metadata"]["namespace"] != ns:
            return None
        return statuses.pod_security_violation(
            obj, level=level, violations='privileged (container "probe" must not set '
            'securityContext.privileged=true), allowPrivilegeEscalation != false (container '
            '"probe" must set securityContext.allowPrivilegeEscalation=false)')
    return admit


def test_a_privileged_pod_is_refused_by_pod_security_admission_at_the_promised_level(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace("tbyte", {security.ENFORCE_LABEL: "restricted"}))
    fake_kube.on_create("Pod", _refuse_at("restricted"))
    answer = security.rejects_privileged_pod(fake_cluster, "tbyte", "restricted", image=IMAGE)
    assert (answer.admitted, answer.status, answer.enforce) == (False, 403, "restricted")
    assert 'violates PodSecurity "restricted:latest"' in answer.message
    create = fake_kube.requests_for("POST", "/namespaces/tbyte/pods")[-1]
    assert create.param("dryRun") == "All"
    assert create.body["spec"]["containers"][0]["securityContext"]["privileged"] is True
    assert fake_kube.list("Pod", "tbyte") == []          # a dry run stores nothing


def test_a_namespace_without_the_label_admits_the_privileged_pod_and_the_promise_is_broken(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace("messenger-system"))
    with pytest.raises(PromiseBroken) as err:
        security.rejects_privileged_pod(fake_cluster, "messenger-system", "baseline", image=IMAGE)
    assert str(err.value) == (
        "promised namespace messenger-system enforces the 'baseline' Pod Security Standard at "
        "admission; the API server admitted a privileged pod there (dry run): it has no "
        "pod-security.kubernetes.io/enforce label")


def test_a_refusal_at_another_level_or_by_another_plugin_is_not_the_promise(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace("tbyte", {security.ENFORCE_LABEL: "baseline"}))
    fake_kube.on_create("Pod", _refuse_at("baseline"))
    with pytest.raises(PromiseBroken) as err:
        security.rejects_privileged_pod(fake_cluster, "tbyte", "restricted", image=IMAGE)
    assert "refused, but not by Pod Security admission at that level: 403 Forbidden" in str(err.value)
    assert 'violates PodSecurity "baseline:latest"' in str(err.value)

    fake_kube.put(namespace("quota-ns"))
    fake_kube.on_create("Pod", lambda obj: statuses.quota_exceeded(
        "pods", obj["metadata"]["name"], quota="q", requested="pods=1", used="pods=10", limited="pods=10")
        if obj["metadata"]["namespace"] == "quota-ns" else None)
    # another admission check answering first is no verdict on Pod Security (it was read as a
    # broken promise, and so as CSA Hello's known gap, until a real control plane showed it)
    with pytest.raises(ClusterError, match="could not judge Pod Security in namespace quota-ns: .*exceeded quota: q"):
        security.rejects_privileged_pod(fake_cluster, "quota-ns", "baseline", image=IMAGE)


def test_privileged_is_not_a_level_a_privileged_pod_breaks(fake_cluster):  # noqa: F811
    with pytest.raises(UsageError):
        security.rejects_privileged_pod(fake_cluster, "x", "privileged", image=IMAGE)


def _web(fake, *, replicas: int = 1, extra_containers=()) -> list[str]:
    containers = [container("web")] + list(extra_containers)
    fake.put(namespace("shop"))
    fake.put(deployment("web", "shop", labels=LABELS, containers=containers))
    names = [f"web-{i}" for i in range(replicas)]
    for name in names:
        fake.put(pod(name, "shop", labels=LABELS, containers=containers))
    return names


def test_a_restricted_pod_really_runs_as_1000_read_only_without_capabilities(fake_kube, fake_cluster, live_pods):  # noqa: F811
    reason = pod_like_unavailable()
    if reason:
        pytest.skip(reason)
    _web(fake_kube)
    live_pods.back("shop", "web-0", prefix=POD_LIKE)
    checks = RuntimeSecurity(fake_cluster)
    checks.runs_as("Deployment", "shop/web", 1000)
    checks.runs_as_non_root("Deployment", "shop/web")
    checks.read_only_root("Deployment", "shop/web")
    checks.capabilities_within("Deployment", "shop/web")
    checks.capabilities_within("Deployment", "shop/web", ["NET_BIND_SERVICE"])
    checks.no_privilege_escalation("Deployment", "shop/web")
    identity = checks.identities("Deployment", "shop/web")[0]
    assert identity.source == "the stand-in's /whoami"
    assert (identity.uid, identity.effective, identity.bounding) == (1000, (), ())
    # read once per scenario: one exec for six checks
    assert sum(1 for argv in live_pods.execs if "/whoami" in " ".join(argv)) == 1


def test_a_container_running_as_root_with_capabilities_breaks_each_promise(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _web(fake_kube)
    live_pods.back("shop", "web-0")          # this process: the test's own user, unrestricted
    checks = RuntimeSecurity(fake_cluster)
    uid = checks.identities("Deployment", "shop/web")[0].uid
    with pytest.raises(PromiseBroken) as err:
        checks.runs_as("Deployment", "shop/web", 4242)
    assert str(err.value) == (f"promised every container of Deployment shop/web runs as user 4242; "
                              f"1 of 1 running containers do not:\npod/shop/web-0 container web: "
                              f"runs as uid {uid} (euid {uid})")
    if uid == 0:
        with pytest.raises(PromiseBroken, match="runs as uid 0 .*: root"):
            checks.runs_as_non_root("Deployment", "shop/web")
        with pytest.raises(PromiseBroken, match=r"a file could be created in / \(the root filesystem is writable\)"):
            checks.read_only_root("Deployment", "shop/web")
        with pytest.raises(PromiseBroken, match="effective .*SYS_ADMIN.* beyond the allowed"):
            checks.capabilities_within("Deployment", "shop/web", ["NET_BIND_SERVICE"])
    with pytest.raises(PromiseBroken, match="NoNewPrivs is 0: a setuid binary could gain privileges"):
        checks.no_privilege_escalation("Deployment", "shop/web")


def _whoami(uid: int, *, caps=(), bounding=(), nnp=True, ro=True, error="EROFS") -> str:
    return json.dumps({"uid": uid, "gid": uid, "euid": uid, "egid": uid, "no_new_privs": nnp,
                       "capabilities": {"effective": {"hex": "0", "names": list(caps)},
                                        "bounding": {"hex": "0", "names": list(bounding)}},
                       "root_filesystem": {"path": "/", "writable": not ro and error is None,
                                           "read_only": ro, "error": error,
                                           "mount_read_only": ro}})


def test_scripted_identities_every_pod_and_container_is_checked(fake_kube, fake_cluster, live_pods):  # noqa: F811
    sidecar = container("sidecar", port=9090)
    _web(fake_kube, replicas=2, extra_containers=[sidecar])
    answers = {("web-0", "web"): _whoami(1000, bounding=["NET_BIND_SERVICE"]),
               ("web-0", "sidecar"): _whoami(1000),
               ("web-1", "web"): _whoami(1000, bounding=["NET_BIND_SERVICE"]),
               ("web-1", "sidecar"): _whoami(0, caps=["NET_RAW"], bounding=["NET_RAW"], nnp=False,
                                             ro=False, error="EACCES")}
    live_pods.scripted = lambda call: ExecReply("200\n" + answers[(call.pod, call.container)], "", 0)
    checks = RuntimeSecurity(fake_cluster)
    assert len(checks.identities("Deployment", "shop/web")) == 4
    with pytest.raises(PromiseBroken) as err:
        checks.capabilities_within("Deployment", "shop/web", ["NET_BIND_SERVICE"])
    assert "1 of 4 running containers do not:\npod/shop/web-1 container sidecar: effective NET_RAW " \
           "and bounding NET_RAW beyond the allowed" in str(err.value)
    with pytest.raises(PromiseBroken) as err:
        checks.read_only_root("Deployment", "shop/web")
    assert ("pod/shop/web-1 container sidecar: a create in / failed with EACCES, not EROFS, and / "
            "is not mounted read-only") in str(err.value)
    with pytest.raises(PromiseBroken, match="web-1 container sidecar: runs as uid 0"):
        checks.runs_as("Deployment", "shop/web", 1000)


def test_other_images_are_inspected_through_a_shell(fake_kube, fake_cluster, live_pods):  # noqa: F811
    reason = pod_like_unavailable()
    if reason:
        pytest.skip(reason)
    db = container("postgres", port=5432, image="postgres:15-alpine")
    fake_kube.put(namespace("data"))
    fake_kube.put(deployment("db", "data", labels={"app": "db"}, containers=[db]))
    fake_kube.put(pod("db-0", "data", labels={"app": "db"}, containers=[db]))
    live_pods.back("data", "db-0", workload=False, prefix=POD_LIKE)
    checks = RuntimeSecurity(fake_cluster)
    checks.runs_as("Deployment", "data/db", 1000)
    checks.read_only_root("Deployment", "data/db")
    checks.capabilities_within("Deployment", "data/db")
    checks.no_privilege_escalation("Deployment", "data/db")
    assert checks.identities("Deployment", "data/db")[0].source == "a shell in the container"


def test_an_image_with_neither_the_stand_in_nor_a_shell_cannot_be_observed(fake_kube, fake_cluster, live_pods):  # noqa: F811
    distroless = container("app", image="gcr.io/distroless/static")
    fake_kube.put(namespace("data"))
    fake_kube.put(deployment("app", "data", labels={"app": "x"}, containers=[distroless]))
    fake_kube.put(pod("app-0", "data", labels={"app": "x"}, containers=[distroless]))
    live_pods.back("data", "app-0", workload=False, shell=False)
    with pytest.raises(CannotObserve, match="runs neither the stand-in workload nor a shell"):
        RuntimeSecurity(fake_cluster).runs_as("Deployment", "data/app", 1000)


def test_capability_names_and_parsing():
    assert security.capability_names("0000000000000400") == ["NET_BIND_SERVICE"]
    assert security.capability_names("00000000a80425fb")[:3] == ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE"]
    assert security.parse_capabilities("cap_net_bind_service, CHOWN") == ["CHOWN", "NET_BIND_SERVICE"]
    with pytest.raises(UsageError, match="unknown capabilities: NET_BIND"):
        security.parse_capabilities("NET_BIND")


def test_shell_output_is_read_like_the_kernel_reports_it():
    text = ("uid=70\ngid=70\nCapEff:\t0000000000000000\nCapPrm:\t0000000000000000\n"
            "CapBnd:\t0000000000000400\nNoNewPrivs:\t1\n"
            "root=refused touch: /.archconform-write-probe-12: Read-only file system\nrootmount=ro,relatime\n")
    identity = security.identity_from_shell("pod/x/y", "c", text)
    assert (identity.uid, identity.effective, identity.bounding, identity.no_new_privs) == (70, (), ("NET_BIND_SERVICE",), True)
    assert (identity.root_writable, identity.root_read_only, identity.root_error) == (False, True, "EROFS")
