"""Declared-level checks: what the rendered manifests say, field by field.

Every function takes a rendered manifest set (``archconform.manifests.Manifests``) and the
words of a promise, and either returns quietly or raises ``PromiseBroken`` with a message that
quotes the object (kind/namespace/name), the field path, the promised value and the value found.
A missing object is also a broken promise (the manifests do not say it); the message lists what
the system has instead.

These are field reads and lookups only. Anything that needs Kubernetes semantics beyond "which
object does this name" (reachability, quota arithmetic, HPA dynamics, PDB rounding, cron
schedules, pod security levels, RBAC evaluation) lives in ``archconform.model``.

Field paths
-----------
``spec.template.spec.containers[0].resources.requests.cpu`` : dots between keys, ``[N]`` for a
list index, ``[name=messenger]`` for the list item whose ``name`` is ``messenger`` (any key
works: ``[containerPort=8080]``), ``["nginx.ingress.kubernetes.io/ssl-redirect"]`` for a key
that contains dots or slashes.

Values
------
A promised value is compared after normalising both sides: numbers compare as numbers
(``"20"`` equals ``20``), Kubernetes quantities compare by amount (``"1"`` CPU equals
``"1000m"``, ``"1Gi"`` equals ``"1024Mi"``), ``true``/``false`` compare as booleans, a list is
written as comma-separated items or in YAML flow style (``[Ingress, Egress]``), and a value in
double quotes is compared as an exact string.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

import yaml

from .errors import ManifestError, PromiseBroken, UsageError
from .manifests import Manifests, iter_containers, pod_labels, pod_spec, pod_template, ref

#: Sentinel for "this field is not set".
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<not set>"})()

# --------------------------------------------------------------------------------------------
# words: durations, references, quantities


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration written the Kubernetes way: ``30s``, ``2m``, ``1h30m``, ``5m0s``, ``30d``."""
    t = text.strip()
    if not t or _DURATION_PART.sub("", t) != "":
        raise UsageError(
            f"cannot read the duration {text!r}: write it like 30s, 2m, 1h30m or 30d"
        )
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(t))


def split_ref(text: str) -> tuple[str | None, str]:
    """``"namespace/name"`` -> (namespace, name); a bare ``"name"`` -> (None, name)."""
    t = text.strip()
    if t.count("/") > 1 or not t or t.startswith("/") or t.endswith("/"):
        raise UsageError(f"cannot read the object reference {text!r}: write it as namespace/name")
    ns, _, name = t.rpartition("/")
    return (ns or None), name


def split_list(text: str) -> list[str]:
    """``"get, list, watch"`` or ``"get list watch"`` or ``[get, list]`` -> ["get", "list", "watch"]."""
    t = text.strip().strip("[]")
    return [p.strip().strip('"') for p in re.split(r"[,\s]+", t) if p.strip().strip('"')]


