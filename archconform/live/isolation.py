"""Observed isolation: NetworkPolicy reachability measured on a live cluster, cyclonus style.

The same probe jobs (source workload, destination workload, port, protocol) run twice:

- through the model (``archconform.model.netpol.matrix``): the expected truth table;
- through the cluster: from one ready pod of each source workload, ``kubectl exec`` of the
  stand-in workload's own probe (``python -m archconform_workload connect --host <pod IP>
  --port P --protocol tcp|udp --timeout <Timeouts.probe>``) against one ready pod of the
  destination workload, by pod IP: a NetworkPolicy sees pod IPs and target ports, never Service
  ports, so probing the pod is probing exactly what the model answers (a Service would add
  kube-proxy and DNS, which the model does not see). The argv is ``connect_argv``, a pure
  function.

One symbol per cell: ``.`` allowed (``connected``), ``X`` blocked (``refused``, ``timeout`` or
``error: ...``: a CNI may drop, reject or answer unreachable; the workload's README treats every
answer but ``connected`` as blocked), ``?`` unknown (with the reason: the source's pods do not
run the workload image (postgres, redis); a CronJob has no long-running pod; nothing listens on
the port in the destination; no ready pod; hostNetwork; SCTP), ``!`` probe failed (the exec
itself failed: never counted as blocked).

A cell whose observation differs from the model, or whose probe failed, is probed again, up to
``Timeouts.probe_retries`` more times, before the difference counts (cyclonus's retries); the
last answer is the cell's. Probes run on a small bounded thread pool (``PROBE_WORKERS``), with
progress lines on the ``archconform.progress`` logger.

DNS is part of every result: each source resolves ``kubernetes.default.svc.cluster.local``
(the workload's ``resolve`` probe, through the pod's resolv.conf); the model's expectation is
its egress to kube-dns on UDP 53 (what a short lookup uses).

The comparison (``model.netpol.compare``) is attached to the report as HTML and text, expected
and observed side by side per cell with differing cells marked; a failure names each differing
cell's source, destination, port, expected, observed and the policy the model says decides it.
When every flow the model blocks is observed open, ``archconform.live.cni.diagnose`` turns the
failure into a ``PlatformGap`` naming the CNI.

Concurrency: the official client's ``stream()`` (exec) swaps ``ApiClient.call_api`` while it
runs, so two execs through one ``Kube`` at once leave the client broken. Each worker thread
therefore gets its own ``Kube`` (``clients``; by default a new one for the same kubeconfig and
context), and the caller's ``Kube`` is only used before and after the pool.
"""

from __future__ import annotations

import concurrent.futures
import html
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from archconform.clusters.base import WORKLOAD_IMAGE
from archconform.errors import ClusterError, PromiseBroken, UsageError, WaitTimeout, format_duration
from archconform.manifests import WORKLOAD_KINDS, iter_containers, pod_spec
from archconform.model import netpol
from archconform.model.netpol import ALLOWED, BLOCKED, FAILED, UNKNOWN, Comparison, Matrix
from archconform.settings import Timeouts

from .recorder import pod_is_ready

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: Probes running at once. Each holds one exec WebSocket to the API server and one client of its
#: own; 8 keeps a kind control plane responsive while a 20 x 20 matrix finishes in under a minute.
PROBE_WORKERS = 8
#: The probe program inside the stand-in workload image (workload/README.md, probe subcommands).
PROBE_PROGRAM = ("python", "-m", "archconform_workload")
#: The cluster's DNS domain (kubelet --cluster-domain; cluster.local on kind, k3s and EKS).
CLUSTER_DOMAIN = "cluster.local"
#: The name every pod resolves for the DNS column: absolute (trailing dot), so the answer does
#: not depend on the pod's search list and ndots.
DNS_NAME = f"kubernetes.default.svc.{CLUSTER_DOMAIN}."
#: The DNS column's name in the matrices.
DNS_COLUMN = "cluster DNS"
#: Lookups in a DNS timing series: enough for a p95 that means something, done in seconds.
DNS_LOOKUPS = 20
#: Pause between the lookups of a series (an interval, not a budget): spreads them over a few
#: seconds instead of one burst.
DNS_LOOKUP_INTERVAL = 0.1
#: Protocols the workload's ``connect`` probe speaks.
PROBED_PROTOCOLS = ("TCP", "UDP")


class NotObserved(ClusterError):
    """The cluster gave no usable observation (every probe failed, nothing could be probed)."""


# ------------------------------------------------------------------------------------------------
# pure parts: argv, answers, jobs
# ------------------------------------------------------------------------------------------------

def _seconds(value: float) -> str:
    return f"{float(value):g}"


def connect_argv(host: str, port: int, protocol: str, timeout: float) -> list[str]:
    """The exact argv run in the source pod for one connect attempt (bounded by ``timeout``)."""
    proto = protocol.upper()
    if proto not in PROBED_PROTOCOLS:
        raise UsageError(f"the workload's connect probe speaks TCP and UDP, not {protocol!r}")
    if timeout <= 0:
        raise UsageError(f"a probe needs a positive timeout, not {timeout!r}")
    return [*PROBE_PROGRAM, "connect", "--host", str(host), "--port", str(int(port)),
            "--protocol", proto.lower(), "--timeout", _seconds(timeout)]


