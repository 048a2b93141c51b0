"""Reading: get one object, list many with label and field selectors.

Lists are paginated (``limit``/``continue``) and their items get ``kind`` and ``apiVersion``
filled in (the API server leaves them out of list items), so every dict that leaves this
package looks like a manifest.
"""

from __future__ import annotations

from typing import Any, Mapping

from .api import Connection
from .errors import NotFound

#: Items per list page. The API server's own default page is unbounded; 500 is kubectl's chunk.
PAGE_SIZE = 500

Selector = str | Mapping[str, Any] | None


def selector_string(selector: Selector) -> str | None:
    """A label selector as the API takes it.

    Accepts a string ("app=web,tier!=db"), a plain mapping ({"app": "web"}), or a
    LabelSelector ({"matchLabels": {...}, "matchExpressions": [...]}).
    """
    if selector is None or isinstance(selector, str):
        return selector or None
    if "matchLabels" in selector or "matchExpressions" in selector:
        parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
        for expr in selector.get("matchExpressions") or []:
            key, op, values = expr["key"], expr["operator"], expr.get("values") or []
            if op == "In":
                parts.append(f"{key} in ({','.join(values)})")
            elif op == "NotIn":
                parts.append(f"{key} notin ({','.join(values)})")
            elif op == "Exists":
                parts.append(key)
            elif op == "DoesNotExist":
                parts.append(f"!{key}")
            else:
                raise ValueError(f"unknown label selector operator {op!r}")
        return ",".join(parts) or None
    return ",".join(f"{k}={v}" for k, v in selector.items()) or None


def field_selector_string(selector: Selector) -> str | None:
    """A field selector string from a string or a mapping ({"spec.nodeName": "n1"})."""
    if selector is None or isinstance(selector, str):
        return selector or None
    return ",".join(f"{k}={v}" for k, v in selector.items()) or None


def get(conn: Connection, *, kind: str, name: str, namespace: str | None = None,
        api_version: str | None = None, subresource: str | None = None) -> dict | None:
    """The object, or None if it does not exist."""
    res = conn.resources.lookup(kind, api_version)
    try:
        obj = conn.request("GET", res.path(name=name, namespace=namespace, subresource=subresource),
                           action="get", target=res.ref(name, namespace),
                           secret=res.kind == "Secret")
    except NotFound:
        return None
    if isinstance(obj, dict) and subresource is None:
        obj.setdefault("kind", res.kind)
        obj.setdefault("apiVersion", res.api_version)
    return obj


def list_with_version(conn: Connection, *, kind: str, namespace: str | None = None,
                      label_selector: Selector = None, field_selector: Selector = None,
                      api_version: str | None = None) -> tuple[list[dict], str]:
    """All matching objects and the list's resourceVersion (to start a watch from)."""
    res = conn.resources.lookup(kind, api_version)
    path = res.path(namespace=namespace)
    base: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
    labels = selector_string(label_selector)
    fields = field_selector_string(field_selector)
    if labels:
        base.append(("labelSelector", labels))
    if fields:
        base.append(("fieldSelector", fields))
    items: list[dict] = []
    token: str | None = None
    version = ""
    while True:
        query = base + ([("continue", token)] if token else [])
        page = conn.request("GET", path, query=query, action="list",
                            target=res.ref(None, namespace)) or {}
        for item in page.get("items") or []:
            item.setdefault("kind", res.kind)
            item.setdefault("apiVersion", res.api_version)
            items.append(item)
        meta = page.get("metadata") or {}
        version = str(meta.get("resourceVersion") or version)
        token = meta.get("continue")
        if not token:
            return items, version


def list_objects(conn: Connection, *, kind: str, namespace: str | None = None,
                 label_selector: Selector = None, field_selector: Selector = None,
                 api_version: str | None = None) -> list[dict]:
    """All matching objects (all namespaces when ``namespace`` is None for a namespaced kind)."""
    items, _ = list_with_version(conn, kind=kind, namespace=namespace,
                                 label_selector=label_selector, field_selector=field_selector,
                                 api_version=api_version)
    return items