_QUANTITY = re.compile(r"^([+-]?\d+(?:\.\d+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def quantity(value: Any) -> Decimal | None:
    """The amount of a Kubernetes quantity (``"250m"`` -> 0.25, ``"1Gi"`` -> 1073741824), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value.strip())
    if not m or m.group(2) not in _SUFFIX:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except InvalidOperation:  # pragma: no cover - regex guarantees a number
        return None


def show(value: Any) -> str:
    """A value as a message prints it."""
    if value is MISSING:
        return "nothing (the field is not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return repr(value) if isinstance(value, str) else str(value)


def values_equal(promised: str, actual: Any) -> bool:
    """Does the promised value (as written in a feature) equal the value found in a manifest?"""
    p = promised.strip()
    if actual is MISSING:
        return False
    if len(p) >= 2 and p[0] == p[-1] == '"':
        return isinstance(actual, str) and actual == p[1:-1]
    if isinstance(actual, bool):
        return p.lower() == ("true" if actual else "false")
    if isinstance(actual, list):
        try:
            loaded = yaml.safe_load(p) if p.startswith("[") else None
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, list):
            return _norm(loaded) == _norm(actual)
        return [str(x) for x in _norm(actual)] == split_list(p)
    if isinstance(actual, dict):
        try:
            loaded = yaml.safe_load(p)
        except yaml.YAMLError:
            return False
        return isinstance(loaded, dict) and _norm(loaded) == _norm(actual)
    if isinstance(actual, str) and actual == p:
        return True
    qa, qp = quantity(actual), quantity(p)
    if qa is not None and qp is not None:
        return qa == qp
    return str(actual) == p


def _norm(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


# --------------------------------------------------------------------------------------------
# objects and paths


def find(manifests: Manifests, kind: str, reference: str) -> dict:
    """The object named ``namespace/name`` (or ``name`` for cluster-scoped kinds); a missing
    object is a broken promise whose message lists the objects of that kind the system has."""
    ns, name = split_ref(reference)
    try:
        return manifests.find(kind, name, ns)
    except ManifestError as exc:
        raise PromiseBroken(f"the document promises {kind} {reference!r}, but {exc}") from None


def try_find(manifests: Manifests, kind: str, reference: str) -> dict | None:
    ns, name = split_ref(reference)
    try:
        return manifests.find(kind, name, ns)
    except ManifestError:
        return None


_PATH_TOKEN = re.compile(
    r"""\.?(?:
        \["(?P<quoted>[^"]+)"\]          # ["a.b/c"]
      | \[(?P<index>\d+)\]               # [0]
      | \[(?P<key>[^=\]]+)=(?P<val>[^\]]+)\]   # [name=x]
      | (?P<plain>[^.\[\]]+)             # key
    )""",
    re.VERBOSE,
)


def parse_path(path: str) -> list[tuple[str, Any]]:
    """Split a field path into steps: ("key", k), ("index", i) or ("match", (k, v))."""
    steps: list[tuple[str, Any]] = []
    pos = 0
    p = path.strip()
    while pos < len(p):
        m = _PATH_TOKEN.match(p, pos)
        if not m or m.end() == pos:
            raise UsageError(
                f"cannot read the field path {path!r} at {p[pos:]!r}: write it like "
                'spec.template.spec.containers[name=api].ports[0].containerPort or metadata.labels["app"]'
            )
        if m.group("quoted") is not None:
            steps.append(("key", m.group("quoted")))
        elif m.group("index") is not None:
            steps.append(("index", int(m.group("index"))))
        elif m.group("key") is not None:
            steps.append(("match", (m.group("key").strip(), m.group("val").strip().strip('"'))))
        else:
            steps.append(("key", m.group("plain")))
        pos = m.end()
    if not steps:
        raise UsageError("an empty field path")
    return steps


def get_path(obj: Any, path: str) -> Any:
    """The value at a field path, or MISSING."""
    cur = obj
    for kind, arg in parse_path(path):
        if kind == "key":
            if not isinstance(cur, dict) or arg not in cur:
                return MISSING
            cur = cur[arg]
        elif kind == "index":
            if not isinstance(cur, list) or arg >= len(cur):
                return MISSING
            cur = cur[arg]
        else:
            k, v = arg
            if not isinstance(cur, list):
                return MISSING
            hits = [x for x in cur if isinstance(x, dict) and str(x.get(k)) == v]
            if len(hits) != 1:
                return MISSING
            cur = hits[0]
    return cur


def _mismatch(obj: dict, source: str, field: str, promised: str, actual: Any) -> str:
    return f"{ref(obj)} ({source}): {field}: promised {promised}, found {show(actual)}"


# --------------------------------------------------------------------------------------------
# checks


def exists(manifests: Manifests, kind: str, reference: str) -> dict:
    """The object exists in the rendered manifests."""
    return find(manifests, kind, reference)


def namespaces_exist(manifests: Manifests, names: Iterable[str]) -> None:
    """Every listed Namespace object exists."""
    have = set(manifests.namespaces())
    missing = [n for n in names if n not in have]
    if missing:
        raise PromiseBroken(
            f"{manifests.source}: the document promises the namespaces {', '.join(missing)}, which the "
            f"manifests do not create; they create: {', '.join(sorted(have)) or 'none'}"
        )


def field_equals(manifests: Manifests, kind: str, reference: str, field: str, promised: str) -> Any:
    """One field of one object has the promised value; returns the value found."""
    obj = find(manifests, kind, reference)
    actual = get_path(obj, field)
    if not values_equal(promised, actual):
        raise PromiseBroken(_mismatch(obj, manifests.source, field, promised, actual))
    return actual


def fields_equal(manifests: Manifests, kind: str, reference: str, rows: Sequence[tuple[str, str]]) -> None:
    """Several fields of one object; every mismatch is listed in one message."""
    obj = find(manifests, kind, reference)
    problems = [
        _mismatch(obj, manifests.source, field, promised, actual)
        for field, promised in rows
        if not values_equal(promised, actual := get_path(obj, field))
    ]
    if problems:
        raise PromiseBroken("\n".join(problems))


def field_absent(manifests: Manifests, kind: str, reference: str, field: str) -> None:
    """A field is not set at all (e.g. no hostNetwork, no minAvailable)."""
    obj = find(manifests, kind, reference)
    actual = get_path(obj, field)
    if actual is not MISSING:
        raise PromiseBroken(_mismatch(obj, manifests.source, field, "not set", actual))


def field_set(manifests: Manifests, kind: str, reference: str, field: str) -> Any:
    """A field is set (to anything); returns its value."""
    obj = find(manifests, kind, reference)
    actual = get_path(obj, field)
    if actual is MISSING:
        raise PromiseBroken(_mismatch(obj, manifests.source, field, "a value", actual))
    return actual


def every_container(manifests: Manifests, kind: str, reference: str, field: str, promised: str) -> None:
    """Every container and init container of a workload has the promised value at ``field``
    (a path relative to the container, e.g. ``securityContext.runAsNonRoot``)."""
    obj = find(manifests, kind, reference)
    containers = list(iter_containers(obj))
    if not containers:
        raise PromiseBroken(f"{ref(obj)} ({manifests.source}): has no containers")
    problems = []
    for _spec, c in containers:
        actual = get_path(c, field)
        if not values_equal(promised, actual):
            problems.append(_mismatch(obj, manifests.source, f"container {c.get('name')!r} {field}", promised, actual))
    if problems:
        raise PromiseBroken("\n".join(problems))


def container_argument(manifests: Manifests, kind: str, reference: str, container: str, argument: str) -> None:
    """A named container runs with ``argument`` among its command or args."""
    obj = find(manifests, kind, reference)
    c = _container(manifests, obj, container)
    words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
    if argument not in words:
        raise PromiseBroken(_mismatch(obj, manifests.source, f"container {container!r} command/args", argument, words or MISSING))


def hpa_target(manifests: Manifests, reference: str, resource: str, percent: int) -> None:
    """A HorizontalPodAutoscaler has a Resource metric on ``resource`` with an average
    utilization target of ``percent``."""
    obj = find(manifests, "HorizontalPodAutoscaler", reference)
    metrics = (obj.get("spec") or {}).get("metrics") or []
    found = []
    for m in metrics:
        if m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == resource:
            target = (m.get("resource") or {}).get("target") or {}
            found.append(target)
            if target.get("type") == "Utilization" and target.get("averageUtilization") == percent:
                return
    field = f"spec.metrics[type=Resource,name={resource}].resource.target"
    raise PromiseBroken(_mismatch(obj, manifests.source, field, f"averageUtilization {percent}",
                                  found[0] if found else MISSING))


def qos_class(obj: dict) -> str:
    """The QoS class the kubelet gives the pods of a workload (Guaranteed, Burstable, BestEffort),
    from its containers' requests and limits (init containers included). A limit without a
    request counts as a request of the same amount, as the API server defaults it."""
    containers = [c for _s, c in iter_containers(obj)]
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        requests = {**limits, **(res.get("requests") or {})}
        if limits or requests:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or quantity(requests.get(r)) != quantity(limits.get(r)):
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if any_set else "BestEffort"


def qos(manifests: Manifests, kind: str, reference: str, promised: str) -> None:
    """The pods of a workload get the promised QoS class."""
    obj = find(manifests, kind, reference)
    actual = qos_class(obj)
    if actual != promised:
        detail = "; ".join(
            f"container {c.get('name')!r} requests {show((c.get('resources') or {}).get('requests', MISSING))} "
            f"limits {show((c.get('resources') or {}).get('limits', MISSING))}"
            for _s, c in iter_containers(obj)
        )
        raise PromiseBroken(f"{ref(obj)} ({manifests.source}): QoS class: promised {promised}, found {actual} ({detail})")


def _container(manifests: Manifests, obj: dict, name: str) -> dict:
    names = []
    for _spec, c in iter_containers(obj):
        names.append(c.get("name"))
        if c.get("name") == name:
            return c
    raise PromiseBroken(
        f"{ref(obj)} ({manifests.source}): the document promises a container {name!r}; "
        f"the pod template has {', '.join(map(str, names)) or 'no containers'}"
    )


def container_resources(
    manifests: Manifests, kind: str, reference: str, container: str, section: str, cpu: str, memory: str
) -> None:
    """A container's ``resources.requests`` (or ``limits``) has the promised cpu and memory."""
    if section not in ("requests", "limits"):
        raise UsageError(f"resources section must be requests or limits, not {section!r}")
    obj = find(manifests, kind, reference)
    c = _container(manifests, obj, container)
    problems = []
    for res, promised in (("cpu", cpu), ("memory", memory)):
        field = f"resources.{section}.{res}"
        actual = get_path(c, field)
        if not values_equal(promised, actual):
            problems.append(_mismatch(obj, manifests.source, f"container {container!r} {field}", promised, actual))
    if problems:
        raise PromiseBroken("\n".join(problems))


