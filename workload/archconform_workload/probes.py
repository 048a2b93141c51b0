"""Probe subcommands run inside a pod with ``kubectl exec`` (isolation and discovery checks).

Every probe prints one verdict line and exits with a code that says the same thing:

    connected / <status code>  0
    refused                     1
    timeout                     2
    error: <reason>             3

Each one is bounded by its --timeout; nothing here can hang the exec that runs it.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
import ssl
import statistics
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECTED, REFUSED, TIMEOUT, ERROR = 0, 1, 2, 3


@dataclass(frozen=True)
class Outcome:
    code: int
    line: str


def _classify(exc: BaseException) -> Outcome:
    if isinstance(exc, ConnectionRefusedError):
        return Outcome(REFUSED, "refused")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Outcome(TIMEOUT, "timeout")
    if isinstance(exc, socket.gaierror):
        return Outcome(ERROR, f"error: cannot resolve host ({exc.strerror or exc})")
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return Outcome(ERROR, f"error: {name} {exc.strerror or ''}".rstrip())
    return Outcome(ERROR, f"error: {type(exc).__name__}: {exc}")


def dns_query_payload(name: str = "archconform.probe.") -> bytes:
    """A minimal DNS query (type A). A UDP probe sends this so that a DNS server answers it
    as well as an echo service does; anything that answers at all counts as connected."""
    header = struct.pack("!HHHHHH", int.from_bytes(os.urandom(2), "big"), 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.strip(".").split(".") if p)
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def connect(host: str, port: int, *, protocol: str = "tcp", timeout: float = 2.0) -> Outcome:
    """Whether ``host:port`` accepts a TCP connection, or answers a UDP datagram."""
    if not 0 < port < 65536:
        return Outcome(ERROR, f"error: port {port} is out of range 1-65535")
    if protocol == "udp":
        return _connect_udp(host, port, timeout)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a verdict line
        return _classify(exc)
    sock.close()
    return Outcome(CONNECTED, "connected")


def _connect_udp(host: str, port: int, timeout: float) -> Outcome:
    deadline = time.monotonic() + timeout
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except BaseException as exc:  # noqa: BLE001
        return _classify(exc)
    try:
        sock.connect(address)  # a connected UDP socket reports ICMP port-unreachable as refused
        payload = dns_query_payload()
        resend_at = time.monotonic() + timeout / 2
        sock.send(payload)
        while True:
            now = time.monotonic()
            if now >= deadline:
                return Outcome(TIMEOUT, "timeout")
            if resend_at and now >= resend_at:  # one resend: a single datagram may be lost
                sock.send(payload)
                resend_at = 0.0
            wait = min(deadline, resend_at or deadline) - now
            sock.settimeout(max(0.001, wait))
            try:
                sock.recv(4096)
                return Outcome(CONNECTED, "connected")
            except (TimeoutError, socket.timeout):
                continue
    except BaseException as exc:  # noqa: BLE001
        return _classify(exc)
    finally:
        sock.close()


def http_request(method: str, url: str, *, timeout: float = 5.0, insecure: bool = False,
                 headers: dict[str, str] | None = None) -> tuple[Outcome, http.client.HTTPResponse | None, bytes]:
    """One request, no redirects followed (a redirect check wants to see the 301/308)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Outcome(ERROR, f"error: not an http(s) URL: {url}"), None, b""
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method.upper(), target, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
    except ssl.SSLError as exc:
        return Outcome(ERROR, f"error: TLS {exc.reason or exc}"), None, b""
    except BaseException as exc:  # noqa: BLE001
        return _classify(exc), None, b""
    finally:
        conn.close()
    return Outcome(CONNECTED, str(response.status)), response, body


@dataclass(frozen=True)
class Lookup:
    ok: bool
    ms: float
    addresses: tuple[str, ...]
    error: str = ""


def resolve_once(name: str, timeout: float, family: int = socket.AF_UNSPEC) -> Lookup:
    """One getaddrinfo() through the pod's resolv.conf, as an application would do it,
    bounded by ``timeout`` (glibc has no timeout argument, so the lookup runs in a thread)."""
    result: list[Lookup] = []

    def work() -> None:
        start = time.perf_counter()
        try:
            infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
            ms = (time.perf_counter() - start) * 1000
            addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
            result.append(Lookup(True, ms, addresses))
        except socket.gaierror as exc:
            ms = (time.perf_counter() - start) * 1000
            result.append(Lookup(False, ms, (), exc.strerror or str(exc)))

    start = time.perf_counter()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return Lookup(False, (time.perf_counter() - start) * 1000, (), "timeout")
    return result[0]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def resolve(name: str, *, count: int = 1, timeout: float = 5.0, interval: float = 0.0,
            family: int = socket.AF_UNSPEC) -> tuple[list[Lookup], dict[str, float | int | str]]:
    """``count`` lookups of ``name`` and their timing summary."""
    lookups = []
    for index in range(count):
        if index and interval:
            time.sleep(interval)
        lookups.append(resolve_once(name, timeout, family))
    times = [lookup.ms for lookup in lookups]
    summary: dict[str, float | int | str] = {
        "name": name, "count": count, "ok": sum(lookup.ok for lookup in lookups),
        "failed": sum(not lookup.ok for lookup in lookups),
        "min_ms": round(min(times), 3), "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(percentile(times, 95), 3), "max_ms": round(max(times), 3),
    }
    return lookups, summary


def resolve_report(lookups: list[Lookup], summary: dict, *, as_json: bool) -> str:
    if as_json:
        return json.dumps({"lookups": [{"ok": lk.ok, "ms": round(lk.ms, 3),
                                         "addresses": list(lk.addresses), "error": lk.error}
                                        for lk in lookups], "summary": summary}, sort_keys=True)
    lines = []
    for index, lookup in enumerate(lookups, 1):
        detail = " ".join(lookup.addresses) if lookup.ok else lookup.error
        lines.append(f"lookup {index} {'ok' if lookup.ok else 'fail'} {lookup.ms:.3f}ms {detail}")
    lines.append("summary " + " ".join(f"{key}={value}" for key, value in summary.items()))
    return "\n".join(lines)
