"""Live storage: claims bound as promised, expansion, StatefulSet volumes that are each pod's own
and keep their data across a restart (archconform.live.storage). A promised storage class the
cluster lacks skips with its name."""

from __future__ import annotations

from pytest_bdd import then

from archconform.live import storage

from ._vocabulary import needs, phrase


@then(phrase('the PersistentVolumeClaim "{ref}" is bound with {size} {access_mode} on the "{storage_class}" storage class'))
@needs("volumes")
def _(kube, ref: str, size: str, access_mode: str, storage_class: str) -> None:
    storage.claim_bound(kube, ref, size, access_mode, storage_class)


@then(phrase('every pod of the StatefulSet "{ref}" has its own volume bound with {size} {access_mode} on the "{storage_class}" storage class'))
@needs("volumes")
def _(kube, ref: str, size: str, access_mode: str, storage_class: str) -> None:
    storage.own_volumes(kube, ref, size, access_mode, storage_class)


@then(phrase('the PersistentVolumeClaim "{ref}" can be expanded to {size}'))
@needs("volumes")
def _(kube, ref: str, size: str) -> None:
    storage.expand(kube, ref, size)


@then(phrase('the pods of the StatefulSet "{ref}" keep their own data across a pod restart'))
@needs("volumes", "containers")
def _(kube, ref: str) -> None:
    storage.keeps_data_across_restart(kube, ref)