def container_field(manifests: Manifests, kind: str, reference: str, container: str, field: str, promised: str) -> None:
    """One field of a named container (path relative to the container)."""
    obj = find(manifests, kind, reference)
    c = _container(manifests, obj, container)
    actual = get_path(c, field)
    if not values_equal(promised, actual):
        raise PromiseBroken(_mismatch(obj, manifests.source, f"container {container!r} {field}", promised, actual))


PROBES = {"liveness": "livenessProbe", "readiness": "readinessProbe", "startup": "startupProbe"}


def http_probe(
    manifests: Manifests, kind: str, reference: str, container: str, probe: str, path: str, port: str
) -> dict:
    """A container has a liveness/readiness/startup probe doing HTTP GET on ``path`` at ``port``
    (a number, or a port name that resolves to that number). Returns the probe."""
    if probe not in PROBES:
        raise UsageError(f"probe must be one of {', '.join(PROBES)}, not {probe!r}")
    obj = find(manifests, kind, reference)
    c = _container(manifests, obj, container)
    field = PROBES[probe]
    pr = c.get(field)
    where = f"container {container!r} {field}"
    if not isinstance(pr, dict):
        raise PromiseBroken(_mismatch(obj, manifests.source, where, f"HTTP GET {path} on port {port}", MISSING))
    get = pr.get("httpGet")
    if not isinstance(get, dict):
        raise PromiseBroken(_mismatch(obj, manifests.source, where, f"HTTP GET {path} on port {port}", pr))
    actual_port = get.get("port")
    if isinstance(actual_port, str) and not actual_port.isdigit():
        named = [p.get("containerPort") for p in c.get("ports") or [] if p.get("name") == actual_port]
        actual_port = named[0] if named else actual_port
    problems = []
    if get.get("path", "/") != path:
        problems.append(_mismatch(obj, manifests.source, f"{where}.httpGet.path", path, get.get("path", MISSING)))
    if not values_equal(str(port), actual_port):
        problems.append(_mismatch(obj, manifests.source, f"{where}.httpGet.port", str(port), actual_port))
    if problems:
        raise PromiseBroken("\n".join(problems))
    return pr


