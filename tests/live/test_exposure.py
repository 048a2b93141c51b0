"""The load target: run-owned NodePort / LoadBalancer Services and the load allowance, against the
fake API server (official client, real HTTP); answering checks and the background load against
local processes on 127.0.0.1 (real Locust in a child process, a few seconds).

(No request reaches a KWOK pod, so the load target stays on the fake until a kind cluster runs
here.)
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.request

import pytest

from archconform.errors import ClusterError, PlatformGap, PromiseBroken, UsageError, WaitTimeout
from archconform.kube import MANAGED_BY_LABEL, RUN_ID_LABEL
from archconform.live import exposure as ex
from archconform.live.autoscaling import ScalingSession
from archconform.live.exposure import (BackgroundLoad, Exposure, ExposureUnavailable, expose_service,
                                       exposure_name, load_port, load_service, outside_pod_network,
                                       parse_percent, wait_answering)
from archconform.settings import Timeouts
from tests.fakekube import FakeKube, objects, statuses
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401  (fixtures)

NS = "shop"
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
           "spec": {"type": "ClusterIP", "selector": {"app": "web"},
                    "ports": [{"name": "metrics", "port": 9090, "targetPort": "metrics"},
                              {"name": "http", "port": 8080, "targetPort": "http"}]}}
DENY_ALL = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-all", "namespace": NS},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
LOAD_TIMEOUTS = Timeouts(load_start=8.0, probe=1.0, scale_up=10.0, scale_down=10.0)


def node(name: str, ip: str, cidr: str | None) -> dict:
    obj = objects.node(name)
    obj["status"]["addresses"] = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
    if cidr:
        obj["spec"]["podCIDR"] = cidr
        obj["spec"]["podCIDRs"] = [cidr]
    return obj


def build(fake: FakeKube, *, isolated: bool = True, pod_cidrs: bool = True) -> None:
    fake.put(objects.namespace(NS))
    for i, name in enumerate(("kind-control-plane", "kind-worker")):
        fake.put(node(name, f"172.18.0.{i + 2}", f"10.244.{i}.0/24" if pod_cidrs else None))
    fake.put(objects.pod("web-1", NS, labels={"app": "web", "tier": "backend"}))
    fake.put(SERVICE)
    if isolated:
        fake.put(DENY_ALL)


def created(fake: FakeKube, kind: str) -> list[dict]:
    return [o for o in fake.list(kind, NS) if (o["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL)]


# ------------------------------------------------------------------------------------------------
# pure pieces
# ------------------------------------------------------------------------------------------------

def test_the_load_port_is_the_http_port():
    assert load_port(SERVICE)["port"] == 8080
    assert load_port({"spec": {"ports": [{"name": "metrics", "port": 9090}, {"port": 80}]}})["port"] == 80
    with pytest.raises(UsageError, match="has no ports"):
        load_port({"metadata": {"name": "x", "namespace": "y"}, "spec": {}})


def test_exposure_names_are_valid_and_distinct_per_run():
    a, b = exposure_name("web", "run-a"), exposure_name("web", "run-b")
    assert a.startswith("ac-load-web-") and a != b
    long = exposure_name("x" * 80, "run-a")
    assert len(long) <= 63 and not long.startswith("-") and long[-7] == "-"


def test_outside_the_pod_network_excludes_pod_cidrs_or_falls_back_to_node_addresses():
    assert outside_pod_network(["10.244.1.0/24", "10.244.0.0/24", "fd00:10:244::/64"], ["172.18.0.2"]) == [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/24", "10.244.1.0/24"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fd00:10:244::/64"]}}]
    assert outside_pod_network([], ["192.168.7.9", "192.168.3.4"]) == [
        {"ipBlock": {"cidr": "192.168.3.4/32"}}, {"ipBlock": {"cidr": "192.168.7.9/32"}}]


def test_a_given_target_creates_and_removes_nothing():
    given = ex.given_target("https://shop.example/", f"{NS}/web")
    assert given.url == "https://shop.example" and given.close() == []
    assert "not created by it" in given.describe()
    with pytest.raises(UsageError, match="not an http"):
        ex.given_target("shop.example", f"{NS}/web")


def test_parse_percent():
    assert parse_percent("1") == 1.0 and parse_percent("0.5") == 0.5
    for bad in ("one", "-1", "150"):
        with pytest.raises(UsageError):
            parse_percent(bad)


# ------------------------------------------------------------------------------------------------
# against the fake API server
# ------------------------------------------------------------------------------------------------

def test_kind_gets_a_node_port_service_with_the_same_selector_and_it_is_removed(fake_kube, fake_cluster):
    build(fake_kube)
    service = fake_cluster.get("Service", "web", namespace=NS)
    exposure = expose_service(fake_cluster, service, cluster_kind="kind", run_id="test-run", check=False)
    assert exposure.url == "http://127.0.0.1:30080" and exposure.method == "nodeport"
    (svc,) = created(fake_kube, "Service")
    assert svc["metadata"]["name"] == exposure_name("web", "test-run")
    assert svc["metadata"]["labels"][RUN_ID_LABEL] == "test-run"
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP",
                                     "nodePort": 30080}]
    # default-deny isolates the pods: a run-owned policy admits the load from outside the pod network
    (policy,) = created(fake_kube, "NetworkPolicy")
    assert exposure.allowance_for == ["default-deny-all"]
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "web"}}
    assert policy["spec"]["ingress"] == [{
        "from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/24", "10.244.1.0/24"]}}],
        "ports": [{"protocol": "TCP", "port": "http"}]}]
    assert "NetworkPolicy of this run admitting the load" in exposure.describe()
    removed = exposure.close()
    assert sorted(removed) == [f"networkpolicy/{NS}/{svc['metadata']['name']}", f"service/{NS}/{svc['metadata']['name']}"]
    assert created(fake_kube, "Service") == [] and created(fake_kube, "NetworkPolicy") == []
    assert fake_kube.get("Service", "web", NS) is not None and fake_kube.get("NetworkPolicy", "default-deny-all", NS)
    assert exposure.close() == []  # idempotent


def test_no_allowance_when_nothing_isolates_the_pods_and_node_ips_without_pod_cidrs(fake_kube, fake_cluster):
    build(fake_kube, isolated=False)
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    assert created(fake_kube, "NetworkPolicy") == [] and exposure.allowance_for == []
    exposure.close()
    # a policy selecting other pods does not isolate these
    fake_kube.put({**DENY_ALL, "spec": {"podSelector": {"matchLabels": {"app": "db"}}}})
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    assert created(fake_kube, "NetworkPolicy") == []
    exposure.close()


def test_the_allowance_falls_back_to_node_addresses_without_pod_cidrs(fake_kube, fake_cluster):
    build(fake_kube, pod_cidrs=False)
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    (policy,) = created(fake_kube, "NetworkPolicy")
    assert policy["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "172.18.0.2/32"}},
                                                    {"ipBlock": {"cidr": "172.18.0.3/32"}}]
    exposure.close()


def test_a_node_port_held_by_another_service_is_skipped(fake_kube, fake_cluster):
    build(fake_kube)

    def refuse(obj: dict):
        port = obj["spec"]["ports"][0].get("nodePort")
        if port in (30080, 30081):
            return statuses.invalid("Service", obj["metadata"]["name"], [
                ("spec.ports[0].nodePort", f"Invalid value: {port}: provided port is already allocated")])
        return None

    fake_kube.on_create("Service", refuse)
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    assert exposure.url == "http://127.0.0.1:30082"
    assert created(fake_kube, "Service")[0]["spec"]["ports"][0]["nodePort"] == 30082
    exposure.close()


def test_a_leftover_the_close_could_not_remove_is_an_error_and_retried(fake_kube, fake_cluster):
    build(fake_kube)
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    name = exposure_name("web", "test-run")
    refuse = {"on": True}
    fake_kube.on_request(lambda req: statuses.status(500, "InternalError", "etcdserver: request timed out")
                         if refuse["on"] and req.method == "DELETE" and "/networkpolicies/" in req.path else None)
    with pytest.raises(ClusterError, match=f"left objects of this run behind: networkpolicy/{NS}/{name}"):
        exposure.close()
    # the Service went; the NetworkPolicy the server kept is still this run's to remove
    assert created(fake_kube, "Service") == [] and len(created(fake_kube, "NetworkPolicy")) == 1
    refuse["on"] = False
    assert exposure.close() == [f"networkpolicy/{NS}/{name}"]
    assert created(fake_kube, "NetworkPolicy") == []


def test_all_node_ports_taken_is_an_error_and_leaves_nothing_behind(fake_kube, fake_cluster):
    build(fake_kube)
    fake_kube.on_create("Service", lambda obj: statuses.invalid("Service", obj["metadata"]["name"], [
        ("spec.ports[0].nodePort", "Invalid value: 1: provided port is already allocated")]))
    with pytest.raises(ClusterError, match="node ports 30080, 30081, 30082, 30083 are all taken"):
        expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    assert created(fake_kube, "NetworkPolicy") == [] and created(fake_kube, "Service") == []


def test_k3s_without_mapped_ports_is_unavailable_and_with_them_uses_them(fake_kube, fake_cluster):
    build(fake_kube)
    with pytest.raises(ExposureUnavailable, match="maps only the API port"):
        expose_service(fake_cluster, SERVICE, cluster_kind="k3s", run_id="test-run", check=False)
    assert created(fake_kube, "Service") == []
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="k3s", run_id="test-run", check=False,
                              facts={"node_ports": {"30080": "127.0.0.1:49153"}})
    assert exposure.url == "http://127.0.0.1:49153"
    exposure.close()


def test_eks_gets_a_load_balancer_and_waits_for_its_address(fake_kube, fake_cluster):
    build(fake_kube, isolated=False)
    name = exposure_name("web", "test-run")
    # the cloud provisions a load balancer a moment after the Service is created
    fake_kube.on_create("Service", lambda obj: fake_kube.schedule(
        0.3, fake_kube.patch_status, "Service", name, namespace=NS, status={
            "loadBalancer": {"ingress": [{"hostname": "a1b2.elb.eu-west-1.amazonaws.com"}]}}) and None)
    exposure = expose_service(fake_cluster, SERVICE, cluster_kind="eks", run_id="test-run", check=False,
                              load_balancer_timeout=20.0)
    assert exposure.url == "http://a1b2.elb.eu-west-1.amazonaws.com:8080" and exposure.method == "loadbalancer"
    (svc,) = created(fake_kube, "Service")
    assert svc["spec"]["type"] == "LoadBalancer" and "nodePort" not in svc["spec"]["ports"][0]
    exposure.close()
    assert created(fake_kube, "Service") == []


def test_no_load_balancer_address_is_a_platform_gap(fake_kube, fake_cluster):
    build(fake_kube, isolated=False)
    with pytest.raises(PlatformGap, match="no load balancer: timed out after 1s waiting for service/shop/ac-load-web"):
        expose_service(fake_cluster, SERVICE, cluster_kind="existing", run_id="test-run", check=False,
                       load_balancer_timeout=1.0)
    assert created(fake_kube, "Service") == []


def test_another_runs_object_of_the_same_name_is_never_touched(fake_kube, fake_cluster):
    build(fake_kube, isolated=False)
    squatter = {**SERVICE, "metadata": {"name": exposure_name("web", "test-run"), "namespace": NS}}
    fake_kube.put(squatter)
    with pytest.raises(ClusterError, match="already exists and is not this run's"):
        expose_service(fake_cluster, SERVICE, cluster_kind="kind", run_id="test-run", check=False)
    assert fake_kube.get("Service", squatter["metadata"]["name"], NS) is not None


# ------------------------------------------------------------------------------------------------
# local processes on 127.0.0.1
# ------------------------------------------------------------------------------------------------

class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - stdlib hook
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_waiting_for_an_answer_accepts_any_http_status_and_times_out_on_silence():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert wait_answering(f"http://127.0.0.1:{server.server_address[1]}/", timeout=2.0,
                              attempt_timeout=1.0) == "HTTP 404"
    finally:
        server.shutdown()
        server.server_close()
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waiting for http://127.0.0.1:\d+/ to answer HTTP; last state: "):
        wait_answering(f"http://127.0.0.1:{_free_port()}/", timeout=1.0, attempt_timeout=0.5)
    assert time.monotonic() - started < 4


@pytest.fixture
def workload():
    from archconform.load import LocalWorkload

    target = LocalWorkload(env={"WORKLOAD_ACCESS_LOG": "0"}, timeouts=LOAD_TIMEOUTS).start()
    try:
        yield target
    finally:
        target.stop(timeout=10.0)


def test_background_load_runs_real_locust_until_closed(workload, tmp_path):
    closed = []
    exposure = Exposure(kube=None, service=f"{NS}/web", url=workload.base_url, method="given", port=8080,
                        target_port="http", run_id="test-run")
    exposure.close = lambda: closed.append(True) or []  # the exposure's own removal is tested above
    load = BackgroundLoad.start(exposure, users=4, timeouts=LOAD_TIMEOUTS, csv_dir=tmp_path,
                                env={"LOAD_BURN_MS": "5", "LOAD_USER_RPS": "5"})
    try:
        assert load.running and load.started_at <= time.monotonic()
        time.sleep(2.5)
        share = load.failure_share(1.0)
        assert share.requests > 0 and share.failures == 0 and share.ok
        share.check()
        assert len(load.snapshot()) >= 1
    finally:
        load.close()
    assert closed == [True] and not load.running and load.stopped_at is not None
    result = load.result()
    assert result.requests >= share.requests and result.failures == 0
    assert load.failure_share(1.0).message.startswith(f"0 of {result.requests} requests failed (0.00%), fewer than 1%")


def test_failures_beyond_the_promise_are_a_broken_promise(workload, tmp_path):
    urllib.request.urlopen(workload.url("/toggle/live?fail=1"), timeout=10).read()  # /health answers 503
    exposure = Exposure(kube=None, service=f"{NS}/web", url=workload.base_url, method="given",
                        port=8080, target_port="http", run_id="test-run")
    load = BackgroundLoad.start(exposure, users=2, timeouts=LOAD_TIMEOUTS, csv_dir=tmp_path,
                                locustfile="browse.py", env={"LOAD_WAIT_MIN_S": "0.05", "LOAD_WAIT_MAX_S": "0.1"})
    try:
        time.sleep(1.5)
    finally:
        load.close()
    share = load.failure_share(1.0)
    assert 0 < share.failures < share.requests, share.message
    with pytest.raises(PromiseBroken, match=r"requests failed \(\d+\.\d\d%\), not fewer than 1%; "
                                            r"errors: GET /health: .*503"):
        share.check()


def test_load_service_exposes_observes_then_loads_and_the_session_merges_the_load(
        fake_kube, fake_cluster, workload, tmp_path, monkeypatch):
    """The load phrase end to end: exposure on the fake cluster, observers started before the first
    request, real Locust against the local workload (the node port mapped to it)."""
    build(fake_kube, isolated=False)
    fake_kube.put(objects.deployment("web", NS, replicas=3))
    fake_kube.put({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                   "metadata": {"name": "web-hpa", "namespace": NS},
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                            "minReplicas": 3, "maxReplicas": 6},
                   "status": {"currentReplicas": 3, "desiredReplicas": 3}})
    port = int(workload.base_url.rsplit(":", 1)[1])
    timeouts = LOAD_TIMEOUTS.replace(api_request=5.0, policy_propagation=3.0, scale_up=3.0, progress_interval=1.0)
    session = ScalingSession(fake_cluster, timeouts=timeouts, out_dir=tmp_path / "scaling", attach=False)
    order: list[str] = []
    try:
        def before(service):
            order.append("observe")
            session.observe_service(service)

        load = load_service(fake_cluster, f"{NS}/web", users=3, cluster_kind="k3s", run_id="test-run",
                            facts={"node_ports": {"30080": f"127.0.0.1:{port}"}}, timeouts=timeouts,
                            csv_dir=tmp_path / "load", before_start=before)
        order.append("load")
        session.load_started(load)
        assert order == ["observe", "load"] and len(created(fake_kube, "Service")) == 1
        fake_kube.schedule(1.5, lambda: (fake_kube.patch_status("HorizontalPodAutoscaler", "web-hpa", namespace=NS,
                                                                status={"desiredReplicas": 6}),
                                         fake_kube.patch_status("Deployment", "web", namespace=NS,
                                                                status={"readyReplicas": 6})))
        verdict = session.reaches("Deployment", f"{NS}/web", 6)
        verdict.check()
        timeline = session.observers[f"Deployment/{NS}/web"].timeline
        assert timeline.load and max(p.users for p in timeline.load) >= 1
        assert any(r["users"] != "" for r in timeline.rows())
        session.stop_load()
        assert session.load_stopped_at is not None and session.load_stopped_at > session.load_started_at
    finally:
        session.close()
        load.close()
    assert created(fake_kube, "Service") == []
    pngs = list((tmp_path / "scaling").glob("*.png"))
    assert len(pngs) == 1


def test_load_service_refuses_bad_input(fake_cluster):
    with pytest.raises(UsageError, match="1 to 1000 users"):
        load_service(fake_cluster, f"{NS}/web", users=0, cluster_kind="kind", run_id="test-run")
    with pytest.raises(UsageError, match="namespace/name"):
        load_service(fake_cluster, "web", users=1, cluster_kind="kind", run_id="test-run")
    with pytest.raises(ClusterError, match=r"Service shop/web does not exist on the cluster"):
        load_service(fake_cluster, f"{NS}/web", users=1, cluster_kind="kind", run_id="test-run")


def test_the_load_duration_covers_a_scale_up_and_a_scale_down():
    assert ex.load_duration(Timeouts()) == 1800.0
