"""The HTTP server (every TCP port) and the UDP echo (every UDP port), with graceful shutdown.

On SIGTERM (or SIGINT): readiness fails at once, the listeners keep accepting for
WORKLOAD_SHUTDOWN_DELAY_SECONDS (default 0; lets endpoint removal propagate), then close; the
requests in flight get up to WORKLOAD_DRAIN_SECONDS (default 5) to finish; the process exits 0.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from archconform_workload import introspect
from archconform_workload.config import Config, PortSpec
from archconform_workload.state import KNOWN_PATHS, RATE_LIMIT_EXEMPT, State

_log_lock = threading.Lock()


def log(line: str) -> None:
    """One line to stdout (the container log), never interleaved with another."""
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class BadRequest(Exception):
    pass


def _int_param(query: dict[str, list[str]], name: str, default: int | None, low: int,
               high: int) -> int:
    raw = query.get(name, [None])[0]
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"missing parameter {name}")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float_param(query: dict[str, list[str]], name: str, default: float, low: float,
                 high: float) -> float:
    raw = query.get(name, [None])[0]
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high or math.isnan(value):
        raise BadRequest(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def _fail_param(query: dict[str, list[str]]) -> bool:
    raw = (query.get("fail", [""])[0] or "").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise BadRequest("fail must be 1 or 0")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; without TCP_NODELAY a client's delayed ACK adds
    # 40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "archconform-workload"
    sys_version = ""
    state: State  # set per server class
    port: int

    # -- plumbing ----------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        pass  # our own access log is written in _finish; this silences the stderr default

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
            self.close_connection = True
        if length > 1 << 20:  # not worth reading; the unread rest must not become a request
            self.close_connection = True
        elif length > 0:
            self.rfile.read(length)
        self._dispatch(head=False)

    def client_ip(self) -> str:
        if self.state.config.trust_forwarded:
            forwarded = self.headers.get("X-Forwarded-For") or self.headers.get("X-Real-IP")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return self.client_address[0]

    def _dispatch(self, *, head: bool) -> None:
        state = self.state
        started = time.monotonic()
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        label = path if path in KNOWN_PATHS else (
            "/status" if path.startswith("/status/") else "other")
        state.begin_request()
        code = 500
        body = b""
        try:
            extra_headers: dict[str, str] = {}
            if state.rate_limiter and path not in RATE_LIMIT_EXEMPT:
                allowed, remaining, retry = state.rate_limiter.check(self.client_ip())
                extra_headers["X-RateLimit-Limit"] = str(state.config.rate_limit)
                extra_headers["X-RateLimit-Remaining"] = str(remaining)
                if not allowed:
                    state.count_rate_limited()
                    extra_headers["Retry-After"] = str(max(1, math.ceil(retry)))
                    code, payload = 429, {"error": "rate limited",
                                          "limit": str(state.config.rate_limit)}
                    body = self._send(code, payload, head=head, headers=extra_headers)
                    return
            route = ROUTES.get(path)
            if route is None and path.startswith("/status/"):
                route = Handler._status
            if route is None:
                code, payload = 404, {"error": f"no such path {path}"}
            else:
                try:
                    code, payload = route(self, query, path)
                except BadRequest as exc:
                    code, payload = 400, {"error": str(exc)}
            body = self._send(code, payload, head=head, headers=extra_headers)
        except (BrokenPipeError, ConnectionResetError):
            code = 499  # the client went away
        finally:
            state.end_request(label, code)
            if state.config.access_log:
                query_text = introspect.redact_query(split.query)
                shown = split.path + (f"?{query_text}" if query_text else "")
                elapsed = (time.monotonic() - started) * 1000
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                log(f'{stamp} {self.client_ip()} :{self.port} '
                    f'"{self.command} {shown}" {code} {len(body)} {elapsed:.1f}ms')

    def _send(self, code: int, payload: Any, *, head: bool,
              headers: dict[str, str] | None = None) -> bytes:
        if isinstance(payload, str):
            body = payload.encode("utf-8")
            content_type = "text/plain; version=0.0.4; charset=utf-8"
        else:
            body = (json.dumps(payload, sort_keys=True) + "\n").encode("utf-8")
            content_type = "application/json"
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.state.shutting_down:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return body

    # -- endpoints ---------------------------------------------------------------------------
    def _root(self, query, path):
        cfg = self.state.config
        return 200, {"name": cfg.name, "pod": cfg.pod, "namespace": cfg.namespace,
                     "node": cfg.node, "version": cfg.version, "port": self.port,
                     "workload_version": self.state.version}

    def _live(self, query, path):
        if self.state.is_live():
            return 200, {"status": "ok", "probe": "liveness"}
        return 503, {"status": "failing", "probe": "liveness", "reason": "toggled"}

    def _ready(self, query, path):
        state = self.state
        if state.is_ready():
            return 200, {"status": "ok", "probe": "readiness"}
        reason = ("shutting down" if state.shutting_down else "toggled" if state.ready_fail
                  else "starting")
        return 503, {"status": "failing", "probe": "readiness", "reason": reason}

    def _startup(self, query, path):
        state = self.state
        if state.startup_complete():
            return 200, {"status": "ok", "probe": "startup"}
        left = state.config.startup_seconds - state.uptime()
        return 503, {"status": "starting", "probe": "startup", "seconds_left": round(left, 3)}

    def _metrics(self, query, path):
        return 200, self.state.render_metrics()

    def _burn(self, query, path):
        ms = _int_param(query, "ms", 100, 0, self.state.config.burn_max_ms)
        return 200, self.state.burn(ms)

    def _sleep(self, query, path):
        ms = _int_param(query, "ms", 100, 0, self.state.config.sleep_max_ms)
        time.sleep(ms / 1000)
        return 200, {"slept_ms": ms}

    def _alloc(self, query, path):
        cfg = self.state.config
        mb = _int_param(query, "mb", None, 0, cfg.alloc_max_mb)
        seconds = _float_param(query, "seconds", 30.0, 0.0, cfg.alloc_max_seconds)
        held = self.state.hold(mb, seconds)
        if held is None:
            return 503, {"error": f"would exceed WORKLOAD_ALLOC_MAX_MB={cfg.alloc_max_mb}",
                         "held_mb": self.state.held_bytes() / 2**20}
        return 200, held

    def _status(self, query, path):
        raw = path.rsplit("/", 1)[-1]
        if not raw.isdigit() or not 200 <= int(raw) <= 599:
            raise BadRequest("/status/<code> needs a code between 200 and 599")
        return int(raw), {"status": int(raw)}

    def _toggle_live(self, query, path):
        self.state.live_fail = _fail_param(query)
        return 200, {"probe": "liveness", "failing": self.state.live_fail}

    def _toggle_ready(self, query, path):
        self.state.ready_fail = _fail_param(query)
        return 200, {"probe": "readiness", "failing": self.state.ready_fail}

    def _whoami(self, query, path):
        return 200, introspect.whoami()

    def _config(self, query, path):
        if "env" in query:
            name = query["env"][0]
            answer = introspect.env_value(name)
            return (200 if answer["set"] else 404), answer
        if "file" in query:
            return introspect.file_value(query["file"][0])
        raise BadRequest("use /config?env=NAME or /config?file=/absolute/path")


ROUTES: dict[str, Callable[..., tuple[int, Any]]] = {
    "/": Handler._root,
    "/health": Handler._live,
    "/healthz": Handler._live,
    "/ping": Handler._live,
    "/ready": Handler._ready,
    "/startup": Handler._startup,
    "/metrics": Handler._metrics,
    "/burn": Handler._burn,
    "/sleep": Handler._sleep,
    "/alloc": Handler._alloc,
    "/toggle/live": Handler._toggle_live,
    "/toggle/ready": Handler._toggle_ready,
    "/whoami": Handler._whoami,
    "/config": Handler._config,
}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128


class _UDPEcho(socketserver.ThreadingUDPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def _family(bind: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in bind else socket.AF_INET


class Workload:
    """All listeners of one process. ``start()`` binds and serves in threads; ``stop()`` drains."""

    def __init__(self, config: Config):
        self.config = config
        self.state = State(config)
        self.servers: list[tuple[PortSpec, socketserver.BaseServer]] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for spec in self.config.ports:
            self.servers.append((spec, self._bind(spec)))
        for spec, server in self.servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                      name=f"serve-{spec}", daemon=True)
            thread.start()
            self._threads.append(thread)
            host, port = server.server_address[:2]
            log(f"archconform-workload: listening on {spec.protocol} {host}:{port}")
        log(f"archconform-workload: {self.config.name} {self.config.version} ready to serve "
            f"(startup {self.config.startup_seconds:g}s, rate limit {self.config.rate_limit or 'off'})")

    def _bind(self, spec: PortSpec) -> socketserver.BaseServer:
        address = (self.config.bind, spec.port)
        family = _family(self.config.bind)
        try:
            if spec.protocol == "udp":
                state = self.state

                class Echo(socketserver.BaseRequestHandler):
                    def handle(self) -> None:
                        data, sock = self.request
                        state.count_udp()
                        sock.sendto(data, self.client_address)

                server_cls = type("UDPEcho", (_UDPEcho,), {"address_family": family})
                return server_cls(address, Echo)
            handler = type("BoundHandler", (Handler,), {"state": self.state, "port": spec.port})
            server_cls = type("HTTPServer", (_HTTPServer,), {"address_family": family})
            server = server_cls(address, handler)
            handler.port = server.server_address[1]
            return server
        except OSError as exc:
            hint = (" (ports below 1024 need net.ipv4.ip_unprivileged_port_start=0 or "
                    "NET_BIND_SERVICE)" if spec.port < 1024 and exc.errno == 13 else "")
            raise SystemExit(f"archconform-workload: cannot listen on {spec} at "
                             f"{self.config.bind}: {exc.strerror or exc}{hint}") from None

    def addresses(self) -> list[tuple[str, str, int]]:
        return [(spec.protocol, *server.server_address[:2]) for spec, server in self.servers]

    def stop(self) -> bool:
        """Fail readiness, wait the shutdown delay, close listeners, drain. True if drained."""
        state = self.state
        state.shutting_down = True
        if self.config.shutdown_delay_seconds:
            log(f"archconform-workload: shutting down in {self.config.shutdown_delay_seconds:g}s "
                "(readiness failing)")
            time.sleep(self.config.shutdown_delay_seconds)
        for _, server in self.servers:
            server.shutdown()
            server.server_close()
        drained = state.wait_idle(self.config.drain_seconds)
        if drained:
            log("archconform-workload: stopped (all requests answered)")
        else:
            log(f"archconform-workload: stopped with {state.inflight} request(s) still in flight "
                f"after {self.config.drain_seconds:g}s")
        return drained


def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; exit code 0 after a graceful stop."""
    workload = Workload(config)
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workload.start()
    while not stop.wait(0.5):
        pass
    log(f"archconform-workload: received {received[0]}, draining")
    workload.stop()
    return 0
