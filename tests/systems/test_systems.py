"""The systems under test (systems/<system>/): valid, complete, honest, and the kind overlay keeps promises.

Every check here runs offline against `kubectl kustomize` output and the files in systems/.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from fractions import Fraction

import pytest
import yaml

from archconform import manifests
from archconform.systems import get_system, project_root

from systems_support import (
    CRD_KINDS,
    GENERATE_ANNOTATION,
    PROFILES,
    QUOTA_SCALABLE,
    STAND_IN_IMAGE,
    STAND_IN_PATHS,
    SYSTEM_NAMES,
    container_resources,
    crd_documents,
    diff_paths,
    key,
    named_ports,
    pod_templates,
    probes,
    promise_view,
    pss_violations,
    quantity,
    rendered,
    selector_matches,
    system_dir,
)

BOTH = [(s, p) for s in SYSTEM_NAMES for p in PROFILES]
both = pytest.mark.parametrize("system,profile", BOTH, ids=[f"{s}-{p}" for s, p in BOTH])
each = pytest.mark.parametrize("system", SYSTEM_NAMES)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _fail(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}:\n  " + "\n  ".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# Rendering and schema validation


@both
def test_renders_and_validates_against_kubernetes_schemas(system, profile):
    objs = rendered(system, profile)
    assert len(objs) > 0, f"{objs.source} renders no objects"
    problems = manifests.validate(objs)
    # A "skipped" line means an object without an official schema (a custom resource) reached a
    # kustomization: those belong in crds/ only.
    _fail(problems, f"{objs.source} does not validate for Kubernetes {manifests.KUBERNETES_VERSION}")


@both
def test_no_custom_resources_in_kustomizations(system, profile):
    objs = rendered(system, profile)
    bad = [manifests.ref(o) for o in objs if (o.get("apiVersion"), o.get("kind")) in CRD_KINDS]
    _fail(bad, f"{objs.source} holds objects that need a CRD (move them to systems/{system}/crds/)")


@both
def test_rules_the_api_server_enforces_beyond_the_schema(system, profile):
    """Rules the OpenAPI schema cannot express but the API server rejects (or must not be broken)."""
    objs = rendered(system, profile)
    problems = []
    names = defaultdict(list)
    for o in objs:
        names[key(o)].append(o)
        md = o["metadata"]
        for where, labels in (("metadata.labels", md.get("labels") or {}),
                              ("pod template labels", manifests.pod_labels(o) if o["kind"] in manifests.WORKLOAD_KINDS else {})):
            for k, v in labels.items():
                if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                    problems.append(f"{manifests.ref(o)}: {where} {k}={v!r} is not a valid label value")
        if o["kind"] == "Namespace" and not DNS_LABEL.match(md["name"]):
            problems.append(f"{manifests.ref(o)}: namespace name is not a DNS label")
        if o["kind"] == "PodDisruptionBudget":
            spec = o["spec"]
            if "minAvailable" in spec and "maxUnavailable" in spec:
                problems.append(f"{manifests.ref(o)}: minAvailable and maxUnavailable are mutually exclusive")
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            if not selector_matches(o["spec"].get("selector"), manifests.pod_labels(o)):
                problems.append(f"{manifests.ref(o)}: spec.selector does not match the pod template labels")
        if o["kind"] == "Deployment":
            ru = (o["spec"].get("strategy") or {}).get("rollingUpdate") or {}
            if str(ru.get("maxSurge", "25%")) in ("0", "0%") and str(ru.get("maxUnavailable", "25%")) in ("0", "0%"):
                problems.append(f"{manifests.ref(o)}: maxSurge and maxUnavailable cannot both be 0")
        if o["kind"] in ("Job", "CronJob"):
            policy = manifests.pod_spec(o).get("restartPolicy")
            if policy not in ("OnFailure", "Never"):
                problems.append(f"{manifests.ref(o)}: a Job's restartPolicy must be OnFailure or Never, not {policy!r}")
        if o["kind"] == "CronJob" and len(o["spec"]["schedule"].split()) != 5:
            problems.append(f"{manifests.ref(o)}: schedule {o['spec']['schedule']!r} is not a 5-field cron line")
        if o["kind"] == "HorizontalPodAutoscaler":
            lo, hi = o["spec"].get("minReplicas", 1), o["spec"]["maxReplicas"]
            if not 1 <= lo <= hi:
                problems.append(f"{manifests.ref(o)}: minReplicas {lo} / maxReplicas {hi}")
        if o["kind"] == "Secret" and o.get("type", "Opaque") != "Opaque":
            problems.append(f"{manifests.ref(o)}: type {o.get('type')} needs data; generated Secrets are Opaque")
        spec = manifests.pod_spec(o) if o["kind"] in manifests.WORKLOAD_KINDS else None
        if spec:
            cnames = [c["name"] for _, c in manifests.iter_containers(o)]
            if len(cnames) != len(set(cnames)):
                problems.append(f"{manifests.ref(o)}: duplicate container names {cnames}")
            pnames = []
            for _, c in manifests.iter_containers(o):
                for p in c.get("ports") or []:
                    if "name" in p:
                        pnames.append(p["name"])
                        if len(p["name"]) > 15 or not IANA_SVC_NAME.match(p["name"]):
                            problems.append(f"{manifests.ref(o)}: port name {p['name']!r} is not an IANA service name")
                for kind_, probe in probes(c):
                    port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
                    if isinstance(port, str) and port not in named_ports(spec):
                        problems.append(f"{manifests.ref(o)}: {c['name']} {kind_} uses unknown port name {port!r}")
            if len(pnames) != len(set(pnames)):
                problems.append(f"{manifests.ref(o)}: duplicate port names {pnames}")
            vols = {v["name"] for v in spec.get("volumes") or []}
            vcts = {t["metadata"]["name"] for t in (o["spec"].get("volumeClaimTemplates") or [])} if o["kind"] == "StatefulSet" else set()
            for _, c in manifests.iter_containers(o):
                for m in c.get("volumeMounts") or []:
                    if m["name"] not in vols | vcts:
                        problems.append(f"{manifests.ref(o)}: {c['name']} mounts unknown volume {m['name']!r}")
    for k, hits in names.items():
        if len(hits) > 1:
            problems.append(f"{k}: defined {len(hits)} times")
    _fail(problems, f"{objs.source} breaks API-server rules")


@both
def test_every_namespaced_object_lives_in_a_namespace_of_the_system(system, profile):
    objs = rendered(system, profile)
    namespaces = set(objs.namespaces())
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "IngressClass", "PriorityClass"}
    problems = []
    for o in objs:
        ns = o["metadata"].get("namespace")
        if o["kind"] in cluster_scoped:
            if ns:
                problems.append(f"{manifests.ref(o)}: cluster-scoped object with a namespace")
        elif not ns:
            problems.append(f"{manifests.ref(o)}: no namespace (every object names its namespace explicitly)")
        elif ns not in namespaces:
            problems.append(f"{manifests.ref(o)}: namespace {ns!r} is not one of the system's namespaces")
    _fail(problems, f"{objs.source} has objects outside its namespaces")


# --------------------------------------------------------------------------------------------
# crds/


@each
def test_crd_files_parse_and_carry_custom_resources_only(system):
    docs = crd_documents(system)
    base = rendered(system, "base")
    namespaces = set(base.namespaces()) | {"argocd"}  # Argo CD Applications live in Argo CD's namespace
    problems = []
    for path, obj in docs:
        gvk = (obj.get("apiVersion"), obj.get("kind"))
        where = f"{path.name}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if gvk not in CRD_KINDS:
            problems.append(f"{where}: {gvk} is not one of the custom resources crds/ is for: {sorted(CRD_KINDS)}")
            continue
        md = obj.get("metadata") or {}
        if not md.get("name"):
            problems.append(f"{where}: no metadata.name")
        if CRD_KINDS[gvk] and md.get("namespace") not in namespaces:
            problems.append(f"{where}: namespace {md.get('namespace')!r} is not a namespace of the system")
        if not isinstance(obj.get("spec"), dict) or not obj["spec"]:
            problems.append(f"{where}: empty spec")
    for kust in system_dir(system).rglob("kustomization.yaml"):
        text = kust.read_text()
        data = yaml.safe_load(text) or {}
        refs = [str(r) for r in (data.get("resources") or [])] + [str((p or {}).get("path", "")) for p in (data.get("patches") or [])]
        if any("crds" in r for r in refs):
            problems.append(f"{kust}: references crds/ (custom resources must stay out of the kustomizations)")
    _fail(problems, f"systems/{system}/crds is wrong")


@each
def test_crd_objects_point_at_objects_that_exist(system):
    """VPA/ScaledObject targets exist; ServiceMonitors select at least one Service."""
    base = rendered(system, "base")
    problems = []
    for path, obj in crd_documents(system):
        kind, md, spec = obj["kind"], obj["metadata"], obj["spec"]
        ns = md.get("namespace")
        if kind == "VerticalPodAutoscaler":
            t = spec["targetRef"]
            if not base.of_kind(t["kind"]) or not [o for o in base.of_kind(t["kind"]) if key(o) == (t["kind"], ns, t["name"])]:
                problems.append(f"{path.name}: {kind}/{md['name']} targets missing {t['kind']}/{ns}/{t['name']}")
        if kind == "ScaledObject":
            t = spec["scaleTargetRef"]
            tk = t.get("kind", "Deployment")
            if not [o for o in base.of_kind(tk) if key(o) == (tk, ns, t["name"])]:
                problems.append(f"{path.name}: {kind}/{md['name']} targets missing {tk}/{ns}/{t['name']}")
        if kind == "ServiceMonitor":
            nss = (spec.get("namespaceSelector") or {}).get("matchNames") or [ns]
            hits = [s for s in base.of_kind("Service") if s["metadata"]["namespace"] in nss
                    and selector_matches(spec["selector"], s["metadata"].get("labels") or {})]
            if not hits:
                problems.append(f"{path.name}: ServiceMonitor/{md['name']} selects no Service in {nss}")
    _fail(problems, f"systems/{system}/crds points at nothing")


# --------------------------------------------------------------------------------------------
# The kind overlay keeps every promise-relevant number


#: Stand-ins the kind overlay drops because the kind cluster runs the real thing under the same
#: name (clusters/addons/ingress-nginx installs the ingress-nginx controller).
PROVIDED_BY_KIND = {("Deployment", "ingress-nginx", "ingress-nginx-controller"),
                    ("Service", "ingress-nginx", "ingress-nginx-controller")}


@each
def test_kind_overlay_has_exactly_the_objects_of_base(system):
    base, kind = rendered(system, "base"), rendered(system, "kind")
    b, k = {key(o) for o in base} - PROVIDED_BY_KIND, {key(o) for o in kind}
    problems = [f"only in base: {x}" for x in sorted(b - k)] + [f"only in kind: {x}" for x in sorted(k - b)]
    _fail(problems, f"systems/{system}: the kind overlay adds or drops objects")


@each
def test_kind_overlay_changes_only_what_a_laptop_cannot_hold(system):
    """Everything but per-pod cpu/memory, quota cpu/memory, PVC class/size/access and node placement is identical.

    That covers HPA specs, PDB specs, NetworkPolicies, probes, security contexts, replicas,
    selectors, labels, ports, CronJob schedules, RBAC rules, quota pod counts and ConfigMaps.
    """
    base, kind = rendered(system, "base"), rendered(system, "kind")
    kinds = {key(o): o for o in kind}
    problems = []
    for o in base:
        other = kinds.get(key(o))
        if other is None:
            continue
        for line in diff_paths(promise_view(o), promise_view(other)):
            problems.append(f"{manifests.ref(o)}: {line}")
    _fail(problems, f"systems/{system}: the kind overlay changes promise-relevant fields")


@each
def test_kind_overlay_scales_resources_consistently(system):
    """Scaled resources keep their limit/request ratios, and every quota scales with its namespace's pods.

    With one factor per resource for a quota and all pods it governs, every "how many pods fit"
    answer is the same in base and kind: the arithmetic holds, or fails, the same way.
    """
    base, kind = rendered(system, "base"), rendered(system, "kind")
    kinds = {key(o): o for o in kind}
    problems = []
    factors: dict[tuple[str, str], dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for o in base.workloads():
        if key(o) in PROVIDED_BY_KIND:
            continue
        other = kinds[key(o)]
        ns = o["metadata"]["namespace"]
        rb, rk = container_resources(o), container_resources(other)
        for cname, res in rb.items():
            kres = rk.get(cname) or {}
            for r in ("cpu", "memory"):
                vals = {}
                for part in ("requests", "limits"):
                    bv, kv = (res.get(part) or {}).get(r), (kres.get(part) or {}).get(r)
                    if (bv is None) != (kv is None):
                        problems.append(f"{manifests.ref(o)}: {cname} {part}.{r} present in only one profile")
                        continue
                    if bv is None:
                        continue
                    f = quantity(kv) / quantity(bv)
                    vals[part] = f
                    factors[(ns, f"{part}.{r}")]["pods"].add(f)
                    if part == "requests":
                        factors[(ns, r)]["pods"].add(f)
                if len(set(vals.values())) > 1:
                    problems.append(f"{manifests.ref(o)}: {cname} {r} requests and limits scaled differently ({vals})")
    for q in base.of_kind("ResourceQuota"):
        ns = q["metadata"]["namespace"]
        kq = kinds[key(q)]
        for res_key, hard in (q["spec"].get("hard") or {}).items():
            if res_key not in QUOTA_SCALABLE:
                continue
            f = quantity(kq["spec"]["hard"][res_key]) / quantity(hard)
            pod_factors = factors.get((ns, res_key), {}).get("pods", set())
            if pod_factors and pod_factors != {f}:
                problems.append(
                    f"{manifests.ref(q)}: {res_key} scaled by {f} but the pods it governs by {sorted(pod_factors)}"
                )
    _fail(problems, f"systems/{system}: the kind overlay breaks the resource arithmetic")


@each
def test_every_kind_overlay_change_is_recorded_in_the_readme(system):
    base, kind = rendered(system, "base"), rendered(system, "kind")
    kinds = {key(o): o for o in kind}
    readme = (system_dir(system) / "README.md").read_text()
    section = readme.split("## Kind overlay", 1)[-1].split("\n## ", 1)[0] if "## Kind overlay" in readme else ""
    problems = []
    for o in base:
        other = kinds.get(key(o))
        if other is not None and o != other and f"`{o['metadata']['name']}`" not in section:
            problems.append(f"{manifests.ref(o)} differs in kind but is not named in README.md '## Kind overlay'")
    _fail(problems, f"systems/{system}/README.md does not record the overlay")


# --------------------------------------------------------------------------------------------
# Secrets and images


def test_no_committed_secret_carries_a_value():
    problems = []
    for path in sorted((project_root() / "systems").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "Secret":
                where = f"{path.relative_to(project_root())}: Secret/{doc.get('metadata', {}).get('name')}"
                for field in ("data", "stringData"):
                    if doc.get(field):
                        problems.append(f"{where}: carries {field}")
                ann = (doc.get("metadata") or {}).get("annotations") or {}
                try:
                    spec = json.loads(ann.get(GENERATE_ANNOTATION, ""))
                except json.JSONDecodeError:
                    problems.append(f"{where}: annotation {GENERATE_ANNOTATION} is missing or not JSON")
                    continue
                if not isinstance(spec, dict) or not spec or not all(isinstance(v, str) for v in spec.values()):
                    problems.append(f"{where}: {GENERATE_ANNOTATION} must be a JSON object of key -> template string")
                    continue
                for k, template in spec.items():
                    for ref_ in re.findall(r"\$\{([^}]+)\}", template):
                        if ref_ not in spec or ref_ == k:
                            problems.append(f"{where}: template of {k!r} refers to ${{{ref_}}}, not another key")
                    m = re.fullmatch(r"random:(\d+)", template)
                    if template.startswith("random:") and not (m and 16 <= int(m.group(1)) <= 128):
                        problems.append(f"{where}: {k!r} template {template!r}: random:N needs 16 <= N <= 128")
            if "password" in json.dumps(doc).lower() and doc.get("kind") in ("ConfigMap",):
                problems.append(f"{path}: ConfigMap/{doc['metadata']['name']} mentions a password")
    _fail(problems, "systems/ commits secret values")


@both
def test_every_secret_and_configmap_reference_resolves(system, profile):
    objs = rendered(system, profile)
    secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs.of_kind("Secret")}
    configmaps = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs.of_kind("ConfigMap")}

    def generated_keys(secret: dict) -> set[str]:
        ann = (secret["metadata"].get("annotations") or {}).get(GENERATE_ANNOTATION, "{}")
        return set(json.loads(ann))

    problems = []
    for o, tmpl in pod_templates(objs):
        ns, spec = o["metadata"]["namespace"], tmpl["spec"]
        for _, c in manifests.iter_containers(o):
            for e in c.get("env") or []:
                src = e.get("valueFrom") or {}
                if "secretKeyRef" in src:
                    r = src["secretKeyRef"]
                    s = secrets.get((ns, r["name"]))
                    if s is None:
                        problems.append(f"{manifests.ref(o)}: {c['name']} env {e['name']}: no Secret {ns}/{r['name']}")
                    elif r["key"] not in generated_keys(s):
                        problems.append(f"{manifests.ref(o)}: {c['name']} env {e['name']}: Secret {r['name']} does not generate key {r['key']!r}")
                if "configMapKeyRef" in src:
                    r = src["configMapKeyRef"]
                    cm = configmaps.get((ns, r["name"]))
                    if cm is None or r["key"] not in (cm.get("data") or {}):
                        problems.append(f"{manifests.ref(o)}: {c['name']} env {e['name']}: no key {r['key']!r} in ConfigMap {ns}/{r['name']}")
            for ef in c.get("envFrom") or []:
                if "secretRef" in ef and (ns, ef["secretRef"]["name"]) not in secrets:
                    problems.append(f"{manifests.ref(o)}: envFrom Secret {ef['secretRef']['name']} does not exist")
                if "configMapRef" in ef and (ns, ef["configMapRef"]["name"]) not in configmaps:
                    problems.append(f"{manifests.ref(o)}: envFrom ConfigMap {ef['configMapRef']['name']} does not exist")
        for v in spec.get("volumes") or []:
            if "secret" in v and (ns, v["secret"]["secretName"]) not in secrets:
                problems.append(f"{manifests.ref(o)}: volume {v['name']}: no Secret {v['secret']['secretName']}")
            if "configMap" in v and (ns, v["configMap"]["name"]) not in configmaps:
                problems.append(f"{manifests.ref(o)}: volume {v['name']}: no ConfigMap {v['configMap']['name']}")
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if not [p for p in objs.of_kind("PersistentVolumeClaim") if key(p) == ("PersistentVolumeClaim", ns, claim)]:
                    problems.append(f"{manifests.ref(o)}: volume {v['name']}: no PVC {ns}/{claim}")
        sa = spec.get("serviceAccountName")
        if sa and sa != "default" and not [a for a in objs.of_kind("ServiceAccount") if key(a) == ("ServiceAccount", ns, sa)]:
            problems.append(f"{manifests.ref(o)}: serviceAccountName {sa!r} does not exist")
    _fail(problems, f"{objs.source} has dangling references")


@both
def test_every_image_is_pinned_and_the_stand_in_is_used_as_agreed(system, profile):
    objs = rendered(system, profile)
    problems = []
    for o, _ in pod_templates(objs):
        for _, c in manifests.iter_containers(o):
            image = c["image"]
            tag = image.rsplit("/", 1)[-1]
            if "@sha256:" not in image and (":" not in tag or tag.endswith(":latest")):
                problems.append(f"{manifests.ref(o)}: {c['name']} image {image!r} is not pinned")
            if image.startswith("archconform/workload") and image != STAND_IN_IMAGE:
                problems.append(f"{manifests.ref(o)}: {c['name']} runs {image}, the stand-in is {STAND_IN_IMAGE}")
            if c.get("imagePullPolicy") != "IfNotPresent":
                problems.append(f"{manifests.ref(o)}: {c['name']} imagePullPolicy is {c.get('imagePullPolicy')!r}, not IfNotPresent")
    for path, obj in crd_documents(system):
        for img in re.findall(r"'image': '([^']+)'", str(obj)):
            if ":" not in img.rsplit("/", 1)[-1] or img.endswith(":latest"):
                problems.append(f"{path.name}: image {img!r} is not pinned")
    _fail(problems, f"{objs.source} has unpinned images")


@both
def test_stand_in_containers_serve_every_port_and_probe_path_they_are_asked_for(system, profile):
    objs = rendered(system, profile)
    problems = []
    for o, tmpl in pod_templates(objs):
        spec = tmpl["spec"]
        for _, c in manifests.iter_containers(o):
            if c["image"] != STAND_IN_IMAGE:
                continue
            env = {e["name"]: e.get("value") for e in c.get("env") or []}
            where = f"{manifests.ref(o)}: {c['name']}"
            if not env.get("WORKLOAD_NAME"):
                problems.append(f"{where}: no WORKLOAD_NAME")
            served = set()
            for item in (env.get("WORKLOAD_PORTS") or "").split(","):
                if item:
                    port, _, proto = item.partition("/")
                    served.add((int(port), (proto or "tcp").upper()))
            if not served:
                problems.append(f"{where}: no WORKLOAD_PORTS")
            declared = {(p["containerPort"], p.get("protocol", "TCP")) for p in c.get("ports") or []}
            if declared != served:
                problems.append(f"{where}: containerPorts {sorted(declared)} but WORKLOAD_PORTS serves {sorted(served)}")
            ports_by_name = {p["name"]: p["containerPort"] for p in c.get("ports") or [] if p.get("name")}
            for kind_, probe in probes(c):
                http = probe.get("httpGet")
                if not http:
                    continue
                port = ports_by_name.get(http["port"], http["port"])
                if (port, "TCP") not in served:
                    problems.append(f"{where}: {kind_} port {http['port']} is not served")
                if http.get("path", "/") not in STAND_IN_PATHS:
                    problems.append(f"{where}: {kind_} path {http.get('path')} is not one the stand-in serves")
            if (c.get("securityContext") or {}).get("readOnlyRootFilesystem"):
                empties = {v["name"] for v in spec.get("volumes") or [] if "emptyDir" in v}
                if not [m for m in c.get("volumeMounts") or [] if m["mountPath"] == "/tmp" and m["name"] in empties]:
                    problems.append(f"{where}: read-only root filesystem without an emptyDir at /tmp")
    _fail(problems, f"{objs.source} asks the stand-in for something it does not serve")


# --------------------------------------------------------------------------------------------
# Selectors and targets


@both
def test_every_service_hpa_pdb_and_policy_selects_something_that_exists(system, profile):
    objs = rendered(system, profile)
    templates = defaultdict(list)
    for o, tmpl in pod_templates(objs):
        templates[o["metadata"]["namespace"]].append((o, tmpl))
    problems = []
    for svc in objs.of_kind("Service"):
        ns, sel = svc["metadata"]["namespace"], svc["spec"].get("selector")
        if not sel:
            problems.append(f"{manifests.ref(svc)}: no selector")
            continue
        hits = [(o, t) for o, t in templates[ns] if selector_matches({"matchLabels": sel}, t["metadata"].get("labels") or {})]
        if not hits:
            problems.append(f"{manifests.ref(svc)}: selector {sel} matches no pod template in {ns}")
        for p in svc["spec"].get("ports") or []:
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and hits and not any(tp in named_ports(t["spec"]) for _, t in hits):
                problems.append(f"{manifests.ref(svc)}: targetPort {tp!r} is not a named port of the selected pods")
            if isinstance(tp, int) and hits and not any(
                tp == cp.get("containerPort") for _, t in hits for c in t["spec"]["containers"] for cp in c.get("ports") or []
            ):
                problems.append(f"{manifests.ref(svc)}: targetPort {tp} is not a container port of the selected pods")
    for hpa in objs.of_kind("HorizontalPodAutoscaler"):
        t, ns = hpa["spec"]["scaleTargetRef"], hpa["metadata"]["namespace"]
        if not [o for o in objs if key(o) == (t["kind"], ns, t["name"]) and o.get("apiVersion") == t.get("apiVersion")]:
            problems.append(f"{manifests.ref(hpa)}: target {t.get('apiVersion')} {t['kind']}/{ns}/{t['name']} does not exist")
    for pdb in objs.of_kind("PodDisruptionBudget"):
        ns = pdb["metadata"]["namespace"]
        if not [o for o, t in templates[ns] if selector_matches(pdb["spec"]["selector"], t["metadata"].get("labels") or {})]:
            problems.append(f"{manifests.ref(pdb)}: selector matches no pod template")
    for np in objs.of_kind("NetworkPolicy"):
        ns, sel = np["metadata"]["namespace"], np["spec"]["podSelector"]
        if sel and not [o for o, t in templates[ns] if selector_matches(sel, t["metadata"].get("labels") or {})]:
            problems.append(f"{manifests.ref(np)}: podSelector {sel} matches no pod template")
    for sts in objs.of_kind("StatefulSet"):
        ns, svc = sts["metadata"]["namespace"], sts["spec"].get("serviceName")
        if svc and not [s for s in objs.of_kind("Service") if key(s) == ("Service", ns, svc)]:
            problems.append(f"{manifests.ref(sts)}: serviceName {svc!r} has no Service")
    for rb in objs.of_kind("RoleBinding", "ClusterRoleBinding"):
        rr = rb["roleRef"]
        scope = rb["metadata"].get("namespace") if rr["kind"] == "Role" else None
        if not [r for r in objs.of_kind(rr["kind"]) if r["metadata"]["name"] == rr["name"] and r["metadata"].get("namespace") == scope]:
            problems.append(f"{manifests.ref(rb)}: roleRef {rr['kind']}/{rr['name']} does not exist")
        for s in rb.get("subjects") or []:
            if s["kind"] == "ServiceAccount" and not [
                a for a in objs.of_kind("ServiceAccount") if key(a) == ("ServiceAccount", s.get("namespace"), s["name"])
            ]:
                problems.append(f"{manifests.ref(rb)}: subject ServiceAccount {s.get('namespace')}/{s['name']} does not exist")
    _fail(problems, f"{objs.source} selects or targets nothing")


# --------------------------------------------------------------------------------------------
# Pod Security


@both
def test_pods_pass_the_pod_security_level_their_namespace_enforces(system, profile):
    objs = rendered(system, profile)
    levels = {
        n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce", "privileged")
        for n in objs.of_kind("Namespace")
    }
    problems = []
    for o, tmpl in pod_templates(objs):
        level = levels.get(o["metadata"]["namespace"], "privileged")
        for v in pss_violations(tmpl["spec"], level):
            problems.append(f"{manifests.ref(o)} ({level}): {v}")
    _fail(problems, f"{objs.source}: pods the namespace's Pod Security admission would reject")


# --------------------------------------------------------------------------------------------
# README


@each
def test_readme_maps_every_object_and_records_findings_and_the_overlay(system):
    path = system_dir(system) / "README.md"
    assert path.is_file(), f"systems/{system}/README.md is missing"
    text = path.read_text()
    problems = []
    title = get_system(system).title
    if title not in text:
        problems.append(f"does not cite the document title {title!r}")
    for heading in ("## Components", "## Added by archconform", "## Design findings", "## Kind overlay", "## Custom resources"):
        if heading not in text:
            problems.append(f"no section {heading!r}")
    for o in rendered(system, "base"):
        name = o["metadata"]["name"]
        if f"`{name}`" not in text:
            problems.append(f"does not name {manifests.ref(o)} (write it as `{name}`)")
    for path_, obj in crd_documents(system):
        if path_.name not in text:
            problems.append(f"does not list crds/{path_.name}")
    _fail(problems, f"systems/{system}/README.md is incomplete")


@each
def test_findings_quote_numbers(system):
    """Each design finding states the numbers it is about (a finding without numbers cannot be checked)."""
    text = (system_dir(system) / "README.md").read_text()
    section = text.split("## Design findings", 1)[-1].split("\n## ", 1)[0]
    items = [line for line in section.splitlines() if re.match(r"^\d+\. ", line)]
    assert items, f"systems/{system}/README.md: '## Design findings' lists no numbered findings"
    without = [i for i in items if not re.search(r"\d", i.split(". ", 1)[1])]
    _fail(without, f"systems/{system}/README.md: findings without a number")