def _selector_matches(selector: dict | None, labels: dict) -> bool:
    from .model.selectors import matches

    return matches(selector, labels)


def _pod_selector(obj: dict) -> dict | None:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Service":
        sel = spec.get("selector")
        return None if not sel else {"matchLabels": sel}
    if kind == "NetworkPolicy":
        return spec.get("podSelector", {})
    return spec.get("selector")


def selects_pods_of(manifests: Manifests, kind: str, reference: str, target_kind: str, target: str) -> None:
    """A PodDisruptionBudget, Service or NetworkPolicy selects the pods of a workload, in the same
    namespace."""
    obj = find(manifests, kind, reference)
    tgt = find(manifests, target_kind, target)
    sel = _pod_selector(obj)
    labels = pod_labels(tgt)
    ns_obj = (obj.get("metadata") or {}).get("namespace")
    ns_tgt = (tgt.get("metadata") or {}).get("namespace")
    field = "spec.selector" if kind != "NetworkPolicy" else "spec.podSelector"
    if ns_obj != ns_tgt:
        raise PromiseBroken(
            f"{ref(obj)} ({manifests.source}) is in namespace {ns_obj!r} but {ref(tgt)} is in {ns_tgt!r}: "
            f"a {kind} only selects pods of its own namespace"
        )
    if sel is None or not _selector_matches(sel, labels):
        raise PromiseBroken(
            f"{ref(obj)} ({manifests.source}): {field}: promised to select the pods of {ref(tgt)} "
            f"(labels {show(labels)}), found {show(sel if sel is not None else MISSING)}"
        )


