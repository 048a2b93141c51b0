"""NetworkPolicy reachability, restated from the Kubernetes documentation ("Network Policies")
and the networking.k8s.io/v1 API reference, in the spirit of cyclonus's matcher.

Semantics implemented (each is exercised by a test naming its source):

- A pod is *isolated for ingress* only if some NetworkPolicy in its namespace selects it
  (``spec.podSelector``; ``{}`` selects every pod of the namespace) and has ``Ingress`` in its
  policy types; likewise for egress. ``policyTypes`` defaults to ``[Ingress]``, plus ``Egress``
  when the policy has an ``egress`` section.
- A connection needs BOTH: egress allowed at the source (source not isolated for egress, or
  some egress rule of a policy selecting it allows the destination and port) AND ingress allowed
  at the destination. Policies are additive (a union of allows); there are no deny rules.
- A rule without ``from``/``to`` (or with an empty list) matches every peer; a rule without
  ``ports`` (or with an empty list) matches every port. ``ingress: [{}]`` allows everything;
  ``ingress: []`` or no ``ingress`` field allows nothing (if the type is Ingress).
- Within one peer entry ``namespaceSelector`` and ``podSelector`` are ANDed (pods matching the
  pod selector in namespaces matching the namespace selector); separate entries are ORed. A
  ``podSelector`` alone means pods of the *policy's* namespace; a ``namespaceSelector`` alone
  means all pods of the matching namespaces (``{}`` = all namespaces).
- ``ipBlock`` (``cidr`` minus ``except``): pod IPs are not known offline and the docs advise
  ipBlock for cluster-external addresses, so here an ipBlock only ever matches the optional
  synthetic ``external`` endpoint (given an IP). It never matches a pod.
- Ports: ``protocol`` defaults to TCP; a numeric ``port`` (with optional ``endPort``, inclusive
  range) matches that number; a missing ``port`` matches every port of the protocol; a named
  port is resolved against the DESTINATION pod's container ports (name and protocol), for
  ingress and egress alike. A named port never matches the external endpoint.
- Namespaces carry the automatic label ``kubernetes.io/metadata.name=<name>``.
- Endpoints are derived from workload pod templates (Deployment, StatefulSet, DaemonSet,
  ReplicaSet, Job, CronJob, Pod): all pods of a workload share its template labels, so one
  endpoint stands for all of them. Jobs add ``job-name`` / ``batch.kubernetes.io/job-name``.
  A synthetic ``kube-system/kube-dns`` endpoint (``k8s-app=kube-dns``, 53/UDP and 53/TCP) is
  added unless the manifests define kube-dns pods themselves.

Not modeled (said so in explanations where it matters): hostNetwork pods (NetworkPolicy does not
apply to them in most CNIs), traffic from the node to its pods (always allowed upstream),
Services (a policy sees pod IPs and target ports, never Service ports), and CNI-specific
extensions. Whether a pod actually listens on the probed port is not a policy question: the
model answers "the policies allow it".

The matrix is computed with bitsets (Python ints): per policy the selected endpoints, per peer
the matching endpoints, per rule the destinations whose ports match; each cell is then two bit
tests, and a whole row is one AND of two ints.
"""

from __future__ import annotations

import html
import ipaddress
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from archconform.errors import ManifestError
from archconform.manifests import WORKLOAD_KINDS, iter_containers, pod_labels

from . import selectors

ALLOWED, BLOCKED, UNKNOWN, FAILED = ".", "X", "?", "!"
LEGEND = {ALLOWED: "allowed", BLOCKED: "blocked", UNKNOWN: "unknown", FAILED: "probe failed"}
EXTERNAL = "external"
DNS_KEY = "kube-system/kube-dns"
NS_NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class Port:
    """A container port: number, protocol and optional name."""

    port: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """The pods of one workload (or the synthetic kube-dns / external endpoints)."""

    namespace: str
    name: str
    kind: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[Port, ...] = ()
    ip: str | None = None
    synthetic: bool = False

    @property
    def key(self) -> str:
        """"namespace/workload", or "external" for the external endpoint."""
        return EXTERNAL if self.kind == "External" else f"{self.namespace}/{self.name}"

    @property
    def is_pod(self) -> bool:
        return self.kind != "External"

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def resolve(self, name: str, protocol: str | None = None) -> Port | None:
        """The container port with this name (and protocol, if given)."""
        for p in self.ports:
            if p.name == name and (protocol is None or p.protocol == protocol):
                return p
        return None


