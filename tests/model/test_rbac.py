"""RBAC. Sources: k8s docs "Using RBAC Authorization" (RoleBinding of a ClusterRole grants it in
the binding's namespace only; ClusterRoleBinding cluster-wide; resourceNames cannot restrict
list/create; subresources "pods/log"; "*/scale"; aggregated ClusterRoles; service account
subjects and the groups system:serviceaccounts, system:serviceaccounts:<ns>; default
user-facing roles cluster-admin, admin, edit, view: view excludes Secrets, edit excludes
roles and rolebindings)."""

from archconform.model import rbac

SA = "system:serviceaccount:app:api"


def rb(ns, name, role_kind, role, *subjects):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}, "subjects": list(subjects)}


def crb(name, role, *subjects):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": list(subjects)}


def role(ns, name, *rules):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": list(rules)}


def crole(name, *rules, labels=None, aggregation=None):
    r = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name, "labels": labels or {}}, "rules": list(rules)}
    if aggregation:
        r["aggregationRule"] = {"clusterRoleSelectors": aggregation}
    return r


SA_SUBJ = {"kind": "ServiceAccount", "name": "api", "namespace": "app"}


def test_role_in_its_namespace_only():
    objs = [role("app", "reader", {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}),
            rb("app", "r", "Role", "reader", SA_SUBJ)]
    assert rbac.can(objs, SA, "list", "pods", "app").allowed
    assert not rbac.can(objs, SA, "list", "pods", "other").allowed
    assert not rbac.can(objs, SA, "list", "pods").allowed          # cluster-wide list needs a ClusterRoleBinding
    assert not rbac.can(objs, SA, "delete", "pods", "app").allowed
    d = rbac.can(objs, SA, "get", "pods", "app")
    assert "RoleBinding app/r -> Role app/reader" in d.via


def test_rolebinding_to_clusterrole_is_namespaced():
    # docs "RoleBinding example": a RoleBinding referencing a ClusterRole grants it in its namespace
    objs = [crole("secret-reader", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "watch", "list"]}),
            rb("dev", "read-secrets", "ClusterRole", "secret-reader", {"kind": "User", "name": "dave"})]
    assert rbac.can(objs, "user:dave", "get", "secrets", "dev").allowed
    assert not rbac.can(objs, "user:dave", "get", "secrets", "prod").allowed
    objs.append(crb("read-secrets-global", "secret-reader", {"kind": "Group", "name": "manager"}))
    assert rbac.can(objs, {"kind": "User", "name": "erin", "groups": ["manager"]}, "list", "secrets", "prod").allowed
    assert rbac.can(objs, {"kind": "User", "name": "erin", "groups": ["manager"]}, "list", "secrets").allowed


def test_subresources_and_resource_names():
    # docs "Referring to resources": pods/log; resourceNames cannot restrict list or create
    objs = [role("app", "r", {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]},
                 {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["my-config"], "verbs": ["get", "update", "list"]}),
            rb("app", "r", "Role", "r", SA_SUBJ)]
    assert rbac.can(objs, SA, "get", "pods/log", "app").allowed
    assert not rbac.can(objs, SA, "get", "pods/exec", "app").allowed
    assert rbac.can(objs, SA, "update", "configmaps", "app", name="my-config").allowed
    assert not rbac.can(objs, SA, "update", "configmaps", "app", name="other").allowed
    assert not rbac.can(objs, SA, "list", "configmaps", "app").allowed


def test_wildcards_and_star_subresource():
    objs = [crole("scaler", {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]}),
            crole("all", {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}),
            rb("app", "s", "ClusterRole", "scaler", SA_SUBJ), rb("app", "a", "ClusterRole", "all", {"kind": "User", "name": "ops"})]
    assert rbac.can(objs, SA, "update", "deployments.apps/scale", "app").allowed
    assert not rbac.can(objs, SA, "update", "deployments.apps", "app").allowed
    assert rbac.can(objs, "ops", "delete", "statefulsets.apps", "app").allowed
    assert not rbac.can(objs, "ops", "delete", "pods", "app").allowed  # core group not in ["apps"]


