"""FakeKube: a Kubernetes API server in memory, over real HTTP on 127.0.0.1, for tests.

The official ``kubernetes`` client talks to it through the kubeconfig it writes
(``fake.kubeconfig_path``, context ``fake``); nothing in the client is patched. It serves:

- discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``, ``/apis/<g>/<v>``;
- CRUD for namespaced and cluster-scoped resources: GET, LIST (label and field selectors,
  ``limit``/``continue``), POST, PUT (resourceVersion precondition), PATCH (merge, strategic as
  merge, JSON patch, server-side apply), DELETE (UID/resourceVersion preconditions, finalizers,
  background garbage collection of owned objects), DELETE collection;
- watch (``?watch=true``): chunked JSON event lines, replay from a resourceVersion, 410 Expired
  after ``compact()``, streams ended by ``close_watches()`` or ``timeoutSeconds``;
- the ``status`` and ``scale`` subresources, ``pods/<name>/log``, ``pods/<name>/eviction`` (PodDisruptionBudgets
  honoured: 429 with the budget's message, 500 for more than one), and ``pods/<name>/exec`` and
  ``pods/<name>/portforward`` over WebSocket (``v4.channel.k8s.io``);
- errors as real ``Status`` bodies (NotFound, AlreadyExists, Conflict, Invalid,
  TooManyRequests, Forbidden, Unauthorized).

Cluster behaviour is scripted per test: ``on_eviction``, ``on_exec``, ``on_port_forward``,
``on_logs``,
``on_create(kind, fn)`` (admission), ``on_request`` (any request), direct state changes that
emit watch events (``put``, ``update``, ``patch_status``, ``delete``), and ``schedule(delay, fn)``
for a timeline. ``requests`` logs every request (method, path, query, body).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import kubernetes_validate
import yaml

from . import statuses
from .catalog import BUILTIN_RESOURCES, Catalog, FakeResource
from .patches import PatchError, json_patch, merge_patch
from .selectors import SelectorError, label_selector_matches, parse_fields, parse_labels
from .store import Store, filter_event, now_rfc3339, wait_for_events
from .websocket import ServerWebSocket, accept_key, choose_protocol

CONTEXT = "fake"
TOKEN = "fake-token"
VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0", "gitCommit": "fake",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25",
           "compiler": "gc", "platform": "linux/amd64"}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _comparable(obj: dict) -> dict:
    """An object without the fields every write changes (for no-op detection)."""
    out = copy.deepcopy(obj)
    md = out.get("metadata") or {}
    for field_name in ("resourceVersion", "managedFields", "generation"):
        md.pop(field_name, None)
    return out


class Reject(Exception):
    """Raise from a hook (or internally) to answer with a Status body."""

    def __init__(self, status: dict) -> None:
        super().__init__(status.get("message"))
        self.status = status


class ExecError(Exception):
    """Raise from an ``on_exec`` hook: the command could not start (error channel Failure)."""


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    content_type: str
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class ExecCall:
    """What an ``on_exec`` hook receives."""

    namespace: str
    pod: str
    container: str | None
    command: list[str]
    pod_obj: dict


@dataclass
class ExecReply:
    """What an ``on_exec`` hook returns (a (stdout, stderr, rc) tuple works too)."""

    stdout: str = ""
    stderr: str = ""
    rc: int = 0
    #: Seconds to wait before answering (a command that runs long).
    delay: float = 0.0


@dataclass
class EvictionCall:
    """What an ``on_eviction`` hook receives."""

    namespace: str
    pod: str
    pod_obj: dict
    body: dict


@dataclass
class LogCall:
    """What an ``on_logs`` hook receives."""

    namespace: str
    pod: str
    container: str | None
    query: dict[str, list[str]]
    pod_obj: dict


@dataclass
class PortForwardCall:
    namespace: str
    pod: str
    port: int


@dataclass
class _Route:
    what: str                     # version, api, apis, group, resources, collection, object
    res: FakeResource | None = None
    namespace: str | None = None
    name: str | None = None
    sub: str | None = None
    group: str = ""
    version: str = ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: "FakeKube") -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):  # noqa: D401 - stdlib hook
        with self.conn_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.conn_lock:
            conns = list(self.connections)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every request on loopback
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _handle(self) -> None:
        self.server.fake._dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class FakeKube:
    """An in-memory Kubernetes API server on 127.0.0.1:<free port>. Use as a context manager."""

    def __init__(self, *, token: str | None = TOKEN, watch_timeout: float = 30.0,
                 namespace_deletion_delay: float = 0.0, version: dict | None = None,
                 validate: bool = True) -> None:
        self.token = token
        #: Default length of a watch stream when the client gives no timeoutSeconds.
        self.watch_timeout = watch_timeout
        #: Seconds a deleted namespace stays Terminating before it and its contents go.
        self.namespace_deletion_delay = namespace_deletion_delay
        self.version = dict(version or VERSION)
        #: Check built-in kinds written through the API against the official OpenAPI schemas
        #: (kubernetes-validate), as the API server does: wrong types and missing required
        #: fields are refused; unknown fields only with ``fieldValidation=Strict``.
        self.validate = validate
        #: False makes list and watch ignore labelSelector (a misbehaving server or proxy), to
        #: prove that clients check labels themselves where it matters.
        self.honour_label_selectors = True
        self.catalog = Catalog()
        self.store = Store()
        self.requests: list[RecordedRequest] = []
        #: Exceptions raised by scheduled functions or hooks (re-raised on exit).
        self.errors: list[BaseException] = []
        self._req_lock = threading.Lock()
        self._create_hooks: dict[str, list[Callable]] = {}
        self._request_hooks: list[Callable] = []
        self._eviction_hook: Callable | None = None
        self._exec_hook: Callable | None = None
        self._portforward_hook: Callable | None = None
        self._logs_hook: Callable | None = None
        self._timers: list[threading.Timer] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._dir: str | None = None
        self.kubeconfig_path = ""
        self.context = CONTEXT

    # == lifecycle ==============================================================================

    def start(self) -> "FakeKube":
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="fakekube")
        self._thread.start()
        self._dir = tempfile.mkdtemp(prefix="fakekube-")
        self.kubeconfig_path = os.path.join(self._dir, "kubeconfig")
        with open(self.kubeconfig_path, "w") as fh:
            yaml.safe_dump(self.kubeconfig(), fh)
        self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
        return self

    def stop(self) -> None:
        self._stopping.set()
        for timer in list(self._timers):
            timer.cancel()
        self.store.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.drop_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "FakeKube":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc is None and self.errors:
            raise AssertionError(f"fakekube: {len(self.errors)} error(s) in scripted behaviour; "
                                 f"first: {self.errors[0]!r}") from self.errors[0]

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeKube not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, *, context: str = CONTEXT) -> dict:
        """The kubeconfig document pointing at this server."""
        user: dict = {"token": self.token} if self.token else {}
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "fake", "user": user}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": context}

    # == scripting hooks ========================================================================

    def on_create(self, kind: str, fn: Callable[[dict], Any]) -> None:
        """Admission for creates of ``kind`` ("*" for all): ``fn(obj)`` returns None (accept),
        a dict to store instead, or a Status dict (``statuses.*``) to refuse; may raise Reject."""
        self._create_hooks.setdefault(kind, []).append(fn)

    def on_request(self, fn: Callable[[RecordedRequest], dict | None]) -> None:
        """Before routing any request: return a Status dict to answer with it, None to go on."""
        self._request_hooks.append(fn)

    def on_eviction(self, fn: Callable[[EvictionCall], Any]) -> None:
        """``fn(call)`` returns None (default PDB logic), True (evict), or a Status to refuse."""
        self._eviction_hook = fn

    def on_exec(self, fn: Callable[[ExecCall], Any]) -> None:
        """``fn(call)`` returns ExecReply or (stdout, stderr, rc); raise ExecError if the
        command cannot start."""
        self._exec_hook = fn

    def on_port_forward(self, fn: Callable[[PortForwardCall], tuple[str, int] | None]) -> None:
        """``fn(call)`` returns the (host, port) on 127.0.0.1 the pod port leads to."""
        self._portforward_hook = fn

    def on_logs(self, fn: Callable[[LogCall], str]) -> None:
        """``fn(call)`` returns the log text of the pod's container (tailLines is applied)."""
        self._logs_hook = fn

    def schedule(self, delay: float, fn: Callable, *args: Any, **kwargs: Any) -> threading.Timer:
        """Run ``fn`` after ``delay`` seconds (a scripted cluster timeline). Errors are kept in
        ``errors`` and fail the test on exit."""
        def run() -> None:
            if self._stopping.is_set():
                return
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported on exit
                self.errors.append(exc)

        timer = threading.Timer(delay, run)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return timer

    def compact(self) -> None:
        """Forget watch history: a watch from an older resourceVersion gets 410 Expired."""
        self.store.compact()

    def close_watches(self) -> None:
        """End every open watch stream (clients must reconnect)."""
        self.store.close_watches()

    def requests_for(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Logged requests, filtered by method and by a substring of the path."""
        with self._req_lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or path in r.path)]

    # == direct state (tests) ===================================================================

    def resource(self, kind: str, api_version: str | None = None) -> FakeResource:
        return self.catalog.by_kind(kind, api_version)

    def put(self, obj: dict) -> dict:
        """Create or overwrite an object as the cluster would have it (no admission); emits
        ADDED or MODIFIED."""
        res = self.resource(obj["kind"], obj.get("apiVersion"))
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if res.namespaced:
            md.setdefault("namespace", "default")
        if res.kind == "Namespace":
            obj.setdefault("status", {"phase": "Active"})
        if self.store.get(res, md.get("namespace"), md["name"]) is None:
            created = self.store.create(res, obj)
            self._after_create(res, created)
            return created
        return self.store.replace(res, obj)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        res = self.resource(kind)
        return self.store.get(res, namespace or ("default" if res.namespaced else None), name)

    def list(self, kind: str, namespace: str | None = None, labels: str | None = None) -> list[dict]:
        return self.store.list(self.resource(kind), namespace, parse_labels(labels))

    def update(self, kind: str, name: str, *, namespace: str | None = None,
               patch: dict | None = None, fn: Callable[[dict], Any] | None = None) -> dict:
        """Change an object (merge ``patch``, or ``fn(obj)`` mutating it); emits MODIFIED."""
        res = self.resource(kind)
        ns = namespace or ("default" if res.namespaced else None)
        with self.store.cond:
            obj = self.store.get(res, ns, name)
            if obj is None:
                raise KeyError(f"{kind} {ns}/{name} not in the fake")
            if patch is not None:
                obj = merge_patch(obj, patch)
            if fn is not None:
                obj = fn(obj) or obj
            return self.store.replace(res, obj)

    def patch_status(self, kind: str, name: str, *, namespace: str | None = None,
                     status: dict) -> dict:
        """Merge into .status (what a controller or kubelet does); emits MODIFIED."""
        res = self.resource(kind)
        ns = namespace or ("default" if res.namespaced else None)
        with self.store.cond:
            obj = self.store.get(res, ns, name)
            if obj is None:
                raise KeyError(f"{kind} {ns}/{name} not in the fake")
            obj["status"] = merge_patch(obj.get("status") or {}, status)
            return self.store.replace(res, obj, bump_generation=False)

    def delete(self, kind: str, name: str, *, namespace: str | None = None) -> dict | None:
        """Remove an object at once (no finalizers, no GC); emits DELETED."""
        res = self.resource(kind)
        return self.store.remove(res, namespace or ("default" if res.namespaced else None), name)

    # == HTTP dispatch ==========================================================================

    def _dispatch(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        content_type = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                try:
                    body = yaml.safe_load(raw)
                except yaml.YAMLError:
                    body = raw.decode("utf-8", "replace")
        request = RecordedRequest(h.command, url.path, query, body, content_type,
                                  {k.lower(): v for k, v in h.headers.items()})
        with self._req_lock:
            self.requests.append(request)
        try:
            if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
                raise Reject(statuses.unauthorized())
            for hook in self._request_hooks:
                answer = hook(request)
                if answer is not None:
                    raise Reject(answer)
            self._route_and_serve(h, request)
        except Reject as rej:
            self._send(h, int(rej.status.get("code") or 500), rej.status)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        except Exception as exc:  # a bug in the fake: answer 500 and remember it
            self.errors.append(exc)
            self._send(h, 500, statuses.internal_error(
                f"fakekube: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))

    def _send_text(self, h: _Handler, code: int, text: str) -> None:
        data = text.encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _send(self, h: _Handler, code: int, obj: Any, headers: dict | None = None) -> None:
        data = json.dumps(obj).encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    # -- routing --------------------------------------------------------------------------------

    def _parse(self, path: str) -> _Route:
        segs = [unquote(s) for s in path.split("/") if s]
        if segs == ["version"]:
            return _Route("version")
        if not segs or segs[0] not in ("api", "apis"):
            raise Reject(statuses.no_such_path())
        if segs[0] == "api":
            if len(segs) == 1:
                return _Route("api")
            group, version, rest = "", segs[1], segs[2:]
        else:
            if len(segs) == 1:
                return _Route("apis")
            if len(segs) == 2:
                return _Route("group", group=segs[1])
            group, version, rest = segs[1], segs[2], segs[3:]
        if version not in self.catalog.group_versions().get(group, []):
            raise Reject(statuses.no_such_path())
        if not rest:
            return _Route("resources", group=group, version=version)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            inner = self.catalog.find(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        res = self.catalog.find(group, version, rest[0])
        if res is None or len(rest) > 3:
            raise Reject(statuses.no_such_path())
        if len(rest) == 1:
            return _Route("collection", res, namespace, group=group, version=version)
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in res.subresources:
            raise Reject(statuses.no_such_path())
        if res.namespaced and namespace is None:
            raise Reject(statuses.no_such_path())
        return _Route("object", res, namespace, rest[1], sub, group=group, version=version)

    def _route_and_serve(self, h: _Handler, req: RecordedRequest) -> None:
        route = self._parse(req.path)
        method = req.method
        if route.what in ("version", "api", "apis", "group", "resources"):
            if method != "GET":
                raise Reject(statuses.status(405, "MethodNotAllowed", "method not allowed"))
            self._send(h, 200, self._discovery(route))
            return
        res = route.res
        assert res is not None
        if route.what == "collection":
            if method == "GET":
                if (req.param("watch") or "").lower() in ("true", "1"):
                    self._watch(h, req, res, route.namespace)
                else:
                    self._send(h, 200, self._list(req, res, route.namespace))
            elif method == "POST":
                code, obj = self._create(req, res, route.namespace, req.body)
                self._send(h, code, obj)
            elif method == "DELETE":
                self._send(h, 200, self._delete_collection(req, res, route.namespace))
            else:
                raise Reject(statuses.status(405, "MethodNotAllowed", "method not allowed"))
            return
        sub = route.sub
        name = route.name or ""
        if sub in ("exec", "portforward"):
            self._upgrade(h, req, res, route.namespace or "", name, sub)
            return
        if sub == "eviction":
            if method != "POST":
                raise Reject(statuses.status(405, "MethodNotAllowed", "method not allowed"))
            self._send(h, *self._evict(req, route.namespace or "", name))
            return
        if sub == "scale":
            self._send(h, 200, self._scale(req, res, route.namespace, name))
            return
        if sub == "log":
            accept = [a.split(";")[0].strip() for a in (h.headers.get("Accept") or "*/*").split(",")]
            if not any(a in ("*/*", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
                       for a in accept):
                # what kube-apiserver v1.37.2 answers to "Accept: text/plain" (seen on a real kind cluster)
                raise Reject(statuses.status(406, "NotAcceptable", "only the following media types are accepted: "
                                             "application/json, application/yaml, application/vnd.kubernetes.protobuf"))
            pod = self._existing(res, route.namespace, name)
            text = self._logs_hook(LogCall(route.namespace or "", name, req.param("container"),
                                           req.query, pod)) if self._logs_hook else ""
            tail = req.param("tailLines")
            if tail is not None:
                text = "".join(text.splitlines(keepends=True)[-int(tail):]) if int(tail) else ""
            self._send_text(h, 200, text)
            return
        if sub not in (None, "status"):
            raise Reject(statuses.no_such_path())
        if method == "GET":
            obj = self.store.get(res, route.namespace, name)
            if obj is None:
                raise Reject(statuses.not_found(res.plural, name, res.group))
            self._send(h, 200, obj)
        elif method == "PUT":
            self._send(h, 200, self._replace(req, res, route.namespace, name, sub))
        elif method == "PATCH":
            self._send(h, *self._patch(req, res, route.namespace, name, sub))
        elif method == "DELETE":
            self._send(h, 200, self._delete(req, res, route.namespace, name))
        else:
            raise Reject(statuses.status(405, "MethodNotAllowed", "method not allowed"))

    # -- discovery ------------------------------------------------------------------------------

    def _discovery(self, route: _Route) -> dict:
        if route.what == "version":
            return self.version
        if route.what == "api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                    "serverAddress": f"127.0.0.1:{self.port}"}]}
        groups = self.catalog.group_versions()

        def group_doc(name: str) -> dict:
            versions = groups[name]
            return {"name": name,
                    "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                    "preferredVersion": {"groupVersion": f"{name}/{versions[0]}",
                                         "version": versions[0]}}

        if route.what == "apis":
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [group_doc(g) for g in groups if g]}
        if route.what == "group":
            if route.group not in groups or not route.group:
                raise Reject(statuses.no_such_path())
            return {"kind": "APIGroup", "apiVersion": "v1", **group_doc(route.group)}
        gv = f"{route.group}/{route.version}" if route.group else route.version
        resources = []
        for res in self.catalog.in_group_version(route.group, route.version):
            resources.extend(res.discovery())
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": resources}

    # -- list and watch -------------------------------------------------------------------------

    def _selectors(self, req: RecordedRequest):
        try:
            labels = parse_labels(req.param("labelSelector"))
            return (labels if self.honour_label_selectors else []), \
                parse_fields(req.param("fieldSelector"))
        except SelectorError as exc:
            raise Reject(statuses.bad_request(str(exc))) from exc

    def _list(self, req: RecordedRequest, res: FakeResource, namespace: str | None) -> dict:
        if res.virtual:
            raise Reject(statuses.status(405, "MethodNotAllowed", "method not allowed"))
        labels, fields = self._selectors(req)
        with self.store.cond:
            items = self.store.list(res, namespace, labels, fields)
            rv = self.store.rv
        start = 0
        token = req.param("continue")
        if token:
            try:
                start = int(base64.b64decode(token).decode())
            except ValueError as exc:
                raise Reject(statuses.bad_request("invalid continue token")) from exc
        limit = int(req.param("limit") or 0)
        meta: dict = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        page = items[start:start + limit] if limit else items[start:]
        for item in page:  # the API server leaves TypeMeta out of list items
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta,
                "items": page}

    def _watch(self, h: _Handler, req: RecordedRequest, res: FakeResource,
               namespace: str | None) -> None:
        labels, fields = self._selectors(req)
        timeout = float(req.param("timeoutSeconds") or self.watch_timeout)
        deadline = time.monotonic() + timeout
        key = self.store.key(res)
        requested = req.param("resourceVersion")
        pending: list[tuple[str, dict]] = []
        expired = None
        with self.store.cond:
            epoch = self.store.watch_epoch
            last = self.store.rv
            if not requested or requested == "0":
                pending = [("ADDED", o) for o in self.store.list(res, namespace, labels, fields)]
            else:
                rv = int(requested)
                if rv < self.store.compacted:
                    expired = statuses.too_old(rv, self.store.compacted + 1)
                else:
                    for event in self.store.events_after(rv, key):
                        seen = filter_event(event, namespace=namespace, labels=labels, fields=fields)
                        if seen:
                            pending.append(seen)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def write(etype: str, obj: dict) -> None:
            line = json.dumps({"type": etype, "object": obj}).encode() + b"\n"
            h.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            h.wfile.flush()

        try:
            if expired is not None:
                write("ERROR", expired)
            else:
                for etype, obj in pending:
                    write(etype, obj)
                while not self._stopping.is_set():
                    outcome = wait_for_events(self.store, key, last, epoch, deadline)
                    if outcome != "events":
                        break
                    with self.store.cond:
                        events = self.store.events_after(last, key)
                        last = max([last] + [e.rv for e in events])
                    for event in events:
                        seen = filter_event(event, namespace=namespace, labels=labels, fields=fields)
                        if seen:
                            write(*seen)
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True

    # -- create -------------------------------------------------------------------------------

    def _admit(self, res: FakeResource, obj: dict) -> dict:
        for kind in (res.kind, "*"):
            for hook in self._create_hooks.get(kind, []):
                answer = hook(copy.deepcopy(obj))
                if isinstance(answer, dict) and answer.get("kind") == "Status":
                    raise Reject(answer)
                if isinstance(answer, dict):
                    obj = answer
        return obj

    def _check_body(self, res: FakeResource, obj: Any, namespace: str | None) -> dict:
        if not isinstance(obj, dict):
            raise Reject(statuses.bad_request("the request body is not an object"))
        if obj.get("kind") not in (None, res.kind) or \
                obj.get("apiVersion") not in (None, res.api_version):
            raise Reject(statuses.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) / kind "
                f"({obj.get('kind')}) does not match the expected {res.api_version} {res.kind}"))
        md = obj.setdefault("metadata", {})
        if res.namespaced:
            if md.get("namespace") and namespace and md["namespace"] != namespace:
                raise Reject(statuses.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"))
            md["namespace"] = namespace or md.get("namespace")
        return obj

    def _check_schema(self, req: RecordedRequest, res: FakeResource, obj: dict) -> None:
        """Validate a built-in object against the schema of the served Kubernetes version."""
        if not self.validate or res.virtual or res not in BUILTIN_RESOURCES:
            return
        strict = "Strict" in req.query.get("fieldValidation", [])
        version = f"{self.version['major']}.{self.version['minor']}"
        name = (obj.get("metadata") or {}).get("name", "")
        try:
            kubernetes_validate.validate(obj, version, strict=strict)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(root)"
            if req.content_type == "application/apply-patch+yaml" and exc.validator in ("additionalProperties", "type"):
                # As the real server does: a server-side apply its schema cannot take fails while
                # building the typed patch, with HTTP 500 and no reason (k8s.io/apimachinery
                # pkg/util/managedfields/internal/structuredmerge.go).
                unknown = re.findall(r"'([^']+)' was unexpected", exc.message)
                field = f".{path}.{unknown[0]}" if unknown and exc.path else f".{unknown[0]}" if unknown else f".{path}"
                problem = "field not declared in schema" if unknown else exc.message
                where = f"{(obj.get('metadata') or {}).get('namespace')}/{name}" if res.namespaced else name
                raise Reject(statuses.status(500, "", f"failed to create typed patch object ({where}; "
                                                      f"{res.api_version}, Kind={res.kind}): {field}: {problem}")) from None
            if exc.validator == "additionalProperties":
                unknown = re.findall(r"'([^']+)' was unexpected", exc.message)
                fields = ", ".join(f'"{path}.{u}"' if exc.path else f'"{u}"' for u in unknown)
                raise Reject(statuses.bad_request(
                    f"strict decoding error: unknown field {fields or path}")) from None
            if exc.validator == "type":
                raise Reject(statuses.bad_request(
                    f'{res.qualified_kind} in version "{res.version}" cannot be handled as a '
                    f"{res.kind}: {path}: {exc.message}")) from None
            raise Reject(statuses.invalid(res.kind, name, [(path, exc.message)], res.group)) \
                from None
        except Exception:  # no schema for this version/kind: accept, as a lenient server would
            return

    def _create(self, req: RecordedRequest, res: FakeResource, namespace: str | None,
                body: Any) -> tuple[int, dict]:
        obj = self._check_body(res, copy.deepcopy(body), namespace)
        md = obj["metadata"]
        if res.namespaced and not md.get("namespace"):
            raise Reject(statuses.status(405, "MethodNotAllowed",
                                         f"create {res.plural} needs a namespace in the path"))
        if res.virtual:
            obj = self._admit(res, obj)
            obj.setdefault("status", {"allowed": False,
                                      "reason": "fakekube: no access review answer scripted"})
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            return 201, obj
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        name = md.get("name")
        if not name:
            raise Reject(statuses.invalid(res.kind, "", [("metadata.name",
                                                          "Required value: name or generateName "
                                                          "is required")], res.group))
        if not _NAME.match(name) or len(name) > 253:
            raise Reject(statuses.invalid(res.kind, name, [(
                "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                                 f"consist of lower case alphanumeric characters, '-' or '.'")],
                res.group))
        if res.namespaced and res.kind != "Namespace":
            ns_res = self.catalog.by_kind("Namespace")
            ns_obj = self.store.get(ns_res, None, md["namespace"])
            if ns_obj is None:
                raise Reject(statuses.not_found("namespaces", md["namespace"]))
            if (ns_obj.get("status") or {}).get("phase") == "Terminating":
                raise Reject(statuses.namespace_terminating(res.plural, name, md["namespace"],
                                                            res.group))
        if self.store.get(res, md.get("namespace"), name) is not None:
            raise Reject(statuses.already_exists(res.plural, name, res.group))
        obj = self._admit(res, obj)
        self._defaults(res, obj)
        self._check_schema(req, res, obj)
        self._record_manager(obj, req, "Update" if req.method != "PATCH" else "Apply")
        if self._dry_run(req):
            obj["metadata"].setdefault("uid", str(uuid.uuid4()))
            obj["metadata"].setdefault("creationTimestamp", now_rfc3339())
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            return 201, obj
        created = self.store.create(res, obj)
        self._after_create(res, created)
        return 201, self.store.get(res, md.get("namespace"), name) or created

    @staticmethod
    def _dry_run(req: RecordedRequest) -> bool:
        return "All" in req.query.get("dryRun", [])

    def _defaults(self, res: FakeResource, obj: dict) -> None:
        """Server-side defaults a real API server would add on create."""
        if res.has_status and res.kind not in ("Namespace",):
            obj.pop("status", None)
        if res.kind == "Namespace":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = \
                obj["metadata"]["name"]
        elif res.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif res.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            obj.setdefault("spec", {}).setdefault("replicas", 1)

    @staticmethod
    def _record_manager(obj: dict, req: RecordedRequest, operation: str) -> None:
        manager = req.param("fieldManager") or "unknown"
        entries = [e for e in obj["metadata"].get("managedFields") or []
                   if not (e.get("manager") == manager and e.get("operation") == operation)]
        entries.append({"manager": manager, "operation": operation,
                        "apiVersion": obj.get("apiVersion", ""), "time": now_rfc3339()})
        obj["metadata"]["managedFields"] = entries

    def _after_create(self, res: FakeResource, obj: dict) -> None:
        if res.kind == "CustomResourceDefinition":
            self.catalog.register_crd(obj)
            self.patch_status("CustomResourceDefinition", obj["metadata"]["name"], status={
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}],
                "acceptedNames": (obj.get("spec") or {}).get("names") or {}})

    # -- update, patch ------------------------------------------------------------------------

    def _existing(self, res: FakeResource, namespace: str | None, name: str) -> dict:
        obj = self.store.get(res, namespace, name)
        if obj is None:
            raise Reject(statuses.not_found(res.plural, name, res.group))
        return obj

    def _write(self, req: RecordedRequest, res: FakeResource, old: dict, new: dict,
               sub: str | None, operation: str) -> dict:
        """Store ``new`` over ``old`` honouring the status subresource split."""
        if sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            new, bump = merged, False
        else:
            if res.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            bump = None
        md = new.setdefault("metadata", {})
        md["name"] = old["metadata"]["name"]
        if res.namespaced:
            md["namespace"] = old["metadata"]["namespace"]
        if _comparable(new) == _comparable(old):
            return old  # a no-op write keeps the resourceVersion, as the API server does
        self._check_schema(req, res, new)
        self._record_manager(new, req, operation)
        if self._dry_run(req):
            return new
        stored = self.store.replace(res, new, bump_generation=bump)
        if md.get("deletionTimestamp") and not md.get("finalizers"):
            self.store.remove(res, md.get("namespace"), md["name"])
        return stored

    def _replace(self, req: RecordedRequest, res: FakeResource, namespace: str | None,
                 name: str, sub: str | None) -> dict:
        with self.store.cond:
            old = self._existing(res, namespace, name)
            new = self._check_body(res, copy.deepcopy(req.body), namespace)
            if new["metadata"].get("name") not in (None, name):
                raise Reject(statuses.bad_request("the name of the object does not match the "
                                                  "name on the URL"))
            wanted = new["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise Reject(statuses.conflict(res.plural, name, res.group))
            return self._write(req, res, old, new, sub, "Update")

    def _patch(self, req: RecordedRequest, res: FakeResource, namespace: str | None, name: str,
               sub: str | None) -> tuple[int, dict]:
        ctype = req.content_type
        with self.store.cond:
            old = self.store.get(res, namespace, name)
            if ctype == "application/apply-patch+yaml":
                if not req.param("fieldManager"):
                    raise Reject(statuses.bad_request(
                        "PATCH with apply requires fieldManager to be set"))
                body = self._check_body(res, copy.deepcopy(req.body), namespace)
                if body["metadata"].get("name") not in (None, name):
                    raise Reject(statuses.bad_request("the name of the object does not match "
                                                      "the name on the URL"))
                body["metadata"]["name"] = name
                if old is None:
                    if sub is not None:
                        raise Reject(statuses.not_found(res.plural, name, res.group))
                    return self._create(req, res, namespace, body)
                new = merge_patch(old, body)
                return 200, self._write(req, res, old, new, sub, "Apply")
            if old is None:
                raise Reject(statuses.not_found(res.plural, name, res.group))
            try:
                if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                    if not isinstance(req.body, dict):
                        raise PatchError("a merge patch must be an object")
                    new = merge_patch(old, req.body)
                elif ctype == "application/json-patch+json":
                    if not isinstance(req.body, list):
                        raise PatchError("a JSON patch must be a list of operations")
                    new = json_patch(old, req.body)
                else:
                    raise Reject(statuses.status(415, "UnsupportedMediaType",
                                                 f"the body of the request was in an unknown "
                                                 f"format - accepted media types include: "
                                                 f"application/json-patch+json, "
                                                 f"application/merge-patch+json, "
                                                 f"application/apply-patch+yaml (got {ctype!r})"))
            except PatchError as exc:
                raise Reject(statuses.invalid(res.kind, name, [("patch", str(exc))],
                                              res.group)) from exc
            if sub == "status":
                new = {**old, "status": new.get("status")}
            return 200, self._write(req, res, old, new, sub, "Update")

    # -- delete -------------------------------------------------------------------------------

    def _delete(self, req: RecordedRequest, res: FakeResource, namespace: str | None,
                name: str) -> dict:
        options = req.body if isinstance(req.body, dict) else {}
        pre = options.get("preconditions") or {}
        with self.store.cond:
            obj = self._existing(res, namespace, name)
            md = obj["metadata"]
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise Reject(statuses.conflict(
                    res.plural, name, res.group,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                    f"meta: {md.get('uid')}"))
            if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
                raise Reject(statuses.conflict(
                    res.plural, name, res.group,
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{md.get('resourceVersion')}"))
            if self._dry_run(req) or "All" in (options.get("dryRun") or []):
                return obj
            propagation = options.get("propagationPolicy") or req.param("propagationPolicy") \
                or "Background"
            return self._delete_object(res, obj, propagation)

    def _delete_object(self, res: FakeResource, obj: dict, propagation: str) -> dict:
        md = obj["metadata"]
        name, namespace = md["name"], md.get("namespace")
        if res.kind == "Namespace":
            if md.get("deletionTimestamp"):
                return obj
            md["deletionTimestamp"] = now_rfc3339()
            obj["status"] = {"phase": "Terminating"}
            terminating = self.store.replace(res, obj, bump_generation=False)
            if self.namespace_deletion_delay > 0:
                self.schedule(self.namespace_deletion_delay, self._finish_namespace, name)
            else:
                self._finish_namespace(name)
            return terminating
        if md.get("finalizers"):
            if not md.get("deletionTimestamp"):
                md["deletionTimestamp"] = now_rfc3339()
                return self.store.replace(res, obj, bump_generation=False)
            return obj
        self.store.remove(res, namespace, name)
        if res.kind == "CustomResourceDefinition":
            self.catalog.unregister_crd(obj)
        if propagation != "Orphan":
            self._collect_dependents(md.get("uid"))
        return statuses.success(name=name, kind=res.plural, uid=md.get("uid"))

    def _collect_dependents(self, uid: str | None) -> None:
        """Background garbage collection: delete objects owned by ``uid``."""
        if not uid:
            return
        for (group, plural), obj in self.store.all_objects():
            owners = (obj.get("metadata") or {}).get("ownerReferences") or []
            if any(o.get("uid") == uid for o in owners):
                res = next(r for r in self.catalog.resources
                           if (r.group, r.plural) == (group, plural))
                current = self.store.get(res, obj["metadata"].get("namespace"),
                                         obj["metadata"]["name"])
                if current is not None:
                    self._delete_object(res, current, "Background")

    def _finish_namespace(self, name: str) -> None:
        for (group, plural), obj in self.store.all_objects():
            if (obj.get("metadata") or {}).get("namespace") == name:
                res = next(r for r in self.catalog.resources
                           if (r.group, r.plural) == (group, plural))
                self.store.remove(res, name, obj["metadata"]["name"])
        self.store.remove(self.catalog.by_kind("Namespace"), None, name)

    def _delete_collection(self, req: RecordedRequest, res: FakeResource,
                           namespace: str | None) -> dict:
        labels, fields = self._selectors(req)
        deleted = []
        with self.store.cond:
            for obj in self.store.list(res, namespace, labels, fields):
                if not self._dry_run(req):
                    self._delete_object(res, obj, "Background")
                deleted.append(obj)
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)}, "items": deleted}

    # -- scale --------------------------------------------------------------------------------

    def _scale(self, req: RecordedRequest, res: FakeResource, namespace: str | None,
               name: str) -> dict:
        with self.store.cond:
            obj = self._existing(res, namespace, name)
            if req.method in ("PUT", "PATCH"):
                body = req.body if isinstance(req.body, dict) else {}
                if req.content_type == "application/json-patch+json":
                    body = json_patch(self._scale_doc(res, obj), req.body)
                replicas = (body.get("spec") or {}).get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    raise Reject(statuses.invalid("Scale", name, [(
                        "spec.replicas", f"Invalid value: {replicas!r}: must be greater than or "
                                         f"equal to 0")], "autoscaling"))
                obj.setdefault("spec", {})["replicas"] = replicas
                if not self._dry_run(req):
                    obj = self.store.replace(res, obj)
            elif req.method != "GET":
                raise Reject(statuses.status(405, "MethodNotAllowed", "method not allowed"))
            return self._scale_doc(res, obj)

    @staticmethod
    def _scale_doc(res: FakeResource, obj: dict) -> dict:
        md = obj["metadata"]
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": md["name"], "namespace": md.get("namespace"),
                             "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion"),
                             "creationTimestamp": md.get("creationTimestamp")},
                "spec": {"replicas": int((obj.get("spec") or {}).get("replicas") or 0)},
                "status": {"replicas": int((obj.get("status") or {}).get("replicas") or 0),
                           "selector": ",".join(f"{k}={v}" for k, v in selector.items())}}

    # -- eviction -----------------------------------------------------------------------------

    def _evict(self, req: RecordedRequest, namespace: str, name: str) -> tuple[int, dict]:
        pods = self.catalog.by_kind("Pod")
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("kind") != "Eviction":
            raise Reject(statuses.bad_request("the body of an eviction must be an Eviction"))
        with self.store.cond:
            pod = self._existing(pods, namespace, name)
            ns_obj = self.store.get(self.catalog.by_kind("Namespace"), None, namespace)
            if ((ns_obj or {}).get("status") or {}).get("phase") == "Terminating":
                raise Reject(statuses.namespace_terminating(pods.plural, name, namespace))
            dry = "All" in ((body.get("deleteOptions") or {}).get("dryRun") or []) or \
                self._dry_run(req)
            answer = None
            if self._eviction_hook is not None:
                answer = self._eviction_hook(EvictionCall(namespace, name, copy.deepcopy(pod),
                                                          copy.deepcopy(body)))
            if isinstance(answer, dict) and answer.get("kind") == "Status":
                raise Reject(answer)
            if answer is None:
                self._pdb_check(namespace, pod, dry)
            if not dry:
                self._delete_object(pods, pod, "Background")
        return 201, statuses.success(code=201)

    def _pdb_check(self, namespace: str, pod: dict, dry: bool) -> None:
        """The eviction subresource's PodDisruptionBudget logic."""
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        labels = (pod.get("metadata") or {}).get("labels") or {}
        pdb_res = self.catalog.by_kind("PodDisruptionBudget")
        pdbs = [p for p in self.store.list(pdb_res, namespace)
                if label_selector_matches((p.get("spec") or {}).get("selector"), labels)]
        if len(pdbs) > 1:
            raise Reject(statuses.multiple_pdbs())
        if not pdbs:
            return
        pdb = pdbs[0]
        status = pdb.get("status") or {}
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed <= 0:
            raise Reject(statuses.pdb_blocked(pdb["metadata"]["name"],
                                              needs=int(status.get("desiredHealthy") or 0),
                                              has=int(status.get("currentHealthy") or 0)))
        if not dry:
            disrupted = dict(status.get("disruptedPods") or {})
            disrupted[pod["metadata"]["name"]] = now_rfc3339()
            pdb["status"] = {**status, "disruptionsAllowed": allowed - 1,
                             "disruptedPods": disrupted}
            self.store.replace(pdb_res, pdb, bump_generation=False)

    # -- exec and port-forward over WebSocket ---------------------------------------------------

    def _upgrade(self, h: _Handler, req: RecordedRequest, res: FakeResource, namespace: str,
                 name: str, sub: str) -> None:
        pod = self._existing(res, namespace, name)
        if (h.headers.get("Upgrade") or "").lower() != "websocket":
            raise Reject(statuses.bad_request("Upgrade request required"))
        protocol = choose_protocol(h.headers.get("Sec-WebSocket-Protocol"))
        if protocol is None:
            raise Reject(statuses.bad_request("fakekube speaks only the v4.channel.k8s.io "
                                              "subprotocol"))
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise Reject(statuses.bad_request(f"cannot exec into a container in a completed "
                                              f"pod; current phase is {phase}"))
        container = req.param("container")
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container and names and container not in names:
            raise Reject(statuses.bad_request(f"container {container} is not valid for pod "
                                              f"{name}"))
        h.send_response(101, "Switching Protocols")
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept_key(h.headers.get("Sec-WebSocket-Key", "")))
        h.send_header("Sec-WebSocket-Protocol", protocol)
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        ws = ServerWebSocket(h.connection, h.rfile)
        try:
            if sub == "exec":
                self._serve_exec(ws, ExecCall(namespace, name, container or (names[0] if names
                                                                               else None),
                                              req.query.get("command", []), pod))
            else:
                self._serve_portforward(ws, namespace, name, req.param("ports") or "")
        finally:
            ws.close()

    def _serve_exec(self, ws: ServerWebSocket, call: ExecCall) -> None:
        ws.send_channel(1, b"")  # the API server's "connection established" frame
        try:
            if self._exec_hook is None:
                raise ExecError("fakekube: no on_exec hook scripted for this test")
            reply = self._exec_hook(call)
            if isinstance(reply, tuple):
                reply = ExecReply(*reply)
            if reply.delay:
                self._stopping.wait(reply.delay)
            try:
                for channel, text in ((1, reply.stdout), (2, reply.stderr)):
                    data = text.encode() if isinstance(text, str) else text
                    for i in range(0, len(data), 4096):
                        ws.send_channel(channel, data[i:i + 4096])
            except OSError:
                return   # the client hung up (its own timeout): what a real API server sees too
            if reply.rc == 0:
                result = {"metadata": {}, "status": "Success"}
            else:
                result = {"metadata": {}, "status": "Failure",
                          "message": f"command terminated with non-zero exit code: error "
                                     f"executing command {call.command}, exit code {reply.rc}",
                          "reason": "NonZeroExitCode",
                          "details": {"causes": [{"reason": "ExitCode",
                                                  "message": str(reply.rc)}]}}
        except Exception as exc:  # ExecError: scripted; anything else: a broken hook
            if not isinstance(exc, ExecError):
                self.errors.append(exc)
            result = {"metadata": {}, "status": "Failure", "message": str(exc),
                      "reason": "InternalError", "details": {"causes": [{"message": str(exc)}]}}
        try:
            ws.send_channel(3, json.dumps(result))
        except OSError:
            return

    def _serve_portforward(self, ws: ServerWebSocket, namespace: str, pod: str,
                           ports_param: str) -> None:
        ports = [int(p) for p in ports_param.split(",") if p.strip()]
        if len(ports) != 1:
            ws.send_channel(1, b"fakekube: forward exactly one port per connection")
            return
        port = ports[0]
        ws.send_channel(0, port.to_bytes(2, "little"))
        ws.send_channel(1, port.to_bytes(2, "little"))
        target = self._portforward_hook(PortForwardCall(namespace, pod, port)) \
            if self._portforward_hook else None
        if target is None:
            ws.send_channel(1, f"fakekube: nothing listens on port {port} of pod {pod}".encode())
            return
        try:
            upstream = socket.create_connection(target, timeout=5)
        except OSError as exc:
            ws.send_channel(1, f"error forwarding port {port} to pod {pod}: {exc}".encode())
            return
        upstream.settimeout(None)

        def pump_up() -> None:
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    ws.send_channel(0, data)
            except OSError:
                pass
            ws.close()

        thread = threading.Thread(target=pump_up, daemon=True, name="fakekube port-forward")
        thread.start()
        try:
            while not self._stopping.is_set():
                message = ws.recv()
                if message is None:
                    break
                _, payload = message
                if payload[:1] == b"\x00" and len(payload) > 1:
                    upstream.sendall(payload[1:])
        except OSError:
            pass
        finally:
            try:
                upstream.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            upstream.close()
            thread.join(2)