def scales(manifests: Manifests, hpa_reference: str, target_kind: str, target: str) -> dict:
    """A HorizontalPodAutoscaler's scaleTargetRef names an existing workload of that kind, in
    its own namespace. Returns the HPA."""
    hpa = find(manifests, "HorizontalPodAutoscaler", hpa_reference)
    tgt = find(manifests, target_kind, target)
    str_ = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    ns_h = hpa["metadata"].get("namespace")
    ns_t = tgt["metadata"].get("namespace")
    if str_.get("kind") != target_kind or str_.get("name") != tgt["metadata"]["name"] or ns_h != ns_t:
        raise PromiseBroken(
            f"{ref(hpa)} ({manifests.source}): spec.scaleTargetRef: promised {target_kind} "
            f"{ref(tgt)}, found {show(str_ or MISSING)} in namespace {ns_h!r}"
        )
    return hpa


def namespace_label(manifests: Manifests, namespace: str, key: str, promised: str) -> None:
    """A Namespace carries a label with the promised value."""
    field_equals(manifests, "Namespace", namespace, f'metadata.labels["{key}"]', promised)


def configmap_holds(manifests: Manifests, reference: str, rows: Sequence[tuple[str, str]]) -> None:
    """A ConfigMap's data has each key with exactly that string value."""
    obj = find(manifests, "ConfigMap", reference)
    data = obj.get("data") or {}
    problems = [
        _mismatch(obj, manifests.source, f'data["{k}"]', f'"{v}"', data.get(k, MISSING))
        for k, v in rows
        if data.get(k, MISSING) != v
    ]
    if problems:
        raise PromiseBroken("\n".join(problems))


def quota_hard(manifests: Manifests, namespace: str, rows: Sequence[tuple[str, str]]) -> None:
    """The ResourceQuotas of a namespace set each listed hard limit to the promised value.
    (When several quotas set the same resource, each must say it: the API enforces all.)"""
    quotas = [o for o in manifests.of_kind("ResourceQuota") if o["metadata"].get("namespace") == namespace]
    if not quotas:
        raise PromiseBroken(
            f"{manifests.source}: the document promises a ResourceQuota in namespace {namespace!r}; there is none"
        )
    problems = []
    for resource, promised in rows:
        found = [(q, (q.get("spec") or {}).get("hard", {}).get(resource, MISSING)) for q in quotas]
        setting = [(q, v) for q, v in found if v is not MISSING]
        if not setting:
            problems.append(
                f"ResourceQuota in {namespace} ({manifests.source}): spec.hard[\"{resource}\"]: promised "
                f"{promised}, found nothing in {', '.join(ref(q) for q in quotas)}"
            )
            continue
        for q, v in setting:
            if not values_equal(promised, v):
                problems.append(_mismatch(q, manifests.source, f'spec.hard["{resource}"]', promised, v))
    if problems:
        raise PromiseBroken("\n".join(problems))


def default_deny(manifests: Manifests, namespace: str, direction: str) -> dict:
    """The namespace has a NetworkPolicy selecting every pod (``podSelector: {}``) with the
    direction in its policyTypes and no rule for that direction. Returns that policy."""
    direction = direction.capitalize()
    if direction not in ("Ingress", "Egress"):
        raise UsageError(f"direction must be ingress or egress, not {direction!r}")
    key = direction.lower()
    pols = [o for o in manifests.of_kind("NetworkPolicy") if o["metadata"].get("namespace") == namespace]
    seen = []
    for p in pols:
        spec = p.get("spec") or {}
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
        if spec.get("podSelector") in ({}, None) and direction in types and not spec.get(key):
            return p
        seen.append(f"{ref(p)} (podSelector {show(spec.get('podSelector', MISSING))}, policyTypes {show(types)}, "
                    f"{key} rules {len(spec.get(key) or [])})")
    raise PromiseBroken(
        f"{manifests.source}: namespace {namespace!r}: promised a default-deny {key} NetworkPolicy "
        f"(podSelector {{}}, policyTypes with {direction}, no {key} rules); found "
        + ("; ".join(seen) if seen else "no NetworkPolicy at all")
    )