def resolve_argv(name: str, *, count: int = 1, timeout: float, interval: float = 0.0) -> list[str]:
    """The exact argv of a DNS lookup series in a pod (JSON answer; each lookup bounded)."""
    if count < 1 or timeout <= 0 or interval < 0:
        raise UsageError(f"a lookup series needs count >= 1 and a positive timeout (count={count}, "
                         f"timeout={timeout}, interval={interval})")
    argv = [*PROBE_PROGRAM, "resolve", name, "--count", str(int(count)), "--timeout", _seconds(timeout)]
    if interval:
        argv += ["--interval", _seconds(interval)]
    return argv + ["--json"]


def exec_bound(timeouts: Timeouts, work: float) -> float:
    """The bound of one exec whose command itself is bounded by ``work`` seconds: the command's
    own bound plus one API request (the exec handshake and the interpreter's start)."""
    return work + timeouts.api_request


@dataclass(frozen=True)
class Answer:
    """One probe attempt: the cell symbol and the line that says why."""

    symbol: str
    line: str


def classify_connect(rc: int | None, stdout: str, stderr: str = "", error: str | None = None) -> Answer:
    """The cell symbol for one ``connect`` exec: ``.`` only for ``connected`` (exit 0); ``X`` for
    ``refused`` (1), ``timeout`` (2) and ``error: ...`` (3); ``!`` when the exec itself failed or
    the answer is not one the probe gives (an argument error also exits 2, without a verdict)."""
    line = next((ln.strip() for ln in (stdout or "").splitlines() if ln.strip()), "")
    if rc is None:
        return Answer(FAILED, f"exec failed: {error or 'no exit status'}")
    if rc == 0 and line == "connected":
        return Answer(ALLOWED, "connected")
    if (rc, line) in ((1, "refused"), (2, "timeout")) or (rc == 3 and line.startswith("error:")):
        return Answer(BLOCKED, line)
    detail = line or next((ln.strip() for ln in reversed((stderr or "").splitlines()) if ln.strip()), "")
    return Answer(FAILED, f"unexpected answer (exit {rc}): {detail[:200] or 'no output'}")


@dataclass(frozen=True)
class Lookup:
    ok: bool
    ms: float
    error: str = ""


def parse_resolve(rc: int | None, stdout: str, error: str | None = None) -> list[Lookup] | str:
    """The lookups of a ``resolve --json`` exec, or a string saying why there are none."""
    if rc is None:
        return f"exec failed: {error or 'no exit status'}"
    try:
        doc = json.loads((stdout or "").strip().splitlines()[-1])
        return [Lookup(bool(x["ok"]), float(x["ms"]), str(x.get("error") or "")) for x in doc["lookups"]]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"unexpected answer (exit {rc}): {(stdout or '').strip()[:200] or 'no output'}"


def classify_resolve(rc: int | None, stdout: str, error: str | None = None) -> Answer:
    """``.`` when the name resolved, ``X`` when the lookup failed (blocked or timed out), ``!``
    when the exec failed or answered something else."""
    lookups = parse_resolve(rc, stdout, error)
    if isinstance(lookups, str):
        return Answer(FAILED, lookups)
    if lookups and all(lk.ok for lk in lookups):
        return Answer(ALLOWED, f"resolved in {lookups[-1].ms:.0f}ms")
    failed = next((lk for lk in lookups if not lk.ok), None)
    return Answer(BLOCKED, f"lookup failed: {failed.error if failed else 'no lookup'}")


@dataclass(frozen=True)
class ProbeJob:
    """One cell: connect from a pod of ``source`` to a pod of ``destination`` on port/protocol."""

    source: str
    destination: str
    port: int
    protocol: str


@dataclass(frozen=True)
class ProbePlan:
    """The probe jobs of one matrix, built once from the model's endpoints."""

    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    port: int
    protocol: str
    #: Cells not probed on purpose (a workload probing itself in an "every other" matrix).
    skipped: frozenset[tuple[str, str]] = frozenset()

    @property
    def jobs(self) -> list[ProbeJob]:
        return [ProbeJob(s, d, self.port, self.protocol) for s in self.sources for d in self.destinations
                if (s, d) not in self.skipped]

    @property
    def what(self) -> str:
        return f"{self.protocol} {self.port}"


def _protocol(protocol: str) -> str:
    proto = protocol.strip().upper()
    if proto not in netpol.PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}: write TCP, UDP or SCTP")
    return proto


def workload_keys(manifests: Iterable[dict]) -> list[str]:
    """The system's workloads as the model names them ("namespace/workload"), model order."""
    return [e.key for e in netpol.endpoints(list(manifests)) if not e.synthetic]


def plan(manifests: Iterable[dict], *, port: int, protocol: str = "TCP",
         destinations: Sequence[str] | None = None, sources: Sequence[str] | None = None,
         others_only: bool = False) -> ProbePlan:
    """Probe jobs: every workload of the system (or ``sources``) to ``destinations`` (default:
    every workload). ``others_only`` leaves out a workload probing itself."""
    objs = list(manifests)
    keys = workload_keys(objs)
    eps = netpol.endpoints(objs)

    def canonical(key: str) -> str:
        return netpol._find(eps, key).key  # "ns/name" as the model names it; ManifestError if none

    srcs = tuple(canonical(k) for k in sources) if sources is not None else tuple(keys)
    dsts = tuple(canonical(k) for k in destinations) if destinations is not None else tuple(keys)
    skipped = frozenset((s, s) for s in srcs if s in dsts) if others_only else frozenset()
    return ProbePlan(srcs, dsts, int(port), _protocol(protocol), skipped)


