"""An offline RBAC authorizer, restated from the docs ("Using RBAC Authorization") and the
authorizer's rule matching (rbac/v1 helpers: verb, API group, resource, resource name).

- A request (user, groups, verb, apiGroup, resource[/subresource], name, namespace) is allowed
  if some binding that applies to the subject references a role with a matching rule. There are
  no deny rules.
- RoleBinding: grants its role (a Role of the same namespace, or a ClusterRole) in the binding's
  namespace only. ClusterRoleBinding: grants a ClusterRole in every namespace and on
  cluster-scoped resources (``namespace=None`` means a cluster-scoped or all-namespaces request).
- Rule matching: ``*`` matches any verb / group / resource; a resource entry matches
  "resource" or "resource/subresource" exactly, and ``*/subresource`` matches that subresource of
  any resource; a non-empty ``resourceNames`` only matches requests for one of those names (so
  never ``list``/``create`` without a name); ``nonResourceURLs`` (``/healthz``, ``/api/*``) only
  via ClusterRoleBindings.
- Subjects: a ServiceAccount ns/name is the user ``system:serviceaccount:<ns>:<name>`` in groups
  ``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated``; a
  User gets ``system:authenticated`` plus any groups given.
- ClusterRoles with ``aggregationRule`` take the union of the rules of the ClusterRoles whose
  labels match (computed to a fixpoint over the roles present).
- The default ClusterRoles cluster-admin, admin, edit and view are present implicitly (unless the
  manifests define them). cluster-admin is exact; admin/edit/view are APPROXIMATIONS of the
  bootstrap policy (the real ones list more resources); decisions through them say so. Custom
  roles labelled ``rbac.authorization.k8s.io/aggregate-to-{view,edit,admin}: "true"`` are
  aggregated into them as upstream does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterable, Sequence

from archconform.errors import ManifestError

from . import selectors

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_VIEW_CORE = ["pods", "pods/log", "pods/status", "configmaps", "endpoints", "persistentvolumeclaims",
              "persistentvolumeclaims/status", "replicationcontrollers", "replicationcontrollers/scale",
              "replicationcontrollers/status", "serviceaccounts", "services", "services/status", "bindings", "events",
              "limitranges", "resourcequotas", "resourcequotas/status", "namespaces", "namespaces/status"]
_VIEW_APPS = ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
              "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
              "statefulsets/scale", "statefulsets/status"]
_VIEW_RULES = [
    {"apiGroups": [""], "resources": _VIEW_CORE, "verbs": READ},
    {"apiGroups": ["apps"], "resources": _VIEW_APPS, "verbs": READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], "verbs": READ},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], "verbs": READ},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets", "poddisruptionbudgets/status"], "verbs": READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingresses/status", "networkpolicies"], "verbs": READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
]
_EDIT_RULES = [
    {"apiGroups": [""], "resources": ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps",
                                       "endpoints", "persistentvolumeclaims", "replicationcontrollers",
                                       "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                                       "services/proxy"], "verbs": READ + WRITE},
    {"apiGroups": [""], "resources": ["pods/eviction", "serviceaccounts/token"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                                          "replicasets/scale", "statefulsets", "statefulsets/scale"], "verbs": READ + WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ + WRITE},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": READ + WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": READ + WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": READ + WRITE},
]
_ADMIN_RULES = [
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": READ + WRITE},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]},
]


def _builtin(name: str, rules: list[dict], agg_label: str | None) -> dict:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name, "labels": {}},
            "rules": rules, "_builtin": True}
    if agg_label:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {agg_label: "true"}}]}
    return role


BUILTIN = {
    "cluster-admin": _builtin("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                                {"nonResourceURLs": ["*"], "verbs": ["*"]}], None),
    "admin": _builtin("admin", _VIEW_RULES + _EDIT_RULES + _ADMIN_RULES, "rbac.authorization.k8s.io/aggregate-to-admin"),
    "edit": _builtin("edit", _VIEW_RULES + _EDIT_RULES, "rbac.authorization.k8s.io/aggregate-to-edit"),
    "view": _builtin("view", _VIEW_RULES, "rbac.authorization.k8s.io/aggregate-to-view"),
}
APPROXIMATE = {"admin", "edit", "view"}
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}


@dataclass(frozen=True)
class Subject:
    """Who asks: user name and groups (a ServiceAccount is a user with its groups)."""

    kind: str
    name: str
    namespace: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def user(self) -> str:
        if self.kind == "Group":
            return ""
        return f"system:serviceaccount:{self.namespace}:{self.name}" if self.kind == "ServiceAccount" else self.name

    @property
    def all_groups(self) -> set[str]:
        gs = set(self.groups)
        if self.kind == "ServiceAccount":
            gs |= {"system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated"}
        elif self.kind == "User" and self.name != "system:anonymous":
            gs.add("system:authenticated")
        return gs

    def __str__(self) -> str:
        return f"ServiceAccount {self.namespace}/{self.name}" if self.kind == "ServiceAccount" else f"{self.kind} {self.name}"


def subject(spec: str | dict | Subject) -> Subject:
    """Parse a subject: a dict like a binding subject, "system:serviceaccount:ns:name",
    "serviceaccount:ns/name" (or "sa:ns/name"), "user:alice", "group:devs", or a bare user name."""
    if isinstance(spec, Subject):
        return spec
    if isinstance(spec, dict):
        kind = spec.get("kind", "User")
        return Subject(kind, spec["name"], spec.get("namespace"), tuple(spec.get("groups") or ()))
    text = spec.strip()
    if text.startswith("system:serviceaccount:"):
        ns, _, name = text[len("system:serviceaccount:"):].partition(":")
        return Subject("ServiceAccount", name, ns)
    prefix, sep, rest = text.partition(":")
    if sep and prefix.lower() in ("serviceaccount", "sa"):
        ns, _, name = rest.partition("/")
        if not name:
            raise ManifestError(f"service account subject {spec!r}: give namespace/name")
        return Subject("ServiceAccount", name, ns)
    if sep and prefix.lower() == "user":
        return Subject("User", rest)
    if sep and prefix.lower() == "group":
        return Subject("Group", rest, groups=(rest,))
    return Subject("User", text)


def parse_resource(resource: str) -> tuple[str, str, str]:
    """"pods" -> ("", "pods", ""); "deployments.apps/scale" -> ("apps", "deployments", "scale")."""
    res, _, sub = resource.partition("/")
    plural, _, group = res.partition(".")
    return group, plural, sub


def _rule_matches(rule: dict, verb: str, group: str, resource: str, sub: str, name: str | None) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and verb not in verbs:
        return False
    if "resources" not in rule:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and group not in groups:
        return False
    combined = f"{resource}/{sub}" if sub else resource
    ok = False
    for r in rule.get("resources") or []:
        if r == "*" or r == combined or (sub and r == f"*/{sub}"):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def _url_matches(rule: dict, verb: str, url: str) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and verb not in verbs:
        return False
    for u in rule.get("nonResourceURLs") or []:
        if u == "*" or u == url or (u.endswith("*") and url.startswith(u[:-1])):
            return True
    return False


@dataclass(frozen=True)
class Decision:
    """Allowed or not, and via which binding and role (with the matching rule)."""

    allowed: bool
    via: str
    approximate: bool = False

    def __bool__(self) -> bool:  # pragma: no cover - convenience
        return self.allowed


class Authorizer:
    """Roles and bindings of a manifest set, with aggregation resolved."""

    def __init__(self, manifests: Iterable[dict]):
        objs = list(manifests)
        self.roles = {(o["metadata"].get("namespace") or "default", o["metadata"]["name"]): o for o in objs if o.get("kind") == "Role"}
        self.cluster_roles = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "ClusterRole"}
        self.implicit = set()
        for name, role in BUILTIN.items():
            if name not in self.cluster_roles:
                self.cluster_roles[name] = role
                self.implicit.add(name)
        self.role_bindings = [o for o in objs if o.get("kind") == "RoleBinding"]
        self.cluster_role_bindings = [o for o in objs if o.get("kind") == "ClusterRoleBinding"]
        self.effective = self._aggregate()

    def _aggregate(self) -> dict[str, list[dict]]:
        eff = {n: list(r.get("rules") or []) if (not r.get("aggregationRule") or r.get("_builtin")) else []
               for n, r in self.cluster_roles.items()}
        for _ in range(10):
            changed = False
            for n, r in self.cluster_roles.items():
                agg = r.get("aggregationRule")
                if not agg:
                    continue
                rules = list(r.get("rules") or []) if r.get("_builtin") else []
                for other_name, other in self.cluster_roles.items():
                    if other_name == n:
                        continue
                    labels = (other.get("metadata") or {}).get("labels") or {}
                    if any(selectors.matches(sel, labels) for sel in agg.get("clusterRoleSelectors") or []):
                        for rule in eff[other_name]:
                            if rule not in rules:
                                rules.append(rule)
                if rules != eff[n]:
                    eff[n] = rules
                    changed = True
            if not changed:
                break
        return eff

    def _role_rules(self, ref: dict, binding_ns: str | None) -> tuple[str, list[dict]] | None:
        kind, name = ref.get("kind"), ref.get("name")
        if kind == "ClusterRole":
            return (f"ClusterRole {name}", self.effective[name]) if name in self.effective else None
        if kind == "Role" and binding_ns is not None:
            role = self.roles.get((binding_ns, name))
            return (f"Role {binding_ns}/{name}", list(role.get("rules") or [])) if role else None
        return None

    @staticmethod
    def _applies(b: dict, s: Subject) -> bool:
        bns = (b.get("metadata") or {}).get("namespace")
        for sub in b.get("subjects") or []:
            kind = sub.get("kind")
            if kind == "ServiceAccount" and s.kind == "ServiceAccount":
                if sub.get("name") == s.name and (sub.get("namespace") or bns) == s.namespace:
                    return True
            elif kind == "User" and sub.get("name") == s.user:
                return True
            elif kind == "Group" and sub.get("name") in s.all_groups:
                return True
        return False

    def bindings_for(self, s: Subject) -> list[dict]:
        return [b for b in self.role_bindings + self.cluster_role_bindings if self._applies(b, s)]

    def can(self, s: Subject, verb: str, resource: str, namespace: str | None = None, *,
            api_group: str | None = None, subresource: str | None = None, name: str | None = None) -> Decision:
        if resource.startswith("/"):
            for b in self.cluster_role_bindings:
                if not self._applies(b, s):
                    continue
                got = self._role_rules(b.get("roleRef") or {}, None)
                for rule in (got[1] if got else []):
                    if _url_matches(rule, verb, resource):
                        return Decision(True, f"ClusterRoleBinding {b['metadata']['name']} -> {got[0]}")
            return Decision(False, f"no ClusterRoleBinding grants {s} {verb} on {resource}")
        group, plural, sub = parse_resource(resource)
        group = group if api_group is None else api_group
        sub = sub if subresource is None else subresource
        what = f"{verb} {plural}{'/' + sub if sub else ''}{'.' + group if group else ''}" + (f" {name!r}" if name else "")
        where = f"in namespace {namespace}" if namespace else "cluster-wide"
        candidates = [(b, b["metadata"].get("namespace") or "default") for b in self.role_bindings
                      if namespace is not None and (b["metadata"].get("namespace") or "default") == namespace]
        candidates += [(b, None) for b in self.cluster_role_bindings]
        for b, bns in candidates:
            if not self._applies(b, s):
                continue
            got = self._role_rules(b.get("roleRef") or {}, bns)
            if got is None:
                continue
            label, rules = got
            for rule in rules:
                if _rule_matches(rule, verb, group, plural, sub, name):
                    role_name = (b.get("roleRef") or {}).get("name")
                    approx = (b.get("roleRef") or {}).get("kind") == "ClusterRole" and role_name in APPROXIMATE and role_name in self.implicit
                    via = (f"{b['kind']} {(bns + '/') if bns else ''}{b['metadata']['name']} -> {label} "
                           f"(rule verbs {rule.get('verbs')} resources {rule.get('resources')} apiGroups {rule.get('apiGroups')})")
                    if approx:
                        via += f" [built-in {role_name} approximated; the real role is larger]"
                    return Decision(True, via, approx)
        return Decision(False, f"no binding grants {s} {what} {where}")


def can(manifests: Iterable[dict], subject_: str | dict | Subject, verb: str, resource: str, namespace: str | None = None, *,
        api_group: str | None = None, subresource: str | None = None, name: str | None = None) -> Decision:
    """Can the subject do ``verb`` on ``resource`` ("pods", "pods/log", "deployments.apps",
    "deployments.apps/scale", or a non-resource URL like "/healthz") in ``namespace`` (None:
    cluster-scoped or across all namespaces)?"""
    return Authorizer(manifests).can(subject(subject_), verb, resource, namespace, api_group=api_group,
                                     subresource=subresource, name=name)


@dataclass
class GrantTable:
    subject: str
    namespace: str | None
    verbs: list[str]
    resources: list[str]
    cells: dict[tuple[str, str], Decision] = field(default_factory=dict)

    def render_text(self) -> str:
        width = max([len(r) for r in self.resources] + [8])
        head = "resource".ljust(width) + " | " + " ".join(v.ljust(max(len(v), 3)) for v in self.verbs)
        lines = [f"{self.subject} in {self.namespace or 'cluster scope'}", head, "-" * len(head)]
        for r in self.resources:
            lines.append(r.ljust(width) + " | " + " ".join(("yes" if self.cells[(r, v)].allowed else "-").ljust(max(len(v), 3))
                                                        for v in self.verbs))
        return "\n".join(lines)


def grant_table(manifests: Iterable[dict], subject_: str | dict | Subject, namespace: str | None,
                verbs: Sequence[str], resources: Sequence[str]) -> GrantTable:
    """A resources x verbs table of decisions, for reports."""
    auth = Authorizer(manifests)
    s = subject(subject_)
    table = GrantTable(str(s), namespace, list(verbs), list(resources))
    for r in resources:
        for v in verbs:
            table.cells[(r, v)] = auth.can(s, v, r, namespace)
    return table


class Finding(str):
    """A least-privilege finding (a str, printable as is) with its ``category``: one of
    "cluster-admin", "wildcard", "secrets", "escalation", "exec"."""

    category: str

    def __new__(cls, text: str, category: str) -> "Finding":
        obj = super().__new__(cls, text)
        obj.category = category
        return obj


CATEGORIES = ("cluster-admin", "wildcard", "secrets", "escalation", "exec")


def _category(problem: str) -> str:
    if problem == "cluster-admin":
        return "cluster-admin"
    if problem.startswith("wildcard"):
        return "wildcard"
    if problem.startswith("reads secrets"):
        return "secrets"
    if problem.startswith("privilege-escalation"):
        return "escalation"
    return "exec"


def least_privilege_findings(manifests: Iterable[dict], categories: Iterable[str] | None = None) -> list[Finding]:
    """Grants to application service accounts (outside kube-system and friends) or to
    everyone-groups that a least-privilege review flags, one finding per binding and problem:
    cluster-admin, wildcard verbs or resources, reading secrets, escalate/bind/impersonate,
    pods/exec. ``categories`` keeps only some (e.g. ``{"cluster-admin", "wildcard"}``)."""
    wanted = set(CATEGORIES if categories is None else categories)
    unknown = wanted - set(CATEGORIES)
    if unknown:
        raise ManifestError(f"unknown least-privilege categories {sorted(unknown)} (one of {', '.join(CATEGORIES)})")
    auth = Authorizer(manifests)
    out = []
    for b in auth.role_bindings + auth.cluster_role_bindings:
        bns = (b.get("metadata") or {}).get("namespace")
        who = []
        for sub in b.get("subjects") or []:
            if sub.get("kind") == "ServiceAccount" and (sub.get("namespace") or bns) not in SYSTEM_NAMESPACES:
                who.append(f"ServiceAccount {(sub.get('namespace') or bns)}/{sub.get('name')}")
            elif sub.get("kind") == "Group" and (sub.get("name", "").startswith("system:serviceaccounts")
                                                  or sub.get("name") in ("system:authenticated", "system:unauthenticated")):
                who.append(f"Group {sub.get('name')}")
            elif sub.get("kind") == "User" and sub.get("name") == "system:anonymous":
                who.append("User system:anonymous")
        if not who:
            continue
        ref = b.get("roleRef") or {}
        got = auth._role_rules(ref, bns if b.get("kind") == "RoleBinding" else None)
        if got is None:
            continue
        label, rules = got
        scope = f"in namespace {bns}" if b.get("kind") == "RoleBinding" else "in EVERY namespace (ClusterRoleBinding)"
        where = f"{b['kind']} {(bns + '/') if bns else ''}{b['metadata']['name']} gives {', '.join(who)} {label} {scope}"
        problems = []
        if ref.get("kind") == "ClusterRole" and ref.get("name") == "cluster-admin":
            problems.append("cluster-admin")
        for rule in rules:
            if "*" in (rule.get("verbs") or []) and ref.get("name") != "cluster-admin":
                problems.append(f"wildcard verbs on {rule.get('resources') or rule.get('nonResourceURLs')}")
            if "*" in (rule.get("resources") or []) and ref.get("name") != "cluster-admin":
                problems.append(f"wildcard resources ({rule.get('verbs')})")
            res = rule.get("resources") or []
            verbs = set(rule.get("verbs") or [])
            groups = rule.get("apiGroups") or []
            if ("secrets" in res or "*" in res) and verbs & {"get", "list", "watch", "*"} and ("" in groups or "*" in groups):
                problems.append("reads secrets" + (" (list/watch reveal every secret)" if verbs & {"list", "watch", "*"} else ""))
            if verbs & {"escalate", "bind", "impersonate"}:
                problems.append(f"privilege-escalation verbs {sorted(verbs & {'escalate', 'bind', 'impersonate'})}")
            if any(r in ("pods/exec", "*/exec") for r in res) and verbs & {"create", "*"}:
                problems.append("exec into pods")
        seen = []
        for p in problems:
            if p not in seen:
                seen.append(p)
        out += [Finding(f"{where}: {p}", _category(p)) for p in seen if _category(p) in wanted]
    return out


def matches_any(patterns: Sequence[str], value: str) -> bool:  # pragma: no cover - helper for callers
    return any(fnmatchcase(value, p) for p in patterns)
