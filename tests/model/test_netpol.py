"""NetworkPolicy reachability against upstream semantics.

Sources: k8s docs "Network Policies" (sections named per test), the networking.k8s.io/v1 API
reference (NetworkPolicySpec, NetworkPolicyPeer, NetworkPolicyPort), and the upstream e2e
suite test/e2e/network/netpol (the x/y/z namespaces with pods a/b/c model that cyclonus also
uses; test names quoted per case).
"""

from __future__ import annotations

import random

import pytest

from archconform.errors import ManifestError
from archconform.model import netpol as np_
from archconform.model.netpol import compare, dns_egress, dns_findings, matrix, reachability

from .helpers import deployment, namespace, netpol


# ----------------------------------------------------------------------------- the e2e model

def e2e_model(*policies: dict) -> list[dict]:
    """The upstream e2e model: namespaces x, y, z (label ns=<name>), pods a, b, c in each
    (label pod=<name>), every pod serving 80 and 81 over TCP and UDP (named serve-80-tcp ...)."""
    objs = []
    for ns in ("x", "y", "z"):
        objs.append(namespace(ns, ns=ns))
        for pod in ("a", "b", "c"):
            ports = [(80, "serve-80-tcp", "TCP"), (81, "serve-81-tcp", "TCP"), (80, "serve-80-udp", "UDP"), (81, "serve-81-udp", "UDP")]
            objs.append(deployment(ns, pod, {"pod": pod}, ports=ports))
    return objs + list(policies)


ALL = [f"{ns}/{p}" for ns in "xyz" for p in "abc"]


def allowed_into(objs, dst, port=80, protocol="TCP"):
    m = matrix(objs, port=port, protocol=protocol)
    return {s for s in m.sources if m.cell(s, dst) == "."}


def test_no_policy_allows_everything():
    # docs "The two sorts of pod isolation": by default a pod is non-isolated for both directions
    m = matrix(e2e_model(), port=80)
    assert m.count("X") == 0 and m.count(".") == 81


def test_default_deny_ingress():
    # e2e "should support a 'default-deny-ingress' policy"; docs "Default deny all ingress traffic"
    objs = e2e_model(netpol("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    m = matrix(objs, port=80)
    for s in ALL:
        for d in ALL:
            assert m.cell(s, d) == ("X" if d.startswith("x/") else "."), (s, d)


def test_allow_all_ingress_with_empty_rule():
    # docs "Allow all ingress traffic": ingress: [{}] allows everything despite the deny policy
    objs = e2e_model(netpol("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
                     netpol("x", "allow-all", {"podSelector": {}, "ingress": [{}]}))
    assert matrix(objs, port=80).count("X") == 0


def test_empty_ingress_list_denies():
    # NetworkPolicySpec.ingress: "If this field is empty then this NetworkPolicy does not allow any traffic"
    objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": []}))
    assert allowed_into(objs, "x/a") == set()
    assert allowed_into(objs, "x/b") == set(ALL)


def test_pod_selector_in_policy_namespace_only():
    # e2e "should enforce policy to allow traffic from pods within server namespace based on PodSelector"
    objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}},
                                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}))
    assert allowed_into(objs, "x/a") == {"x/b"}  # not y/b, z/b: a podSelector alone means the policy's namespace


def test_namespace_selector_match_expressions():
    # e2e "should enforce policy based on NamespaceSelector with MatchExpressions"
    objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "In", "values": ["y"]}]}}]}]}))
    assert allowed_into(objs, "x/a") == {"y/a", "y/b", "y/c"}


AND_PEER = {"from": [{"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]},
                      "podSelector": {"matchLabels": {"pod": "b"}}}]}
OR_PEERS = {"from": [{"namespaceSelector": {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}},
                     {"podSelector": {"matchLabels": {"pod": "b"}}}]}


