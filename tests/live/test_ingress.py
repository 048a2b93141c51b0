"""Ingress against the fake API server and a small ingress controller on 127.0.0.1 that reads the
fake's Ingresses, Secrets and EndpointSlices the way ingress-nginx does (Host and SNI routing,
TLS from the Ingress's Secret or a default fake certificate, ssl-redirect, HSTS, a per-client
limit) and proxies to real stand-in processes behind the pods. Rate limits are measured with
real Locust in its child process.

(No ingress controller can run on KWOK nodes, so this stays on the fake until a kind cluster runs
here.)
"""

from __future__ import annotations

import base64
import http.server
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path

import pytest

from archconform.errors import PromiseBroken
from archconform.live import ingress as ing
from archconform.live.ingress import IngressAddress, IngressChecks
from archconform.live.probes import CannotObserve
from archconform.settings import Timeouts
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures
from tests.live.test_probes_harness import (container, endpoint_slice, live_pods, namespace,  # noqa: F401
                                            pod, service)

NS = "finch-production"
FAST = Timeouts(api_request=10.0, apply=1.5, probe=2.0, pod_start=5.0, progress_interval=1.0, load_start=30.0)


def _ingress(*, tls: bool = True, class_name: str | None = "nginx", annotations: dict | None = None) -> dict:
    spec: dict = {"rules": [
        {"host": "finch.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "finch-frontend", "port": {"number": 80}}}}]}},
        {"host": "api.finch.example.com", "http": {"paths": [
            {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "finch-backend", "port": {"number": 80}}}},
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "finch-frontend", "port": {"number": 80}}}}]}}]}
    if class_name:
        spec["ingressClassName"] = class_name
    if tls:
        spec["tls"] = [{"hosts": ["finch.example.com", "api.finch.example.com"], "secretName": "finch-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "finch-ingress", "namespace": NS, "annotations": annotations or {}},
            "spec": spec}


def _ingress_class(name: str = "nginx") -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": name},
            "spec": {"controller": "k8s.io/ingress-nginx"}}


class Controller:
    """A small ingress-nginx: routes by Host and longest path prefix to the ready endpoints of
    the backend Service, serves the Ingress's TLS Secret by SNI (else its fake certificate)."""

    def __init__(self, fake, pods, *, redirect: bool = True, hsts: bool = True,
                 limit: tuple[int, float] | None = None, admit: bool = True) -> None:
        self.fake, self.pods = fake, pods
        self.redirect, self.hsts, self.limit = redirect, hsts, limit
        self.hits: dict[str, deque] = {}
        self.lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="fake-ingress-"))
        cert, key = ing.self_signed_tls(["ingress.local"])
        self.default = self._context(cert, key, "default")
        self.http = self._server(tls=False)
        self.https = self._server(tls=True)
        if admit:
            fake.patch_status("Ingress", "finch-ingress", namespace=NS,
                              status={"loadBalancer": {"ingress": [{"hostname": "localhost"}]}})

    @property
    def address(self) -> IngressAddress:
        return IngressAddress("127.0.0.1", self.http.server_address[1], self.https.server_address[1], "test controller")

    def _context(self, cert: bytes, key: bytes, name: str) -> ssl.SSLContext:
        (self.folder / f"{name}.crt").write_bytes(cert)
        (self.folder / f"{name}.key").write_bytes(key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.folder / f"{name}.crt", self.folder / f"{name}.key")
        return ctx

    def _sni(self, sock, server_name, _ctx) -> None:
        ingress = self.fake.get("Ingress", "finch-ingress", NS)
        secret_name = ing.tls_secret(ingress, server_name or "")
        secret = self.fake.get("Secret", secret_name, NS) if secret_name else None
        if secret and (secret.get("data") or {}).get("tls.crt"):
            data = secret["data"]
            sock.context = self._context(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]), secret_name)

    def _server(self, *, tls: bool) -> http.server.ThreadingHTTPServer:
        controller = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                controller.handle(self, tls)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.folder / "default.crt", self.folder / "default.key")
            ctx.sni_callback = self._sni
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _answer(self, h, status: int, body: bytes, headers: dict | None = None) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h, tls: bool) -> None:
        host = (h.headers.get("Host") or "").split(":")[0]
        ingress = self.fake.get("Ingress", "finch-ingress", NS)
        extra = {"Strict-Transport-Security": "max-age=15724800; includeSubDomains"} if tls and self.hsts else {}
        if not tls and self.redirect and ing.tls_secret(ingress, host):
            return self._answer(h, 308, b"<html>308 Permanent Redirect</html>", {"Location": f"https://{host}{h.path}"})
        if self.limit:
            count, period = self.limit
            now = time.monotonic()
            with self.lock:
                window = self.hits.setdefault(h.client_address[0], deque())
                while window and window[0] <= now - period:
                    window.popleft()
                if len(window) >= count:
                    return self._answer(h, 503, b"<html>503 Service Temporarily Unavailable</html>", extra)
                window.append(now)
        rules = [r for r in ingress["spec"]["rules"] if r.get("host") == host]
        paths = sorted((p for r in rules for p in r["http"]["paths"] if h.path.startswith(p["path"])),
                       key=lambda p: -len(p["path"]))
        if not paths:
            return self._answer(h, 404, b"<html>404 Not Found nginx</html>", extra)
        svc = paths[0]["backend"]["service"]["name"]
        slices = [s for s in self.fake.list("EndpointSlice", NS)
                  if s["metadata"]["labels"]["kubernetes.io/service-name"] == svc]
        ready = [e["targetRef"]["name"] for s in slices for e in s["endpoints"] if e["conditions"]["ready"]]
        if not ready:
            return self._answer(h, 503, b"<html>503 Service Temporarily Unavailable</html>", extra)
        backing = self.pods.backing[(NS, ready[int(time.monotonic() * 1000) % len(ready)])]
        try:
            with urllib.request.urlopen(backing.workload.url(h.path), timeout=2) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        self._answer(h, status, body, extra)

    def close(self) -> None:
        for server in (self.http, self.https):
            server.shutdown()
            server.server_close()