def expected_matrix(manifests: Iterable[dict], probe_plan: ProbePlan) -> Matrix:
    """The model's matrix for the plan's sources, destinations, port and protocol."""
    return netpol.matrix(list(manifests), port=probe_plan.port, protocol=probe_plan.protocol,
                         sources=list(probe_plan.sources), destinations=list(probe_plan.destinations),
                         title=f"reachability on {probe_plan.what} (model)")


def expected_dns(manifests: Iterable[dict], sources: Sequence[str]) -> Matrix:
    """The model's DNS column: egress from each source to kube-dns on UDP 53."""
    objs = list(manifests)
    rows = [ALLOWED if netpol.reachability(objs, s, netpol.DNS_KEY, 53, "UDP").allowed else BLOCKED
            for s in sources]
    return Matrix(list(sources), [DNS_COLUMN], rows, "cluster DNS, UDP 53 to kube-dns (model)")


def decided_by(verdict: netpol.Verdict) -> str:
    """The policy (or absence of one) that decides a flow, from the model's explanation."""
    lines = verdict.explanation.splitlines()[1:]
    allowed, blocked, open_sides = [], [], []
    side = ""
    isolating = ""
    for line in lines:
        if not line.startswith(" "):
            side = line.split(":", 1)[0]
            isolating = line.split(" by ", 1)[1] if " by " in line else ""
            if "is not isolated" in line or "outside the cluster" in line:
                open_sides.append(side)
            continue
        text = line.strip()
        if text.startswith("allowed by "):
            allowed.append(f"{side} {text}")
        elif text.startswith("no "):
            blocked.append(f"{isolating} ({side}: {text})")
    if not verdict.allowed:
        return "; ".join(f"blocked by {b}" for b in blocked) or "blocked"
    if allowed:
        return "; ".join(allowed)
    return "allowed: no NetworkPolicy isolates either side"


# ------------------------------------------------------------------------------------------------
# the cluster side: which pod to exec in, which IP to connect to
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One workload on the cluster: a ready pod to exec in or connect to, or why there is none."""

    workload: str
    namespace: str
    pod: str | None = None
    ip: str | None = None
    #: The container that runs the stand-in workload image (None: the pods cannot run probes).
    container: str | None = None
    #: Why this workload cannot be probed from (as a source); None if it can.
    source_problem: str | None = None
    #: Why this workload cannot be probed (as a destination); None if it can.
    destination_problem: str | None = None
    ports: tuple[tuple[int, str], ...] = ()


def _workload_objects(manifests: Iterable[dict]) -> dict[str, dict]:
    """Workload objects by the model's key (qualified by kind when two kinds share a name)."""
    objs = [o for o in manifests if o.get("kind") in WORKLOAD_KINDS
            and not (o.get("kind") in ("ReplicaSet", "Pod") and (o.get("metadata") or {}).get("ownerReferences"))]
    plain = [f"{(o.get('metadata') or {}).get('namespace') or 'default'}/{o['metadata']['name']}" for o in objs]
    out = {}
    for o, key in zip(objs, plain):
        if plain.count(key) > 1:
            ns, name = key.split("/", 1)
            key = f"{ns}/{o['kind'].lower()}/{name}"
        out[key] = o
    return out


def workload_container(obj: dict, images: Sequence[str] = (WORKLOAD_IMAGE,)) -> str | None:
    """The name of the (app) container of a workload that runs the stand-in image, or None."""
    spec = pod_spec(obj) or {}
    for c in spec.get("containers") or []:
        if c.get("image") in images:
            return c.get("name")
    return None


def _declared_ports(obj: dict) -> tuple[tuple[int, str], ...]:
    return tuple((int(p["containerPort"]), str(p.get("protocol") or "TCP"))
                 for _, c in iter_containers(obj) for p in c.get("ports") or [] if "containerPort" in p)


def _matches_template(pod: dict, obj: dict) -> bool:
    tmpl = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in tmpl.items())


def _usable(pod: dict) -> bool:
    return ((pod.get("status") or {}).get("phase") == "Running" and pod_is_ready(pod)
            and bool((pod.get("status") or {}).get("podIP")))


def find_target(kube: Any, key: str, obj: dict, *, images: Sequence[str] = (WORKLOAD_IMAGE,)) -> Target:
    """One ready pod of the workload (sorted by name: the same pod every time), or why not."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or "default"
    kind = obj.get("kind")
    container = workload_container(obj, images)
    ports = _declared_ports(obj)
    spec = pod_spec(obj) or {}
    images_run = ", ".join(sorted({c.get("image", "?") for _, c in iter_containers(obj)}))
    no_image = (None if container else
                f"its pods do not run the workload image ({images_run}): no probe program inside")
    if kind in ("CronJob", "Job"):
        why = f"a {kind} has no long-running pod"
        return Target(key, ns, container=container, source_problem=why, destination_problem=why, ports=ports)
    if spec.get("hostNetwork"):
        why = "hostNetwork pods: NetworkPolicy does not apply to them"
        return Target(key, ns, container=container, source_problem=why, destination_problem=why, ports=ports)
    if kind == "Pod":
        pod = kube.get("Pod", md["name"], namespace=ns)
        pods = [pod] if pod else []
    else:
        selector = (obj.get("spec") or {}).get("selector")
        pods = [p for p in kube.list("Pod", namespace=ns, label_selector=selector) if _matches_template(p, obj)]
    ready = sorted((p for p in pods if _usable(p)), key=lambda p: p["metadata"]["name"])
    if not ready:
        why = f"no ready pod ({len(pods)} pod(s) found)"
        return Target(key, ns, container=container, source_problem=why, destination_problem=why, ports=ports)
    pod = ready[0]
    return Target(key, ns, pod=pod["metadata"]["name"], ip=pod["status"]["podIP"], container=container,
                  source_problem=no_image, destination_problem=None, ports=ports)


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------

@dataclass
class Cell:
    """One observed cell: its final symbol, every attempt's answer, and the exact argv."""

    source: str
    destination: str
    expected: str
    observed: str
    attempts: list[str] = field(default_factory=list)
    note: str = ""
    argv: list[str] | None = None
    pod: str | None = None


