"""API errors, translated from the official client into one line a user can act on.

The official client raises ``kubernetes.client.exceptions.ApiException`` (and its subclasses)
for HTTP errors and lets urllib3 or websocket-client errors through for connection failures.
Everything outside this package sees only the classes below, each with a one-line message that
names what was being done, to which object (kind/namespace/name), the HTTP status, the
server's reason and the server's own message. The original exception is chained
(``raise ... from``), so a traceback still shows the client's view.

    APIError (ClusterError)
    ├── APIClientError            4xx
    │   ├── BadRequest            400
    │   ├── Unauthorized          401
    │   ├── Forbidden             403  (RBAC, admission: Pod Security, quota)
    │   ├── NotFound              404
    │   │   └── UnknownKind       the cluster does not serve that kind (CRD missing?)
    │   ├── Conflict              409
    │   │   └── AlreadyExists     409, reason AlreadyExists
    │   ├── Gone                  410  (a watch's resourceVersion is too old)
    │   ├── Invalid               422
    │   └── TooManyRequests       429  (a PDB refused an eviction; API priority and fairness)
    ├── APIServerError            5xx
    └── Unreachable               no HTTP answer at all (refused, timed out, TLS, DNS)

Secret safety: messages carry kind/namespace/name and the server's message, never a request
body. For Secrets, quoted values in the server's message (``Invalid value: "..."``) are masked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from archconform.errors import ClusterError

#: Longest server message kept in an error line; the full Status stays on ``.status_body``.
MAX_MESSAGE = 400


class APIError(ClusterError):
    """Any failed call to the API server. ``str()`` is one line."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 server_message: str = "", action: str = "", target: str = "",
                 server: str = "", status_body: dict | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(one_line(message))
        #: HTTP status code, or None when no HTTP answer came back.
        self.status = status
        #: The Status reason (NotFound, AlreadyExists, Conflict, Invalid, TooManyRequests, ...).
        self.reason = reason
        #: The server's own message (Status.message), unshortened but on one line.
        self.server_message = server_message
        #: What was being done ("get", "apply", "evict", ...) and to what ("pod/ns/name").
        self.action = action
        self.target = target
        #: The API server URL.
        self.server = server
        #: The whole Status body as the server sent it (None when there was none).
        self.status_body = status_body
        #: Seconds from the Retry-After header or Status.details.retryAfterSeconds.
        self.retry_after = retry_after

    @property
    def causes(self) -> list[dict]:
        """Status.details.causes (e.g. the PDB cause of a refused eviction)."""
        details = (self.status_body or {}).get("details") or {}
        return list(details.get("causes") or [])


class APIClientError(APIError):
    """The request was refused (HTTP 4xx)."""


class APIServerError(APIError):
    """The server failed (HTTP 5xx)."""


class BadRequest(APIClientError):
    """HTTP 400."""


class Unauthorized(APIClientError):
    """HTTP 401: the credentials in the kubeconfig were not accepted (expired token?)."""


class Forbidden(APIClientError):
    """HTTP 403: RBAC denied it, or an admission plugin (Pod Security, ResourceQuota) did."""


class NotFound(APIClientError):
    """HTTP 404."""


class UnknownKind(NotFound):
    """The cluster does not serve the requested kind (a CRD not installed, a wrong apiVersion)."""


class Conflict(APIClientError):
    """HTTP 409: resourceVersion or UID precondition failed, or a field-manager conflict."""


class AlreadyExists(Conflict):
    """HTTP 409 with reason AlreadyExists: a create for a name that exists."""


class Gone(APIClientError):
    """HTTP 410: the watch's resourceVersion is older than the server keeps."""


class Invalid(APIClientError):
    """HTTP 422: the object failed validation."""


class TooManyRequests(APIClientError):
    """HTTP 429: a PodDisruptionBudget refused an eviction, or the server is throttling."""


class Unreachable(APIError):
    """No HTTP answer: connection refused, timed out, TLS failure, name resolution failure."""