def test_peer_and_versus_or():
    # e2e "should enforce policy based on PodSelector and NamespaceSelector" (one peer: AND) versus
    # "should enforce policy based on PodSelector or NamespaceSelector" (two peers: OR);
    # docs "Behavior of to and from selectors"
    and_objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [AND_PEER]}))
    or_objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [OR_PEERS]}))
    assert allowed_into(and_objs, "x/a") == {"y/b", "z/b"}
    assert allowed_into(or_objs, "x/a") == {"x/b", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"}
    # the flow that flips: y/a is allowed by OR (namespace matches) and blocked by AND (pod does not)
    assert reachability(or_objs, "y/a", "x/a", 80).allowed
    v = reachability(and_objs, "y/a", "x/a", 80)
    assert not v.allowed and "x/p" in v.explanation and "no ingress rule" in v.explanation


def test_docs_and_or_example_namespace_label_user_alice():
    # docs "Behavior of to and from selectors": namespaceSelector user=alice AND podSelector role=client
    objs = [namespace("alice", user="alice"), namespace("srv"),
            deployment("alice", "client", {"role": "client"}), deployment("alice", "other", {"role": "other"}),
            deployment("srv", "db", {"app": "db"}, ports=[5432])]
    and_rule = {"from": [{"namespaceSelector": {"matchLabels": {"user": "alice"}}, "podSelector": {"matchLabels": {"role": "client"}}}]}
    or_rule = {"from": [{"namespaceSelector": {"matchLabels": {"user": "alice"}}}, {"podSelector": {"matchLabels": {"role": "client"}}}]}
    and_p = netpol("srv", "db", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [and_rule]})
    or_p = netpol("srv", "db", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [or_rule]})
    assert reachability(objs + [and_p], "alice/client", "srv/db", 5432).allowed
    assert not reachability(objs + [and_p], "alice/other", "srv/db", 5432).allowed
    assert reachability(objs + [or_p], "alice/other", "srv/db", 5432).allowed


def test_namespace_selector_empty_means_all_namespaces():
    # NetworkPolicyPeer.namespaceSelector: "If present but empty, it selects all namespaces"
    objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}},
                                       "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "c"}}}]}]}))
    assert allowed_into(objs, "x/a") == {"x/c", "y/c", "z/c"}


def test_automatic_namespace_name_label():
    # docs "Targeting a Namespace by its name": kubernetes.io/metadata.name is set on every namespace
    objs = e2e_model(netpol("x", "p", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "z"}}}]}]}))
    assert allowed_into(objs, "x/b") == {"z/a", "z/b", "z/c"}


def test_named_port_resolved_on_destination():
    # e2e "should allow ingress access on one named port"; NetworkPolicyPort.port may be a named port
    objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}},
                                       "ingress": [{"ports": [{"port": "serve-81-tcp"}]}]}))
    assert allowed_into(objs, "x/a", 81) == set(ALL)
    assert allowed_into(objs, "x/a", 80) == set()
    # the same name on a destination whose number differs: resolved per destination
    objs2 = [namespace("n"), deployment("n", "web", {"app": "web"}, ports=[(9090, "http")]),
             deployment("n", "cli", {"app": "cli"}),
             netpol("n", "p", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})]
    assert reachability(objs2, "n/cli", "n/web", 9090).allowed
    assert reachability(objs2, "n/cli", "n/web", "http").allowed
    assert not reachability(objs2, "n/cli", "n/web", 8080).allowed
    assert not reachability(objs2, "n/web", "n/cli", 9090).allowed  # cli has no port named http


def test_protocol_defaults_to_tcp():
    # NetworkPolicyPort.protocol: "If not specified, this field defaults to TCP"
    objs = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{"ports": [{"port": 80}]}]}))
    assert allowed_into(objs, "x/a", 80, "TCP") == set(ALL)
    assert allowed_into(objs, "x/a", 80, "UDP") == set()


def test_end_port_range():
    # docs "Targeting a range of ports": port 32000, endPort 32768 (inclusive)
    objs = [namespace("n"), deployment("n", "srv", {"app": "srv"}), deployment("n", "cli", {"app": "cli"}),
            netpol("n", "p", {"podSelector": {"matchLabels": {"app": "srv"}}, "ingress": [{"ports": [{"port": 32000, "endPort": 32768}]}]})]
    assert reachability(objs, "n/cli", "n/srv", 32000).allowed
    assert reachability(objs, "n/cli", "n/srv", 32768).allowed
    assert not reachability(objs, "n/cli", "n/srv", 32769).allowed
    assert not reachability(objs, "n/cli", "n/srv", 31999).allowed


