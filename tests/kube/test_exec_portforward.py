"""exec over the v4 channel protocol, and port-forward, through kubernetes.stream.

Why the fake: the real control plane here runs KWOK nodes, where no container runs, so exec and
port-forward have nothing to reach until a kind cluster runs on these machines.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from archconform.errors import WaitTimeout
from archconform.kube import BadRequest, Kube, NotFound
from archconform.kube.execing import parse_exit_status, show_command
from tests.fakekube import ExecCall, ExecError, ExecReply, FakeKube, objects


@pytest.fixture
def pod(fake_kube: FakeKube) -> FakeKube:
    fake_kube.put(objects.namespace("shop"))
    fake_kube.put(objects.pod("web-1", "shop", containers=["app", "sidecar"]))
    return fake_kube


def test_exec_returns_rc_and_output(pod: FakeKube, fake_cluster: Kube):
    calls: list[ExecCall] = []

    def hook(call: ExecCall) -> ExecReply:
        calls.append(call)
        return ExecReply(stdout="uid=1000(app) gid=1000\n", stderr="", rc=0)

    pod.on_exec(hook)
    result = fake_cluster.exec("web-1", "shop", ["id", "-u", "-n"], container="sidecar")
    assert (result.rc, result.stdout, result.stderr, result.ok) == (
        0, "uid=1000(app) gid=1000\n", "", True)
    assert calls[0].command == ["id", "-u", "-n"]
    assert (calls[0].namespace, calls[0].pod, calls[0].container) == ("shop", "web-1", "sidecar")


def test_exec_nonzero_exit_and_stderr(pod: FakeKube, fake_cluster: Kube):
    pod.on_exec(lambda call: ("", "touch: /etc/x: Read-only file system\n", 1))
    result = fake_cluster.exec("web-1", "shop", ["touch", "/etc/x"])
    assert (result.rc, result.ok) == (1, False)
    assert result.stderr == "touch: /etc/x: Read-only file system\n"
    assert result.error is None


def test_exec_of_a_missing_program_has_no_rc(pod: FakeKube, fake_cluster: Kube):
    def hook(call: ExecCall):
        raise ExecError('exec: "nc": executable file not found in $PATH')

    pod.on_exec(hook)
    result = fake_cluster.exec("web-1", "shop", ["nc", "-z", "db", "5432"])
    assert result.rc is None and not result.ok
    assert result.error == 'exec: "nc": executable file not found in $PATH'


def test_large_output_arrives_whole(pod: FakeKube, fake_cluster: Kube):
    big = "".join(f"line {i:06d}\n" for i in range(20000))  # ~240 kB, many frames
    pod.on_exec(lambda call: ExecReply(stdout=big, rc=0))
    assert fake_cluster.exec("web-1", "shop", ["cat", "/big"]).stdout == big


def test_exec_is_bounded_in_time(pod: FakeKube, fake_cluster: Kube):
    pod.on_exec(lambda call: ExecReply(stdout="late", delay=10))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        fake_cluster.exec("web-1", "shop", ["sleep", "10"], timeout=0.5)
    assert time.monotonic() - started < 2
    assert str(info.value).startswith("timed out after 0.5s waiting for `sleep 10` in "
                                      "pod/shop/web-1 to exit; last state: still running")


def test_exec_in_a_missing_pod_or_container(pod: FakeKube, fake_cluster: Kube):
    pod.on_exec(lambda call: ExecReply())
    with pytest.raises(NotFound) as info:
        fake_cluster.exec("web-9", "shop", ["true"])
    assert str(info.value) == ('exec in pod/shop/web-9 failed: NotFound (404): pods "web-9" not '
                               "found")
    with pytest.raises(BadRequest, match="container nope is not valid for pod web-1"):
        fake_cluster.exec("web-1", "shop", ["true"], container="nope")


def test_exit_status_parsing():
    assert parse_exit_status('{"metadata":{},"status":"Success"}') == (0, None)
    assert parse_exit_status(
        '{"status":"Failure","reason":"NonZeroExitCode","message":"exit code 7",'
        '"details":{"causes":[{"reason":"ExitCode","message":"7"}]}}') == (7, None)
    assert parse_exit_status("") == (None, "connection closed without an exit status")
    # the YAML form older API servers used
    assert parse_exit_status("status: Success\n") == (0, None)


def test_commands_in_messages_hide_credentials():
    assert show_command(["psql", "postgres://app:hunter2@db:5432/x", "-c", "select 1"]) == \
        "psql postgres://app:***@db:5432/x -c select 1"
    assert "hunter2" not in show_command(["curl", "-d", "password=hunter2", "http://x"])


# -- port-forward ---------------------------------------------------------------------------------

@pytest.fixture
def echo_server():
    """A TCP echo server on 127.0.0.1 standing in for the pod's port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(b"echo:" + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join(2)
    listener.close()


