"""The fake API server's state: objects, one resourceVersion counter, and an event history.

Every write takes the next resourceVersion and appends an event (ADDED / MODIFIED / DELETED) to
the history that watches replay and follow. ``compact()`` forgets history (a watch from an older
resourceVersion then gets 410 Expired), ``close_watches()`` ends every open watch stream (what
an API server restart or a load balancer timeout does to a client).
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

from .catalog import FakeResource
from .selectors import fields_match, labels_match

#: Events kept for replay; older ones are compacted away.
HISTORY = 10_000


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    rv: int
    type: str
    key: tuple[str, str]          # (group, plural)
    obj: dict
    old: dict | None = None


Key = tuple[str | None, str]      # (namespace, name)


class Store:
    def __init__(self) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.objects: dict[tuple[str, str], dict[Key, dict]] = {}
        self.rv = 100
        self.history: deque[Event] = deque()
        self.compacted = 0          # replay possible from any rv >= compacted
        self.watch_epoch = 0
        self.closed = False

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def key(res: FakeResource) -> tuple[str, str]:
        return (res.group, res.plural)

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, etype: str, res: FakeResource, obj: dict, old: dict | None = None) -> None:
        self.history.append(Event(self.rv, etype, self.key(res), copy.deepcopy(obj),
                                  copy.deepcopy(old) if old is not None else None))
        while len(self.history) > HISTORY:
            dropped = self.history.popleft()
            self.compacted = dropped.rv
        self.cond.notify_all()

    # -- reads --------------------------------------------------------------------------------

    def get(self, res: FakeResource, namespace: str | None, name: str) -> dict | None:
        with self.cond:
            obj = self.objects.get(self.key(res), {}).get((namespace if res.namespaced else None,
                                                           name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, res: FakeResource, namespace: str | None = None, labels=None,
             fields=None) -> list[dict]:
        with self.cond:
            items = [copy.deepcopy(o) for (ns, _), o in
                     sorted(self.objects.get(self.key(res), {}).items(),
                            key=lambda kv: (kv[0][0] or "", kv[0][1]))
                     if namespace is None or ns == namespace]
        return [o for o in items if labels_match(labels or [], o) and fields_match(fields or [], o)]

    # -- writes -------------------------------------------------------------------------------

    def create(self, res: FakeResource, obj: dict) -> dict:
        """Store a new object (caller checked it does not exist); fills server fields."""
        with self.cond:
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            md.setdefault("generation", 1)
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            md["resourceVersion"] = str(self._next_rv())
            ns = md.get("namespace") if res.namespaced else None
            if not res.namespaced:
                md.pop("namespace", None)
            self.objects.setdefault(self.key(res), {})[(ns, md["name"])] = obj
            self._emit("ADDED", res, obj)
            return copy.deepcopy(obj)

    def replace(self, res: FakeResource, obj: dict, *, bump_generation: bool | None = None) -> dict:
        """Overwrite an existing object, keeping its identity; bumps generation on spec change."""
        with self.cond:
            md = obj.setdefault("metadata", {})
            ns = md.get("namespace") if res.namespaced else None
            old = self.objects.get(self.key(res), {}).get((ns, md["name"]))
            if old is None:
                raise KeyError(md["name"])
            obj = copy.deepcopy(obj)
            md = obj["metadata"]
            for field in ("uid", "creationTimestamp"):
                md[field] = old["metadata"].get(field)
            generation = int(old["metadata"].get("generation") or 1)
            if bump_generation is None:
                bump_generation = obj.get("spec") != old.get("spec")
            md["generation"] = generation + 1 if bump_generation else generation
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            md["resourceVersion"] = str(self._next_rv())
            self.objects[self.key(res)][(ns, md["name"])] = obj
            self._emit("MODIFIED", res, obj, old)
            return copy.deepcopy(obj)

    def remove(self, res: FakeResource, namespace: str | None, name: str) -> dict | None:
        with self.cond:
            ns = namespace if res.namespaced else None
            obj = self.objects.get(self.key(res), {}).pop((ns, name), None)
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._emit("DELETED", res, obj)
            return copy.deepcopy(obj)

    def all_objects(self) -> list[tuple[tuple[str, str], dict]]:
        with self.cond:
            return [(key, copy.deepcopy(o)) for key, objs in self.objects.items()
                    for o in objs.values()]

    # -- watch support ------------------------------------------------------------------------

    def compact(self) -> None:
        """Forget all history: watches from any resourceVersion seen so far get 410."""
        with self.cond:
            self.history.clear()
            self.compacted = self.rv
            self.cond.notify_all()

    def close_watches(self) -> None:
        with self.cond:
            self.watch_epoch += 1
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def events_after(self, rv: int, key: tuple[str, str]) -> list[Event]:
        with self.cond:
            return [e for e in self.history if e.rv > rv and e.key == key]


def filter_event(event: Event, *, namespace: str | None, labels, fields) -> tuple[str, dict] | None:
    """What a watcher with these filters sees of an event (None: nothing).

    As the API server does: an object that starts matching appears as ADDED, one that stops
    matching as DELETED.
    """
    def visible(obj: dict | None) -> bool:
        if obj is None:
            return False
        if namespace is not None and (obj.get("metadata") or {}).get("namespace") != namespace:
            return False
        return labels_match(labels, obj) and fields_match(fields, obj)

    now = visible(event.obj)
    if event.type == "MODIFIED":
        before = visible(event.old)
        if now and before:
            return "MODIFIED", event.obj
        if now:
            return "ADDED", event.obj
        if before:
            return "DELETED", event.obj
        return None
    return (event.type, event.obj) if now else None


def wait_for_events(store: Store, key, last_rv: int, epoch: int, deadline: float) -> str:
    """Block until new history, a closed watch epoch, server close, or the deadline."""
    with store.cond:
        while True:
            if store.closed:
                return "closed"
            if store.watch_epoch != epoch:
                return "closed"
            if store.rv > last_rv and any(e.rv > last_rv and e.key == key for e in store.history):
                return "events"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            store.cond.wait(min(remaining, 0.5))