@dataclass
class ReachabilityResult:
    """Expected versus observed for one probe plan, plus the DNS column."""

    plan: ProbePlan
    expected: Matrix
    observed: Matrix
    comparison: Comparison
    dns_expected: Matrix
    dns_observed: Matrix
    dns_comparison: Comparison
    cells: dict[tuple[str, str], Cell]
    dns_cells: dict[str, Cell]
    #: Model verdicts of the differing cells (port cells and DNS cells).
    verdicts: dict[tuple[str, str], netpol.Verdict]
    notes: list[str]
    seconds: float = 0.0
    #: Set by ``check`` when a CNI self-check was consulted (its one-line summary).
    self_check: str | None = None

    # -- counts ---------------------------------------------------------------------------------

    @property
    def differences(self) -> list[Cell]:
        diffs = [self.cells[(s, d)] for s, d, _, _ in self.comparison.differences]
        diffs += [self.dns_cells[s] for s, _, _, _ in self.dns_comparison.differences]
        return diffs

    @property
    def failed(self) -> list[Cell]:
        return [c for c in [*self.cells.values(), *self.dns_cells.values()] if c.observed == FAILED]

    @property
    def compared(self) -> int:
        """Port cells with an expected and an observed verdict to compare (DNS not included)."""
        return sum(row.count(ALLOWED) + row.count(BLOCKED) for row in self.comparison.table.rows)

    @property
    def dns_compared(self) -> int:
        return sum(row.count(ALLOWED) + row.count(BLOCKED) for row in self.dns_comparison.table.rows)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.failed and self.compared > 0

    def blocked_cells(self) -> list[Cell]:
        """Port cells the model blocks and the cluster answered (allowed or blocked)."""
        return [c for c in self.cells.values() if c.expected == BLOCKED and c.observed in (ALLOWED, BLOCKED)]

    # -- rendering ------------------------------------------------------------------------------

    def _columns(self) -> list[tuple[str, Matrix, Matrix, Comparison]]:
        return [(d, self.expected, self.observed, self.comparison) for d in self.plan.destinations] + \
               [(DNS_COLUMN, self.dns_expected, self.dns_observed, self.dns_comparison)]

    def summary(self) -> str:
        probed = len(self.cells) + len(self.dns_cells)
        unknown = sum(1 for c in [*self.cells.values(), *self.dns_cells.values()] if c.observed == UNKNOWN)
        return (f"{self.plan.what}: {len(self.plan.sources)} source(s) x {len(self.plan.destinations)} "
                f"destination(s) + DNS, {probed} cell(s): {self.compared} compared (+{self.dns_compared} DNS), "
                f"{len(self.differences)} differ, {unknown} unknown, {len(self.failed)} probe(s) failed, "
                f"in {format_duration(round(self.seconds, 1))}")

    def render_table(self) -> str:
        """Sources as rows, destinations as columns; each cell is expected then observed, with
        ``*`` after a cell that differs."""
        cols = self._columns()
        width = max([len(s) for s in self.plan.sources] + [len("from \\ to")])
        head = "from \\ to".ljust(width) + " |" + "".join(f"{j + 1:>5}" for j in range(len(cols)))
        lines = [f"reachability on {self.plan.what}: expected (model) | observed (cluster)", head, "-" * len(head)]
        for s in self.plan.sources:
            out = []
            for d, exp, obs, cmp in cols:
                mark = "*" if cmp.table.cell(s, d) == BLOCKED else " "
                out.append(f"{exp.cell(s, d)}{obs.cell(s, d)}{mark}".rjust(5))
            lines.append(s.ljust(width) + " |" + "".join(out))
        lines.append("")
        lines.append("to: " + "  ".join(f"{j + 1}={d}" for j, (d, *_) in enumerate(cols))
                     + f" (resolve {DNS_NAME})")
        lines.append("cell: expected then observed; * differs.  "
                     + "  ".join(f"{k} {v}" for k, v in netpol.LEGEND.items()))
        return "\n".join(lines)

    def render_text(self) -> str:
        """The table, the differing cells with the deciding policy, and the notes."""
        lines = [self.summary(), "", self.render_table()]
        diffs = self.differences
        if diffs:
            lines += ["", f"{len(diffs)} cell(s) differ from the model:"]
            lines += [f"  {self.describe(c)}" for c in diffs]
        failed = self.failed
        if failed:
            lines += ["", f"{len(failed)} probe(s) failed (not counted as blocked):"]
            lines += [f"  {c.source} -> {c.destination}: {c.note}" for c in failed]
        if self.notes:
            lines += ["", "not probed (?):"] + [f"  {n}" for n in self.notes]
        if self.self_check:
            lines += ["", self.self_check]
        return "\n".join(lines)

    def describe(self, cell: Cell) -> str:
        """One differing cell: source, destination, port, expected, observed, deciding policy."""
        legend = netpol.LEGEND
        what = "UDP 53 (DNS lookup)" if cell.destination == DNS_COLUMN else self.plan.what
        verdict = self.verdicts.get((cell.source, cell.destination))
        why = decided_by(verdict) if verdict is not None else "no model verdict"  # a Verdict is falsy when blocked
        tries = f"{len(cell.attempts)} attempt(s): {', '.join(cell.attempts)}" if cell.attempts else ""
        return (f"{cell.source} -> {cell.destination} on {what}: expected {cell.expected} "
                f"({legend.get(cell.expected)}), observed {cell.observed} ({legend.get(cell.observed)}; "
                f"{tries}); model: {why}")

    def render_html(self) -> str:
        """A standalone page: the side-by-side table (differing cells outlined), then the lists."""
        esc = html.escape
        colors = {ALLOWED: "#d9f2d9", BLOCKED: "#f7d4d4", UNKNOWN: "#eeeeee", FAILED: "#ffe7a8"}
        cols = self._columns()
        head = "".join(f"<th class='col'><div>{esc(d)}</div></th>" for d, *_ in cols)
        body = []
        for s in self.plan.sources:
            tds = []
            for d, exp, obs, cmp in cols:
                e, o = exp.cell(s, d), obs.cell(s, d)
                differs = cmp.table.cell(s, d) == BLOCKED
                cell = self.dns_cells.get(s) if d == DNS_COLUMN else self.cells.get((s, d))
                title = f"{s} → {d}: expected {netpol.LEGEND.get(e)}, observed {netpol.LEGEND.get(o)}"
                if cell and (cell.attempts or cell.note):
                    title += f" ({', '.join(cell.attempts) or cell.note})"
                style = "outline:3px solid #c00;" if differs else ""
                tds.append(f"<td style='{style}' title='{esc(title)}'>"
                           f"<span style='background:{colors.get(e)}'>{esc(e)}</span>"
                           f"<span style='background:{colors.get(o)}'>{esc(o)}</span></td>")
            body.append(f"<tr><th class='row'>{esc(s)}</th>{''.join(tds)}</tr>")
        diffs = "".join(f"<li>{esc(self.describe(c))}</li>" for c in self.differences)
        failed = "".join(f"<li>{esc(c.source)} → {esc(c.destination)}: {esc(c.note)}</li>" for c in self.failed)
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        legend = " ".join(f"<span style='background:{colors[k]};padding:0 .4em'>{esc(k)}</span> {esc(v)}"
                          for k, v in netpol.LEGEND.items())
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            + esc(f"reachability on {self.plan.what}") + "</title><style>body{font-family:sans-serif}"
            "table{border-collapse:collapse;font-family:monospace}td,th{border:1px solid #bbb;"
            "padding:2px 6px;text-align:center}td span{padding:0 .3em}th.row{text-align:left}"
            "th.col div{writing-mode:vertical-rl;transform:rotate(180deg)}</style></head><body>"
            f"<h3>{esc(self.summary())}</h3><p>each cell: expected (model) then observed (cluster); "
            f"a red outline marks a cell that differs. DNS: resolve {esc(DNS_NAME)}.</p>"
            f"<table><tr><th>from \\ to</th>{head}</tr>{''.join(body)}</table><p>{legend}</p>"
            + (f"<h4>differ from the model</h4><ul>{diffs}</ul>" if diffs else "")
            + (f"<h4>probes failed</h4><ul>{failed}</ul>" if failed else "")
            + (f"<h4>not probed</h4><ul>{notes}</ul>" if notes else "")
            + (f"<p>{esc(self.self_check)}</p>" if self.self_check else "")
            + "</body></html>")

    def failure_message(self) -> str:
        head = (f"the observed reachability on {self.plan.what} differs from the modeled reachability "
                f"in {len(self.differences)} cell(s)")
        return head + ":\n" + self.render_text()