def test_end_port_needs_numeric_port():
    objs = [namespace("n"), netpol("n", "p", {"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]})]
    with pytest.raises(ManifestError):
        matrix(objs, port=80)


def test_policy_types_default():
    # NetworkPolicySpec.policyTypes: Ingress always; Egress only if the policy has egress rules
    only_ingress = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{}]}))
    assert matrix(only_ingress, port=80).count("X") == 0  # x/a is not egress-isolated
    with_egress = e2e_model(netpol("x", "p", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{}],
                                              "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}))
    m = matrix(with_egress, port=80)
    assert {d for d in ALL if m.cell("x/a", d) == "."} == {"x/b"}


def test_egress_and_ingress_both_needed():
    # docs "The two sorts of pod isolation": for a connection from a source pod to a destination
    # pod to be allowed, both the egress policy on the source and the ingress policy on the
    # destination need to allow it
    deny_in = netpol("y", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow_out = netpol("x", "out", {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
                                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]})
    objs = e2e_model(deny_in, allow_out)
    v = reachability(objs, "x/a", "y/b", 80)
    assert not v.allowed and "allowed by x/out" in v.explanation and "y/deny" in v.explanation
    objs = e2e_model(allow_out)
    assert reachability(objs, "x/a", "y/b", 80).allowed
    assert not reachability(objs, "x/a", "z/b", 80).allowed


def test_deny_ingress_from_other_namespaces():
    # e2e "should deny ingress from pods on other namespaces"
    objs = e2e_model(netpol("x", "p", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}))
    for d in ("x/a", "x/b", "x/c"):
        assert allowed_into(objs, d) == {"x/a", "x/b", "x/c"}