def role_grants(
    manifests: Manifests, kind: str, reference: str, verbs: str, resources: str, api_group: str = ""
) -> None:
    """A Role or ClusterRole has one rule granting exactly these verbs on these resources in
    the API group ("" is the core group): not fewer, not more."""
    obj = find(manifests, kind, reference)
    want_v, want_r = set(split_list(verbs)), set(split_list(resources))
    rules = obj.get("rules") or []
    for rule in rules:
        if api_group in (rule.get("apiGroups") or []) and set(rule.get("resources") or []) == want_r:
            got_v = set(rule.get("verbs") or [])
            if got_v == want_v:
                return
            raise PromiseBroken(_mismatch(obj, manifests.source, f"rules[resources={','.join(sorted(want_r))}].verbs",
                                          ", ".join(sorted(want_v)), sorted(got_v)))
    group = api_group or '"" (core)'
    raise PromiseBroken(
        f"{ref(obj)} ({manifests.source}): rules: promised a rule granting {', '.join(sorted(want_v))} on "
        f"{', '.join(sorted(want_r))} in API group {group}; found {show(rules or MISSING)}"
    )


def ingress_route(manifests: Manifests, reference: str, host: str, path: str, service: str, port: str) -> None:
    """An Ingress has a rule for the host with the path routed to the Service and port
    (a number or a port name)."""
    obj = find(manifests, "Ingress", reference)
    rules = (obj.get("spec") or {}).get("rules") or []
    found = []
    for r in rules:
        if r.get("host") != host:
            continue
        for p in ((r.get("http") or {}).get("paths") or []):
            if p.get("path", "/") != path:
                continue
            svc = ((p.get("backend") or {}).get("service")) or {}
            sp = svc.get("port") or {}
            actual_port = sp.get("number", sp.get("name", MISSING))
            found.append(f"{svc.get('name')}:{actual_port}")
            if svc.get("name") == service and values_equal(str(port), actual_port):
                return
    raise PromiseBroken(
        f"{ref(obj)} ({manifests.source}): spec.rules[host={host}].http.paths[path={path}].backend.service: "
        f"promised {service}:{port}, found {', '.join(found) or 'no such host and path'}"
    )


def ingress_tls(manifests: Manifests, reference: str, host: str, secret: str) -> None:
    """An Ingress terminates TLS for the host with the named Secret."""
    obj = find(manifests, "Ingress", reference)
    tls = (obj.get("spec") or {}).get("tls") or []
    for t in tls:
        if host in (t.get("hosts") or []) and t.get("secretName") == secret:
            return
    raise PromiseBroken(
        f"{ref(obj)} ({manifests.source}): spec.tls: promised host {host} with secretName {secret}, "
        f"found {show(tls or MISSING)}"
    )