# ------------------------------------------------------------------------------------------------
# running the probes
# ------------------------------------------------------------------------------------------------

def clone_client(kube: Any) -> Any:
    """A new ``Kube`` for the same kubeconfig, context, timeouts and run id (one per worker)."""
    from archconform.kube import Kube

    paths = kube.conn.kubeconfig
    kubeconfig = None if os.pathsep in paths else paths  # several files: they came from $KUBECONFIG
    return Kube(kubeconfig, kube.context, kube.timeouts, run_id=kube.run_id)


class _Clients:
    """One Kube per worker thread, closed together at the end."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self.local = threading.local()
        self.all: list[Any] = []
        self.lock = threading.Lock()

    def get(self) -> Any:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.factory()
            with self.lock:
                self.all.append(client)
        return client

    def discard(self) -> None:
        """Forget this thread's client (after an exec timed out mid-handshake, it may be stuck)."""
        self.local.client = None

    def close(self) -> None:
        with self.lock:
            clients, self.all = self.all, []
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


class _Progress:
    def __init__(self, what: str, total: int, interval: float) -> None:
        self.what, self.total, self.interval = what, total, interval
        self.done = self.differ = 0
        self.lock = threading.Lock()
        self.began = self.last = time.monotonic()

    def tick(self, differs: bool) -> None:
        with self.lock:
            self.done += 1
            self.differ += differs
            now = time.monotonic()
            if self.done == self.total or now - self.last >= self.interval:
                self.last = now
                progress_log.info("probing %s: %d/%d cells done, %d differ so far (%s)", self.what,
                                  self.done, self.total, self.differ, format_duration(round(now - self.began, 1)))