@dataclass(frozen=True)
class Verdict:
    """Whether a flow is allowed, and why (policies that isolate, rule that allows)."""

    allowed: bool
    explanation: str

    def __bool__(self) -> bool:  # pragma: no cover - convenience
        return self.allowed


# ----------------------------------------------------------------------------- inputs


def _ns_of(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def namespace_labels(manifests: Iterable[dict]) -> dict[str, dict[str, str]]:
    """Labels of every namespace that the manifests declare or use, with the automatic
    ``kubernetes.io/metadata.name`` label (set by the API server on every namespace)."""
    labels: dict[str, dict[str, str]] = {}
    objs = list(manifests)
    for o in objs:
        if o.get("kind") == "Namespace":
            name = o["metadata"]["name"]
            labels[name] = {**((o.get("metadata") or {}).get("labels") or {}), NS_NAME_LABEL: name}
    for o in objs:
        if o.get("kind") in WORKLOAD_KINDS or o.get("kind") == "NetworkPolicy":
            ns = _ns_of(o)
            labels.setdefault(ns, {NS_NAME_LABEL: ns})
    return {ns: {str(k): str(v) for k, v in ls.items()} for ns, ls in labels.items()}


def _container_ports(obj: dict) -> tuple[Port, ...]:
    ports = []
    for _spec, c in iter_containers(obj):
        for p in c.get("ports") or []:
            if "containerPort" in p:
                ports.append(Port(int(p["containerPort"]), str(p.get("protocol") or "TCP"), p.get("name")))
    return tuple(ports)


def endpoints(manifests: Iterable[dict], *, external_ip: str | None = None, dns: bool = True) -> list[Endpoint]:
    """One endpoint per workload (pods share their template's labels), plus the synthetic
    kube-dns endpoint (unless the manifests run kube-dns pods themselves, or ``dns=False``)
    and, if ``external_ip`` is given, an "external" endpoint with that IP (for ipBlock)."""
    eps: list[Endpoint] = []
    objs = list(manifests)
    owned_by_cronjob = set()
    for o in objs:
        kind = o.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        if kind == "ReplicaSet" and (o.get("metadata") or {}).get("ownerReferences"):
            continue  # a Deployment's ReplicaSet: the Deployment already stands for its pods
        if kind == "Pod" and (o.get("metadata") or {}).get("ownerReferences"):
            continue
        labels = {str(k): str(v) for k, v in pod_labels(o).items()}
        name = o["metadata"]["name"]
        if kind == "Job":
            # the Job controller labels its pods with the job name (batch/v1 Job docs)
            labels.setdefault("job-name", name)
            labels.setdefault("batch.kubernetes.io/job-name", name)
        if kind == "CronJob":
            owned_by_cronjob.add(name)
        eps.append(Endpoint(_ns_of(o), name, kind, tuple(sorted(labels.items())), _container_ports(o)))
    if dns and not any(e.namespace == "kube-system" and e.label_dict.get("k8s-app") == "kube-dns" for e in eps):
        eps.append(Endpoint("kube-system", "kube-dns", "Deployment", (("k8s-app", "kube-dns"),),
                            (Port(53, "UDP", "dns"), Port(53, "TCP", "dns-tcp"), Port(9153, "TCP", "metrics")),
                            synthetic=True))
    keys = [e.key for e in eps]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        # two kinds with the same name in one namespace: qualify by kind
        eps = [Endpoint(e.namespace, f"{e.kind.lower()}/{e.name}", e.kind, e.labels, e.ports, e.ip, e.synthetic)
               if e.key in dup else e for e in eps]
    if external_ip is not None:
        ipaddress.ip_address(external_ip)
        eps.append(Endpoint("", EXTERNAL, "External", (), (), external_ip, synthetic=True))
    return eps


# ----------------------------------------------------------------------------- policies


@dataclass
class _Rule:
    index: int
    peers: list[dict] | None  # None: every peer (no from/to, or empty)
    ports: list[dict] | None  # None: every port


@dataclass
class Policy:
    """A NetworkPolicy, normalised (policy types defaulted)."""

    namespace: str
    name: str
    pod_selector: dict
    ingress: bool
    egress: bool
    ingress_rules: list[_Rule] = field(default_factory=list)
    egress_rules: list[_Rule] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def policies(manifests: Iterable[dict]) -> list[Policy]:
    """All NetworkPolicies with policyTypes defaulted: Ingress always, Egress when the policy
    has an egress section (networking.k8s.io/v1 NetworkPolicySpec.policyTypes)."""
    out = []
    for o in manifests:
        if o.get("kind") != "NetworkPolicy":
            continue
        spec = o.get("spec") or {}
        types = spec.get("policyTypes")
        if types is None:
            types = ["Ingress"] + (["Egress"] if "egress" in spec and spec["egress"] is not None else [])
        bad = [t for t in types if t not in ("Ingress", "Egress")]
        if bad:
            raise ManifestError(f"NetworkPolicy {_ns_of(o)}/{o['metadata']['name']}: unknown policyTypes {bad}")
        ingress = [_Rule(i, (r.get("from") or None), (r.get("ports") or None)) for i, r in enumerate(spec.get("ingress") or [])]
        egress = [_Rule(i, (r.get("to") or None), (r.get("ports") or None)) for i, r in enumerate(spec.get("egress") or [])]
        for rule in ingress + egress:
            for p in rule.ports or []:
                _check_port_entry(p, o)
        out.append(Policy(_ns_of(o), o["metadata"]["name"], spec.get("podSelector") or {},
                          "Ingress" in types, "Egress" in types, ingress, egress))
    return out


def _check_port_entry(p: dict, obj: dict) -> None:
    proto = p.get("protocol") or "TCP"
    where = f"NetworkPolicy {_ns_of(obj)}/{obj['metadata']['name']}"
    if proto not in PROTOCOLS:
        raise ManifestError(f"{where}: unknown protocol {proto!r}")
    if p.get("endPort") is not None:
        port = p.get("port")
        if port is None or isinstance(port, str) and not port.isdigit():
            raise ManifestError(f"{where}: endPort needs a numeric port (upstream validation)")
        if int(p["endPort"]) < int(port):
            raise ManifestError(f"{where}: endPort {p['endPort']} is below port {port}")


def _entry_port(p: dict) -> int | str | None:
    port = p.get("port")
    if isinstance(port, str) and port.isdigit():
        return int(port)
    return port


def _port_entry_matches(p: dict, dst: Endpoint, port: int, protocol: str) -> bool:
    if (p.get("protocol") or "TCP") != protocol:
        return False
    want = _entry_port(p)
    if want is None:
        return True
    if isinstance(want, int):
        end = p.get("endPort")
        return want <= port <= int(end) if end is not None else want == port
    resolved = dst.resolve(want, protocol) if dst.is_pod else None
    return resolved is not None and resolved.port == port


def _ports_match(rule: _Rule, dst: Endpoint, port: int, protocol: str) -> bool:
    return rule.ports is None or any(_port_entry_matches(p, dst, port, protocol) for p in rule.ports)


def _in_ipblock(block: dict, ip: str | None) -> bool:
    if ip is None:
        return False
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"], strict=False)
    if addr.version != net.version or addr not in net:
        return False
    for ex in block.get("except") or []:
        exn = ipaddress.ip_network(ex, strict=False)
        if addr.version == exn.version and addr in exn:
            return False
    return True


def _peer_matches(peer: dict, policy_ns: str, ep: Endpoint, ns_labels: dict[str, dict[str, str]]) -> bool:
    if "ipBlock" in peer and peer["ipBlock"] is not None:
        return not ep.is_pod and _in_ipblock(peer["ipBlock"], ep.ip)
    if not ep.is_pod:
        return False
    pod_sel = peer.get("podSelector")
    ns_sel = peer.get("namespaceSelector")
    if pod_sel is None and ns_sel is None:
        raise ManifestError(f"NetworkPolicy in {policy_ns}: a peer needs podSelector, namespaceSelector or ipBlock")
    if ns_sel is None:
        ns_ok = ep.namespace == policy_ns
    else:
        ns_ok = selectors.matches(ns_sel, ns_labels.get(ep.namespace, {NS_NAME_LABEL: ep.namespace}))
    return ns_ok and (pod_sel is None or selectors.matches(pod_sel, ep.label_dict))


def _peer_text(peer: dict) -> str:
    if peer.get("ipBlock") is not None:
        b = peer["ipBlock"]
        ex = f" except {','.join(b.get('except') or [])}" if b.get("except") else ""
        return f"ipBlock {b['cidr']}{ex}"
    parts = []
    if peer.get("namespaceSelector") is not None:
        parts.append(f"namespaceSelector {selectors.describe(peer['namespaceSelector'])}")
    if peer.get("podSelector") is not None:
        parts.append(f"podSelector {selectors.describe(peer['podSelector'])}")
    return " AND ".join(parts)


def _ports_text(rule: _Rule) -> str:
    if rule.ports is None:
        return "any port"
    out = []
    for p in rule.ports:
        port = _entry_port(p)
        proto = p.get("protocol") or "TCP"
        if port is None:
            out.append(f"any/{proto}")
        elif p.get("endPort") is not None:
            out.append(f"{port}-{p['endPort']}/{proto}")
        else:
            out.append(f"{port}/{proto}")
    return ", ".join(out)


# ----------------------------------------------------------------------------- one flow


def _find(eps: Sequence[Endpoint], key: str) -> Endpoint:
    for e in eps:
        if e.key == key:
            return e
    ns, _, name = key.rpartition("/")
    hits = [e for e in eps if e.name == name and (not ns or e.namespace == ns)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(e.key for e in eps[:20])
    raise ManifestError(f"no workload {key!r} in the manifests (give 'namespace/workload'); known: {known}")


def _resolve_probe_port(dst: Endpoint, port: int | str, protocol: str) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    p = dst.resolve(port, protocol)
    return None if p is None else p.port


def _flow(eps: Sequence[Endpoint], pols: Sequence[Policy], ns_labels: dict, src: Endpoint, dst: Endpoint,
          port: int, protocol: str) -> Verdict:
    lines: list[str] = []
    # egress at the source
    egress_ok = True
    if src.is_pod:
        sel = [p for p in pols if p.egress and p.namespace == src.namespace and selectors.matches(p.pod_selector, src.label_dict)]
        if not sel:
            lines.append(f"egress: {src.key} is not isolated for egress (no policy with Egress selects it)")
        else:
            lines.append(f"egress: {src.key} is isolated for egress by {', '.join(p.key for p in sel)}")
            allow = _first_allow(sel, "egress", dst, port, protocol, ns_labels)
            if allow:
                lines.append(f"  allowed by {allow}")
            else:
                egress_ok = False
                lines.append(f"  no egress rule of these policies allows {dst.key} on {port}/{protocol}")
    else:
        lines.append(f"egress: {src.key} is outside the cluster (no policy applies)")
    ingress_ok = True
    if dst.is_pod:
        sel = [p for p in pols if p.ingress and p.namespace == dst.namespace and selectors.matches(p.pod_selector, dst.label_dict)]
        if not sel:
            lines.append(f"ingress: {dst.key} is not isolated for ingress (no policy with Ingress selects it)")
        else:
            lines.append(f"ingress: {dst.key} is isolated for ingress by {', '.join(p.key for p in sel)}")
            allow = _first_allow(sel, "ingress", src, port, protocol, ns_labels, dst=dst)
            if allow:
                lines.append(f"  allowed by {allow}")
            else:
                ingress_ok = False
                lines.append(f"  no ingress rule of these policies allows {src.key} on {port}/{protocol}")
    else:
        lines.append(f"ingress: {dst.key} is outside the cluster (no policy applies)")
    ok = egress_ok and ingress_ok
    head = f"{src.key} -> {dst.key} {port}/{protocol}: {'allowed' if ok else 'blocked'}"
    return Verdict(ok, "\n".join([head, *lines]))


def _first_allow(sel: Sequence[Policy], direction: str, peer: Endpoint, port: int, protocol: str,
                 ns_labels: dict, dst: Endpoint | None = None) -> str | None:
    target = dst if dst is not None else peer  # whose container ports resolve named ports
    for pol in sel:
        rules = pol.ingress_rules if direction == "ingress" else pol.egress_rules
        for rule in rules:
            if not _ports_match(rule, target, port, protocol):
                continue
            if rule.peers is None:
                return f"{pol.key} {direction}[{rule.index}] (all peers, {_ports_text(rule)})"
            for j, pr in enumerate(rule.peers):
                if _peer_matches(pr, pol.namespace, peer, ns_labels):
                    side = "from" if direction == "ingress" else "to"
                    return f"{pol.key} {direction}[{rule.index}].{side}[{j}] ({_peer_text(pr)}; {_ports_text(rule)})"
    return None


def reachability(manifests: Iterable[dict], src: str, dst: str, port: int | str, protocol: str = "TCP", *,
                 external_ip: str | None = None) -> Verdict:
    """Whether the policies allow ``src`` to connect to ``dst`` on port/protocol.

    ``src``/``dst`` are "namespace/workload" (or "external" when ``external_ip`` is given, or
    "kube-system/kube-dns"). ``port`` may be a number or a named container port of ``dst``.
    The explanation names the policies that isolate each side and the rule that allows the
    flow, or says that nothing allows it."""
    objs = list(manifests)
    eps = endpoints(objs, external_ip=external_ip)
    s, d = _find(eps, src), _find(eps, dst)
    number = _resolve_probe_port(d, port, protocol)
    if number is None:
        return Verdict(False, f"{s.key} -> {d.key}: {d.key} has no {protocol} container port named {port!r}")
    return _flow(eps, policies(objs), namespace_labels(objs), s, d, number, protocol)


def dns_egress(manifests: Iterable[dict], src: str) -> Verdict:
    """Whether ``src`` can resolve names: UDP 53 AND TCP 53 to the kube-dns pods (DNS falls back
    to TCP for large answers, so both are needed)."""
    objs = list(manifests)
    eps = endpoints(objs)
    s = _find(eps, src)
    dns = [e for e in eps if e.namespace == "kube-system" and e.label_dict.get("k8s-app") == "kube-dns"][0]
    pols, nsl = policies(objs), namespace_labels(objs)
    udp = _flow(eps, pols, nsl, s, dns, 53, "UDP")
    tcp = _flow(eps, pols, nsl, s, dns, 53, "TCP")
    ok = udp.allowed and tcp.allowed
    summary = f"DNS from {s.key}: {'allowed' if ok else 'blocked'} (UDP 53 {'ok' if udp.allowed else 'blocked'}, TCP 53 {'ok' if tcp.allowed else 'blocked'})"
    return Verdict(ok, "\n".join([summary, udp.explanation, tcp.explanation]))


def dns_findings(manifests: Iterable[dict]) -> list[str]:
    """One line per workload whose egress policies block DNS (UDP or TCP 53 to kube-dns)."""
    objs = list(manifests)
    out = []
    for e in endpoints(objs):
        if e.synthetic or e.namespace == "kube-system":
            continue
        v = dns_egress(objs, e.key)
        if not v.allowed:
            out.append(v.explanation.splitlines()[0] + "; a workload that resolves names cannot work")
    return out


# ----------------------------------------------------------------------------- matrix


@dataclass
class Matrix:
    """A from x to truth table: ``rows[i][j]`` is the symbol for sources[i] -> destinations[j]."""

    sources: list[str]
    destinations: list[str]
    rows: list[str]
    title: str = ""
    legend: dict[str, str] = field(default_factory=lambda: dict(LEGEND))

    def cell(self, src: str, dst: str) -> str:
        return self.rows[self.sources.index(src)][self.destinations.index(dst)]

    @property
    def cells(self) -> dict[tuple[str, str], str]:
        """{(source, destination): symbol} for every cell."""
        return {(s, d): row[j] for s, row in zip(self.sources, self.rows) for j, d in enumerate(self.destinations)}

    def pairs(self, symbol: str = ALLOWED) -> list[tuple[str, str]]:
        return [(s, d) for s, row in zip(self.sources, self.rows) for j, d in enumerate(self.destinations) if row[j] == symbol]

    def count(self, symbol: str) -> int:
        return sum(row.count(symbol) for row in self.rows)

    @classmethod
    def from_cells(cls, sources: Sequence[str], destinations: Sequence[str], cells: dict[tuple[str, str], str],
                   *, title: str = "", default: str = UNKNOWN) -> "Matrix":
        """Build a matrix from probe results (e.g. observed on a cluster); missing cells get
        ``default``."""
        rows = ["".join(cells.get((s, d), default) for d in destinations) for s in sources]
        return cls(list(sources), list(destinations), rows, title)

    def _labels(self, keys: Sequence[str]) -> list[str]:
        return list(keys)

    def render_text(self) -> str:
        """Aligned table: rows are sources, columns destinations (numbered, with a key below so
        that long names stay readable), then the legend."""
        n = len(self.destinations)
        width = max([len(s) for s in self.sources] + [len("from \\ to")])
        colw = max(len(str(n)), 1) + 1
        head = " " * width + " |" + "".join(f"{j + 1:>{colw}}" for j in range(n))
        lines = [self.title] if self.title else []
        head = "from \\ to".ljust(width) + head[width:]
        lines += [head, "-" * len(head)]
        for s, row in zip(self.sources, self.rows):
            lines.append(s.ljust(width) + " |" + "".join(f"{c:>{colw}}" for c in row))
        lines.append("")
        lines.append("to: " + "  ".join(f"{j + 1}={d}" for j, d in enumerate(self.destinations)))
        lines.append("legend: " + "  ".join(f"{k} {v}" for k, v in self.legend.items()))
        return "\n".join(lines)

    def render_html(self) -> str:
        """A standalone HTML page with the table (sources as rows, destinations as columns)."""
        colors = {ALLOWED: "#d9f2d9", BLOCKED: "#f7d4d4", UNKNOWN: "#eeeeee", FAILED: "#ffe7a8"}
        esc = html.escape
        head = "".join(f"<th class='col'><div>{esc(d)}</div></th>" for d in self.destinations)
        body = []
        for s, row in zip(self.sources, self.rows):
            tds = "".join(
                f"<td style='background:{colors.get(c, '#fff')}' title='{esc(s)} → {esc(d)}: {esc(self.legend.get(c, c))}'>{esc(c)}</td>"
                for c, d in zip(row, self.destinations))
            body.append(f"<tr><th class='row'>{esc(s)}</th>{tds}</tr>")
        legend = " ".join(f"<span style='background:{colors.get(k, '#fff')};padding:0 .4em'>{esc(k)}</span> {esc(v)}"
                          for k, v in self.legend.items())
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + esc(self.title or "reachability") + "</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse;font-family:monospace}"
            "td,th{border:1px solid #bbb;padding:2px 6px;text-align:center}th.row{text-align:left}"
            "th.col div{writing-mode:vertical-rl;transform:rotate(180deg)}</style></head><body>"
            f"<h3>{esc(self.title)}</h3><table><tr><th>from \\ to</th>{head}</tr>{''.join(body)}</table>"
            f"<p>{legend}</p></body></html>"
        )


@dataclass
class Comparison:
    """Expected (model) versus observed (probes), cell by cell: ``.`` same, ``X`` different,
    ``?`` observed unknown or probe failed (not counted as a difference)."""

    expected: Matrix
    observed: Matrix
    table: Matrix
    differences: list[tuple[str, str, str, str]]  # (src, dst, expected, observed)

    @property
    def ok(self) -> bool:
        return not self.differences

    def render_text(self) -> str:
        lines = [self.table.render_text(), ""]
        if self.differences:
            lines.append(f"{len(self.differences)} cell(s) differ:")
            lines += [f"  {s} -> {d}: expected {e} ({LEGEND.get(e, e)}), observed {o} ({LEGEND.get(o, o)})"
                      for s, d, e, o in self.differences]
        else:
            lines.append("no cell differs")
        return "\n".join(lines)

    def render_html(self) -> str:
        return self.table.render_html()


def compare(expected: Matrix, observed: Matrix) -> Comparison:
    """Compare two matrices over the same sources and destinations (cyclonus style)."""
    if expected.sources != observed.sources or expected.destinations != observed.destinations:
        raise ManifestError("compare: expected and observed matrices must have the same sources and destinations")
    rows, diffs = [], []
    for s, erow, orow in zip(expected.sources, expected.rows, observed.rows):
        out = []
        for d, e, o in zip(expected.destinations, erow, orow):
            if o in (UNKNOWN, FAILED) or e in (UNKNOWN, FAILED):
                out.append(UNKNOWN)
            elif e == o:
                out.append(ALLOWED)
            else:
                out.append(BLOCKED)
                diffs.append((s, d, e, o))
        rows.append("".join(out))
    legend = {ALLOWED: "same", BLOCKED: "differs", UNKNOWN: "not comparable (unknown or probe failed)"}
    table = Matrix(expected.sources, expected.destinations, rows, f"comparison: {expected.title or 'expected'} vs {observed.title or 'observed'}", legend)
    return Comparison(expected, observed, table, diffs)


class _Index:
    """Bitset indexes over endpoints: by pod label, by namespace label, by namespace, by named port."""

    def __init__(self, eps: Sequence[Endpoint], ns_labels: dict[str, dict[str, str]]):
        self.eps = eps
        self.n = len(eps)
        self.pods = 0
        self.ext = 0
        self.by_label: dict[tuple[str, str], int] = {}
        self.by_key: dict[str, int] = {}
        self.ns_by_label: dict[tuple[str, str], int] = {}
        self.ns_by_key: dict[str, int] = {}
        self.by_ns: dict[str, int] = {}
        self.named: dict[tuple[str, int, str], int] = {}
        self.declares: dict[tuple[int, str], int] = {}
        for i, e in enumerate(eps):
            bit = 1 << i
            if not e.is_pod:
                self.ext |= bit
                continue
            self.pods |= bit
            self.by_ns[e.namespace] = self.by_ns.get(e.namespace, 0) | bit
            for k, v in e.labels:
                self.by_label[(k, v)] = self.by_label.get((k, v), 0) | bit
                self.by_key[k] = self.by_key.get(k, 0) | bit
            for k, v in ns_labels.get(e.namespace, {NS_NAME_LABEL: e.namespace}).items():
                self.ns_by_label[(k, v)] = self.ns_by_label.get((k, v), 0) | bit
                self.ns_by_key[k] = self.ns_by_key.get(k, 0) | bit
            for p in e.ports:
                self.declares[(p.port, p.protocol)] = self.declares.get((p.port, p.protocol), 0) | bit
                if p.name:
                    key = (p.name, p.port, p.protocol)
                    self.named[key] = self.named.get(key, 0) | bit
        self.all = self.pods | self.ext
        self._cache: dict[tuple, int] = {}

    def select(self, selector: dict, by_label: dict, by_key: dict) -> int:
        bits = self.pods
        for key, op, values in selectors.requirements(selector):
            anyv = 0
            if op in ("In", "NotIn"):
                for v in values:
                    anyv |= by_label.get((key, v), 0)
            if op == "In":
                bits &= anyv
            elif op == "NotIn":
                bits &= ~anyv
            elif op == "Exists":
                bits &= by_key.get(key, 0)
            else:
                bits &= ~by_key.get(key, 0)
        return bits & self.pods

    def pods_matching(self, selector: dict) -> int:
        return self.select(selector, self.by_label, self.by_key)

    def pods_in_namespaces_matching(self, selector: dict) -> int:
        return self.select(selector, self.ns_by_label, self.ns_by_key)

    def peer(self, peer: dict, policy_ns: str) -> int:
        if peer.get("ipBlock") is not None:
            return self.ext if any(_in_ipblock(peer["ipBlock"], e.ip) for e in self.eps if not e.is_pod) else 0
        pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
        if pod_sel is None and ns_sel is None:
            raise ManifestError(f"NetworkPolicy in {policy_ns}: a peer needs podSelector, namespaceSelector or ipBlock")
        ns_bits = self.by_ns.get(policy_ns, 0) if ns_sel is None else self.pods_in_namespaces_matching(ns_sel)
        return ns_bits if pod_sel is None else ns_bits & self.pods_matching(pod_sel)

    def port_ok(self, rule: _Rule, port: int, protocol: str) -> int:
        """Destinations for which the rule's ports admit port/protocol."""
        if rule.ports is None:
            return self.all
        bits = 0
        for p in rule.ports:
            if (p.get("protocol") or "TCP") != protocol:
                continue
            want = _entry_port(p)
            if want is None:
                return self.all
            if isinstance(want, int):
                end = p.get("endPort")
                if (want <= port <= int(end)) if end is not None else want == port:
                    return self.all
            else:
                bits |= self.named.get((want, port, protocol), 0)
        return bits


def _iter_bits(x: int):
    i = 0
    s = bin(x)[:1:-1]
    while True:
        i = s.find("1", i)
        if i < 0:
            return
        yield i
        i += 1


class Compiled:
    """Policies compiled to bitsets over an endpoint list; ``rows(port, protocol)`` returns, per
    source, the int whose bit j says "source may reach endpoint j"."""

    def __init__(self, eps: Sequence[Endpoint], pols: Sequence[Policy], ns_labels: dict[str, dict[str, str]]):
        self.eps = list(eps)
        self.pols = list(pols)
        self.idx = _Index(self.eps, ns_labels)
        idx = self.idx
        self.selected = [idx.pods_matching(p.pod_selector) & idx.by_ns.get(p.namespace, 0) for p in self.pols]
        self.in_peers = [[idx.all if r.peers is None else _or(idx.peer(pr, p.namespace) for pr in r.peers) for r in p.ingress_rules]
                         for p in self.pols]
        self.out_peers = [[idx.all if r.peers is None else _or(idx.peer(pr, p.namespace) for pr in r.peers) for r in p.egress_rules]
                          for p in self.pols]
        self.ingress_isolated = _or(s for s, p in zip(self.selected, self.pols) if p.ingress)
        self.egress_isolated = _or(s for s, p in zip(self.selected, self.pols) if p.egress)

    def rows(self, port: int, protocol: str = "TCP") -> list[int]:
        idx, n = self.idx, len(self.eps)
        full = idx.all
        # ingress side, as rows: for each source, destinations that accept it
        by_sources: dict[int, int] = {}
        by_selected: dict[int, int] = {}
        for p, sel, ins, outs in zip(self.pols, self.selected, self.in_peers, self.out_peers):
            if p.ingress and sel:
                for rule, srcs in zip(p.ingress_rules, ins):
                    targets = sel & idx.port_ok(rule, port, protocol)
                    if targets and srcs:
                        by_sources[srcs] = by_sources.get(srcs, 0) | targets
            if p.egress and sel:
                for rule, dsts in zip(p.egress_rules, outs):
                    allowed = dsts & idx.port_ok(rule, port, protocol)
                    if allowed:
                        by_selected[sel] = by_selected.get(sel, 0) | allowed
        open_in = full & ~self.ingress_isolated
        ingress = [open_in] * n
        for srcs, targets in by_sources.items():
            for i in _iter_bits(srcs):
                ingress[i] |= targets
        egress = [full] * n
        iso = self.egress_isolated
        for i in _iter_bits(iso):
            egress[i] = 0
        for sel, allowed in by_selected.items():
            for i in _iter_bits(sel):
                egress[i] |= allowed
        return [e & g for e, g in zip(egress, ingress)]


def _or(values: Iterable[int]) -> int:
    out = 0
    for v in values:
        out |= v
    return out


_SYMBOLS = str.maketrans({"1": ALLOWED, "0": BLOCKED})


def _row_string(bits: int, cols: Sequence[int]) -> str:
    """Symbols for the given columns of a row bitset (fast path for contiguous columns)."""
    if isinstance(cols, range) and cols.step == 1:
        width = len(cols)
        if width == 0:
            return ""
        x = (bits >> cols.start) & ((1 << width) - 1)
        return format(x, f"0{width}b")[::-1].translate(_SYMBOLS)
    return "".join(ALLOWED if bits >> j & 1 else BLOCKED for j in cols)


def _as_range(cols: list[int]) -> Sequence[int]:
    if cols and cols == list(range(cols[0], cols[-1] + 1)):
        return range(cols[0], cols[-1] + 1)
    return cols


def matrix(manifests: Iterable[dict], *, port: int | None = None, protocol: str = "TCP",
           sources: Sequence[str] | None = None, destinations: Sequence[str] | None = None,
           external_ip: str | None = None, title: str | None = None) -> Matrix:
    """The from x to table over workloads for one port/protocol.

    Default sources and destinations: the system's workloads (not the synthetic kube-dns or
    external endpoints; name them explicitly to include them). With ``port=None`` a cell is
    ``.`` when at least one container port that the destination declares is allowed, ``X``
    when none is, and ``?`` when the destination declares no port."""
    objs = list(manifests)
    eps = endpoints(objs, external_ip=external_ip)
    comp = Compiled(eps, policies(objs), namespace_labels(objs))
    keys = [e.key for e in eps]
    position = {k: i for i, k in enumerate(keys)}

    def index_of(k: str) -> int:
        return position[k] if k in position else position[_find(eps, k).key]

    src_i = [i for i, e in enumerate(eps) if not e.synthetic] if sources is None else [index_of(k) for k in sources]
    dst_i = [i for i, e in enumerate(eps) if not e.synthetic] if destinations is None else [index_of(k) for k in destinations]
    src_keys = [keys[i] for i in src_i]
    dst_keys = [keys[i] for i in dst_i]
    cols = _as_range(dst_i)
    if port is not None:
        rows = comp.rows(int(port), protocol)
        out = [_row_string(rows[i], cols) for i in src_i]
        what = f"port {port}/{protocol}"
    else:
        combined = [0] * len(eps)
        for (pnum, proto), declarers in comp.idx.declares.items():
            rows = comp.rows(pnum, proto)
            for i in src_i:
                combined[i] |= rows[i] & declarers
        no_ports = [j for j in dst_i if not eps[j].ports]
        out = []
        for i in src_i:
            row = list(_row_string(combined[i], cols))
            for col, j in enumerate(dst_i):
                if j in no_ports:
                    row[col] = UNKNOWN
            out.append("".join(row))
        what = "any declared container port of the destination"
    return Matrix(src_keys, dst_keys, out, title or f"NetworkPolicy reachability ({what}; model)")
