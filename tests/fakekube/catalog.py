"""What the fake API server serves: resources per group/version, as its discovery documents say.

Written independently of ``archconform.kube.resources`` (the fake must not inherit the
client's mistakes): the plurals, scopes and subresources here follow the Kubernetes API
reference. CustomResourceDefinitions created on the fake register their kinds here, so custom
resources work end to end, discovery included.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class FakeResource:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    #: Create-only resources (access reviews): answered, never stored.
    virtual: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The resource as API messages name it: "pods", "deployments.apps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The kind as Invalid messages name it: "Pod", "Deployment.apps"."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def discovery(self) -> list[dict]:
        verbs = ["create"] if self.virtual else list(ALL_VERBS)
        entries = [{"name": self.plural, "singularName": self.singular,
                    "namespaced": self.namespaced, "kind": self.kind, "verbs": verbs}]
        if self.short_names:
            entries[0]["shortNames"] = list(self.short_names)
        for sub in self.subresources:
            sub_verbs = {"exec": ["create", "get"], "portforward": ["create", "get"],
                         "eviction": ["create"], "log": ["get"]}.get(sub, ["get", "patch", "update"])
            sub_kind = {"scale": "Scale", "eviction": "Eviction", "exec": "PodExecOptions",
                        "portforward": "PodPortForwardOptions"}.get(sub, self.kind)
            entry = {"name": f"{self.plural}/{sub}", "singularName": "",
                     "namespaced": self.namespaced, "kind": sub_kind, "verbs": sub_verbs}
            if sub == "scale":
                entry.update(group="autoscaling", version="v1")
            entries.append(entry)
        return entries


def _r(kind: str, api_version: str, plural: str, namespaced: bool, *, short: tuple = (),
       sub: tuple = ("status",), virtual: bool = False) -> FakeResource:
    group, _, version = api_version.rpartition("/")
    return FakeResource(kind, group, version, plural, namespaced, tuple(short), tuple(sub), virtual)


BUILTIN_RESOURCES: tuple[FakeResource, ...] = (
    _r("Namespace", "v1", "namespaces", False, short=("ns",), sub=("status", "finalize")),
    _r("Pod", "v1", "pods", True, short=("po",),
       sub=("status", "exec", "eviction", "portforward", "log", "binding")),
    _r("Service", "v1", "services", True, short=("svc",), sub=("status", "proxy")),
    _r("Endpoints", "v1", "endpoints", True, short=("ep",), sub=()),
    _r("ConfigMap", "v1", "configmaps", True, short=("cm",), sub=()),
    _r("Secret", "v1", "secrets", True, sub=()),
    _r("ServiceAccount", "v1", "serviceaccounts", True, short=("sa",), sub=("token",)),
    _r("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, short=("pvc",)),
    _r("PersistentVolume", "v1", "persistentvolumes", False, short=("pv",)),
    _r("Node", "v1", "nodes", False, short=("no",), sub=("status", "proxy")),
    _r("ResourceQuota", "v1", "resourcequotas", True, short=("quota",)),
    _r("LimitRange", "v1", "limitranges", True, short=("limits",), sub=()),
    _r("Event", "v1", "events", True, short=("ev",), sub=()),
    _r("EndpointSlice", "discovery.k8s.io/v1", "endpointslices", True, sub=()),
    _r("Deployment", "apps/v1", "deployments", True, short=("deploy",), sub=("status", "scale")),
    _r("StatefulSet", "apps/v1", "statefulsets", True, short=("sts",), sub=("status", "scale")),
    _r("DaemonSet", "apps/v1", "daemonsets", True, short=("ds",)),
    _r("ReplicaSet", "apps/v1", "replicasets", True, short=("rs",), sub=("status", "scale")),
    _r("Job", "batch/v1", "jobs", True),
    _r("CronJob", "batch/v1", "cronjobs", True, short=("cj",)),
    _r("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", True,
       short=("hpa",)),
    _r("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", True, short=("pdb",)),
    _r("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", True, short=("netpol",),
       sub=()),
    _r("Ingress", "networking.k8s.io/v1", "ingresses", True, short=("ing",)),
    _r("IngressClass", "networking.k8s.io/v1", "ingressclasses", False, sub=()),
    _r("StorageClass", "storage.k8s.io/v1", "storageclasses", False, short=("sc",), sub=()),
    _r("Role", "rbac.authorization.k8s.io/v1", "roles", True, sub=()),
    _r("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True, sub=()),
    _r("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", False, sub=()),
    _r("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", False, sub=()),
    _r("SubjectAccessReview", "authorization.k8s.io/v1", "subjectaccessreviews", False, sub=(),
       virtual=True),
    _r("SelfSubjectAccessReview", "authorization.k8s.io/v1", "selfsubjectaccessreviews", False,
       sub=(), virtual=True),
    _r("LocalSubjectAccessReview", "authorization.k8s.io/v1", "localsubjectaccessreviews", True,
       sub=(), virtual=True),
    _r("CustomResourceDefinition", "apiextensions.k8s.io/v1", "customresourcedefinitions", False,
       short=("crd", "crds")),
    _r("PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", False, short=("pc",), sub=()),
)


@dataclass
class Catalog:
    """Resources by group/version/plural, with CRD registration."""

    resources: list[FakeResource] = field(default_factory=lambda: list(BUILTIN_RESOURCES))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def find(self, group: str, version: str, plural: str) -> FakeResource | None:
        with self.lock:
            for res in self.resources:
                if (res.group, res.version, res.plural) == (group, version, plural):
                    return res
        return None

    def by_kind(self, kind: str, api_version: str | None = None) -> FakeResource:
        """A resource by Kind (or plural), optionally pinned to an apiVersion."""
        with self.lock:
            for res in self.resources:
                if kind in (res.kind, res.plural) and (api_version in (None, res.api_version)):
                    return res
        raise KeyError(f"fake API server does not serve kind {kind!r}"
                       + (f" in {api_version}" if api_version else ""))

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions served (core group is "")."""
        out: dict[str, list[str]] = {}
        with self.lock:
            for res in self.resources:
                versions = out.setdefault(res.group, [])
                if res.version not in versions:
                    versions.append(res.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[FakeResource]:
        with self.lock:
            return [r for r in self.resources if (r.group, r.version) == (group, version)]

    def register_crd(self, crd: dict) -> list[FakeResource]:
        """Serve the kinds a CustomResourceDefinition declares."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        added = []
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            subs = tuple(k for k in ("status", "scale")
                         if k in (version.get("subresources") or {}))
            res = FakeResource(kind=names["kind"], group=spec["group"], version=version["name"],
                               plural=names["plural"], namespaced=spec.get("scope") == "Namespaced",
                               short_names=tuple(names.get("shortNames") or ()), subresources=subs)
            with self.lock:
                if not any((r.group, r.version, r.plural) == (res.group, res.version, res.plural)
                           for r in self.resources):
                    self.resources.append(res)
                    added.append(res)
        return added

    def unregister_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        plural = (spec.get("names") or {}).get("plural")
        with self.lock:
            self.resources = [r for r in self.resources
                              if not (r.group == spec.get("group") and r.plural == plural)]
