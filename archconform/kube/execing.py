"""Exec: run a command in a container through ``kubernetes.stream`` and collect its result.

The official client opens a WebSocket to ``pods/<name>/exec`` (subprotocol
``v4.channel.k8s.io``): channel 1 carries stdout, 2 stderr, 3 a Status object when the command
ends: ``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and the exit code in
``details.causes[ExitCode]``, or another failure (the executable does not exist) that means
the command never ran.

Bounded: connecting (the WebSocket handshake) and running together must finish within
``timeout`` seconds, or ``WaitTimeout`` is raised and the connection closed. Output is returned,
never logged (a command may print secrets); messages name the pod and the program only.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass

import yaml
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from websocket import WebSocketException

from archconform.errors import WaitTimeout

from . import errors
from .api import Connection

log = logging.getLogger("archconform.kube")

STDOUT, STDERR, ERROR = 1, 2, 3
#: Longest single wait for WebSocket frames; the loop re-checks the deadline at least this often.
FRAME_WAIT = 0.5


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one command. ``rc`` is None when the command could not be started."""

    rc: int | None
    stdout: str
    stderr: str
    #: The Status message when the command failed to start or ended without an exit code.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.rc == 0


def parse_exit_status(raw: str) -> tuple[int | None, str | None]:
    """(exit code, error message) from the v4 error channel's Status document."""
    if not raw or not raw.strip():
        return None, "connection closed without an exit status"
    try:
        status = json.loads(raw)
    except ValueError:
        try:
            status = yaml.safe_load(raw)
        except yaml.YAMLError:
            return None, errors.one_line(raw)[:300]
    if not isinstance(status, dict):
        return None, errors.one_line(raw)[:300]
    if status.get("status") == "Success":
        return 0, None
    message = errors.one_line(str(status.get("message") or status.get("reason") or "failure"))
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), None
                except (TypeError, ValueError):
                    break
    return None, message[:300]


_URL_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_KEY_VALUE_SECRET = re.compile(r"(?i)((?:password|passwd|token|secret)[=:])\S+")


def show_command(command: list[str]) -> str:
    """The command for a message: credentials in URLs and key=value secrets masked."""
    text = " ".join(command)
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _KEY_VALUE_SECRET.sub(r"\1***", text)
    return text if len(text) <= 120 else text[:117] + "..."


def _handshake_error(exc: ApiException, *, ref: str, server: str) -> errors.APIError:
    inner = exc.__context__ or exc.__cause__
    code = getattr(inner, "status_code", None)
    if isinstance(code, int) and code:
        body = getattr(inner, "resp_body", None)
        status = errors.parse_status(body) if body else None
        raw = body.decode("utf-8", "replace")[:200] if isinstance(body, bytes) else ""
        return errors.from_status(code, status, action="exec in", target=ref, server=server,
                                  raw_text="" if status else raw)
    return errors.unreachable(inner or exc, action="exec in", target=ref, server=server)


def exec_command(conn: Connection, *, pod: str, namespace: str, command: list[str],
                 container: str | None = None, timeout: float) -> ExecResult:
    """Run ``command`` (argv, no shell) in the pod; returns rc, stdout and stderr."""
    if not command:
        raise ValueError("exec needs a command")
    res = conn.resources.lookup("Pod")
    ref = res.ref(pod, namespace) + (f" container {container}" if container else "")
    description = f"`{show_command(command)}` in {ref} to exit"
    deadline = time.monotonic() + timeout
    private = conn.private_client()  # see Connection.private_client
    core = CoreV1Api(private)
    kwargs: dict = {"command": list(command), "stderr": True, "stdin": False, "stdout": True,
                    "tty": False, "_preload_content": False}
    if container:
        kwargs["container"] = container
    holder: dict = {}
    connected = threading.Event()
    abandoned = threading.Event()

    def open_stream() -> None:
        try:
            holder["client"] = stream(core.connect_get_namespaced_pod_exec, pod, namespace,
                                      **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            holder["error"] = exc
        finally:
            private.close()
            connected.set()
            if abandoned.is_set() and "client" in holder:
                holder["client"].close()

    threading.Thread(target=open_stream, name=f"exec {ref}", daemon=True).start()
    if not connected.wait(timeout):
        abandoned.set()
        if connected.is_set() and "client" in holder:
            holder["client"].close()
        raise WaitTimeout(description, timeout, "no WebSocket connection to the pod yet")
    if "error" in holder:
        exc = holder["error"]
        if isinstance(exc, ApiException):
            raise _handshake_error(exc, ref=ref, server=conn.server) from exc
        raise errors.unreachable(exc, action="exec in", target=ref, server=conn.server) from exc
    client = holder["client"]
    try:
        client.sock.settimeout(max(0.1, deadline - time.monotonic()))
        while client.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                out = len(client.peek_channel(STDOUT)), len(client.peek_channel(STDERR))
                raise WaitTimeout(description, timeout,
                                  f"still running; {out[0]} chars of stdout, {out[1]} of stderr so far")
            try:
                client.update(timeout=min(remaining, FRAME_WAIT))
            except (WebSocketException, OSError):
                break  # the server closed the connection without a close frame
        stdout = client.read_channel(STDOUT)
        stderr = client.read_channel(STDERR)
        status = client.read_channel(ERROR)
    finally:
        client.close(timeout=0)  # do not wait for the server's close frame (up to 3 s)
    rc, error = parse_exit_status(status)
    log.debug("exec in %s: rc=%s", ref, rc)
    return ExecResult(rc=rc, stdout=stdout, stderr=stderr, error=error)