#: How kube-apiserver begins the message of a server-side apply its schema cannot take
#: (k8s.io/apimachinery pkg/util/managedfields/internal/structuredmerge.go: "failed to create typed
#: patch object (ns/name; group/version, Kind=K): .spec.x: field not declared in schema").
TYPED_PATCH_FAILURE = "failed to create typed patch object"

_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    410: Gone, 422: Invalid, 429: TooManyRequests,
}


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) so a message stays on one line."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_QUOTED_VALUE = re.compile(r'(Invalid value: )"(?:[^"\\]|\\.)*"')


def mask_secret_values(message: str) -> str:
    """Mask quoted values in a validation message (used when the object is a Secret)."""
    return _QUOTED_VALUE.sub(r'\1"***"', message)


def _mask_tree(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secret_values(value)
    if isinstance(value, list):
        return [_mask_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_tree(v) for k, v in value.items()}
    return value


def parse_status(body: Any) -> dict | None:
    """A Status dict from a response body (bytes, str or dict), or None if it is not one."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return body
    return None


def from_status(status: int | None, status_body: dict | None, *, action: str, target: str,
                server: str, raw_text: str = "", retry_after: float | None = None,
                secret: bool = False) -> APIError:
    """Build the right APIError subclass for an HTTP status and (maybe) a Status body."""
    if secret and status_body:
        status_body = _mask_tree(status_body)
    body = status_body or {}
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or raw_text or "")
    if secret:
        message = mask_secret_values(message)
    if retry_after is None:
        seconds = (body.get("details") or {}).get("retryAfterSeconds")
        retry_after = float(seconds) if seconds else None
    code = status if status is not None else body.get("code")
    if code == 500 and message.startswith(TYPED_PATCH_FAILURE):
        # The real API server answers a server-side apply whose body does not fit the schema (an
        # unknown field, a string where a number belongs) with 500, yet the request is at fault:
        # retrying cannot help, so it is a BadRequest (status kept as sent).
        cls: type[APIError] = BadRequest
        reason = reason or "BadRequest"
    elif isinstance(code, int) and code >= 500:
        cls = APIServerError
    elif code == 409 and reason == "AlreadyExists":
        cls = AlreadyExists
    elif isinstance(code, int):
        cls = _BY_STATUS.get(code, APIClientError if 400 <= code < 500 else APIError)
    else:
        cls = APIError
    label = reason or (cls.__name__ if cls is not APIError else "error")
    where = f"{action} {target}".strip() or "request"
    text = f"{where} failed: {label} ({code})"
    if message:
        text += f": {_shorten(message)}"
    return cls(text, status=code if isinstance(code, int) else None, reason=reason,
               server_message=one_line(message), action=action, target=target, server=server,
               status_body=status_body, retry_after=retry_after)


def describe_connection_error(exc: BaseException) -> str:
    """A short cause for a connection failure: 'connection refused', 'timed out', ..."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 6:
        seen.append(f"{type(current).__name__}: {current}")
        inner = getattr(current, "reason", None)  # urllib3's MaxRetryError keeps the cause here
        current = inner if isinstance(inner, BaseException) else (
            current.__cause__ or current.__context__)
    text = " | ".join(seen)
    lowered = text.lower()
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or \
            "temporary failure in name resolution" in lowered or "getaddrinfo" in lowered:
        return "cannot resolve the server's host name"
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return "TLS error: " + _shorten(seen[-1], 160)
    if "connection reset" in lowered or "remotedisconnected" in lowered or "connection aborted" in lowered:
        return "connection closed by the server"
    return _shorten(seen[-1] if seen else repr(exc), 200)


def unreachable(exc: BaseException, *, action: str, target: str, server: str) -> Unreachable:
    """An Unreachable error for a connection-level failure."""
    where = f"{action} {target}".strip() or "request"
    cause = describe_connection_error(exc)
    return Unreachable(f"{where} failed: cannot reach the API server at {server}: {cause}",
                       action=action, target=target, server=server, server_message=cause)
