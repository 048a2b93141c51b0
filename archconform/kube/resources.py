"""Kinds to REST paths: the built-ins archconform uses, and discovery for everything else.

A ``Resource`` knows its group, version, plural and whether it is namespaced, and builds paths:
``/api/v1/namespaces/ns/pods/name/eviction``, ``/apis/apps/v1/deployments``. The built-in table
covers every kind the systems and checks use, so a run does not depend on discovery for them;
any other kind (custom resources, a different apiVersion of a built-in) is looked up through
the server's discovery documents (``/api/v1``, ``/apis``, ``/apis/<group>/<version>``) and
cached per connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable
from urllib.parse import quote

from .errors import NotFound, UnknownKind

if TYPE_CHECKING:  # pragma: no cover
    from .api import Connection


@dataclass(frozen=True)
class Resource:
    """One API resource: enough to build its paths and name it in messages."""

    kind: str
    group: str          # "" for the core group
    version: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        """apiVersion as manifests write it: "v1", "apps/v1"."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, *, name: str | None = None, namespace: str | None = None,
             subresource: str | None = None) -> str:
        """The REST path. A namespaced resource without a namespace lists across namespaces."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def ref(self, name: str | None, namespace: str | None = None) -> str:
        """kind/namespace/name in messages, kind lower-case the way kubectl prints it."""
        kind = self.kind.lower()
        if name is None:
            return f"{kind}s in {namespace}" if namespace else f"{kind}s"
        return f"{kind}/{namespace}/{name}" if self.namespaced and namespace else f"{kind}/{name}"


def _r(kind: str, api_version: str, plural: str, namespaced: bool, *short: str) -> Resource:
    group, _, version = api_version.rpartition("/")
    return Resource(kind=kind, group=group, version=version, plural=plural,
                    namespaced=namespaced, short_names=tuple(short))


#: The built-in kinds archconform reads or writes, at the versions it uses.
BUILTINS: tuple[Resource, ...] = (
    _r("Namespace", "v1", "namespaces", False, "ns"),
    _r("Pod", "v1", "pods", True, "po"),
    _r("Service", "v1", "services", True, "svc"),
    _r("Endpoints", "v1", "endpoints", True, "ep"),
    _r("EndpointSlice", "discovery.k8s.io/v1", "endpointslices", True),
    _r("ConfigMap", "v1", "configmaps", True, "cm"),
    _r("Secret", "v1", "secrets", True),
    _r("ServiceAccount", "v1", "serviceaccounts", True, "sa"),
    _r("PersistentVolumeClaim", "v1", "persistentvolumeclaims", True, "pvc"),
    _r("PersistentVolume", "v1", "persistentvolumes", False, "pv"),
    _r("Node", "v1", "nodes", False, "no"),
    _r("ResourceQuota", "v1", "resourcequotas", True, "quota"),
    _r("LimitRange", "v1", "limitranges", True, "limits"),
    _r("Event", "v1", "events", True, "ev"),
    _r("Deployment", "apps/v1", "deployments", True, "deploy"),
    _r("StatefulSet", "apps/v1", "statefulsets", True, "sts"),
    _r("DaemonSet", "apps/v1", "daemonsets", True, "ds"),
    _r("ReplicaSet", "apps/v1", "replicasets", True, "rs"),
    _r("Job", "batch/v1", "jobs", True),
    _r("CronJob", "batch/v1", "cronjobs", True, "cj"),
    _r("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", True, "hpa"),
    _r("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", True, "pdb"),
    _r("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", True, "netpol"),
    _r("Ingress", "networking.k8s.io/v1", "ingresses", True, "ing"),
    _r("IngressClass", "networking.k8s.io/v1", "ingressclasses", False),
    _r("StorageClass", "storage.k8s.io/v1", "storageclasses", False, "sc"),
    _r("Role", "rbac.authorization.k8s.io/v1", "roles", True),
    _r("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True),
    _r("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", False),
    _r("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    _r("SubjectAccessReview", "authorization.k8s.io/v1", "subjectaccessreviews", False),
    _r("SelfSubjectAccessReview", "authorization.k8s.io/v1", "selfsubjectaccessreviews", False),
    _r("LocalSubjectAccessReview", "authorization.k8s.io/v1", "localsubjectaccessreviews", True),
    _r("CustomResourceDefinition", "apiextensions.k8s.io/v1", "customresourcedefinitions", False,
       "crd", "crds"),
    _r("PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", False, "pc"),
)

#: Kinds that exist only as a create (a review): never listed, watched or deleted.
REVIEW_KINDS = frozenset({"SubjectAccessReview", "SelfSubjectAccessReview",
                          "LocalSubjectAccessReview", "TokenReview", "SelfSubjectReview"})


def _names(res: Resource) -> Iterable[str]:
    yield res.kind.lower()
    yield res.plural
    yield res.kind.lower() + "s"
    yield from res.short_names


_BY_NAME: dict[str, Resource] = {}
for _res in BUILTINS:
    for _name in _names(_res):
        _BY_NAME.setdefault(_name, _res)


def builtin(kind: str, api_version: str | None = None) -> Resource | None:
    """The built-in resource for a kind (Kind, kind, plural or short name), or None.

    With an ``api_version`` that differs from the built-in's (say autoscaling/v1 for an HPA),
    returns None so that discovery decides.
    """
    res = _BY_NAME.get(kind.lower())
    if res is None:
        return None
    if api_version and api_version != res.api_version:
        return None
    return res


class Registry:
    """Resolves kinds for one connection: built-ins first, then cached discovery."""

    def __init__(self, conn: "Connection") -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._cache: dict[str, list[Resource]] = {}   # group/version -> its resources
        self._groups: list[str] | None = None           # preferred group/versions

    def lookup(self, kind: str, api_version: str | None = None) -> Resource:
        """The Resource for a kind; raises UnknownKind if the server does not serve it."""
        res = builtin(kind, api_version)
        if res is not None:
            return res
        return self.discover(kind, api_version)

    def invalidate(self) -> None:
        """Forget discovered resources (after CRDs were installed)."""
        with self._lock:
            self._cache.clear()
            self._groups = None

    def discover(self, kind: str, api_version: str | None = None) -> Resource:
        """Look a kind up in the server's discovery documents."""
        wanted = kind.lower()
        candidates = [api_version] if api_version else self._preferred_group_versions()
        for gv in candidates:
            for res in self._resources_of(gv):
                if wanted in (res.kind.lower(), res.plural) or wanted in res.short_names:
                    return res
        where = f" in {api_version}" if api_version else ""
        raise UnknownKind(
            f"kind {kind}{where} is not served by the API server at {self._conn.server} "
            f"(is its CustomResourceDefinition installed?)",
            status=404, reason="NotFound", action="discover", target=kind, server=self._conn.server)

    def _preferred_group_versions(self) -> list[str]:
        with self._lock:
            if self._groups is not None:
                return list(self._groups)
        groups = ["v1"]
        doc = self._conn.request("GET", "/apis", action="discover", target="API groups")
        for group in (doc or {}).get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            versions = [v.get("groupVersion") for v in group.get("versions") or []]
            ordered = [preferred] + [v for v in versions if v != preferred] if preferred else versions
            groups.extend(v for v in ordered if v)
        with self._lock:
            self._groups = groups
        return list(groups)

    def _resources_of(self, group_version: str) -> list[Resource]:
        with self._lock:
            if group_version in self._cache:
                return self._cache[group_version]
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        try:
            doc = self._conn.request("GET", path, action="discover", target=group_version)
        except NotFound:
            doc = None
        group, _, version = group_version.rpartition("/")
        found = []
        for item in (doc or {}).get("resources") or []:
            if "/" in item.get("name", ""):
                continue  # subresources
            found.append(Resource(kind=item["kind"], group=group, version=version,
                                  plural=item["name"], namespaced=bool(item.get("namespaced")),
                                  short_names=tuple(item.get("shortNames") or ())))
        with self._lock:
            self._cache[group_version] = found
        return found