def test_service_account_groups():
    # docs "Service account permissions": system:serviceaccounts:<ns> and system:serviceaccounts
    objs = [crole("view-pods", {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}),
            rb("app", "all-sa", "ClusterRole", "view-pods", {"kind": "Group", "name": "system:serviceaccounts:app"})]
    assert rbac.can(objs, SA, "list", "pods", "app").allowed
    assert not rbac.can(objs, "system:serviceaccount:other:x", "list", "pods", "app").allowed
    # a User subject with the service account's user name also matches
    objs2 = [objs[0], rb("app", "u", "ClusterRole", "view-pods", {"kind": "User", "name": SA})]
    assert rbac.can(objs2, "sa:app/api", "list", "pods", "app").allowed


def test_builtin_roles_approximated():
    # docs "User-facing roles": view does not allow secrets; edit allows secrets but not roles
    objs = [rb("app", "v", "ClusterRole", "view", SA_SUBJ)]
    assert rbac.can(objs, SA, "get", "deployments.apps", "app").allowed
    assert not rbac.can(objs, SA, "get", "secrets", "app").allowed
    objs = [rb("app", "e", "ClusterRole", "edit", SA_SUBJ)]
    d = rbac.can(objs, SA, "get", "secrets", "app")
    assert d.allowed and d.approximate and "approximated" in d.via
    assert not rbac.can(objs, SA, "create", "rolebindings.rbac.authorization.k8s.io", "app").allowed
    objs = [rb("app", "ad", "ClusterRole", "admin", SA_SUBJ)]
    assert rbac.can(objs, SA, "create", "rolebindings.rbac.authorization.k8s.io", "app").allowed
    objs = [crb("god", "cluster-admin", SA_SUBJ)]
    d = rbac.can(objs, SA, "delete", "nodes")
    assert d.allowed and not d.approximate
    assert rbac.can(objs, SA, "get", "/metrics").allowed


def test_aggregation():
    # docs "Aggregated ClusterRoles": the controller fills rules from matching ClusterRoles
    objs = [crole("monitoring", aggregation=[{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]),
            crole("monitoring-endpoints", {"apiGroups": [""], "resources": ["services", "endpointslices", "pods"], "verbs": ["get", "list", "watch"]},
                  labels={"rbac.example.com/aggregate-to-monitoring": "true"}),
            crole("widgets-edit", {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["create"]},
                  labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
            rb("app", "m", "ClusterRole", "monitoring", SA_SUBJ), rb("app", "e", "ClusterRole", "edit", {"kind": "User", "name": "dev"})]
    assert rbac.can(objs, SA, "watch", "services", "app").allowed
    assert not rbac.can(objs, SA, "delete", "services", "app").allowed
    assert rbac.can(objs, "dev", "create", "widgets.example.com", "app").allowed  # custom rules aggregated into edit


def test_grant_table_and_least_privilege():
    objs = [rb("app", "e", "ClusterRole", "edit", SA_SUBJ),
            crb("ci-admin", "cluster-admin", {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}),
            crole("wild", {"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}),
            rb("app", "w", "ClusterRole", "wild", {"kind": "ServiceAccount", "name": "worker", "namespace": "app"}),
            crb("system-ok", "cluster-admin", {"kind": "ServiceAccount", "name": "ctrl", "namespace": "kube-system"})]
    t = rbac.grant_table(objs, SA, "app", ["get", "delete"], ["pods", "secrets", "roles.rbac.authorization.k8s.io"])
    assert t.cells[("secrets", "get")].allowed and not t.cells[("roles.rbac.authorization.k8s.io", "get")].allowed
    assert "secrets" in t.render_text()
    f = rbac.least_privilege_findings(objs)
    text = "\n".join(f)
    assert "ci-admin" in text and "cluster-admin" in text and "EVERY namespace" in text
    assert "wildcard verbs" in text and "wildcard resources" in text
    assert "app/e" in text and "reads secrets" in text
    assert "kube-system" not in text
    narrow = rbac.least_privilege_findings(objs, {"cluster-admin", "wildcard"})
    assert {f.category for f in narrow} == {"cluster-admin", "wildcard"} and len(narrow) < len(f)
    assert {f.category for f in f} >= {"secrets", "exec", "escalation"}
