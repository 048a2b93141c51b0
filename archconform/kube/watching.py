"""Watching: a bounded stream of (event type, object) that survives reconnects and expiry.

``Watch`` starts from a list (yielding the current objects as ADDED unless told not to) or from
a given resourceVersion, then follows ``?watch=true`` streams. When a stream ends (server
timeout, load balancer, API server restart) it reconnects from the last resourceVersion seen.
A reconnect refused for a transient reason (429 from API Priority and Fairness, 5xx while the API
server restarts) or an ERROR event with such a code is retried, MAX_RECONNECT_FAILURES times in a
row at most. When the server says that version is too old (410 Gone, as an ERROR event or as the HTTP
status) it lists again and yields the difference against what it had seen: ADDED for new
objects, MODIFIED for changed ones, DELETED for vanished ones, so the consumer's picture stays
consistent. The whole watch ends after ``timeout`` seconds or on ``stop()``.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from typing import Iterator

from kubernetes.watch.watch import iter_resp_lines

from . import fetching
from .api import Connection
from .errors import APIError, APIServerError, Gone, TooManyRequests, Unreachable, from_status

log = logging.getLogger("archconform.kube")

#: Consecutive failed (re)connects before the watch gives up with Unreachable.
MAX_RECONNECT_FAILURES = 3
#: Status codes of an ERROR event (or an answer to a reconnect) that only mean "try again": API
#: Priority and Fairness throttling, and an API server that is restarting or overloaded.
TRANSIENT_CODES = (429, 500, 502, 503, 504)
#: Seconds between reconnect attempts after a connection failure.
RECONNECT_BACKOFF = 1.0
#: Seconds a quiet stream may outlast the watch's own deadline before the client cuts the read
#: (the server's timeoutSeconds is whole seconds, rounded up).
STREAM_SLACK = 0.25

Event = tuple[str, dict]


class Watch:
    """An iterator of (type, object) events; ``stop()`` ends it from another thread."""

    def __init__(self, conn: Connection, *, kind: str, namespace: str | None = None,
                 label_selector: fetching.Selector = None,
                 field_selector: fetching.Selector = None, resource_version: str | None = None,
                 timeout: float, send_initial: bool = True, api_version: str | None = None) -> None:
        self.conn = conn
        self.res = conn.resources.lookup(kind, api_version)
        self.namespace = namespace if self.res.namespaced else None
        self.label_selector = fetching.selector_string(label_selector)
        self.field_selector = fetching.field_selector_string(field_selector)
        self.resource_version = resource_version
        self.timeout = float(timeout)
        self.send_initial = send_initial
        #: Number of times the stream was re-opened, and relists after 410 (for tests/reports).
        self.reconnects = 0
        self.relists = 0
        self._stopped = threading.Event()
        self._resp = None
        self._known: dict[str, dict] = {}   # uid -> last object seen
        self._iter: Iterator[Event] | None = None

    # -- public -----------------------------------------------------------------------------

    def stop(self) -> None:
        """End the watch; a blocked read is interrupted by shutting the socket down."""
        self._stopped.set()
        resp = self._resp
        if resp is not None:
            try:
                sock = getattr(getattr(resp, "connection", None), "sock", None)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __iter__(self) -> Iterator[Event]:
        if self._iter is None:
            self._iter = self._events()
        return self._iter

    def __next__(self) -> Event:
        return next(iter(self))

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._iter is not None:
            self._iter.close()

    # -- internals --------------------------------------------------------------------------

    def _ref(self) -> str:
        return self.res.ref(None, self.namespace)

    def _list(self) -> tuple[list[dict], str]:
        return fetching.list_with_version(
            self.conn, kind=self.res.kind, api_version=self.res.api_version,
            namespace=self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector)

    def _remember(self, etype: str, obj: dict) -> None:
        uid = (obj.get("metadata") or {}).get("uid") or (obj.get("metadata") or {}).get("name")
        if etype == "DELETED":
            self._known.pop(uid, None)
        else:
            self._known[uid] = obj

    def _relist(self) -> tuple[list[Event], str]:
        """List again after 410 and diff against what was seen."""
        self.relists += 1
        items, version = self._list()
        events: list[Event] = []
        current = {}
        for obj in items:
            md = obj.get("metadata") or {}
            uid = md.get("uid") or md.get("name")
            current[uid] = obj
            before = self._known.get(uid)
            if before is None:
                events.append(("ADDED", obj))
            elif (before.get("metadata") or {}).get("resourceVersion") != md.get("resourceVersion"):
                events.append(("MODIFIED", obj))
        for uid, obj in list(self._known.items()):
            if uid not in current:
                events.append(("DELETED", obj))
        return events, version

    def _fill(self, obj: dict) -> dict:
        obj.setdefault("kind", self.res.kind)
        obj.setdefault("apiVersion", self.res.api_version)
        return obj

    def _events(self) -> Iterator[Event]:
        deadline = time.monotonic() + self.timeout
        version = self.resource_version
        if version is None:
            items, version = self._list()
            for obj in items:
                self._remember("ADDED", obj)
                if self.send_initial:
                    yield "ADDED", obj
        failures = 0
        first = True
        while not self._stopped.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not first:
                self.reconnects += 1
            first = False
            query: list[tuple[str, object]] = [
                ("watch", "true"), ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", max(1, math.ceil(remaining)))]
            if version:
                query.append(("resourceVersion", version))
            if self.label_selector:
                query.append(("labelSelector", self.label_selector))
            if self.field_selector:
                query.append(("fieldSelector", self.field_selector))
            try:
                resp = self.conn.open_stream(self.res.path(namespace=self.namespace), query=query,
                                             read_timeout=remaining + STREAM_SLACK,
                                             target=self._ref())
            except Gone:
                events, version = self._relist()
                for etype, obj in events:
                    self._remember(etype, obj)
                    yield etype, obj
                continue
            except (Unreachable, TooManyRequests, APIServerError) as exc:
                # Unreachable, throttled by API Priority and Fairness (429), or an API server
                # restarting (5xx): transient, so retried from the last version seen.
                failures += 1
                if failures >= MAX_RECONNECT_FAILURES:
                    raise
                pause = RECONNECT_BACKOFF if isinstance(exc, Unreachable) else (exc.retry_after or RECONNECT_BACKOFF)
                log.warning("watch %s: %s, retrying (%d/%d)", self._ref(),
                            "connection failed" if isinstance(exc, Unreachable) else f"HTTP {exc.status}",
                            failures, MAX_RECONNECT_FAILURES)
                self._stopped.wait(min(pause, max(0.0, deadline - time.monotonic())))
                continue
            failures = 0
            self._resp = resp
            expired = transient = False
            try:
                for line in iter_resp_lines(resp):
                    if self._stopped.is_set():
                        return
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    etype, obj = event.get("type"), event.get("object") or {}
                    if etype == "ERROR":
                        code = obj.get("code")
                        if code == 410:
                            expired = True
                            break
                        if code in TRANSIENT_CODES:
                            log.info("watch %s: the stream ended with %s; reconnecting", self._ref(), code)
                            transient = True
                            break
                        raise from_status(code, obj, action="watch", target=self._ref(),
                                          server=self.conn.server)
                    new_version = (obj.get("metadata") or {}).get("resourceVersion")
                    if new_version:
                        version = new_version
                    if etype == "BOOKMARK":
                        continue
                    obj = self._fill(obj)
                    self._remember(etype, obj)
                    yield etype, obj
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    _bound_next_read(resp, left + STREAM_SLACK)
            except APIError:
                raise
            except Exception as exc:  # connection dropped mid-stream, or read timeout
                if self._stopped.is_set():
                    return
                log.info("watch %s: stream ended (%s); reconnecting", self._ref(),
                         type(exc).__name__)
            finally:
                self._resp = None
                try:
                    resp.close()
                    resp.release_conn()
                except Exception:
                    pass
            if transient:
                self._stopped.wait(min(RECONNECT_BACKOFF, max(0.0, deadline - time.monotonic())))
            if expired:
                log.info("watch %s: resourceVersion %s expired; listing again", self._ref(), version)
                events, version = self._relist()
                for etype, obj in events:
                    self._remember(etype, obj)
                    yield etype, obj


def _bound_next_read(resp, seconds: float) -> None:
    """Cap the wait for the next chunk at what is left of the watch (the read timeout given at
    request time restarts with every chunk)."""
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.settimeout(seconds)
        except OSError:
            pass


def watch(conn: Connection, *, kind: str, namespace: str | None = None,
          label_selector: fetching.Selector = None, field_selector: fetching.Selector = None,
          resource_version: str | None = None, timeout: float, send_initial: bool = True,
          api_version: str | None = None) -> Watch:
    """A Watch (iterate it for (type, object); stop() or leave the ``with`` block to end it)."""
    return Watch(conn, kind=kind, namespace=namespace, label_selector=label_selector,
                 field_selector=field_selector, resource_version=resource_version,
                 timeout=timeout, send_initial=send_initial, api_version=api_version)
