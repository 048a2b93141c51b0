"""Connecting: a kubeconfig path and context become an official ``ApiClient``.

The official loader (``kubernetes.config``) reads the kubeconfig, so everything it supports
works here too: client certificates, bearer tokens, exec credential plugins (``aws eks
get-token``), proxies. Before calling it we read the file ourselves, so that a missing file,
broken YAML or an unknown context becomes one line that names the file and lists the contexts
it does have, instead of the loader's message.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from archconform.errors import ClusterError, UsageError
from archconform.settings import Timeouts

from . import errors
from .api import Connection

log = logging.getLogger("archconform.kube")

#: Seconds for the reachability check (GET /version, no retries). A healthy API server answers
#: in milliseconds; 5 s tolerates a loaded EKS endpoint while keeping "wrong address" failures
#: well inside the 10 s a user should wait for a one-line error. (Candidate for a Timeouts
#: field; used only when Timeouts has no ``reachability`` field.)
REACHABILITY_TIMEOUT = 5.0

USER_AGENT = "archconform (kubernetes-python)"


def kubeconfig_paths(kubeconfig: str | os.PathLike | None) -> list[Path]:
    """The kubeconfig file(s) to read: the given path, else $KUBECONFIG (':'-separated), else
    ~/.kube/config."""
    if kubeconfig:
        return [Path(os.path.expanduser(str(kubeconfig)))]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        return [Path(os.path.expanduser(p)) for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def read_kubeconfig(paths: list[Path]) -> tuple[list[str], str | None]:
    """Context names and current-context across the files; UsageError if none is usable."""
    contexts: list[str] = []
    current: str | None = None
    readable = 0
    first_error = ""
    for path in paths:
        try:
            text = path.read_text()
        except OSError as exc:
            first_error = first_error or f"cannot read kubeconfig {path}: {exc.strerror or exc}"
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise UsageError(f"kubeconfig {path} is not valid YAML{line}") from exc
        if not isinstance(doc, dict):
            raise UsageError(f"kubeconfig {path} is empty or not a kubeconfig mapping")
        readable += 1
        for item in doc.get("contexts") or []:
            name = (item or {}).get("name")
            if name and name not in contexts:
                contexts.append(str(name))
        if current is None and doc.get("current-context"):
            current = str(doc["current-context"])
    if not readable:
        raise UsageError(first_error or "no kubeconfig found (set KUBECONFIG or create ~/.kube/config)")
    return contexts, current


def connect(*, kubeconfig: str | os.PathLike | None, context: str | None,
            timeouts: Timeouts) -> Connection:
    """Build a Connection for a kubeconfig and context. Does not contact the server.

    Raises UsageError (one line) for an unreadable or malformed kubeconfig, an unknown
    context (listing the available ones), or a context the official loader rejects.
    """
    paths = kubeconfig_paths(kubeconfig)
    shown = os.pathsep.join(str(p) for p in paths)
    contexts, current = read_kubeconfig(paths)
    available = ", ".join(contexts) if contexts else "none"
    if context is not None and context not in contexts:
        raise UsageError(f"context {context!r} not found in kubeconfig {shown}; "
                         f"available contexts: {available}")
    if context is None and not current:
        raise UsageError(f"kubeconfig {shown} has no current-context; pass --context "
                         f"(available contexts: {available})")
    chosen = context or current or ""
    configuration = type.__call__(Configuration)
    try:
        kube_config.load_kube_config(config_file=os.pathsep.join(str(p) for p in paths),
                                     context=chosen, client_configuration=configuration,
                                     persist_config=False)
    except Exception as exc:  # ConfigException, exec plugin failures, malformed entries
        raise UsageError(f"kubeconfig {shown}, context {chosen!r}: "
                         f"{errors.one_line(str(exc))[:300]}") from exc
    api_client = ApiClient(configuration=configuration)
    api_client.user_agent = USER_AGENT
    return Connection(api_client=api_client, kubeconfig=shown, context=chosen, timeouts=timeouts)


def check_reachable(conn: Connection) -> str:
    """GET /version within a short timeout; returns the server's gitVersion.

    Raises a ClusterError subclass (Unreachable for no answer, an APIError for an HTTP error)
    whose one-line message names the server URL, the context and the cause.
    """
    timeout = float(getattr(conn.timeouts, "reachability", REACHABILITY_TIMEOUT))
    try:
        info = conn.get_unretried("/version", timeout=timeout, action="get", target="/version")
    except errors.Unreachable as exc:
        raise errors.Unreachable(
            f"cannot reach the Kubernetes API server at {conn.server} (context {conn.context!r} "
            f"in {conn.kubeconfig}): {exc.server_message}",
            action="get", target="/version", server=conn.server,
            server_message=exc.server_message) from exc
    except errors.APIError as exc:
        raise type(exc)(
            f"the Kubernetes API server at {conn.server} (context {conn.context!r}) answered "
            f"GET /version with {exc.status} {exc.reason or ''}".rstrip()
            + (f": {exc.server_message[:200]}" if exc.server_message else ""),
            status=exc.status, reason=exc.reason, server_message=exc.server_message,
            action="get", target="/version", server=conn.server,
            status_body=exc.status_body) from exc
    if not isinstance(info, dict) or "gitVersion" not in info:
        raise ClusterError(f"{conn.server} (context {conn.context!r}) does not look like a "
                           f"Kubernetes API server: GET /version gave no gitVersion")
    version = str(info["gitVersion"])
    log.info("connected to %s (context %s): Kubernetes %s", conn.server, conn.context, version)
    return version