def ingress_backends_resolve(manifests: Manifests, reference: str) -> None:
    """Every backend of an Ingress names a Service in the Ingress's own namespace (the API only
    resolves backends there) and a port that Service exposes."""
    obj = find(manifests, "Ingress", reference)
    ns = obj["metadata"].get("namespace")
    spec = obj.get("spec") or {}
    backends = []
    if spec.get("defaultBackend"):
        backends.append(("spec.defaultBackend", spec["defaultBackend"]))
    for r in spec.get("rules") or []:
        for p in ((r.get("http") or {}).get("paths") or []):
            backends.append((f"spec.rules[host={r.get('host')}].paths[path={p.get('path')}].backend", p.get("backend") or {}))
    problems = []
    for where, b in backends:
        svc = b.get("service")
        if not svc:
            continue
        name = svc.get("name")
        port = svc.get("port") or {}
        target = [s for s in manifests.of_kind("Service") if s["metadata"]["name"] == name]
        here = [s for s in target if s["metadata"].get("namespace") == ns]
        if not here:
            elsewhere = ", ".join(ref(s) for s in target)
            problems.append(
                f"{ref(obj)} ({manifests.source}): {where}: Service {name!r} does not exist in namespace {ns!r}"
                + (f" (it exists as {elsewhere}; an Ingress cannot route to another namespace)" if elsewhere else "")
            )
            continue
        ports = (here[0].get("spec") or {}).get("ports") or []
        ok = any(
            ("number" in port and p.get("port") == port["number"]) or ("name" in port and p.get("name") == port["name"])
            for p in ports
        )
        if not ok:
            problems.append(
                f"{ref(obj)} ({manifests.source}): {where}: port {show(port)} is not a port of {ref(here[0])} "
                f"(ports {show([p.get('port') for p in ports])})"
            )
    if not backends:
        problems.append(f"{ref(obj)} ({manifests.source}): has no backends")
    if problems:
        raise PromiseBroken("\n".join(problems))


def references_resolve(manifests: Manifests, kind: str, reference: str) -> None:
    """Every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount that a workload's pod
    template refers to (env, envFrom, volumes, imagePullSecrets, serviceAccountName) exists in
    its namespace, unless the reference is marked optional."""
    obj = find(manifests, kind, reference)
    ns = obj["metadata"].get("namespace")
    spec = pod_spec(obj) or {}
    refs: list[tuple[str, str, str]] = []  # (kind, name, where)
    for _s, c in iter_containers(obj):
        cn = c.get("name")
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            for key, k in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                r = vf.get(key)
                if r and not r.get("optional"):
                    refs.append((k, r.get("name"), f"container {cn!r} env {e.get('name')}"))
        for e in c.get("envFrom") or []:
            for key, k in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                r = e.get(key)
                if r and not r.get("optional"):
                    refs.append((k, r.get("name"), f"container {cn!r} envFrom"))
    for v in spec.get("volumes") or []:
        if v.get("configMap") and not v["configMap"].get("optional"):
            refs.append(("ConfigMap", v["configMap"].get("name"), f"volume {v.get('name')}"))
        if v.get("secret") and not v["secret"].get("optional"):
            refs.append(("Secret", v["secret"].get("secretName"), f"volume {v.get('name')}"))
        if v.get("persistentVolumeClaim"):
            refs.append(("PersistentVolumeClaim", v["persistentVolumeClaim"].get("claimName"), f"volume {v.get('name')}"))
    for s in spec.get("imagePullSecrets") or []:
        refs.append(("Secret", s.get("name"), "imagePullSecrets"))
    sa = spec.get("serviceAccountName")
    if sa and sa != "default":
        refs.append(("ServiceAccount", sa, "serviceAccountName"))
    problems = []
    for k, name, where in refs:
        try:
            manifests.find(k, name, ns)
        except ManifestError:
            problems.append(f"{ref(obj)} ({manifests.source}): {where}: refers to {k} {ns}/{name}, which the manifests do not create")
    if problems:
        raise PromiseBroken("\n".join(problems))


def service_port(manifests: Manifests, reference: str, port: str, target: str | None = None, name: str | None = None) -> None:
    """A Service exposes ``port`` (and forwards it to ``target``, a number or a port name, when
    given; and names it ``name`` when given)."""
    obj = find(manifests, "Service", reference)
    ports = (obj.get("spec") or {}).get("ports") or []
    for p in ports:
        if values_equal(str(port), p.get("port")):
            problems = []
            if target is not None and not values_equal(str(target), p.get("targetPort", p.get("port"))):
                problems.append(_mismatch(obj, manifests.source, f"spec.ports[port={port}].targetPort", target,
                                          p.get("targetPort", MISSING)))
            if name is not None and p.get("name") != name:
                problems.append(_mismatch(obj, manifests.source, f"spec.ports[port={port}].name", name, p.get("name", MISSING)))
            if problems:
                raise PromiseBroken("\n".join(problems))
            return
    raise PromiseBroken(_mismatch(obj, manifests.source, "spec.ports[*].port", str(port), [p.get("port") for p in ports]))


