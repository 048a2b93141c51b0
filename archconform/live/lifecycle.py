"""Tenant lifecycle on a live cluster (platform-go): creating a user or a group creates its
namespace, quota and claim with the promised names and sizes; deleting it removes them.

The platform's own API is not part of the system under test (the stand-in does not implement
it), so the flow is exercised the way the document describes it, object by object, on the API
server: for a user ``<u>`` the namespace ``user-<u>-storage``, its ResourceQuota and the claim
``user-<u>-disk`` (size and class from the platform's configuration, USER_STORAGE_DEFAULT_SIZE
and USER_STORAGE_CLASS); for a group ``<g>`` the namespace ``group-<g>-storage``, its quota and
a claim ``group-<g>-<uuid8>``. The quota and claim specs are those of the system's example tenant
(user-john-storage, group-42-storage).

Whose permissions: the platform acts with its own service account (the one account of the system
that may create namespaces cluster-wide, per the RBAC model). The archconform Kube facade cannot
impersonate (it has no Impersonate-User header support), so each write of the flow is first
asked as a SubjectAccessReview for that service account, and then made with the run's own
credentials: the objects are real and labelled as this run's, and whether the platform may make
them is recorded write by write (``permitted`` turns a refusal into the verdict).

Deletion removes the namespace (the document: "remove the namespace when empty"); everything in
it goes with it, and it must be gone within ``Timeouts.namespace_delete``.
"""

from __future__ import annotations

import copy
import fnmatch
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from archconform.errors import ClusterError, PromiseBroken, UsageError, WaitTimeout, format_duration
from archconform.kube import RUN_ID_LABEL
from archconform.manifests import Manifests
from archconform.model import rbac as model
from archconform.model.quantity import bytes_of
from archconform.settings import Timeouts

from . import rbac
from .probes import evidence, verdict

log = logging.getLogger("archconform.live")

TENANTS = ("user", "group")
#: The document's names (Architecture Components › Namespace Organization; Storage Architecture).
NAMESPACE_PATTERN = {"user": "user-{name}-storage", "group": "group-{name}-storage"}
CLAIM_PATTERN = {"user": "user-{name}-disk", "group": "group-{name}-{uuid8}"}
#: The platform's configuration keys for a user's claim (platform-go-config).
SIZE_KEY, CLASS_KEY = "USER_STORAGE_DEFAULT_SIZE", "USER_STORAGE_CLASS"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


@dataclass
class FlowStep:
    """One write of the flow: what, whether the platform's account may do it, what happened."""

    action: str             # create / delete
    kind: str
    name: str
    namespace: str | None
    resource: str           # as the RBAC model writes it ("namespaces", "persistentvolumeclaims")
    review: rbac.Review | None = None
    done: bool = False
    error: str = ""

    def describe(self) -> str:
        where = f"{self.kind.lower()}/{self.namespace + '/' if self.namespace else ''}{self.name}"
        may = ("allowed" if self.review and self.review.allowed else "DENIED") if self.review else "not asked"
        did = "done" if self.done else f"failed: {self.error}" if self.error else "not done"
        return f"{self.action} {where}: platform account {may}; {did}"