class Prober:
    """Runs probe plans on a cluster. ``kube`` lists pods; each worker thread execs through a
    client of its own (``clients``, default ``clone_client(kube)``)."""

    def __init__(self, kube: Any, manifests: Iterable[dict], *, timeouts: Timeouts | None = None,
                 images: Sequence[str] = (WORKLOAD_IMAGE,), workers: int = PROBE_WORKERS,
                 clients: Callable[[], Any] | None = None) -> None:
        self.kube = kube
        self.manifests = list(manifests)
        self.timeouts = timeouts or getattr(kube, "timeouts", None) or Timeouts()
        self.images = tuple(dict.fromkeys([*images, WORKLOAD_IMAGE]))
        self.workers = max(1, int(workers))
        self.clients = clients or (lambda: clone_client(kube))
        self._objects = _workload_objects(self.manifests)

    # -- targets --------------------------------------------------------------------------------

    def targets(self, keys: Iterable[str]) -> dict[str, Target]:
        out = {}
        for key in dict.fromkeys(keys):
            obj = self._objects.get(key)
            if obj is None:
                raise UsageError(f"no workload {key!r} in the system's manifests")
            out[key] = find_target(self.kube, key, obj, images=self.images)
        return out

    # -- one attempt ----------------------------------------------------------------------------

    def _exec(self, clients: _Clients, target: Target, argv: list[str],
              work: float) -> tuple[int | None, str, str, str | None]:
        client = clients.get()
        try:
            res = client.exec(target.pod, target.namespace, argv, container=target.container,
                              timeout=exec_bound(self.timeouts, work))
        except WaitTimeout as exc:
            clients.discard()
            return None, "", "", str(exc)
        except ClusterError as exc:  # APIError and subclasses: the exec could not be made
            return None, "", "", str(exc)
        return res.rc, res.stdout, res.stderr, res.error

    def _cell(self, clients: _Clients, src: Target, dst_key: str, dst: Target, job: ProbeJob,
              expected: str, progress: _Progress) -> Cell:
        argv = connect_argv(dst.ip or "", job.port, job.protocol, self.timeouts.probe)
        cell = Cell(job.source, job.destination, expected, FAILED, argv=argv, pod=f"{src.namespace}/{src.pod}")
        for _ in range(1 + max(0, int(self.timeouts.probe_retries))):
            rc, out, err, error = self._exec(clients, src, argv, self.timeouts.probe)
            answer = classify_connect(rc, out, err, error)
            cell.attempts.append(answer.line)
            cell.observed, cell.note = answer.symbol, answer.line
            if answer.symbol == expected:
                break
        progress.tick(cell.observed != expected)
        return cell

    def _dns_cell(self, clients: _Clients, src: Target, expected: str, progress: _Progress) -> Cell:
        argv = resolve_argv(DNS_NAME, count=1, timeout=self.timeouts.probe)
        cell = Cell(src.workload, DNS_COLUMN, expected, FAILED, argv=argv, pod=f"{src.namespace}/{src.pod}")
        for _ in range(1 + max(0, int(self.timeouts.probe_retries))):
            rc, out, _err, error = self._exec(clients, src, argv, self.timeouts.probe)
            answer = classify_resolve(rc, out, error)
            cell.attempts.append(answer.line)
            cell.observed, cell.note = answer.symbol, answer.line
            if answer.symbol == expected:
                break
        progress.tick(cell.observed != expected)
        return cell

    # -- a whole plan ---------------------------------------------------------------------------

    def run(self, probe_plan: ProbePlan) -> ReachabilityResult:
        """Probe every cell of the plan (and DNS from every source) and compare with the model."""
        began = time.monotonic()
        expected = expected_matrix(self.manifests, probe_plan)
        dns_expected = expected_dns(self.manifests, probe_plan.sources)
        targets = self.targets([*probe_plan.sources, *probe_plan.destinations])
        notes: list[str] = []
        cells: dict[tuple[str, str], Cell] = {}
        dns_cells: dict[str, Cell] = {}

        def unknown(src: str, dst: str, why: str) -> None:
            cells[(src, dst)] = Cell(src, dst, expected.cell(src, dst), UNKNOWN, note=why)

        row_problem = {s: targets[s].source_problem for s in probe_plan.sources}
        col_problem: dict[str, str | None] = {}
        for d in probe_plan.destinations:
            t = targets[d]
            why = t.destination_problem
            if why is None and probe_plan.protocol not in PROBED_PROTOCOLS:
                why = f"the workload's connect probe speaks TCP and UDP, not {probe_plan.protocol}"
            if why is None and (probe_plan.port, probe_plan.protocol) not in t.ports:
                declared = ", ".join(f"{p}/{pr}" for p, pr in t.ports) or "no port"
                why = (f"nothing listens on {probe_plan.what} there (it declares {declared}): "
                       "a connect cannot tell allowed from blocked")
            col_problem[d] = why
        for s in probe_plan.sources:
            if row_problem[s]:
                notes.append(f"from {s}: {row_problem[s]}")
        for d in probe_plan.destinations:
            if col_problem[d]:
                notes.append(f"to {d}: {col_problem[d]}")
        if probe_plan.skipped:
            notes.append("a workload probing itself: not probed (every OTHER workload)")

        jobs = []
        for job in probe_plan.jobs:
            why = row_problem[job.source] or col_problem[job.destination]
            if why:
                unknown(job.source, job.destination, why)
            else:
                jobs.append(job)
        for s, d in probe_plan.skipped:
            unknown(s, d, "not probed: the same workload")
        dns_jobs = [s for s in probe_plan.sources if not row_problem[s]]
        for s in probe_plan.sources:
            if row_problem[s]:
                dns_cells[s] = Cell(s, DNS_COLUMN, dns_expected.cell(s, DNS_COLUMN), UNKNOWN, note=row_problem[s])

        total = len(jobs) + len(dns_jobs)
        progress = _Progress(probe_plan.what, total, self.timeouts.progress_interval)
        progress_log.info("probing %s: %d cell(s) from %d source pod(s) with %d worker(s); each attempt "
                          "bounded by %s, retried up to %d time(s) when it differs from the model",
                          probe_plan.what, total, len(dns_jobs), min(self.workers, max(total, 1)),
                          format_duration(self.timeouts.probe), self.timeouts.probe_retries)
        clients = _Clients(self.clients)
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.workers,
                                                       thread_name_prefix="probe") as pool:
                futures = {pool.submit(self._cell, clients, targets[j.source], j.destination,
                                       targets[j.destination], j, expected.cell(j.source, j.destination),
                                       progress): (j.source, j.destination) for j in jobs}
                futures.update({pool.submit(self._dns_cell, clients, targets[s], dns_expected.cell(s, DNS_COLUMN),
                                            progress): (s, DNS_COLUMN) for s in dns_jobs})
                for fut in concurrent.futures.as_completed(futures):
                    cell = fut.result()
                    if cell.destination == DNS_COLUMN:
                        dns_cells[cell.source] = cell
                    else:
                        cells[(cell.source, cell.destination)] = cell
        finally:
            clients.close()

        observed = Matrix.from_cells(list(probe_plan.sources), list(probe_plan.destinations),
                                     {k: c.observed for k, c in cells.items()},
                                     title=f"reachability on {probe_plan.what} (cluster)")
        dns_observed = Matrix.from_cells(list(probe_plan.sources), [DNS_COLUMN],
                                         {(s, DNS_COLUMN): c.observed for s, c in dns_cells.items()},
                                         title="cluster DNS (cluster)")
        comparison = netpol.compare(expected, observed)
        dns_comparison = netpol.compare(dns_expected, dns_observed)
        verdicts: dict[tuple[str, str], netpol.Verdict] = {}
        for s, d, _, _ in comparison.differences:
            verdicts[(s, d)] = netpol.reachability(self.manifests, s, d, probe_plan.port, probe_plan.protocol)
        for s, _, _, _ in dns_comparison.differences:
            verdicts[(s, DNS_COLUMN)] = netpol.reachability(self.manifests, s, netpol.DNS_KEY, 53, "UDP")
        result = ReachabilityResult(probe_plan, expected, observed, comparison, dns_expected, dns_observed,
                                    dns_comparison, cells, dns_cells, verdicts, notes,
                                    seconds=time.monotonic() - began)
        progress_log.info("probed %s", result.summary())
        return result


