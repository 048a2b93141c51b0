"""PDB arithmetic. Sources: pkg/controller/disruption/disruption.go getExpectedPodCount
(maxUnavailable and percentage minAvailable both rounded UP with GetScaledValueFromIntOrPercent(...,
true)); k8s docs "Specifying a Disruption Budget" (Rounding logic when specifying percentages:
minAvailable 50% of 7 pods -> 4 pods) and "API-initiated Eviction" (429 vs 500 for several PDBs)."""

import pytest

from archconform.errors import ManifestError
from archconform.model import pdb as P

from .helpers import deployment


def test_min_available_percent_rounds_up_docs_example():
    # docs: minAvailable 50% with 7 pods -> minAvailable = 4 (3.5 rounded up)
    assert P.desired_healthy({"minAvailable": "50%"}, 7) == 4
    assert P.allowed_disruptions({"minAvailable": "50%"}, 7, 7) == 3


def test_max_unavailable_percent_rounds_up():
    # maxUnavailable 50% of 7 -> 4 may be unavailable (rounded UP), desiredHealthy 3
    assert P.desired_healthy({"maxUnavailable": "50%"}, 7) == 3
    assert P.allowed_disruptions({"maxUnavailable": "50%"}, 7, 7) == 4
    # 10% of 3 replicas -> ceil(0.3) = 1: one pod may still go (a floor would give 0 and block drains)
    assert P.allowed_disruptions({"maxUnavailable": "10%"}, 3, 3) == 1


def test_integers_and_healthy_below_expected():
    assert P.allowed_disruptions({"minAvailable": 2}, 3, 3) == 1
    assert P.allowed_disruptions({"minAvailable": 2}, 2, 3) == 0   # max(0, ...)
    assert P.allowed_disruptions({"maxUnavailable": 1}, 2, 3) == 0  # one already unhealthy
    assert P.allowed_disruptions({"maxUnavailable": 5}, 3, 3) == 3  # desiredHealthy floored at 0


def test_blocking_budgets():
    assert P.allowed_disruptions({"minAvailable": 3}, 3, 3) == 0
    assert P.allowed_disruptions({"maxUnavailable": 0}, 5, 5) == 0
    assert P.allowed_disruptions({"minAvailable": "100%"}, 5, 5) == 0


def test_both_fields_invalid():
    # API validation: minAvailable and maxUnavailable cannot be both set
    with pytest.raises(ManifestError):
        P.desired_healthy({"minAvailable": 1, "maxUnavailable": 1}, 3)


def test_table_over_hpa_range():
    rows = P.table({"minAvailable": "60%"}, range(2, 6))
    assert [(r.replicas, r.desired_healthy, r.allowed_disruptions) for r in rows] == [(2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2)]
    assert "allowedDisruptions" in P.render_table(rows)


def test_drain_blocked_when_min_available_equals_replicas():
    v = P.drain_feasible({"minAvailable": 3}, 3, 3, spreading="anti-affinity")
    assert not v.ok and v.evictions == 0 and "disruptionsAllowed 0" in str(v)


def test_drain_completes_with_budget_and_room():
    v = P.drain_feasible({"maxUnavailable": 1}, 6, 3)
    assert v.ok and v.evictions == 6  # worst case without spreading: all six on the drained node, one at a time


def test_drain_blocked_by_anti_affinity_without_spare_node():
    # one pod per node on 3 nodes, minAvailable 2: first eviction allowed, the replacement cannot
    # schedule anywhere (anti-affinity), healthy stays 2 -> the drain of that node still completes
    v = P.drain_feasible({"minAvailable": 2}, 3, 3, spreading="anti-affinity")
    assert v.ok and "Pending" in str(v)
    # 6 replicas spread 2/2/2 with DoNotSchedule maxSkew 1: the replacement would exceed the skew
    # against the cordoned node (still a domain), so the second eviction waits for ever
    v = P.drain_feasible({"maxUnavailable": 1}, 6, 3, spreading="spread", max_skew=1)
    assert not v.ok and v.evictions == 1


def test_drain_without_pdb_and_with_several_pdbs():
    assert P.drain_feasible(None, 3, 3).ok
    v = P.drain_feasible({"maxUnavailable": 1}, 3, 3, other_pdbs=1)
    assert not v.ok and "500" in str(v)


def _pdb(name, selector, **spec):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": "n"},
            "spec": {"selector": selector, **spec}}


def test_findings_overlap_and_invalid():
    d = deployment("n", "web", {"app": "web", "tier": "fe"}, replicas=3)
    objs = [d, _pdb("a", {"matchLabels": {"app": "web"}}, minAvailable=1),
            _pdb("b", {"matchLabels": {"tier": "fe"}}, maxUnavailable=1),
            _pdb("c", {"matchLabels": {"app": "other"}}, minAvailable=1, maxUnavailable=1)]
    f = P.findings(objs)
    assert any("covered by 2 PDBs" in x and "500" in x for x in f)
    assert any("n/c sets both" in x for x in f)
    v = P.drain_verdict(objs, d, nodes=3)
    assert not v.ok


def test_drain_verdict_reads_spreading_from_template():
    aff = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "db"}}}]}}}
    d = deployment("n", "db", {"app": "db"}, replicas=3, spec_extra=aff)
    v = P.drain_verdict([d, _pdb("db", {"matchLabels": {"app": "db"}}, minAvailable=3)], d, nodes=3)
    assert not v.ok and "anti-affinity" in str(v)
