"""Modeled isolation: NetworkPolicy reachability between workloads (archconform.model.netpol).

Workloads are named ``namespace/workload``; an entry of a source list may also be a whole
namespace (every workload in it). Verdicts attach the model's reachability matrix (cyclonus
symbols: ``.`` allowed, ``X`` blocked, ``?`` unknown) and the model's explanation.
"""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.errors import PromiseBroken
from archconform.model import netpol

from ._vocabulary import SystemUnderTest, attach_html, attach_text, phrase


def _attach(m: netpol.Matrix) -> None:
    attach_text(m.title, m.render_text())
    attach_html(m.title, m.render_html())


def _covered(source: str, entries: list[str]) -> bool:
    ns = source.split("/", 1)[0]
    return source in entries or ns in entries


@then(phrase('"{dst}" accepts {protocol} {port:d} only from:'))
def _(sut: SystemUnderTest, dst: str, protocol: str, port: int, datatable: list[list[str]]) -> None:
    entries = [row[0] for row in d.table_rows(datatable, 1)]
    m = netpol.matrix(sut.manifests, port=port, protocol=protocol.upper(), destinations=[dst],
                      title=f"who reaches {dst} on {protocol.upper()} {port} (model)")
    _attach(m)
    cells = m.cells
    unexpected = [s for (s, _), sym in cells.items() if sym == netpol.ALLOWED and not _covered(s, entries)]
    refused = [s for (s, _), sym in cells.items() if sym != netpol.ALLOWED and _covered(s, entries)]
    unknown = [e for e in entries if not any(_covered(s, [e]) for s, _ in cells)]
    if unexpected or refused or unknown:
        lines = [f"promised {dst} accepts {protocol.upper()} {port} only from {', '.join(entries)}; the model says:"]
        for s in unexpected:
            lines.append(f"  allowed from {s} (not promised): "
                         + netpol.reachability(sut.manifests, s, dst, port, protocol.upper()).explanation)
        for s in refused:
            lines.append(f"  blocked from {s} (promised): "
                         + netpol.reachability(sut.manifests, s, dst, port, protocol.upper()).explanation)
        for e in unknown:
            lines.append(f"  {e}: no workload of the system matches this source")
        raise PromiseBroken("\n".join(lines))


@then(phrase('"{src}" can reach "{dst}" on {protocol} {port:d}'))
def _(sut: SystemUnderTest, src: str, dst: str, protocol: str, port: int) -> None:
    v = netpol.reachability(sut.manifests, src, dst, port, protocol.upper())
    attach_text(f"{src} -> {dst} {protocol} {port} (model)", v.explanation)
    if not v.allowed:
        raise PromiseBroken(f"promised {src} can reach {dst} on {protocol.upper()} {port}; the policies block it:\n{v.explanation}")


@then(phrase('"{src}" cannot reach "{dst}" on {protocol} {port:d}'))
def _(sut: SystemUnderTest, src: str, dst: str, protocol: str, port: int) -> None:
    v = netpol.reachability(sut.manifests, src, dst, port, protocol.upper())
    attach_text(f"{src} -> {dst} {protocol} {port} (model)", v.explanation)
    if v.allowed:
        raise PromiseBroken(f"promised {src} cannot reach {dst} on {protocol.upper()} {port}; the policies allow it:\n{v.explanation}")


@then(phrase('"{src}" can resolve cluster DNS'))
def _(sut: SystemUnderTest, src: str) -> None:
    v = netpol.dns_egress(sut.manifests, src)
    attach_text(f"DNS egress from {src} (model)", v.explanation)
    if not v.allowed:
        raise PromiseBroken(f"promised {src} can resolve cluster DNS (UDP and TCP 53 to kube-system/kube-dns); "
                            f"its egress policies block it:\n{v.explanation}")


@then(phrase('the workloads of namespace "{namespace}" accept no traffic from other namespaces'))
def _(sut: SystemUnderTest, namespace: str) -> None:
    eps = [e.key for e in netpol.endpoints(sut.manifests) if not e.synthetic]
    inside = [k for k in eps if k.split("/", 1)[0] == namespace]
    outside = [k for k in eps if k.split("/", 1)[0] != namespace]
    if not inside:
        raise PromiseBroken(f"{sut.manifests.source}: namespace {namespace!r} has no workloads to isolate")
    m = netpol.matrix(sut.manifests, sources=outside, destinations=inside,
                      title=f"other namespaces -> {namespace} (any declared port; model)")
    _attach(m)
    leaks = m.pairs(netpol.ALLOWED)
    if leaks:
        raise PromiseBroken(
            f"promised the workloads of {namespace} accept no traffic from other namespaces; the policies allow "
            f"{len(leaks)} flow(s): " + ", ".join(f"{s} -> {t}" for s, t in leaks[:10])
            + ("" if len(leaks) <= 10 else f" and {len(leaks) - 10} more")
        )