# ------------------------------------------------------------------------------------------------
# what the steps call
# ------------------------------------------------------------------------------------------------

def _attach(result: ReachabilityResult) -> None:
    try:
        from archconform.report import attach_html, attach_text
    except ImportError:
        log.info("%s", result.render_text())
        return
    name = f"reachability on {result.plan.what}: expected vs observed"
    attach_html(name, result.render_html())
    attach_text(name, result.render_text())


def probe(kube: Any, manifests: Iterable[dict], *, port: int, protocol: str = "TCP",
          destinations: Sequence[str] | None = None, others_only: bool = False,
          images: Sequence[str] = (WORKLOAD_IMAGE,), timeouts: Timeouts | None = None,
          workers: int = PROBE_WORKERS, clients: Callable[[], Any] | None = None,
          attach: bool = True) -> ReachabilityResult:
    """Build the plan (every workload of the system to ``destinations``, default every
    workload), probe it on the cluster, compare with the model; the comparison is attached."""
    objs = list(manifests)
    probe_plan = plan(objs, port=port, protocol=protocol, destinations=destinations, others_only=others_only)
    result = Prober(kube, objs, timeouts=timeouts, images=images, workers=workers, clients=clients).run(probe_plan)
    if attach:
        _attach(result)
    return result


def _record(result: ReachabilityResult, verdict: str) -> None:
    try:
        from archconform.report import record_verdict
        record_verdict("observed", verdict, measured=result.summary(),
                       promised=f"observed reachability on {result.plan.what} = modeled")
    except (ImportError, RuntimeError):  # no report package, or not inside a running scenario
        pass


def check(result: ReachabilityResult, *, kube: Any | None = None,
          self_check: Callable[[], Any] | None = None) -> ReachabilityResult:
    """The verdict: passes when every compared cell (and DNS) agrees with the model, no probe
    failed, and something was compared at all.

    Raises ``PlatformGap`` when every flow the model blocks was observed open (the CNI does not
    appear to enforce NetworkPolicy; see ``archconform.live.cni.diagnose``), ``PromiseBroken``
    naming each differing cell otherwise, ``NotObserved`` when probes failed or nothing could be
    compared."""
    from . import cni

    if result.differences:
        gap = cni.diagnose(result, kube, self_check=self_check)
        if gap is not None:
            _record(result, "platform gap")
            raise gap
        _record(result, "failed")
        raise PromiseBroken(result.failure_message())
    if result.failed:
        first = result.failed[0]
        raise NotObserved(f"{len(result.failed)} probe(s) on {result.plan.what} failed, so those cells were not "
                          f"observed (first: {first.source} -> {first.destination}: {first.note}); "
                          "the table is attached")
    if result.compared == 0:
        raise NotObserved(f"no cell on {result.plan.what} could be probed ({'; '.join(result.notes)[:300]})")
    _record(result, "passed")
    return result


