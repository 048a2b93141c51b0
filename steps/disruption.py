"""Modeled disruption: PodDisruptionBudget arithmetic, drains and rolling updates
(archconform.model.pdb, archconform.model.rollout)."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.errors import PromiseBroken
from archconform.manifests import ref as ref_of
from archconform.model import pdb as pdb_model
from archconform.model import rollout

from ._vocabulary import SystemUnderTest, attach_text, phrase


@then(phrase('the PodDisruptionBudget "{ref}" keeps at least {n:d} pods available at every replica count the '
             'HorizontalPodAutoscaler "{hpa}" allows'))
def _(sut: SystemUnderTest, ref: str, n: int, hpa: str) -> None:
    pdb = d.find(sut.manifests, "PodDisruptionBudget", ref)
    h = d.find(sut.manifests, "HorizontalPodAutoscaler", hpa)
    spec = h.get("spec") or {}
    rows = pdb_model.table(pdb, range(spec.get("minReplicas", 1), spec["maxReplicas"] + 1))
    text = pdb_model.render_table(rows)
    attach_text(f"{ref} over the replica range of {hpa} (model)", text)
    low = [row.replicas for row in rows if row.replicas - row.allowed_disruptions < n]
    if low:
        raise PromiseBroken(f"promised {ref_of(pdb)} keeps at least {n} pods available at every replica count "
                            f"{ref_of(h)} allows; below {n} at {low} replicas:\n{text}")


@then(phrase('the PodDisruptionBudget "{ref}" allows {n:d} voluntary disruptions at {replicas:d} replicas'))
def _(sut: SystemUnderTest, ref: str, n: int, replicas: int) -> None:
    pdb = d.find(sut.manifests, "PodDisruptionBudget", ref)
    allowed = pdb_model.allowed_disruptions(pdb, replicas, replicas)
    if allowed != n:
        raise PromiseBroken(f"promised {ref_of(pdb)} allows {n} voluntary disruption(s) at {replicas} healthy "
                            f"replicas; the model computes {allowed}")


@then(phrase('a drain of one of {nodes:d} nodes can complete for the {kind} "{ref}" at {replicas:d} replicas'))
def _(sut: SystemUnderTest, nodes: int, kind: str, ref: str, replicas: int) -> None:
    obj = d.find(sut.manifests, kind, ref)
    verdict = pdb_model.drain_verdict(sut.manifests, obj, nodes=nodes, replicas=replicas)
    attach_text(f"drain of one of {nodes} nodes for {ref} at {replicas} replicas (model)", str(verdict))
    if not verdict.ok:
        raise PromiseBroken(f"promised a node drain can complete for {ref_of(obj)} ({replicas} replicas, {nodes} nodes); "
                            f"the model says:\n{verdict}")


@then(phrase('a rolling update of the Deployment "{ref}" at {replicas:d} replicas keeps at least {n:d} pods available'))
def _(sut: SystemUnderTest, ref: str, replicas: int, n: int) -> None:
    dep = d.find(sut.manifests, "Deployment", ref)
    low = rollout.min_available_during_rollout(dep, replicas)
    if low < n:
        surge, unavailable = rollout.surge_and_unavailable(dep, replicas)
        raise PromiseBroken(f"promised a rolling update of {ref_of(dep)} at {replicas} replicas keeps at least {n} pods "
                            f"available; with maxSurge {surge} and maxUnavailable {unavailable} the model's minimum is {low}")
