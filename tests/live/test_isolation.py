"""The isolation prober against the fake API server, through the official client: probe jobs
from the model, connect probes exec'd in source pods (scripted by the fake's exec hook), the
comparison with the model, retries, probe failures, DNS, and the DNS timing series.

(KWOK nodes have no pod network, so connections between pods stay on the fake until a kind cluster
runs here.)
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from archconform.errors import PlatformGap, PromiseBroken, UsageError
from archconform.kube import Kube
from archconform.live import isolation
from archconform.live.isolation import DNS_COLUMN, DNS_NAME, NotObserved, classify_connect, connect_argv
from archconform.model import netpol
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)
from tests.fakekube.server import ExecReply
from tests.live.test_isolation_world import IPS, T, Network, manifests, populate


@pytest.fixture
def kube(fake_kube: FakeKube):
    k = Kube(fake_kube.kubeconfig_path, "fake", T, run_id="test-run")
    try:
        yield k
    finally:
        k.close()


@pytest.fixture
def network(fake_kube: FakeKube) -> Network:
    populate(fake_kube)
    net = Network(manifests())
    fake_kube.on_exec(net)
    return net


def probe_into(kube, dst: str, **kw) -> isolation.ReachabilityResult:
    return isolation.probe(kube, manifests(), port=8080, destinations=[dst], timeouts=T, attach=False, **kw)


# ------------------------------------------------------------------------------------------------
# pure parts
# ------------------------------------------------------------------------------------------------

def test_connect_argv_is_the_workload_probe_with_a_bounded_timeout():
    assert connect_argv("10.244.1.11", 8080, "TCP", 3.0) == [
        "python", "-m", "archconform_workload", "connect", "--host", "10.244.1.11", "--port", "8080",
        "--protocol", "tcp", "--timeout", "3"]
    assert connect_argv("fd00::5", 53, "udp", 0.5)[-4:] == ["--protocol", "udp", "--timeout", "0.5"]
    with pytest.raises(UsageError, match="TCP and UDP"):
        connect_argv("10.0.0.1", 9, "SCTP", 3.0)
    with pytest.raises(UsageError, match="positive timeout"):
        connect_argv("10.0.0.1", 9, "TCP", 0)


def test_resolve_argv_asks_for_json_and_bounds_each_lookup():
    assert isolation.resolve_argv(DNS_NAME, timeout=3.0) == [
        "python", "-m", "archconform_workload", "resolve", "kubernetes.default.svc.cluster.local.",
        "--count", "1", "--timeout", "3", "--json"]
    assert isolation.resolve_argv("a.b.svc.cluster.local.", count=20, timeout=1, interval=0.1)[5:] == [
        "--count", "20", "--timeout", "1", "--interval", "0.1", "--json"]


@pytest.mark.parametrize("rc,out,err,error,symbol", [
    (0, "connected\n", "", None, "."),
    (1, "refused\n", "", None, "X"),
    (2, "timeout\n", "", None, "X"),
    (3, "error: EHOSTUNREACH No route to host\n", "", None, "X"),
    # argparse's usage error also exits 2, without a verdict line: not "blocked"
    (2, "", "usage: archconform_workload connect: error: the following arguments are required: --host", None, "!"),
    (None, "", "", "container not found", "!"),
    (126, "", "exec failed", None, "!"),
    (0, "refused\n", "", None, "!"),
])
def test_connect_answers_map_to_symbols(rc, out, err, error, symbol):
    assert classify_connect(rc, out, err, error).symbol == symbol


def test_the_deciding_policy_comes_from_the_models_explanation():
    objs = manifests()
    blocked = netpol.reachability(objs, "other/intruder", "shop/web", 8080)
    assert isolation.decided_by(blocked) == (
        "blocked by other/dns-only (egress: no egress rule of these policies allows shop/web on 8080/TCP)")
    ingress = netpol.reachability(objs, "shop/db", "shop/api", 8080)
    assert isolation.decided_by(ingress).startswith("blocked by shop/api-policy (ingress: no ingress rule")
    allowed = netpol.reachability(objs, "shop/web", "shop/api", 8080)
    assert isolation.decided_by(allowed) == (
        "ingress allowed by shop/api-policy ingress[0].from[0] (podSelector app=web; 8080/TCP)")
    open_flow = netpol.reachability(objs, "shop/api", "shop/web", 8080)
    assert isolation.decided_by(open_flow) == "allowed: no NetworkPolicy isolates either side"


def test_plan_builds_the_jobs_once_from_the_models_endpoints():
    p = isolation.plan(manifests(), port=8080, destinations=["shop/api"])
    assert p.sources == ("shop/web", "shop/api", "shop/db", "other/intruder")
    assert [(j.source, j.destination) for j in p.jobs] == [(s, "shop/api") for s in p.sources]
    full = isolation.plan(manifests(), port=8080, others_only=True, protocol="tcp")
    assert len(full.jobs) == 4 * 3 and ("shop/web", "shop/web") in full.skipped and full.protocol == "TCP"
    with pytest.raises(Exception, match="no workload 'shop/nope'"):
        isolation.plan(manifests(), port=8080, destinations=["shop/nope"])


# ------------------------------------------------------------------------------------------------
# against the fake cluster
# ------------------------------------------------------------------------------------------------

def test_all_cells_agree_and_the_scenario_passes(kube, network, fake_kube):
    result = probe_into(kube, "shop/api")
    assert result.observed.rows == [".", "X", "?", "X"]
    assert result.expected.rows == [".", "X", "X", "X"]
    assert not result.differences and result.compared == 3 and result.dns_compared == 3
    assert isolation.check(result) is result
    # postgres pods have no probe program: unknown, with the reason, and never exec'd into
    assert result.cells[("shop/db", "shop/api")].note.startswith("its pods do not run the workload image (postgres:16)")
    assert not [c for c in network.calls if c.pod == "db-pod"]
    assert result.dns_observed.rows == [".", ".", "?", "."]
    text = result.render_text()
    assert "shop/db" in text and "no probe program inside" in text and "0 differ" in text


def test_the_probe_argv_is_exactly_what_runs_in_the_source_pod(kube, network):
    probe_into(kube, "shop/api")
    calls = network.probes("shop/web", "shop/api")
    assert len(calls) == 1
    call = calls[0]
    assert call.command == connect_argv(IPS["shop/api"], 8080, "TCP", T.probe)
    assert call.command[-2:] == ["--timeout", "0.5"]
    assert call.container == "app" and call.namespace == "shop" and call.pod == "web-pod"
    api_self = network.probes("shop/api", "shop/api")[0]
    assert api_self.container == "api"  # the container that runs the workload image
    dns = [c for c in network.calls if c.pod == "web-pod" and "resolve" in c.command]
    assert dns[0].command == isolation.resolve_argv(DNS_NAME, timeout=T.probe)


def test_one_differing_cell_fails_naming_source_destination_port_and_the_deciding_policy(kube, network):
    network.cells[("other/intruder", "shop/api")] = ["connected"]
    result = probe_into(kube, "shop/api")
    assert [(c.source, c.destination) for c in result.differences] == [("other/intruder", "shop/api")]
    with pytest.raises(PromiseBroken) as err:
        isolation.check(result, kube=kube)
    message = str(err.value)
    assert ("other/intruder -> shop/api on TCP 8080: expected X (blocked), observed . (allowed; "
            "3 attempt(s): connected, connected, connected)") in message
    assert "model: blocked by other/dns-only (egress: no egress rule of these policies allows shop/api" in message
    assert "blocked by shop/api-policy (ingress" in message
    # the side-by-side table marks the cell
    row = next(line for line in message.splitlines() if line.startswith("other/intruder"))
    assert "X.*" in row


def test_every_blocked_cell_open_is_one_platform_gap_naming_the_cni(kube, network):
    network.enforce = False
    result = isolation.probe(kube, manifests(), port=8080, others_only=True, timeouts=T, attach=False)
    assert len(result.differences) == 2  # intruder -> web and intruder -> api; db and the diagonal are "?"
    with pytest.raises(PlatformGap) as err:
        isolation.check(result, kube=kube)
    first = str(err.value).splitlines()[0]
    assert first.startswith("the cluster's CNI (kindnet from kube-system DaemonSets: kindnet, kube-proxy) "
                            "does not appear to enforce NetworkPolicy: all ")
    assert "flow(s) on TCP 8080 that the model blocks were open" in first


def test_a_cni_that_passes_the_default_deny_self_check_is_not_blamed(kube, network):
    from archconform.live.cni import CniInfo, SelfCheck

    network.enforce = False
    result = probe_into(kube, "shop/api")
    runs = []

    def self_check():
        runs.append(1)
        return SelfCheck(True, CniInfo("kindnet", ("kindnet",)), "archconform-netcheck-x", "connected", "timeout")

    with pytest.raises(PromiseBroken) as err:
        isolation.check(result, kube=kube, self_check=self_check)
    assert runs == [1]
    assert "default-deny self-check in archconform-netcheck-x: enforced" in str(err.value)


def test_only_some_blocked_cells_open_is_not_a_platform_gap(kube, network):
    network.enforce = False
    network.cells[("shop/api", "shop/api")] = ["timeout"]  # one blocked flow is enforced
    result = probe_into(kube, "shop/api")
    with pytest.raises(PromiseBroken):
        isolation.check(result, kube=kube)


def test_probe_errors_are_shown_as_probe_failed_not_blocked(kube, network):
    network.cells[("shop/web", "shop/api")] = ["EXEC-ERROR"]
    network.cells[("other/intruder", "shop/api")] = [ExecReply(stderr="usage: archconform_workload: error", rc=2)]
    result = probe_into(kube, "shop/api")
    assert result.observed.cell("shop/web", "shop/api") == "!"
    assert result.observed.cell("other/intruder", "shop/api") == "!"
    assert not result.differences  # a failed probe is not a difference, and not "blocked"
    web = result.cells[("shop/web", "shop/api")]
    assert web.note.startswith("exec failed:") and 'container "app" is not running' in web.note
    assert len(web.attempts) == 1 + T.probe_retries  # a failed probe is retried too
    with pytest.raises(NotObserved, match=r"2 probe\(s\) on TCP 8080 failed"):
        isolation.check(result)
    assert "! probe failed" in result.render_text()


def test_a_cell_wrong_once_then_right_passes(kube, network):
    network.cells[("shop/web", "shop/api")] = ["timeout", "connected"]
    network.cells[("shop/api", "shop/api")] = ["connected", "timeout"]
    result = probe_into(kube, "shop/api")
    assert isolation.check(result) is result
    assert result.cells[("shop/web", "shop/api")].attempts == ["timeout", "connected"]
    assert result.cells[("shop/api", "shop/api")].attempts == ["connected", "timeout"]
    assert result.cells[("other/intruder", "shop/api")].attempts == ["timeout"]  # agreed at once


def test_a_cell_wrong_every_time_is_retried_probe_retries_times(kube, network):
    network.cells[("shop/web", "shop/api")] = ["refused"]
    result = probe_into(kube, "shop/api")
    assert len(network.probes("shop/web", "shop/api")) == 1 + T.probe_retries
    assert result.cells[("shop/web", "shop/api")].observed == "X"


def test_a_hanging_exec_is_bounded_and_counts_as_probe_failed(fake_kube, network):
    short = T.replace(api_request=0.5)
    network.cells[("shop/web", "shop/api")] = [ExecReply(stdout="connected\n", delay=3.0)]
    k = Kube(fake_kube.kubeconfig_path, "fake", short, run_id="test-run")
    try:
        began = time.monotonic()
        result = isolation.probe(k, manifests(), port=8080, destinations=["shop/api"], timeouts=short.replace(
            probe_retries=0), attach=False)
        took = time.monotonic() - began
    finally:
        k.close()
    cell = result.cells[("shop/web", "shop/api")]
    assert cell.observed == "!" and "timed out after 1s" in cell.note
    assert took < 2.5


def test_dns_is_part_of_the_result_and_a_dns_difference_fails(kube, network):
    network.dns["shop/api"] = "fail"
    result = probe_into(kube, "shop/api")
    assert result.dns_observed.cell("shop/api", DNS_COLUMN) == "X"
    assert [(c.source, c.destination) for c in result.differences] == [("shop/api", DNS_COLUMN)]
    with pytest.raises(PromiseBroken) as err:
        isolation.check(result)
    assert ("shop/api -> cluster DNS on UDP 53 (DNS lookup): expected . (allowed), observed X (blocked; "
            "3 attempt(s): lookup failed: timeout") in str(err.value)


def test_sources_without_a_ready_pod_and_destinations_that_do_not_listen_are_unknown(fake_kube, kube):
    populate(fake_kube, ready={"shop/web": False})
    net = Network(manifests())
    fake_kube.on_exec(net)
    result = probe_into(kube, "shop/db")  # db listens on 5432, not 8080
    assert set(result.observed.rows) == {"?"}
    notes = "\n".join(result.notes)
    assert "from shop/web: no ready pod (1 pod(s) found)" in notes
    assert "to shop/db: nothing listens on TCP 8080 there (it declares 5432/TCP)" in notes
    assert not [c for c in net.calls if "connect" in c.command]
    with pytest.raises(NotObserved, match="no cell on TCP 8080 could be probed"):
        isolation.check(result)


def test_every_other_workload_skips_the_diagonal_and_reports_progress(kube, network, caplog):
    caplog.set_level(logging.INFO, logger="archconform.progress")
    result = isolation.probe(kube, manifests(), port=8080, others_only=True, timeouts=T, attach=False)
    assert result.observed.cell("shop/web", "shop/web") == "?"
    assert result.cells[("shop/web", "shop/web")].note == "not probed: the same workload"
    assert not network.probes("shop/web", "shop/web")
    assert isolation.check(result) is result
    lines = [r.getMessage() for r in caplog.records if r.name == "archconform.progress"]
    assert lines[0].startswith("probing TCP 8080: ")
    assert any("cells done" in line for line in lines)
    assert lines[-1].startswith("probed TCP 8080: 4 source(s) x 4 destination(s) + DNS")


def test_concurrent_probes_leave_the_callers_client_usable(kube, network):
    """The official client's exec swaps ApiClient.call_api while it runs: concurrent execs
    through one client would leave it broken. The prober's workers use clients of their own."""
    isolation.probe(kube, manifests(), port=8080, others_only=True, timeouts=T, attach=False, workers=8)
    assert len(network.calls) >= 9
    assert len(kube.list("Pod", namespace="shop")) == 3
    assert kube.exec("web-pod", "shop", ["python", "-m", "archconform_workload", "resolve", "x", "--json"],
                     timeout=5).rc == 0


