"""The probe subcommands (connect, resolve, http) and start-up errors, run as `python -m
archconform_workload ...` exactly as `kubectl exec` runs them in a pod; 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest

from archconform.load.local import WORKLOAD_DIR

#: Bound on one subcommand run (they bound themselves with --timeout; this catches a hang).
RUN_BOUND_S = 20.0


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("WORKLOAD_")}
    child_env["PYTHONPATH"] = str(WORKLOAD_DIR)
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "archconform_workload", *args],
                          capture_output=True, text=True, timeout=RUN_BOUND_S, env=child_env)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_backlog_listener(stack: ExitStack) -> int:
    """A listening socket whose accept queue is full: Linux drops further SYNs, so a connect
    neither succeeds nor is refused; it times out (what a NetworkPolicy drop looks like)."""
    listener = stack.enter_context(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    for _ in range(16):
        client = stack.enter_context(socket.socket())
        client.settimeout(0.3)
        try:
            client.connect(("127.0.0.1", port))
        except (TimeoutError, socket.timeout):
            return port
    pytest.skip("could not fill a listen backlog on this kernel")


def test_connect_reports_connected_against_the_server(workload):
    result = run("connect", "--host", "127.0.0.1", "--port", str(workload.port))
    assert (result.stdout, result.returncode) == ("connected\n", 0)


def test_connect_reports_refused_against_a_closed_port():
    result = run("connect", "--host", "127.0.0.1", "--port", str(free_port()))
    assert (result.stdout, result.returncode) == ("refused\n", 1)


def test_connect_reports_timeout_when_syns_are_dropped():
    with ExitStack() as stack:
        port = full_backlog_listener(stack)
        started = time.monotonic()
        result = run("connect", "--host", "127.0.0.1", "--port", str(port), "--timeout", "1")
        elapsed = time.monotonic() - started
    assert (result.stdout, result.returncode) == ("timeout\n", 2)
    assert elapsed < 1 + 5  # the timeout, plus interpreter start-up


def test_connect_reports_an_error_for_an_impossible_port():
    result = run("connect", "--host", "127.0.0.1", "--port", "70000")
    assert result.stdout.startswith("error: ") and result.returncode == 3


def test_connect_udp_connected_refused_and_timeout(start_workload):
    target = start_workload(ports="0,0/udp")
    echo = run("connect", "--host", "127.0.0.1", "--port", str(target.udp_ports[0]),
               "--protocol", "udp")
    assert (echo.stdout, echo.returncode) == ("connected\n", 0)
    closed = run("connect", "--host", "127.0.0.1", "--port", str(free_port(socket.SOCK_DGRAM)),
                 "--protocol", "udp", "--timeout", "2")
    assert (closed.stdout, closed.returncode) == ("refused\n", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        quiet = run("connect", "--host", "127.0.0.1", "--port", str(silent.getsockname()[1]),
                    "--protocol", "udp", "--timeout", "1")
        elapsed = time.monotonic() - started
        received = silent.recv(512)
    assert (quiet.stdout, quiet.returncode) == ("timeout\n", 2)
    assert elapsed < 1 + 5
    assert received[2:4] == b"\x01\x00"  # the probe sent a DNS query (RD flag set)


def test_http_prints_the_status_code_and_optionally_the_body(workload):
    ok = run("http", "GET", workload.url("/health"))
    assert (ok.stdout, ok.returncode) == ("200\n", 0)
    run("http", "POST", workload.url("/toggle/ready?fail=1"))
    failing = run("http", "GET", workload.url("/ready"), "--body")
    status, body = failing.stdout.split("\n", 1)
    assert status == "503" and failing.returncode == 0
    assert json.loads(body)["reason"] == "toggled"
    with_headers = run("http", "GET", workload.url("/"), "--headers")
    assert "Content-Type: application/json" in with_headers.stdout


def test_http_reports_refused_and_bad_urls():
    refused = run("http", "GET", f"http://127.0.0.1:{free_port()}/")
    assert (refused.stdout, refused.returncode) == ("refused\n", 1)
    bad = run("http", "GET", "ftp://127.0.0.1/")
    assert bad.stdout.startswith("error: not an http(s) URL") and bad.returncode == 3


def test_resolve_times_each_lookup_and_summarises():
    result = run("resolve", "localhost", "--count", "3")
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0
    assert [line.split()[:3] for line in lines[:3]] == [["lookup", str(i), "ok"] for i in (1, 2, 3)]
    assert all(line.split()[3].endswith("ms") for line in lines[:3])
    assert lines[3].startswith("summary name=localhost count=3 ok=3 failed=0 ")
    as_json = json.loads(run("resolve", "localhost", "--count", "2", "--json").stdout)
    assert as_json["summary"]["ok"] == 2 and len(as_json["lookups"]) == 2
    assert all(lookup["ms"] >= 0 and lookup["addresses"] for lookup in as_json["lookups"])
    assert as_json["summary"]["max_ms"] >= as_json["summary"]["p95_ms"] >= as_json["summary"]["min_ms"]


def test_resolve_reports_a_failed_lookup_within_its_timeout():
    started = time.monotonic()
    result = run("resolve", "no-such-host.invalid", "--timeout", "2", "--family", "4")
    assert time.monotonic() - started < 2 + 5
    assert result.returncode == 1
    assert "lookup 1 fail" in result.stdout and "failed=1" in result.stdout


@pytest.mark.parametrize(("env", "message"), [
    ({"WORKLOAD_PORTS": "http"}, "WORKLOAD_PORTS: 'http' is not a port number"),
    ({"WORKLOAD_PORTS": "8080/sctp"}, "protocol must be tcp or udp"),
    ({"WORKLOAD_RATE_LIMIT": "lots"}, "WORKLOAD_RATE_LIMIT: 'lots' is not like 100/min"),
    ({"WORKLOAD_STARTUP_SECONDS": "soon"}, "WORKLOAD_STARTUP_SECONDS: 'soon' is not a number"),
])
def test_bad_configuration_is_one_line_and_exit_code_2(env, message):
    result = run("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr


def test_a_port_in_use_is_a_clear_start_up_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run("serve", env={"WORKLOAD_PORTS": str(port), "WORKLOAD_BIND": "127.0.0.1"})
    assert result.returncode != 0
    assert f"cannot listen on {port}/tcp at 127.0.0.1" in result.stderr
