"""Ingress on a live cluster: requests for the promised hosts and paths reach the promised
Services, TLS is served with the promised certificate, HTTP is redirected to HTTPS, HSTS is sent,
and a promised per-client rate limit holds under load.

Where requests go: on kind, the ingress controller's hostPorts 80/443 on the control-plane node
are mapped to 127.0.0.1:18080/18443 (clusters/kind.yaml); elsewhere the address the controller
publishes in the Ingress's ``status.loadBalancer``, ports 80/443. Requests carry the promised
host in the ``Host`` header and, over TLS, in SNI, so no DNS entry is needed.

No ingress implementation means no verdict (``CannotObserve``): a cluster without any
IngressClass, an Ingress whose class does not exist there, or an Ingress no controller admits
(its ``status.loadBalancer`` stays empty for ``Timeouts.apply``).

Which backend answered: the stand-in answers ``/`` with its pod and namespace, and the pod must
be a ready endpoint of the promised Service (EndpointSlices). For other paths the stand-in
answers 404 without saying who it is; then the pods behind the promised Service are asked for
their request counter (``workload_http_requests_total{path="other"}`` in ``/metrics``) before
and after a few requests through the ingress, and must have counted them.

TLS certificates: the documents have cert-manager issue them (letsencrypt-prod). Where the TLS
Secret already exists it is used as it is; where cert-manager is installed (its Certificate CRD
exists) it is waited for; where it is absent (kind), archconform creates a self-signed Secret for
the Ingress's TLS hosts, labelled as this run's, and says so in the evidence: the check is then
about the ingress serving the Secret for the host, not about the issuer. The served certificate
must be the Secret's (same SHA-256 fingerprint), found with SNI for the host.

Rate limits run Locust in its child process (``archconform.load``) with a locustfile written
here at run time (one user at a fixed rate, the promised host in the ``Host`` header, 429 and
503 counted as refusals: ingress-nginx refuses with 503 by default). The measure is the share of
the requests beyond the limit that were refused (``LoadResult.limited_share_beyond``).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import math
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from archconform.errors import ClusterError, PrerequisiteMissing, PromiseBroken, UsageError, WaitTimeout
from archconform.settings import Timeouts

from . import probes
from .probes import CannotObserve, evidence, verdict

log = logging.getLogger("archconform.live")

#: Where clusters/kind.yaml maps the ingress controller's hostPorts 80 and 443.
KIND_HTTP_PORT = 18080
KIND_HTTPS_PORT = 18443
#: An IngressClass with this annotation set to "true" takes Ingresses that name no class.
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
#: The class annotation deprecated since Kubernetes 1.18 (still honoured by ingress-nginx).
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
#: cert-manager is installed when this CRD exists.
CERT_MANAGER_CRD = "certificates.cert-manager.io"
#: Requests sent through the ingress when the backend's counter has to show them.
COUNTED_REQUESTS = 3
#: Offered rate against a rate limit, as a multiple of the limit: well beyond it, so most of the
#: requests are beyond the limit and the share is measured on many of them.
OFFERED_FACTOR = 2.5
#: Of the requests beyond the limit, at least this share must be refused: a limiter that lets one
#: in ten through is not the promised limit. (1.0 is exact; the workload's own limiter scores 1.0.)
MIN_LIMITED_SHARE = 0.9
#: And at most this share: refusing more than the requests beyond the limit means a stricter
#: limit than promised (clients get fewer requests than the document promises them).
MAX_LIMITED_SHARE = 1.1
#: Statuses a rate limiter answers with (429 Too Many Requests; ingress-nginx's default is 503).
LIMITED_STATUSES = (429, 503)
REDIRECT_STATUSES = (301, 302, 307, 308)
#: Days a self-signed certificate made for a run is valid (a run takes hours, not days).
SELF_SIGNED_DAYS = 7

#: The locustfile written at run time (Locust loads it in its child process only).
LOCUSTFILE = '''\
"""Written by archconform.live.ingress for one rate-limit check: one client at a fixed rate
through the ingress, with the promised host in the Host header; 429 and 503 are refusals."""

import os

from locust import FastHttpUser, constant_throughput, task

HOST_HEADER = os.environ["LOAD_HOST_HEADER"]
PATH = os.environ.get("LOAD_PATH", "/")


class IngressClient(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("LOAD_CLIENT_RPS", "4")))
    insecure = True

    @task
    def request(self):
        with self.client.get(PATH, headers={"Host": HOST_HEADER}, catch_response=True) as response:
            if response.status_code in (429, 503):
                response.failure(f"{response.status_code} rate limited")
'''


# ------------------------------------------------------------------------------------------------
# HTTP through the ingress
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IngressAddress:
    """Where the ingress controller is reached from here."""

    host: str
    http_port: int
    https_port: int
    how: str

    def url(self, tls: bool) -> str:
        return f"{'https' if tls else 'http'}://{self.host}:{self.https_port if tls else self.http_port}"


@dataclass(frozen=True)
class Response:
    url: str
    status: int | None
    headers: dict[str, str]
    body: bytes
    certificate: bytes | None = None     # DER of the served certificate (TLS)
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8", "replace"))
        except ValueError:
            return None

    def describe(self) -> str:
        if self.status is None:
            return f"GET {self.url}: no answer ({self.error})"
        text = self.body[:120].decode("utf-8", "replace").replace("\n", " ")
        return f"GET {self.url}: HTTP {self.status} {text!r}"


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to an address with another name in SNI (the promised host)."""

    def __init__(self, address: str, port: int, *, sni: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(address, port, context=context, timeout=timeout)
        self._sni = sni

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._sni)