# ------------------------------------------------------------------------------------------------
# DNS timing
# ------------------------------------------------------------------------------------------------

def service_name(svc: str) -> str:
    """The absolute cluster DNS name of a Service given as "namespace/name"."""
    ns, _, name = svc.strip().rpartition("/")
    if not ns or not name:
        raise UsageError(f"cannot read the Service {svc!r}: write it as namespace/name")
    return f"{name}.{ns}.svc.{CLUSTER_DOMAIN}."


@dataclass
class DnsTiming:
    """A series of lookups of one Service name from one pod, against a promised bound."""

    source: str
    pod: str
    name: str
    bound: float
    lookups: list[Lookup]
    argv: list[str]

    @property
    def ok(self) -> bool:
        return bool(self.lookups) and all(lk.ok and lk.ms <= self.bound * 1000 for lk in self.lookups)

    def stats(self) -> dict[str, float]:
        times = sorted(lk.ms for lk in self.lookups)
        if not times:
            return {}
        rank = max(1, -(-95 * len(times) // 100))
        return {"min": times[0], "median": times[len(times) // 2] if len(times) % 2 else
                (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2,
                "p95": times[min(rank, len(times)) - 1], "max": times[-1]}

    def summary(self) -> str:
        st = self.stats()
        resolved = sum(lk.ok for lk in self.lookups)
        slow = sum(1 for lk in self.lookups if lk.ok and lk.ms > self.bound * 1000)
        figures = " ".join(f"{k}={v:.1f}ms" for k, v in st.items())
        return (f"{self.name} from {self.pod} ({self.source}): {len(self.lookups)} lookups, {resolved} resolved, "
                f"{slow} slower than {format_duration(self.bound)}; {figures}")

    def render_text(self) -> str:
        lines = [self.summary(), "", f"command: {' '.join(self.argv)}", ""]
        for i, lk in enumerate(self.lookups, 1):
            state = "ok" if lk.ok else f"failed ({lk.error})"
            over = " > bound" if lk.ok and lk.ms > self.bound * 1000 else ""
            lines.append(f"lookup {i:>2}: {lk.ms:8.1f} ms {state}{over}")
        return "\n".join(lines)


def resolve_within(kube: Any, manifests: Iterable[dict], source: str, service: str, bound: float, *,
                   images: Sequence[str] = (WORKLOAD_IMAGE,), timeouts: Timeouts | None = None,
                   count: int = DNS_LOOKUPS, attach: bool = True) -> DnsTiming:
    """From one ready pod of ``source``, resolve the Service's cluster DNS name ``count`` times;
    every lookup must resolve within ``bound`` seconds (the distribution is attached).

    Each lookup is bounded by the larger of the promise and ``Timeouts.probe``, so a lookup a
    little over the promise is measured, not cut off."""
    objs = list(manifests)
    t = timeouts or getattr(kube, "timeouts", None) or Timeouts()
    name = service_name(service)
    svc_ns, _, svc_name = service.strip().rpartition("/")
    if not any(o.get("kind") == "Service" and o["metadata"].get("name") == svc_name
               and (o["metadata"].get("namespace") or "default") == svc_ns for o in objs):
        raise UsageError(f"no Service {service!r} in the system's manifests")
    key = netpol._find(netpol.endpoints(objs), source).key
    obj = _workload_objects(objs).get(key)
    if obj is None:
        raise UsageError(f"no workload {source!r} in the system's manifests")
    target = find_target(kube, key, obj, images=tuple(dict.fromkeys([*images, WORKLOAD_IMAGE])))
    if target.source_problem:
        raise NotObserved(f"cannot time DNS lookups from {key}: {target.source_problem}")
    per_lookup = max(bound, t.probe)
    argv = resolve_argv(name, count=count, timeout=per_lookup, interval=DNS_LOOKUP_INTERVAL)
    progress_log.info("timing %d lookups of %s from pod %s/%s (bound %s each)", count, name,
                      target.namespace, target.pod, format_duration(bound))
    try:
        res = kube.exec(target.pod, target.namespace, argv, container=target.container,
                        timeout=exec_bound(t, count * (per_lookup + DNS_LOOKUP_INTERVAL)))
    except ClusterError as exc:
        raise NotObserved(f"DNS timing from {key} could not run: {exc}") from exc
    lookups = parse_resolve(res.rc, res.stdout, res.error)
    if isinstance(lookups, str):
        raise NotObserved(f"DNS timing from {key} could not run: {lookups}")
    timing = DnsTiming(key, f"{target.namespace}/{target.pod}", name, bound, lookups, argv)
    if attach:
        try:
            from archconform.report import attach_text
            attach_text(f"DNS lookups of {name} from {key}", timing.render_text())
        except ImportError:
            log.info("%s", timing.render_text())
    if not timing.ok:
        raise PromiseBroken(f"promised {key} resolves the Service {service} within {format_duration(bound)}; "
                            f"measured: {timing.summary()}")
    return timing
