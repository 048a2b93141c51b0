"""Modeled autoscaling and capacity: HPA dynamics (archconform.model.hpa) and quota admission
(archconform.model.capacity)."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.errors import PromiseBroken, format_duration
from archconform.manifests import ref as ref_of
from archconform.model import capacity
from archconform.model import hpa as hpa_model

from ._vocabulary import SystemUnderTest, attach_text, phrase


@then(phrase('the namespace quota admits {replicas:d} replicas of the {kind} "{ref}"'))
def _(sut: SystemUnderTest, replicas: int, kind: str, ref: str) -> None:
    obj = d.find(sut.manifests, kind, ref)
    fit = capacity.quota_fit(sut.manifests, obj["metadata"]["namespace"], obj["metadata"]["name"], replicas)
    attach_text(f"quota fit of {replicas} x {ref} (model)", "\n".join(fit.lines))
    if not fit.ok:
        raise PromiseBroken(f"promised the quota of namespace {obj['metadata']['namespace']!r} admits {replicas} "
                            f"replicas of {ref_of(obj)}; the model says:\n" + "\n".join(fit.lines))


def _path(sut: SystemUnderTest, ref: str, start: int, target: int):
    hpa = d.find(sut.manifests, "HorizontalPodAutoscaler", ref)
    path = hpa_model.fastest_scale_up(hpa, start=start, target=target)
    attach_text(f"fastest scale-up of {ref} from {start} to {target} (model)", path.describe())
    return hpa, path


@then(phrase('the HorizontalPodAutoscaler "{ref}" can scale from {start:d} to {target:d} under sustained load'))
def _(sut: SystemUnderTest, ref: str, start: int, target: int) -> None:
    hpa, path = _path(sut, ref, start, target)
    if not path.reached:
        raise PromiseBroken(f"promised {ref_of(hpa)} scales from {start} to {target} replicas; the model says it never "
                            f"gets there:\n{path.describe()}")


@then(phrase('the HorizontalPodAutoscaler "{ref}" scales from {start:d} to {target:d} within {duration} under sustained load'))
def _(sut: SystemUnderTest, ref: str, start: int, target: int, duration: str) -> None:
    limit = d.parse_duration(duration)
    hpa, path = _path(sut, ref, start, target)
    if not path.reached or path.seconds > limit:
        took = "never" if not path.reached else f"at the earliest after {format_duration(path.seconds)}"
        raise PromiseBroken(f"promised {ref_of(hpa)} scales from {start} to {target} replicas within {duration}; "
                            f"the model's fastest path gets there {took}:\n{path.describe()}")


@then(phrase('the HorizontalPodAutoscaler "{ref}" adds its first replica within {duration} of sustained load'))
def _(sut: SystemUnderTest, ref: str, duration: str) -> None:
    limit = d.parse_duration(duration)
    hpa = d.find(sut.manifests, "HorizontalPodAutoscaler", ref)
    start = (hpa.get("spec") or {}).get("minReplicas", 1)
    _, path = _path(sut, ref, start, start + 1)
    if not path.reached or path.seconds > limit:
        took = "never" if not path.reached else f"at the earliest after {format_duration(path.seconds)}"
        raise PromiseBroken(f"promised {ref_of(hpa)} responds to sustained load within {duration}; the model's first "
                            f"scale-up from {start} replicas comes {took}:\n{path.describe()}")