def _roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        wanted = len(payload) + 5
        data = b""
        while len(data) < wanted:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_port_forward_reaches_the_pod_port_and_closes(pod: FakeKube, fake_cluster: Kube,
                                                      echo_server):
    targets = []
    pod.on_port_forward(lambda call: targets.append((call.pod, call.port)) or echo_server)
    with fake_cluster.port_forward("web-1", "shop", 8080) as forwarding:
        assert forwarding.url() == f"http://127.0.0.1:{forwarding.local_port}"
        assert _roundtrip(forwarding.local_port, b"hello") == b"echo:hello"
        assert _roundtrip(forwarding.local_port, b"again") == b"echo:again"
        local_port = forwarding.local_port
    assert targets == [("web-1", 8080), ("web-1", 8080)]
    upgrades = pod.requests_for("GET", "/portforward")
    assert upgrades and upgrades[0].param("ports") == "8080"
    with pytest.raises(OSError):  # the listener is gone after the block
        socket.create_connection(("127.0.0.1", local_port), timeout=1).close()


def test_port_forward_closes_even_when_the_block_fails(pod: FakeKube, fake_cluster: Kube,
                                                       echo_server):
    pod.on_port_forward(lambda call: echo_server)

    def forwarding_threads() -> list[str]:
        return [t.name for t in threading.enumerate()
                if t.name.startswith(("port-forward", "Kubernetes port forward proxy"))]

    open_conn = None
    with pytest.raises(RuntimeError):
        with fake_cluster.port_forward("web-1", "shop", 8080) as forwarding:
            open_conn = socket.create_connection(("127.0.0.1", forwarding.local_port), timeout=5)
            open_conn.sendall(b"x")
            assert open_conn.recv(100) == b"echo:x"
            assert forwarding_threads()
            raise RuntimeError("step failed")  # with the client's connection still open
    try:
        deadline = time.monotonic() + 3
        while forwarding_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert forwarding_threads() == []
        assert open_conn.recv(100) == b""  # the forward closed our side too
    finally:
        open_conn.close()


def test_port_forward_to_a_missing_pod(pod: FakeKube, fake_cluster: Kube):
    with pytest.raises(NotFound, match="port-forward to pod/shop/web-9 failed"):
        with fake_cluster.port_forward("web-9", "shop", 8080):
            pass


def test_other_threads_keep_working_while_an_exec_connects(pod: FakeKube, fake_cluster: Kube):
    """kubernetes.stream swaps call_api on the client it is given while it connects; requests
    from other threads during that window must still be ordinary requests."""
    connecting, release = threading.Event(), threading.Event()

    def slow_upgrade(request):
        if request.path.endswith("/exec"):
            connecting.set()
            release.wait(5)
        return None

    pod.on_request(slow_upgrade)
    pod.on_exec(lambda call: ExecReply(stdout="done"))
    results: list = []
    worker = threading.Thread(target=lambda: results.append(
        fake_cluster.exec("web-1", "shop", ["true"], timeout=10)))
    worker.start()
    try:
        assert connecting.wait(5)
        assert fake_cluster.get("Pod", "web-1", namespace="shop")["metadata"]["name"] == "web-1"
        assert fake_cluster.list("Namespace")
    finally:
        release.set()
        worker.join(10)
    assert results and results[0].stdout == "done"
