"""Port-forward: a local 127.0.0.1 port that reaches a port of a pod, like ``kubectl port-forward``.

A context manager: on entry it checks the pod exists and starts listening on 127.0.0.1; every
accepted connection gets its own WebSocket to ``pods/<name>/portforward`` through
``kubernetes.stream.portforward`` and is pumped both ways. On exit everything is closed (the
listener, every connection, every WebSocket) whatever happened inside the block.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from dataclasses import dataclass
from typing import Iterator

from kubernetes.client import CoreV1Api
from kubernetes.stream import portforward as open_portforward

from . import fetching
from .api import Connection
from .errors import NotFound

log = logging.getLogger("archconform.kube")

#: Seconds a pump or the accept loop blocks before re-checking whether to stop.
POLL = 0.2
#: Seconds to wait for each worker thread when closing.
JOIN_TIMEOUT = 2.0
#: Bytes per read.
CHUNK = 64 * 1024


@dataclass(frozen=True)
class PortForwarding:
    """Where the forwarded port listens."""

    pod: str
    namespace: str
    remote_port: int
    local_port: int
    host: str = "127.0.0.1"

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.local_port}"


class _Forwarder:
    def __init__(self, conn: Connection, *, pod: str, namespace: str, port: int,
                 local_port: int) -> None:
        self.conn, self.pod, self.namespace, self.port = conn, pod, namespace, port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.closables: list = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", local_port))
        self.listener.listen(16)
        self.listener.settimeout(POLL)
        self.local_port = self.listener.getsockname()[1]

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"port-forward {self.namespace}/{self.pod}:{self.port}")
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def _track(self, closable) -> None:
        with self.lock:
            self.closables.append(closable)

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                local, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._track(local)
            self._spawn(self.handle, local)

    def handle(self, local: socket.socket) -> None:
        where = f"pod/{self.namespace}/{self.pod}:{self.port}"
        private = self.conn.private_client()  # see Connection.private_client
        try:
            forward = open_portforward(CoreV1Api(private).connect_get_namespaced_pod_portforward,
                                       self.pod, self.namespace, ports=str(self.port))
        except Exception as exc:  # noqa: BLE001 - one failed connection, not the whole forward
            log.warning("port-forward to %s failed: %s", where, str(exc).splitlines()[0][:200])
            local.close()
            return
        finally:
            private.close()
        self._track(forward)
        remote = forward.socket(self.port)
        try:
            self._pump(local, remote)
        finally:
            error = forward.error(self.port)
            if error:
                log.warning("port-forward to %s: %s", where, error.strip()[:200])
            for sock in (local, remote):
                with contextlib.suppress(OSError):
                    sock.close()
            with contextlib.suppress(Exception):
                forward.close()

    def _pump(self, local: socket.socket, remote) -> None:
        peers = {local.fileno(): (local, remote), remote.fileno(): (remote, local)}
        while not self.stop.is_set():
            try:
                readable, _, _ = select.select(list(peers), [], [], POLL)
            except (OSError, ValueError):
                return
            for fd in readable:
                src, dst = peers[fd]
                try:
                    data = src.recv(CHUNK)
                    if not data:
                        return
                    dst.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            closables, threads = list(self.closables), list(self.threads)
        for item in closables:
            with contextlib.suppress(Exception):
                item.close()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)


@contextlib.contextmanager
def port_forward(conn: Connection, *, pod: str, namespace: str, port: int,
                 local_port: int = 0) -> Iterator[PortForwarding]:
    """Forward 127.0.0.1:<local_port> (0 = a free port) to the pod's ``port``."""
    if fetching.get(conn, kind="Pod", name=pod, namespace=namespace) is None:
        raise NotFound(f"port-forward to pod/{namespace}/{pod} failed: the pod does not exist",
                       status=404, reason="NotFound", action="port-forward",
                       target=f"pod/{namespace}/{pod}", server=conn.server)
    forwarder = _Forwarder(conn, pod=pod, namespace=namespace, port=port, local_port=local_port)
    forwarder._spawn(forwarder.serve)
    log.info("forwarding 127.0.0.1:%d to pod/%s/%s:%d", forwarder.local_port, namespace, pod, port)
    try:
        yield PortForwarding(pod=pod, namespace=namespace, remote_port=port,
                             local_port=forwarder.local_port)
    finally:
        forwarder.close()
