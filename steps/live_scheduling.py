"""Live scheduling: the scheduler's own answer to "can this workload run on that node group?"
(archconform.live.scheduling; node groups in systems/<system>/nodegroups.yaml)."""

from __future__ import annotations

from pytest_bdd import then

from archconform.live import scheduling
from archconform.live.deploy import DeployedSystem

from ._vocabulary import SystemUnderTest, phrase


@then(phrase('the pods of the {kind} "{ref}" can be scheduled on the node group "{group}"'))
def _(deployed: DeployedSystem, kube, sut: SystemUnderTest, run_id: str, kind: str, ref: str, group: str) -> None:
    scheduling.schedulable_on_group(kube, deployed.manifests, system=sut.name, kind=kind, ref=ref, group=group,
                                    run_id=run_id)