def test_ipblock_with_except_only_matches_external():
    # docs "NetworkPolicy resource" example: ipBlock 172.17.0.0/16 except 172.17.1.0/24
    objs = [namespace("n"), deployment("n", "app", {"app": "app"}, ports=[443]),
            netpol("n", "p", {"podSelector": {}, "policyTypes": ["Egress"],
                              "egress": [{"to": [{"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}}]}]})]
    assert reachability(objs, "n/app", "external", 443, external_ip="172.17.2.9").allowed
    v = reachability(objs, "n/app", "external", 443, external_ip="172.17.1.9")
    assert not v.allowed
    assert not reachability(objs, "n/app", "external", 443, external_ip="10.0.0.1").allowed
    # a pod never matches an ipBlock (pod IPs are unknown offline)
    objs.append(deployment("n", "other", {"app": "other"}, ports=[443]))
    assert not reachability(objs, "n/app", "n/other", 443).allowed


def test_ingress_from_external_ipblock():
    objs = [namespace("n"), deployment("n", "web", {"app": "web"}, ports=[80]),
            netpol("n", "p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})]
    assert reachability(objs, "external", "n/web", 80, external_ip="203.0.113.5").allowed
    m = matrix(objs, port=80, sources=["external", "n/web"], destinations=["n/web"], external_ip="203.0.113.5")
    assert m.rows == [".", "X"]


def test_default_deny_egress_blocks_dns():
    # docs "Default deny all egress traffic"; DNS is egress to kube-system/kube-dns on UDP and TCP 53
    objs = e2e_model(netpol("x", "deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}))
    v = dns_egress(objs, "x/a")
    assert not v.allowed and "x/deny-egress" in v.explanation
    assert dns_egress(objs, "y/a").allowed
    findings = dns_findings(objs)
    assert len(findings) == 3 and all(f.startswith("DNS from x/") for f in findings)


def test_dns_needs_udp_and_tcp():
    udp_only = netpol("x", "dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}]}]})
    v = dns_egress(e2e_model(udp_only), "x/a")
    assert not v.allowed and "UDP 53 ok" in v.explanation and "TCP 53 blocked" in v.explanation
    both = netpol("x", "dns", {**udp_only["spec"], "egress": [{**udp_only["spec"]["egress"][0],
                                                                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}]})
    assert dns_egress(e2e_model(both), "x/a").allowed
    # a named port works too: kube-dns names 53/UDP "dns" and 53/TCP "dns-tcp" (CoreDNS manifests)
    named = netpol("x", "dns", {**udp_only["spec"], "egress": [{**udp_only["spec"]["egress"][0],
                                                                 "ports": [{"port": "dns", "protocol": "UDP"}, {"port": "dns-tcp"}]}]})
    assert dns_egress(e2e_model(named), "x/a").allowed


def test_explanation_names_isolating_policies_and_rule():
    objs = e2e_model(netpol("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
                     netpol("x", "web", {"podSelector": {"matchLabels": {"pod": "a"}},
                                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}], "ports": [{"port": 80}]}]}))
    v = reachability(objs, "x/b", "x/a", 80)
    assert v.allowed
    assert "isolated for ingress by x/deny, x/web" in v.explanation
    assert "allowed by x/web ingress[0].from[0] (podSelector pod=b; 80/TCP)" in v.explanation


def test_unknown_workload_is_a_clear_error():
    with pytest.raises(ManifestError, match="no workload"):
        reachability(e2e_model(), "x/nope", "x/a", 80)


# ----------------------------------------------------------------------------- matrix / compare

def test_matrix_render_text_and_html():
    objs = e2e_model(netpol("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    m = matrix(objs, port=80)
    text = m.render_text()
    assert "x/a" in text and "legend:" in text and ". allowed" in text
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("y/a"))
    assert row.split("|")[1].split() == ["X", "X", "X", ".", ".", ".", ".", ".", "."]
    html = m.render_html()
    assert html.startswith("<!DOCTYPE html>") and html.count("<tr>") == 10 and "y/a → x/a: blocked" in html


def test_matrix_any_port_marks_portless_destinations_unknown():
    objs = [namespace("n"), deployment("n", "web", {"app": "web"}, ports=[80]), deployment("n", "batch", {"app": "batch"})]
    m = matrix(objs)
    assert m.cell("n/batch", "n/web") == "." and m.cell("n/web", "n/batch") == "?"


def test_compare_marks_differences():
    objs = e2e_model(netpol("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    expected = matrix(objs, port=80)
    cells = dict(expected.cells)
    cells[("y/a", "x/a")] = "."   # a CNI that does not enforce would show this
    cells[("z/c", "z/c")] = "!"   # a failed probe is not a difference
    observed = np_.Matrix.from_cells(expected.sources, expected.destinations, cells, title="observed")
    cmp = compare(expected, observed)
    assert not cmp.ok and cmp.differences == [("y/a", "x/a", "X", ".")]
    assert cmp.table.cell("y/a", "x/a") == "X" and cmp.table.cell("z/c", "z/c") == "?" and cmp.table.cell("x/a", "x/a") == "."
    assert "1 cell(s) differ" in cmp.render_text()
    assert compare(expected, expected).ok


# ----------------------------------------------------------------------------- fast path == slow path

def _random_system(rng: random.Random) -> list[dict]:
    nss = ["a", "b", "c"]
    objs = [namespace(n, team=rng.choice(["red", "blue"])) for n in nss]
    for i in range(8):
        ns = rng.choice(nss)
        ports = [(8080, "http")] if rng.random() < 0.6 else [(9090, "http")]
        objs.append(deployment(ns, f"w{i}", {"app": f"w{i % 4}", "tier": rng.choice(["fe", "be"])}, ports=ports))
    for j in range(5):
        ns = rng.choice(nss)
        spec: dict = {"podSelector": rng.choice([{}, {"matchLabels": {"tier": "be"}}, {"matchExpressions": [
            {"key": "app", "operator": "NotIn", "values": ["w1"]}]}])}
        peers = rng.choice([
            [{"podSelector": {"matchLabels": {"tier": "fe"}}}],
            [{"namespaceSelector": {"matchLabels": {"team": "red"}}}],
            [{"namespaceSelector": {"matchLabels": {"team": "blue"}}, "podSelector": {"matchLabels": {"tier": "fe"}}}],
            [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
        ])
        ports = rng.choice([None, [{"port": "http"}], [{"port": 8000, "endPort": 8100}], [{"port": 9090, "protocol": "UDP"}]])
        rule = {("from" if rng.random() < 0.5 else "to"): peers}
        if ports:
            rule["ports"] = ports
        if "from" in rule:
            spec["ingress"] = [rule]
        else:
            spec["egress"] = [rule]
        if rng.random() < 0.3:
            spec["policyTypes"] = ["Ingress", "Egress"]
        objs.append(netpol(ns, f"p{j}", spec))
    return objs


@pytest.mark.parametrize("seed", range(25))
def test_bitset_matrix_agrees_with_rule_by_rule_evaluation(seed):
    """The fast matrix and the explaining evaluator are two implementations of the same rules;
    on random systems (named ports, endPort, ipBlock, AND/OR peers, egress) every cell agrees."""
    rng = random.Random(seed)
    objs = _random_system(rng)
    keys = [e.key for e in np_.endpoints(objs, external_ip="10.2.3.4")]
    for port, proto in ((8080, "TCP"), (9090, "TCP"), (9090, "UDP"), (8050, "TCP")):
        m = matrix(objs, port=port, protocol=proto, sources=keys, destinations=keys, external_ip="10.2.3.4")
        for s in keys:
            for d in keys:
                v = reachability(objs, s, d, port, proto, external_ip="10.2.3.4")
                assert (m.cell(s, d) == ".") == v.allowed, (seed, port, proto, s, d, v.explanation)
