"""One connection to one API server: the official client's transport, used for raw REST calls.

Every verb module (applying, fetching, watching, ...) goes through ``Connection.request`` or
``Connection.open_stream``. They serialize through the official ``ApiClient`` (so its
kubeconfig authentication, exec credential plugins, TLS settings and proxies all apply) and
translate every failure into ``archconform.kube.errors`` with the object named.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from archconform.settings import Timeouts

from . import errors
from .resources import Registry

log = logging.getLogger("archconform.kube")

Query = Iterable[tuple[str, Any]]


class Connection:
    """The official ApiClient for one kubeconfig context, plus what messages need to say."""

    def __init__(self, *, api_client: ApiClient, kubeconfig: str, context: str,
                 timeouts: Timeouts) -> None:
        self.api_client = api_client
        self.kubeconfig = kubeconfig
        self.context = context
        self.timeouts = timeouts
        self.server = str(api_client.configuration.host)
        self.resources = Registry(self)

    def close(self) -> None:
        """Release pooled connections."""
        self.api_client.close()

    def private_client(self) -> ApiClient:
        """A new ApiClient on the same configuration, for ``kubernetes.stream`` calls.

        ``kubernetes.stream.stream``/``portforward`` temporarily replace ``call_api`` on the
        ApiClient they are given; on the shared client, a request from another thread in that
        window would be sent as a WebSocket upgrade. Each exec and port-forward connection
        therefore gets its own client (close it after use).
        """
        client = ApiClient(configuration=self.api_client.configuration)
        client.user_agent = self.api_client.user_agent
        return client

    # -- requests -----------------------------------------------------------------------------

    def _serialize(self, method: str, path: str, *, query: Query | None, body: Any,
                   content_type: str | None, accept: str = "application/json"):
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        return self.api_client.param_serialize(
            method, path, query_params=list(query or []), header_params=headers,
            body=body, auth_settings=["BearerToken"])

    def _timeout(self, timeout: float | None) -> tuple[float, float]:
        seconds = float(timeout if timeout is not None else self.timeouts.api_request)
        return (seconds, seconds)

    def _raise_for(self, resp, *, action: str, target: str, secret: bool) -> None:
        """Raise the translated error for a non-2xx RESTResponse (already read)."""
        raw = resp.data or b""
        status_body = errors.parse_status(raw)
        retry_after = _retry_after(resp)
        try:
            self.api_client.response_deserialize(resp, {})
        except ApiException as exc:
            raise errors.from_status(
                resp.status, status_body, action=action, target=target, server=self.server,
                raw_text="" if status_body else raw.decode("utf-8", "replace")[:200],
                retry_after=retry_after, secret=secret) from exc
        raise errors.from_status(resp.status, status_body, action=action, target=target,
                                 server=self.server, retry_after=retry_after, secret=secret)

    def request(self, method: str, path: str, *, query: Query | None = None, body: Any = None,
                content_type: str | None = None, timeout: float | None = None,
                action: str = "", target: str = "", secret: bool = False,
                accept: str = "application/json") -> Any:
        """One REST call. Returns the parsed JSON body (or text, or None when empty).

        ``action`` and ``target`` ("get", "deployment/ns/name") go into error messages;
        ``secret`` masks quoted values in the server's message (Secret objects).
        """
        try:
            request = self._serialize(method, path, query=query, body=body,
                                      content_type=content_type, accept=accept)
            resp = self.api_client.call_api(*request, _request_timeout=self._timeout(timeout))
            resp.read()
        except ApiException as exc:  # status 0: TLS failure inside the client
            raise errors.unreachable(exc, action=action, target=target, server=self.server) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.unreachable(exc, action=action, target=target, server=self.server) from exc
        if not 200 <= resp.status <= 299:
            self._raise_for(resp, action=action, target=target, secret=secret)
        if not accept.endswith("json"):
            return (resp.data or b"").decode("utf-8", "replace")
        return _decode(resp.data, resp.headers.get("content-type", ""))

    def open_stream(self, path: str, *, query: Query | None = None, read_timeout: float,
                    action: str = "watch", target: str = "") -> urllib3.BaseHTTPResponse:
        """A GET whose body is read incrementally (watch streams). Caller closes the response."""
        try:
            request = self._serialize("GET", path, query=query, body=None, content_type=None)
            connect = float(self.timeouts.api_request)
            resp = self.api_client.call_api(*request, _request_timeout=(connect, read_timeout))
        except ApiException as exc:
            raise errors.unreachable(exc, action=action, target=target, server=self.server) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.unreachable(exc, action=action, target=target, server=self.server) from exc
        if not 200 <= resp.status <= 299:
            try:
                resp.read()
            finally:
                resp.response.release_conn()
            self._raise_for(resp, action=action, target=target, secret=False)
        return resp.response

    def get_unretried(self, path: str, *, timeout: float, action: str, target: str) -> Any:
        """A GET with no urllib3 retries and a hard timeout: for reachability checks, where
        a dead address must fail within ``timeout`` seconds, not four times that."""
        method, url, headers, _body, _post = self._serialize("GET", path, query=None, body=None,
                                                              content_type=None)
        pool = self.api_client.rest_client.pool_manager
        try:
            raw = pool.request(method, url, headers=headers, retries=False, preload_content=True,
                               timeout=urllib3.Timeout(connect=timeout, read=timeout))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.unreachable(exc, action=action, target=target, server=self.server) from exc
        if not 200 <= raw.status <= 299:
            raise errors.from_status(raw.status, errors.parse_status(raw.data), action=action,
                                     target=target, server=self.server,
                                     raw_text=(raw.data or b"").decode("utf-8", "replace")[:200])
        return _decode(raw.data, raw.headers.get("content-type", ""))


def _decode(data: bytes | None, content_type: str) -> Any:
    if not data:
        return None
    text = data.decode("utf-8", "replace")
    if "json" in content_type or text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _retry_after(resp) -> float | None:
    try:
        value = resp.headers.get("Retry-After")
        return float(value) if value else None
    except (TypeError, ValueError, AttributeError):
        return None
