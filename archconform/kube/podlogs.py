"""Pod logs: the text a container wrote, read through ``pods/<name>/log``.

Returned to the caller, never logged: a container may print anything, secrets included.
"""

from __future__ import annotations

from typing import Any

from .api import Connection


def logs(conn: Connection, *, pod: str, namespace: str, container: str | None = None,
         tail_lines: int | None = None, previous: bool = False,
         limit_bytes: int | None = None) -> str:
    """The container's log (``previous``: the last terminated instance's, after a restart)."""
    res = conn.resources.lookup("Pod")
    query: list[tuple[str, Any]] = []
    if container:
        query.append(("container", container))
    if tail_lines is not None:
        query.append(("tailLines", int(tail_lines)))
    if previous:
        query.append(("previous", "true"))
    if limit_bytes is not None:
        query.append(("limitBytes", int(limit_bytes)))
    text = conn.request("GET", res.path(name=pod, namespace=namespace, subresource="log"),
                        query=query, action="read logs of", target=res.ref(pod, namespace),
                        # kube-apiserver v1.37.2 answers 406 to "Accept: text/plain" (found on a real
                        # kind cluster); client-go asks for "application/json, */*" and gets the text
                        accept="application/json, */*")
    return text if isinstance(text, str) else "" if text is None else str(text)