@pytest.fixture
def finch(fake_kube, live_pods):  # noqa: F811
    """finch-production with its Ingress, frontend and backend pods behind real processes."""
    fake_kube.put(namespace(NS))
    fake_kube.put(_ingress_class())
    fake_kube.put(_ingress())
    for svc in ("finch-frontend", "finch-backend"):
        fake_kube.put(service(svc, NS, selector={"app": svc}))
        name = f"{svc}-0"
        fake_kube.put(pod(name, NS, labels={"app": svc}, containers=[container(svc)]))
        live_pods.back(NS, name, env={"POD_NAME": name, "POD_NAMESPACE": NS, "WORKLOAD_NAME": svc})
        fake_kube.put({**endpoint_slice(svc, NS, {name: True}),
                       "metadata": {"name": f"{svc}-x1", "namespace": NS,
                                    "labels": {"kubernetes.io/service-name": svc}}})
    return fake_kube


@pytest.fixture
def controller(finch, live_pods):  # noqa: F811
    made = []

    def make(**kwargs) -> Controller:
        made.append(Controller(finch, live_pods, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


def _checks(kube, c: Controller | None = None) -> IngressChecks:
    return IngressChecks(kube, [NS], cluster_kind="test", run_id="test-run", timeouts=FAST,
                         address=c.address if c else None)


def test_no_ingress_class_means_no_ingress_implementation(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace(NS))
    fake_kube.put(_ingress())
    with pytest.raises(CannotObserve) as err:
        _checks(fake_cluster).routes("finch.example.com", "/", f"{NS}/finch-frontend")
    assert str(err.value) == ("this cluster has no ingress implementation: no IngressClass exists "
                              "(install an ingress controller to check ingress promises)")


def test_an_unknown_class_or_a_controller_that_never_admits_cannot_be_observed(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace(NS))
    fake_kube.put(_ingress_class("traefik"))
    fake_kube.put(_ingress())
    with pytest.raises(CannotObserve, match=r"asks for IngressClass 'nginx', which this cluster does not have \(it has: traefik\)"):
        _checks(fake_cluster).routes("finch.example.com", "/", f"{NS}/finch-frontend")
    fake_kube.put(_ingress_class("nginx"))
    with pytest.raises(CannotObserve, match=r"no ingress controller admitted ingress/finch-production/finch-ingress within 1.5s"):
        _checks(fake_cluster).routes("finch.example.com", "/", f"{NS}/finch-frontend")


def test_the_default_class_and_the_kind_address(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace(NS))
    default = _ingress_class("nginx")
    default["metadata"]["annotations"] = {ing.DEFAULT_CLASS_ANNOTATION: "true"}
    fake_kube.put(default)
    fake_kube.put(_ingress(class_name=None))
    fake_kube.patch_status("Ingress", "finch-ingress", namespace=NS,
                           status={"loadBalancer": {"ingress": [{"hostname": "localhost"}]}})
    live = IngressChecks(fake_cluster, [NS], cluster_kind="kind", run_id="r", timeouts=FAST).ingress_for("finch.example.com")
    assert (live.class_name, live.address.host, live.address.http_port, live.address.https_port) == \
        ("nginx", "127.0.0.1", 18080, 18443)


def test_a_host_reaches_the_promised_service(finch, fake_cluster, controller):  # noqa: F811
    c = controller()
    seen = _checks(fake_cluster, c).routes("finch.example.com", "/", f"{NS}/finch-frontend")
    assert "answered by pod finch-production/finch-frontend-0, a ready endpoint of service/finch-production/finch-frontend" in seen


def test_a_host_that_reaches_another_service_breaks_the_promise(finch, fake_cluster, controller):  # noqa: F811
    c = controller()
    with pytest.raises(PromiseBroken) as err:
        _checks(fake_cluster, c).routes("finch.example.com", "/", f"{NS}/finch-backend")
    assert str(err.value).startswith(
        "promised requests for host finch.example.com path / reach service/finch-production/finch-backend "
        "through ingress/finch-production/finch-ingress; GET https://finch.example.com/ via 127.0.0.1:")
    assert "answered by pod finch-production/finch-frontend-0, not an endpoint of service/finch-production/finch-backend" in str(err.value)


def test_a_path_without_identity_is_checked_by_the_backends_request_counters(finch, fake_cluster, controller):  # noqa: F811
    c = controller()
    seen = _checks(fake_cluster, c).routes("api.finch.example.com", "/api", f"{NS}/finch-backend")
    assert "the 1 pods behind service/finch-production/finch-backend counted 3 of them" in seen
    finch.put({**endpoint_slice("finch-backend", NS, {"finch-backend-0": False}),
               "metadata": {"name": "finch-backend-x1", "namespace": NS,
                            "labels": {"kubernetes.io/service-name": "finch-backend"}}})
    with pytest.raises(PromiseBroken, match="HTTP 503 .*service/finch-production/finch-backend has no ready endpoints"):
        _checks(fake_cluster, c).routes("api.finch.example.com", "/api", f"{NS}/finch-backend")


def test_tls_is_served_with_a_self_signed_secret_where_cert_manager_is_absent(finch, fake_cluster, controller):  # noqa: F811
    c = controller()
    checks = _checks(fake_cluster, c)
    seen = checks.serves_tls("finch.example.com", f"{NS}/finch-tls")
    secret = finch.get("Secret", "finch-tls", NS)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"]["archconform.io/run-id"] == "test-run"
    assert "cert-manager is not installed on this cluster, so archconform created the TLS Secret" in seen
    assert checks.notes and "self-signed for api.finch.example.com, finch.example.com" in checks.notes[0]
    assert "names [api.finch.example.com,finch.example.com]" in seen
    checks.serves_tls("api.finch.example.com", f"{NS}/finch-tls")       # the Secret now exists


def test_a_controller_serving_its_default_certificate_breaks_the_promise(finch, fake_cluster, controller):  # noqa: F811
    cert, key = ing.self_signed_tls(["finch.example.com"])
    finch.put({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
               "metadata": {"name": "finch-tls", "namespace": NS},
               "data": {"tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()}})
    c = controller()
    c._sni = lambda sock, name, ctx: None          # a controller that ignores the Ingress's Secret
    c.https.socket.context.sni_callback = c._sni
    with pytest.raises(PromiseBroken) as err:
        _checks(fake_cluster, c).serves_tls("finch.example.com", f"{NS}/finch-tls")
    assert ("the ingress served subject O=archconform (self-signed),CN=ingress.local, names "
            "[ingress.local]") in str(err.value)
    assert "not subject O=archconform (self-signed),CN=finch.example.com, names [finch.example.com]" in str(err.value)
    with pytest.raises(PromiseBroken, match="names finch-tls for that host"):
        _checks(fake_cluster, c).serves_tls("finch.example.com", f"{NS}/other-tls")


def test_plain_http_is_redirected_and_https_carries_hsts(finch, fake_cluster, controller):  # noqa: F811
    c = controller()
    checks = _checks(fake_cluster, c)
    answer = checks.redirects_to_https("finch.example.com")
    assert (answer.status, answer.headers["location"]) == (308, "https://finch.example.com/")
    assert checks.sends_hsts("finch.example.com") == "max-age=15724800; includeSubDomains"


def test_no_redirect_and_no_hsts_are_reported(finch, fake_cluster, controller):  # noqa: F811
    c = controller(redirect=False, hsts=False)
    checks = _checks(fake_cluster, c)
    with pytest.raises(PromiseBroken, match=r"promised plain HTTP for host finch.example.com is redirected to "
                                            r"HTTPS; GET http://finch.example.com/ via 127.0.0.1:\d+: HTTP 200 .*; Location: none"):
        checks.redirects_to_https("finch.example.com")
    with pytest.raises(PromiseBroken, match="Strict-Transport-Security: absent"):
        checks.sends_hsts("finch.example.com")


def test_a_rate_limit_that_holds_under_locust(finch, fake_cluster, controller):  # noqa: F811
    c = controller(limit=(10, 2.0))
    result = _checks(fake_cluster, c).rate_limit("api.finch.example.com", 10, period_s=2.0, duration_s=4.0)
    assert result.requests > result.allowed == 20
    assert ing.MIN_LIMITED_SHARE <= result.share <= ing.MAX_LIMITED_SHARE
    assert result.by_status[503] == result.limited


def test_no_rate_limit_is_reported_with_the_numbers(finch, fake_cluster, controller):  # noqa: F811
    finch.update("Ingress", "finch-ingress", namespace=NS,
                 patch={"metadata": {"annotations": {"nginx.ingress.kubernetes.io/limit-rpm": "100"}}})
    c = controller()
    with pytest.raises(PromiseBroken) as err:
        _checks(fake_cluster, c).rate_limit("api.finch.example.com", 10, period_s=2.0, duration_s=4.0)
    text = str(err.value)
    assert text.startswith("promised at most 10 requests per 2s per client for host api.finch.example.com; "
                           "one client sent ")
    assert "the limit allows 20, so" in text and "0 were refused (none): 0% of those beyond the limit" in text
    assert "the Ingress's limit annotations: nginx.ingress.kubernetes.io/limit-rpm=100" in text