def test_the_html_and_text_tables_put_expected_and_observed_side_by_side(kube, network):
    network.cells[("other/intruder", "shop/api")] = ["connected"]
    result = probe_into(kube, "shop/api")
    page = result.render_html()
    assert page.startswith("<!DOCTYPE html>") and "outline:3px solid #c00" in page
    assert page.count("outline:3px") == 1
    assert "differ from the model" in page and "other/intruder" in page
    table = result.render_table().splitlines()
    assert table[0] == "reachability on TCP 8080: expected (model) | observed (cluster)"
    assert "1=shop/api  2=cluster DNS" in table[-2]


# ------------------------------------------------------------------------------------------------
# DNS timing
# ------------------------------------------------------------------------------------------------

def test_service_names_are_absolute_cluster_names():
    assert isolation.service_name("itdo-erp-prod/backend-api") == "backend-api.itdo-erp-prod.svc.cluster.local."
    with pytest.raises(UsageError):
        isolation.service_name("backend-api")


def _with_service(objs: list[dict]) -> list[dict]:
    return objs + [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
                    "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}}]


def test_dns_timing_passes_when_every_lookup_is_within_the_bound(kube, network):
    network.series = [(True, 3.0 + i) for i in range(20)]
    timing = isolation.resolve_within(kube, _with_service(manifests()), "shop/web", "shop/api", 1.0,
                                      timeouts=T, attach=False)
    assert timing.ok and len(timing.lookups) == 20
    assert timing.stats() == {"min": 3.0, "median": 12.5, "p95": 21.0, "max": 22.0}
    call = [c for c in network.calls if "resolve" in c.command][-1]
    assert call.command == isolation.resolve_argv("api.shop.svc.cluster.local.", count=20, timeout=1.0,
                                                  interval=isolation.DNS_LOOKUP_INTERVAL)


def test_dns_timing_fails_with_the_distribution_when_a_lookup_is_slow_or_fails(kube, network):
    network.series = [(True, 5.0)] * 18 + [(True, 1500.0), (False, 1000.0)]
    with pytest.raises(PromiseBroken) as err:
        isolation.resolve_within(kube, _with_service(manifests()), "shop/web", "shop/api", 1.0, timeouts=T,
                                 attach=False)
    message = str(err.value)
    assert message.startswith("promised shop/web resolves the Service shop/api within 1s; measured: ")
    assert "20 lookups, 19 resolved, 1 slower than 1s" in message and "max=1500.0ms" in message


def test_dns_timing_from_a_pod_without_the_probe_program_is_not_observed(kube, network):
    with pytest.raises(NotObserved, match="cannot time DNS lookups from shop/db: its pods do not run"):
        isolation.resolve_within(kube, _with_service(manifests()), "shop/db", "shop/api", 1.0, timeouts=T)
    with pytest.raises(UsageError, match="no Service 'shop/nope'"):
        isolation.resolve_within(kube, manifests(), "shop/web", "shop/nope", 1.0, timeouts=T)


def test_parse_resolve_reads_the_workloads_json():
    doc = {"lookups": [{"ok": True, "ms": 2.5, "addresses": ["1.2.3.4"], "error": ""}], "summary": {}}
    assert isolation.parse_resolve(0, json.dumps(doc)) == [isolation.Lookup(True, 2.5, "")]
    assert isolation.parse_resolve(2, "usage: ...").startswith("unexpected answer (exit 2)")
    assert isolation.parse_resolve(None, "", "gone") == "exec failed: gone"