def table_rows(datatable: Sequence[Sequence[str]], columns: int = 2) -> list[tuple[str, ...]]:
    """Rows of a datatable without its header, each with ``columns`` stripped cells."""
    if not datatable or len(datatable) < 2:
        raise UsageError("the step needs a table with a header row and at least one row")
    rows = []
    for line in datatable[1:]:
        cells = [c.strip() for c in line]
        if len(cells) < columns:
            raise UsageError(f"table row {line!r} needs {columns} columns")
        rows.append(tuple(cells[:columns]))
    return rows


def workload_pod_template(manifests: Manifests, kind: str, reference: str) -> dict:
    """The pod template of a workload (for steps that hand it to a model function)."""
    obj = find(manifests, kind, reference)
    tmpl = pod_template(obj)
    if tmpl is None:
        raise PromiseBroken(f"{ref(obj)} ({manifests.source}): has no pod template")
    return tmpl


def custom_resources(system: str) -> Manifests:
    """The objects of ``systems/<system>/crds/*.yaml``: resources whose CRDs the clusters do not
    install (ServiceMonitor, VirtualService, Argo CD Application, ...). They are never deployed
    by the base profile, so their promises are checked at the declared level from these files."""
    from .manifests import load_yaml_documents
    from .systems import get_system, project_root

    get_system(system)
    folder = project_root() / "systems" / system / "crds"
    objs = Manifests(source=f"systems/{system}/crds")
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        objs.extend(load_yaml_documents(path.read_text(encoding="utf-8"), source=f"systems/{system}/crds/{path.name}"))
    return objs


def _targets(obj: dict, ref_field: str, kind: str, name: str) -> bool:
    t = (obj.get("spec") or {}).get(ref_field) or {}
    return t.get("name") == name and t.get("kind", "Deployment") == kind


def autoscaler_conflicts(manifests: Manifests, kind: str, reference: str) -> list[str]:
    """Autoscalers that fight over one workload: more than one controller writing its replica
    count (HorizontalPodAutoscalers, and KEDA ScaledObjects, which drive an HPA of their own), or a
    VerticalPodAutoscaler that changes requests (any updateMode but "Off") while an HPA or
    ScaledObject scales on cpu or memory utilization, which is relative to those requests (the
    VPA documentation warns against exactly this)."""
    obj = find(manifests, kind, reference)
    ns, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
    here = [o for o in manifests if (o.get("metadata") or {}).get("namespace") == ns]
    hpas = [o for o in here if o.get("kind") == "HorizontalPodAutoscaler" and _targets(o, "scaleTargetRef", kind, name)]
    keda = [o for o in here if o.get("kind") == "ScaledObject" and _targets(o, "scaleTargetRef", kind, name)]
    vpas = [o for o in here if o.get("kind") == "VerticalPodAutoscaler" and _targets(o, "targetRef", kind, name)
            and ((o.get("spec") or {}).get("updatePolicy") or {}).get("updateMode", "Auto") != "Off"]
    problems = []
    replica_writers = hpas + keda
    if len(replica_writers) > 1:
        problems.append(f"{ref(obj)}: {len(replica_writers)} controllers set its replica count "
                        f"({', '.join(ref(o) for o in replica_writers)})")
    resource_scalers = []
    for h in hpas:
        if any(m.get("type") == "Resource" and (m.get("resource") or {}).get("name") in ("cpu", "memory")
               for m in (h.get("spec") or {}).get("metrics") or []):
            resource_scalers.append(h)
    for s in keda:
        if any(t.get("type") in ("cpu", "memory") for t in (s.get("spec") or {}).get("triggers") or []):
            resource_scalers.append(s)
    for v in vpas:
        mode = ((v.get("spec") or {}).get("updatePolicy") or {}).get("updateMode", "Auto")
        for s in resource_scalers:
            problems.append(f"{ref(obj)}: {ref(v)} (updateMode {mode}) rewrites the cpu/memory requests that {ref(s)} "
                            "measures utilization against, so the two autoscalers chase each other")
    return problems


def autoscalers_agree(manifests: Manifests, kind: str, reference: str) -> None:
    """No autoscaler conflicts for the workload (see ``autoscaler_conflicts``)."""
    problems = autoscaler_conflicts(manifests, kind, reference)
    if problems:
        raise PromiseBroken(f"{manifests.source}: " + "\n".join(problems))