def request(address: IngressAddress, host: str, path: str = "/", *, tls: bool,
            timeout: float) -> Response:
    """One GET through the ingress for ``host`` (Host header, and SNI over TLS), no redirects
    followed, no certificate verification (the certificate is compared, not trusted)."""
    port = address.https_port if tls else address.http_port
    url = f"{'https' if tls else 'http'}://{host}{path} via {address.host}:{port}"
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = _SNIConnection(address.host, port, sni=host,
                                                          context=context, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(address.host, port, timeout=timeout)
    try:
        conn.connect()
        cert = conn.sock.getpeercert(binary_form=True) if tls else None
        conn.request("GET", path, headers={"Host": host, "User-Agent": "archconform"})
        resp = conn.getresponse()
        body = resp.read()
        return Response(url, resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, cert)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Response(url, None, {}, b"", None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# certificates
# ------------------------------------------------------------------------------------------------

def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def first_certificate_der(pem: bytes | str) -> bytes:
    text = pem.decode() if isinstance(pem, bytes) else pem
    m = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    if not m:
        raise ClusterError("the TLS Secret's tls.crt holds no PEM certificate")
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def describe_certificate(der: bytes | None) -> str:
    """Subject, names and issuer of a DER certificate (fingerprint only without cryptography)."""
    if not der:
        return "no certificate"
    text = f"sha256 {fingerprint(der)[:16]}..."
    try:
        from cryptography import x509
        cert = x509.load_der_x509_certificate(der)
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = ",".join(sans.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ""
        return (f"subject {cert.subject.rfc4514_string()}, names [{names}], issuer "
                f"{cert.issuer.rfc4514_string()}, {text}")
    except Exception:  # noqa: BLE001 - description only
        return text


def self_signed_tls(hosts: list[str], *, days: int = SELF_SIGNED_DAYS) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a self-signed certificate for the hosts."""
    if not hosts:
        raise UsageError("a certificate needs at least one host")
    try:
        return _self_signed_cryptography(hosts, days)
    except ImportError:
        return _self_signed_openssl(hosts, days)


def _self_signed_cryptography(hosts: list[str], days: int) -> tuple[bytes, bytes]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "archconform (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _self_signed_openssl(hosts: list[str], days: int) -> tuple[bytes, bytes]:
    exe = shutil.which("openssl")
    if exe is None:
        raise PrerequisiteMissing("a self-signed TLS certificate needs the cryptography package "
                                  "or the openssl command")
    folder = Path(tempfile.mkdtemp(prefix="archconform-tls-"))
    try:
        subprocess.run([exe, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(folder / "k"),
                        "-out", str(folder / "c"), "-days", str(days), "-subj", f"/CN={hosts[0]}",
                        "-addext", "subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts)],
                       check=True, capture_output=True, timeout=60)
        return (folder / "c").read_bytes(), (folder / "k").read_bytes()
    except subprocess.CalledProcessError as exc:
        raise ClusterError(f"openssl could not make a certificate: {exc.stderr.decode()[-200:]}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# the Ingress of a host
# ------------------------------------------------------------------------------------------------

def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


def ingress_ref(obj: dict) -> str:
    return f"ingress/{_md(obj).get('namespace')}/{_md(obj).get('name')}"


def rule_hosts(ing: dict) -> list[str]:
    return [r.get("host") for r in (ing.get("spec") or {}).get("rules") or [] if r.get("host")]


def tls_secret(ing: dict, host: str) -> str | None:
    for entry in (ing.get("spec") or {}).get("tls") or []:
        if host in (entry.get("hosts") or []):
            return entry.get("secretName")
    return None


@dataclass
class LiveIngress:
    obj: dict
    class_name: str
    address: IngressAddress

    @property
    def ref(self) -> str:
        return ingress_ref(self.obj)

    @property
    def namespace(self) -> str:
        return _md(self.obj).get("namespace", "")

    def tls(self, host: str) -> bool:
        return tls_secret(self.obj, host) is not None

    def limit_annotations(self) -> dict[str, str]:
        return {k: v for k, v in (_md(self.obj).get("annotations") or {}).items() if "limit" in k}


def class_of(ing: dict, classes: list[dict]) -> str | None:
    """The IngressClass that takes the Ingress: spec.ingressClassName, the legacy annotation,
    or the cluster's default class."""
    named = (ing.get("spec") or {}).get("ingressClassName") or \
        (_md(ing).get("annotations") or {}).get(LEGACY_CLASS_ANNOTATION)
    if named:
        return named
    defaults = [_md(c).get("name") for c in classes
                if (_md(c).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    return defaults[0] if len(defaults) == 1 else None


class IngressChecks:
    """The ingress promises of one system, checked through its live Ingresses."""

    def __init__(self, kube: Any, namespaces: Iterable[str], *, cluster_kind: str, run_id: str,
                 timeouts: Timeouts | None = None, address: IngressAddress | None = None) -> None:
        self.kube = kube
        self.namespaces = list(namespaces)
        self.cluster_kind = cluster_kind
        self.run_id = run_id
        self.timeouts = timeouts or kube.timeouts
        self._address = address
        self._cache: dict[str, LiveIngress] = {}
        self.notes: list[str] = []

    # -- finding the Ingress and its controller ------------------------------------------------

    def ingress_for(self, host: str) -> LiveIngress:
        if host in self._cache:
            return self._cache[host]
        found = [i for ns in self.namespaces for i in self.kube.list("Ingress", namespace=ns)
                 if host in rule_hosts(i)]
        if not found:
            raise ClusterError(f"no Ingress of the system ({', '.join(self.namespaces)}) has a "
                               f"rule for host {host!r} on the cluster")
        ing = found[0]
        classes = self.kube.list("IngressClass")
        if not classes:
            raise CannotObserve("this cluster has no ingress implementation: no IngressClass "
                                "exists (install an ingress controller to check ingress promises)")
        name = class_of(ing, classes)
        have = sorted(_md(c).get("name", "") for c in classes)
        if name is None:
            raise CannotObserve(f"{ingress_ref(ing)} names no IngressClass and the cluster has no "
                                f"single default class (it has: {', '.join(have)})")
        if name not in have:
            raise CannotObserve(f"{ingress_ref(ing)} asks for IngressClass {name!r}, which this "
                                f"cluster does not have (it has: {', '.join(have)})")
        ing = self._admitted(ing, name)
        live = LiveIngress(ing, name, self._address or self._address_of(ing))
        self._cache[host] = live
        return live

    def _admitted(self, ing: dict, class_name: str) -> dict:
        ns, name = _md(ing).get("namespace"), _md(ing).get("name")

        def check():
            current = self.kube.get("Ingress", name, namespace=ns) or {}
            lb = ((current.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            return bool(lb), (current if lb else "status.loadBalancer is empty")

        try:
            return self.kube.wait_for(f"{ingress_ref(ing)} to be admitted by a {class_name} "
                                      f"controller", check, timeout=self.timeouts.apply)
        except WaitTimeout:
            raise CannotObserve(f"no ingress controller admitted {ingress_ref(ing)} within "
                                f"{self.timeouts.apply:g}s (its status.loadBalancer stays empty): "
                                f"IngressClass {class_name!r} has no running controller") from None

    def _address_of(self, ing: dict) -> IngressAddress:
        if self.cluster_kind == "kind":
            return IngressAddress("127.0.0.1", KIND_HTTP_PORT, KIND_HTTPS_PORT,
                                  "kind maps the controller's hostPorts 80/443 to 127.0.0.1:"
                                  f"{KIND_HTTP_PORT}/{KIND_HTTPS_PORT} (clusters/kind.yaml)")
        lb = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        first = lb[0]
        host = first.get("ip") or first.get("hostname")
        return IngressAddress(host, 80, 443, f"the address {ingress_ref(ing)} publishes in "
                                             f"status.loadBalancer")

    def _get(self, live: LiveIngress, host: str, path: str = "/", *, tls: bool | None = None) -> Response:
        use_tls = live.tls(host) if tls is None else tls
        return request(live.address, host, path, tls=use_tls, timeout=self.timeouts.probe)

    # -- routing -------------------------------------------------------------------------------

    def routes(self, host: str, path: str, service_ref: str) -> str:
        """A request for host and path through the ingress is answered by a pod behind the
        promised Service; returns how that was seen."""
        live = self.ingress_for(host)
        svc_ns, svc = probes.split_ref(service_ref)
        answer = self._get(live, host, path)
        data = answer.json() if answer.status is not None and answer.status < 400 else None
        if isinstance(data, dict) and data.get("pod"):
            pod, pod_ns = str(data["pod"]), str(data.get("namespace") or "")
            endpoints = probes.service_endpoints(self.kube, service_ref)
            ok = pod_ns in ("", svc_ns) and endpoints.get(pod, False)
            seen = (f"{answer.describe()}: answered by pod {pod_ns}/{pod}, "
                    f"{'a ready endpoint' if ok else 'not an endpoint'} of service/{service_ref}")
        else:
            ok, seen = self._counted(live, host, path, service_ref, answer)
        evidence(f"host {host} path {path} through the ingress ({live.address.how})", seen)
        verdict("passed" if ok else "failed", measured=seen[:200], promised=f"reaches service/{service_ref}")
        if not ok:
            raise PromiseBroken(f"promised requests for host {host} path {path} reach "
                                f"service/{service_ref} through {live.ref}; {seen}")
        return seen

    def _counted(self, live: LiveIngress, host: str, path: str, service_ref: str,
                 first: Response) -> tuple[bool, str]:
        """Route check by the backend pods' request counters (paths without identity)."""
        svc_ns, _ = probes.split_ref(service_ref)
        pods = []
        for name, ready in sorted(probes.service_endpoints(self.kube, service_ref).items()):
            pod = self.kube.get("Pod", name, namespace=svc_ns)
            if ready and pod is not None:
                pods.append(pod)
        if not pods:
            return False, f"{first.describe()}; service/{service_ref} has no ready endpoints"
        before = self._other_requests(pods)
        answers = [self._get(live, host, path) for _ in range(COUNTED_REQUESTS)]
        after = self._other_requests(pods)
        counted = after - before
        statuses = ", ".join(str(a.status) if a.status is not None else a.error for a in answers)
        seen = (f"{first.describe()}; {COUNTED_REQUESTS} more requests answered {statuses}; the "
                f"{len(pods)} pods behind service/{service_ref} counted {counted} of them")
        return counted >= COUNTED_REQUESTS, seen

    def _other_requests(self, pods: list[dict]) -> int:
        total = 0
        pattern = re.compile(r'^workload_http_requests_total\{[^}]*path="other"[^}]*\}\s+(\d+(?:\.\d+)?)',
                             re.M)
        for pod in pods:
            c = probes.containers_of(pod)[0]
            answer = probes.in_pod_http(self.kube, pod, "/metrics", port=probes.workload_port(c),
                                        container=c.get("name"), timeouts=self.timeouts)
            if answer.status != 200:
                raise ClusterError(f"{answer.describe()}: the stand-in's /metrics did not answer")
            total += int(sum(float(v) for v in pattern.findall(answer.body)))
        return total

    # -- TLS, redirect, HSTS --------------------------------------------------------------------

    def ensure_tls_secret(self, secret_ref: str) -> tuple[dict, str]:
        """The TLS Secret and how it came to be (existing, from cert-manager, or made here)."""
        ns, name = probes.split_ref(secret_ref)
        existing = self.kube.get("Secret", name, namespace=ns)
        if existing is not None and (existing.get("data") or {}).get("tls.crt"):
            return existing, f"the Secret {secret_ref} existed on the cluster"
        if self.kube.get("CustomResourceDefinition", CERT_MANAGER_CRD) is not None:
            def issued():
                obj = self.kube.get("Secret", name, namespace=ns)
                ok = obj is not None and bool((obj.get("data") or {}).get("tls.crt"))
                return ok, obj if ok else "not issued yet"
            try:
                secret = self.kube.wait_for(f"cert-manager to issue secret/{secret_ref}", issued,
                                            timeout=self.timeouts.apply)
            except WaitTimeout as exc:
                raise PromiseBroken(f"promised a certificate in secret/{secret_ref}; cert-manager "
                                    f"is installed but did not issue it within {exc.timeout:g}s") from None
            return secret, f"the Secret {secret_ref} was issued by cert-manager"
        hosts = sorted({h for ing in self.kube.list("Ingress", namespace=ns)
                        for entry in (ing.get("spec") or {}).get("tls") or []
                        if entry.get("secretName") == name for h in entry.get("hosts") or []})
        if not hosts:
            raise ClusterError(f"no Ingress in namespace {ns} names the TLS Secret {name}")
        cert, key = self_signed_tls(hosts)
        _register_secret(key.decode())
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                  "metadata": {"name": name, "namespace": ns,
                               "annotations": {"archconform.io/note": "self-signed by archconform: "
                                               "cert-manager is not installed on this cluster"}},
                  "data": {"tls.crt": base64.b64encode(cert).decode(),
                           "tls.key": base64.b64encode(key).decode()}}
        self.kube.apply([secret], run_id=self.run_id)
        note = (f"cert-manager is not installed on this cluster, so archconform created the TLS "
                f"Secret {secret_ref} itself (self-signed for {', '.join(hosts)}, labelled as this "
                f"run's): this checks that the ingress serves the Secret, not how it was issued")
        self.notes.append(note)
        return self.kube.get("Secret", name, namespace=ns) or secret, note

    def serves_tls(self, host: str, secret_ref: str) -> str:
        """The ingress answers TLS for the host (SNI) with the Secret's certificate."""
        live = self.ingress_for(host)
        named = tls_secret(live.obj, host)
        ns, name = probes.split_ref(secret_ref)
        if named != name or live.namespace != ns:
            raise PromiseBroken(f"promised TLS for host {host} with secret/{secret_ref}; "
                                f"{live.ref} names {named or 'no TLS Secret'} for that host")
        secret, how = self.ensure_tls_secret(secret_ref)
        expected = first_certificate_der(base64.b64decode(secret["data"]["tls.crt"]))

        last: list[Response] = []

        def check():
            last[:] = [self._get(live, host, "/", tls=True)]
            served = last[0].certificate
            ok = served is not None and fingerprint(served) == fingerprint(expected)
            return ok, f"served {describe_certificate(served)}" + (f" ({last[0].error})" if last[0].error else "")

        try:
            self.kube.wait_for(f"the ingress to serve secret/{secret_ref} for {host}", check,
                               timeout=self.timeouts.apply, interval=1.0)
            ok = True
        except WaitTimeout:
            ok = False
        answer = last[0]
        served = answer.certificate
        seen = (f"{how}\nexpected: {describe_certificate(expected)}\nserved for SNI {host}: "
                f"{describe_certificate(served)}" + (f" ({answer.error})" if answer.error else ""))
        evidence(f"TLS for {host} through the ingress", seen)
        verdict("passed" if ok else "failed", promised=f"TLS with secret/{secret_ref}",
                measured="the Secret's certificate" if ok else describe_certificate(served)[:200],
                note=how)
        if not ok:
            raise PromiseBroken(f"promised TLS for host {host} with the certificate of "
                                f"secret/{secret_ref}; the ingress served "
                                f"{describe_certificate(served)}, not {describe_certificate(expected)}")
        return seen

    def redirects_to_https(self, host: str) -> Response:
        live = self.ingress_for(host)
        answer = self._get(live, host, "/", tls=False)
        location = answer.headers.get("location", "")
        target = urlsplit(location)
        ok = answer.status in REDIRECT_STATUSES and target.scheme == "https" and target.hostname == host
        seen = f"{answer.describe()}; Location: {location or 'none'}"
        evidence(f"plain HTTP for {host} through the ingress", seen)
        verdict("passed" if ok else "failed", measured=seen[:200], promised="redirect to https")
        if not ok:
            raise PromiseBroken(f"promised plain HTTP for host {host} is redirected to HTTPS; {seen}")
        return answer

    def sends_hsts(self, host: str) -> str:
        live = self.ingress_for(host)
        answer = self._get(live, host, "/", tls=True)
        value = answer.headers.get("strict-transport-security", "")
        m = re.search(r"max-age=(\d+)", value)
        ok = bool(m) and int(m.group(1)) > 0
        seen = f"{answer.describe()}; Strict-Transport-Security: {value or 'absent'}"
        evidence(f"HSTS for {host} through the ingress", seen)
        verdict("passed" if ok else "failed", measured=value or "absent", promised="HSTS max-age > 0")
        if not ok:
            raise PromiseBroken(f"promised HTTPS responses for host {host} carry an HSTS header; {seen}")
        return value

    # -- rate limit --------------------------------------------------------------------------------

    def rate_limit(self, host: str, limit: int, *, period_s: float = 60.0,
                   duration_s: float | None = None, path: str = "/") -> "RateLimitResult":
        """One client offers OFFERED_FACTOR × the limit through the ingress for ``duration_s``
        (default: one period); the share of the requests beyond the limit that were refused must
        be between MIN_LIMITED_SHARE and MAX_LIMITED_SHARE."""
        from archconform.load import run_locust  # the child-process runner; never imports locust here

        if limit <= 0:
            raise UsageError(f"a rate limit must be positive, got {limit}")
        live = self.ingress_for(host)
        tls = live.tls(host)
        duration = float(duration_s or period_s)
        rps = OFFERED_FACTOR * limit / period_s
        folder = Path(tempfile.mkdtemp(prefix="archconform-ratelimit-"))
        try:
            locustfile = folder / "ingress_rate_limit.py"
            locustfile.write_text(LOCUSTFILE)
            result = run_locust(locustfile, host=live.address.url(tls), users=1, spawn_rate=1,
                                duration_s=duration, timeouts=self.timeouts,
                                env={"LOAD_HOST_HEADER": host, "LOAD_PATH": path,
                                     "LOAD_CLIENT_RPS": f"{rps:g}"})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        limited = sum(result.status_count(s) for s in LIMITED_STATUSES)
        allowed = limit * max(1, math.ceil(duration / period_s))
        beyond = result.requests - allowed
        outcome = RateLimitResult(host, limit, period_s, duration, rps, result.requests, limited,
                                  allowed, {s: result.status_count(s) for s in LIMITED_STATUSES},
                                  live.limit_annotations())
        evidence(f"rate limit for {host} through the ingress", outcome.describe())
        if beyond <= 0:
            raise ClusterError(f"the rate-limit check for {host} sent only {result.requests} "
                               f"requests in {duration:g}s, not beyond the limit of {limit}: "
                               f"nothing to measure ({result.summary()})")
        share = outcome.share
        ok = MIN_LIMITED_SHARE <= share <= MAX_LIMITED_SHARE
        verdict("passed" if ok else "failed", measured=f"{share:.0%} of the requests beyond the limit refused",
                promised=f"{limit} per {period_s:g}s per client")
        if not ok:
            raise PromiseBroken(f"promised at most {limit} requests per {period_s:g}s per client "
                                f"for host {host}; {outcome.describe()}")
        return outcome


@dataclass(frozen=True)
class RateLimitResult:
    host: str
    limit: int
    period_s: float
    duration_s: float
    offered_rps: float
    requests: int
    limited: int
    allowed: int
    by_status: dict[int, int] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def beyond(self) -> int:
        return self.requests - self.allowed

    @property
    def share(self) -> float:
        return self.limited / self.beyond if self.beyond > 0 else 0.0

    def describe(self) -> str:
        statuses = ", ".join(f"{n} x {s}" for s, n in self.by_status.items() if n) or "none"
        notes = "; ".join(f"{k}={v}" for k, v in sorted(self.annotations.items()))
        return (f"one client sent {self.requests} requests in {self.duration_s:g}s "
                f"({self.offered_rps:g}/s offered); the limit allows {self.allowed}, so "
                f"{self.beyond} were beyond it; {self.limited} were refused ({statuses}): "
                f"{self.share:.0%} of those beyond the limit (between {MIN_LIMITED_SHARE:.0%} and "
                f"{MAX_LIMITED_SHARE:.0%} holds the promise)"
                + (f"; the Ingress's limit annotations: {notes}" if notes else ""))


def _register_secret(value: str) -> None:
    try:
        from archconform.report import register_secret
    except ImportError:  # pragma: no cover
        return
    register_secret(value)