class TenantFlow:
    """One scenario's tenant flows; what it created is deleted at the end if still there."""

    def __init__(self, kube: Any, manifests: Manifests, *, run_id: str,
                 timeouts: Timeouts | None = None) -> None:
        self.kube = kube
        self.manifests = manifests
        self.run_id = run_id
        self.timeouts = timeouts or kube.timeouts
        self.steps: list[FlowStep] = []
        self.created: list[str] = []
        self.deleted_at: dict[str, float] = {}
        self._account: str | None = None

    # -- who the platform is ---------------------------------------------------------------------

    def platform_account(self) -> str:
        """The system's one ServiceAccount that may create namespaces cluster-wide (model)."""
        if self._account is None:
            auth = model.Authorizer(self.manifests)
            found = [f"{_md(sa).get('namespace')}/{_md(sa).get('name')}"
                     for sa in self.manifests.of_kind("ServiceAccount")
                     if auth.can(model.subject(f"serviceaccount:{_md(sa).get('namespace')}/"
                                               f"{_md(sa).get('name')}"),
                                 "create", "namespaces", None).allowed]
            if len(found) != 1:
                raise UsageError(f"{self.manifests.source}: expected one service account that may "
                                 f"create namespaces (the platform's), found {found or 'none'}")
            self._account = found[0]
        return self._account

    # -- the objects of a tenant -----------------------------------------------------------------

    def _example(self, tenant: str) -> tuple[str, str]:
        """(example namespace, example tenant name) from the system's manifests."""
        pattern = re.compile("^" + re.escape(NAMESPACE_PATTERN[tenant]).replace(r"\{name\}", "(.+)") + "$")
        for ns in self.manifests.namespaces():
            m = pattern.match(ns)
            if m:
                return ns, m.group(1)
        raise UsageError(f"{self.manifests.source}: no example {tenant} namespace "
                         f"({NAMESPACE_PATTERN[tenant].format(name='*')}) to take the flow's objects from")

    def objects_for(self, tenant: str, name: str) -> list[dict]:
        """Namespace, ResourceQuota(s) and claim the platform creates for the tenant."""
        if tenant not in TENANTS:
            raise UsageError(f"unknown tenant kind {tenant!r}; expected user or group")
        if not _NAME.match(name) or len(NAMESPACE_PATTERN[tenant].format(name=name)) > 63:
            raise UsageError(f"{tenant} name {name!r} does not make a valid namespace name")
        example_ns, example = self._example(tenant)
        ns = NAMESPACE_PATTERN[tenant].format(name=name)
        ns_obj = copy.deepcopy(self.manifests.find("Namespace", example_ns))
        labels = {k: (name if v == example else v)
                  for k, v in (_md(ns_obj).get("labels") or {}).items()}
        objs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": ns, "labels": labels}}]
        for quota in [o for o in self.manifests.of_kind("ResourceQuota")
                      if _md(o).get("namespace") == example_ns]:
            objs.append({"apiVersion": "v1", "kind": "ResourceQuota",
                         "metadata": {"name": _md(quota)["name"], "namespace": ns},
                         "spec": copy.deepcopy(quota.get("spec") or {})})
        claim_example = self._example_claim(tenant, example_ns, example)
        spec = copy.deepcopy(claim_example.get("spec") or {})
        spec.pop("volumeName", None)
        if tenant == "user":
            config = self._platform_config()
            if config.get(SIZE_KEY):
                spec.setdefault("resources", {}).setdefault("requests", {})["storage"] = config[SIZE_KEY]
            if config.get(CLASS_KEY):
                spec["storageClassName"] = config[CLASS_KEY]
        claim = CLAIM_PATTERN[tenant].format(name=name, uuid8=secrets.token_hex(4))
        objs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": claim, "namespace": ns}, "spec": spec})
        return objs

    def _example_claim(self, tenant: str, ns: str, example: str) -> dict:
        pattern = CLAIM_PATTERN[tenant].format(name=example, uuid8="*")
        claims = [o for o in self.manifests.of_kind("PersistentVolumeClaim")
                  if _md(o).get("namespace") == ns and fnmatch.fnmatch(_md(o).get("name", ""), pattern)]
        if not claims:
            raise UsageError(f"{self.manifests.source}: no example claim {pattern} in {ns}")
        return claims[0]

    def _platform_config(self) -> dict[str, str]:
        for cm in self.manifests.of_kind("ConfigMap"):
            data = cm.get("data") or {}
            if SIZE_KEY in data or CLASS_KEY in data:
                return {k: str(v) for k, v in data.items()}
        return {}

    # -- the flows ---------------------------------------------------------------------------------

    def _ask(self, step: FlowStep) -> FlowStep:
        step.review = rbac.access_review(self.kube, "ServiceAccount", self.platform_account(),
                                         step.action, step.resource, step.namespace)
        self.steps.append(step)
        return step

    def create(self, tenant: str, name: str) -> list[FlowStep]:
        """Ask, then make, every object of the tenant (labelled as this run's)."""
        objs = self.objects_for(tenant, name)
        ns = objs[0]["metadata"]["name"]
        existing = self.kube.get("Namespace", ns)
        if existing is not None and (_md(existing).get("labels") or {}).get(RUN_ID_LABEL) != self.run_id:
            raise UsageError(f"namespace {ns} already exists on the cluster and is not this run's; "
                             f"choose another {tenant} name")
        steps = []
        for obj in objs:
            kind = obj["kind"]
            resource = {"Namespace": "namespaces", "ResourceQuota": "resourcequotas",
                        "PersistentVolumeClaim": "persistentvolumeclaims"}[kind]
            steps.append(self._ask(FlowStep("create", kind, obj["metadata"]["name"],
                                            obj["metadata"].get("namespace"), resource)))
        from archconform.kube import APIError

        self.created.append(ns)
        try:
            self.kube.apply(objs, run_id=self.run_id)
        except APIError as exc:
            for step in steps:
                step.error = exc.server_message or str(exc)
            raise PromiseBroken(f"the {tenant} flow for {name!r} could not create its objects: "
                                f"{exc}") from None
        for step in steps:
            step.done = True
        evidence(f"creating the {tenant} {name} as the platform would",
                 "\n".join(s.describe() for s in steps))
        return steps

    def delete(self, tenant: str, name: str) -> FlowStep:
        """Ask, then delete, the tenant's namespace (and with it everything in it)."""
        if tenant not in TENANTS:
            raise UsageError(f"unknown tenant kind {tenant!r}; expected user or group")
        ns = NAMESPACE_PATTERN[tenant].format(name=name)
        step = self._ask(FlowStep("delete", "Namespace", ns, None, "namespaces"))
        obj = self.kube.get("Namespace", ns)
        if obj is None:
            step.error = "the namespace does not exist"
            raise ClusterError(f"namespace {ns} does not exist: nothing to delete")
        if (_md(obj).get("labels") or {}).get(RUN_ID_LABEL) != self.run_id:
            raise UsageError(f"namespace {ns} is not this run's: archconform deletes only what it made")
        self.kube.delete("Namespace", ns)
        step.done = True
        self.deleted_at[ns] = time.monotonic()
        return step

    # -- verdicts ----------------------------------------------------------------------------------

    def permitted(self) -> list[FlowStep]:
        """Every write of the flows so far was allowed to the platform's service account."""
        denied = [s for s in self.steps if not (s.review and s.review.allowed)]
        text = "\n".join(s.describe() for s in self.steps) or "no step yet"
        evidence(f"what {self.platform_account()} may do of the flow (SubjectAccessReviews; "
                 f"the facade cannot impersonate)", text)
        verdict("failed" if denied else "passed", promised="every write of the flow allowed",
                measured=f"{len(self.steps) - len(denied)} of {len(self.steps)} allowed")
        if not self.steps:
            raise UsageError("no tenant flow ran in this scenario (When the platform creates the user ...)")
        if denied:
            raise PromiseBroken(f"promised the platform's service account "
                                f"{self.platform_account()} can do its flows; the API server "
                                f"refuses it {len(denied)} of {len(self.steps)} writes:\n"
                                + "\n".join(s.review.describe() if s.review else s.describe()
                                            for s in denied))
        return self.steps

    def holds(self, namespace: str, quota: str, claim: str, size: str) -> str:
        """The namespace is Active, its quota is in force (the quota controller filled
        status.hard) and the claim (a name or a pattern with *) requests ``size``."""
        t = self.timeouts

        def check():
            ns = self.kube.get("Namespace", namespace)
            q = self.kube.get("ResourceQuota", quota, namespace=namespace)
            phase = ((ns or {}).get("status") or {}).get("phase")
            hard = ((q or {}).get("status") or {}).get("hard")
            state = (f"namespace {phase or 'missing'}; quota {quota} "
                     f"{'in force: ' + str(hard) if hard else 'missing' if q is None else 'not processed yet'}")
            return phase == "Active" and bool(hard), state

        try:
            state = self.kube.wait_for(f"namespace {namespace} with its quota {quota} in force",
                                       check, timeout=t.apply)
        except WaitTimeout as exc:
            raise PromiseBroken(f"promised namespace {namespace} with the ResourceQuota {quota}; "
                                f"{exc.last_state}") from None
        claims = [c for c in self.kube.list("PersistentVolumeClaim", namespace=namespace)
                  if fnmatch.fnmatch(_md(c).get("name", ""), claim)]
        if len(claims) != 1:
            found = ", ".join(_md(c).get("name", "") for c in self.kube.list(
                "PersistentVolumeClaim", namespace=namespace)) or "none"
            raise PromiseBroken(f"promised one PersistentVolumeClaim {claim} in namespace "
                                f"{namespace}; it has: {found}")
        c = claims[0]
        request = (((c.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        seen = (f"{state}; claim {_md(c).get('name')} requests {request} "
                f"({((c.get('status') or {}).get('phase') or 'Pending')})")
        evidence(f"namespace {namespace} after the flow", seen)
        if request is None or bytes_of(request) != bytes_of(size):
            raise PromiseBroken(f"promised claim {claim} of {size} in namespace {namespace}; it "
                                f"requests {request}")
        verdict("passed", measured=seen[:200], promised=f"{quota} and {claim} of {size}")
        return seen

    def gone(self, namespace: str) -> float:
        """The namespace (and everything in it) is gone within Timeouts.namespace_delete."""
        started = self.deleted_at.get(namespace)
        if started is None:
            raise UsageError(f"namespace {namespace} was not deleted in this scenario "
                             f"(When the platform deletes the user ...)")
        try:
            self.kube.wait_for_namespace_deleted(namespace, timeout=self.timeouts.namespace_delete)
        except WaitTimeout as exc:
            left = ", ".join(f"{o.get('kind')}/{_md(o).get('name')}"
                             for o in self.kube.list("PersistentVolumeClaim", namespace=namespace))
            raise PromiseBroken(f"promised namespace {namespace} is removed with everything in it; "
                                f"still there after {format_duration(exc.timeout)}: "
                                f"{exc.last_state}" + (f"; claims left: {left}" if left else "")) from None
        took = time.monotonic() - started
        evidence(f"deleting namespace {namespace}", f"gone {took:.1f}s after the delete")
        verdict("passed", measured=f"gone after {format_duration(round(took, 1))}",
                promised=f"gone within {format_duration(self.timeouts.namespace_delete)}")
        return took

    def close(self) -> None:
        """Delete what the flows created and is still there (only this run's); never raises."""
        for ns in self.created:
            try:
                obj = self.kube.get("Namespace", ns)
                if obj is not None and (_md(obj).get("labels") or {}).get(RUN_ID_LABEL) == self.run_id \
                        and not _md(obj).get("deletionTimestamp"):
                    self.kube.delete("Namespace", ns)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the outcome
                log.warning("could not delete namespace %s: %s", ns, exc)

