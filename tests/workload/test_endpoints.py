"""Every endpoint of the workload, over real HTTP against the server as a local process."""

from __future__ import annotations

import http.client as http_client
import os
import socket
import time

import pytest

from tests.workload import promtext
from tests.workload.helpers import http

PROBE_PATHS = ["/health", "/healthz", "/ping", "/ready", "/startup"]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _metrics(workload) -> dict[str, promtext.Family]:
    reply = http(workload.url("/metrics"))
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return promtext.parse(reply.text)


def test_root_reports_name_pod_and_version(workload):
    reply = http(workload.url("/"))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["name"] == "messenger"
    assert body["version"] == "1.2.3"
    assert body["pod"] == "messenger-7d4b9c-xk2lp"
    assert body["port"] == workload.port


def test_every_probe_path_answers_on_every_tcp_port(start_workload):
    target = start_workload(ports="0,0")
    assert len(target.tcp_ports) == 2 and target.tcp_ports[0] != target.tcp_ports[1]
    for port in target.tcp_ports:
        for path in PROBE_PATHS:
            reply = http(target.url(path, port=port))
            assert reply.status == 200, (port, path, reply.body)
            assert reply.json()["status"] == "ok"


def test_liveness_toggle_fails_every_liveness_path_and_recovers(workload):
    assert http(workload.url("/toggle/live?fail=1")).json() == {"probe": "liveness",
                                                                "failing": True}
    for path in ("/health", "/healthz", "/ping"):
        reply = http(workload.url(path))
        assert reply.status == 503, path
        assert reply.json()["reason"] == "toggled"
    assert http(workload.url("/ready")).status == 200  # readiness is a separate switch
    http(workload.url("/toggle/live?fail=0"))
    for path in ("/health", "/healthz", "/ping"):
        assert http(workload.url(path)).status == 200, path


def test_readiness_toggle_fails_ready_only_and_recovers(workload):
    http(workload.url("/toggle/ready?fail=1"))
    reply = http(workload.url("/ready"))
    assert reply.status == 503
    assert reply.json()["reason"] == "toggled"
    assert http(workload.url("/health")).status == 200
    http(workload.url("/toggle/ready?fail=0"))
    assert http(workload.url("/ready")).status == 200


def test_toggles_are_shared_by_every_port_and_accept_post(start_workload):
    target = start_workload(ports="0,0")
    first, second = target.tcp_ports
    assert http(target.url("/toggle/ready?fail=1", port=first), method="POST").status == 200
    assert http(target.url("/ready", port=second)).status == 503
    assert http(target.url("/toggle/ready?fail=0", port=second)).status == 200
    assert http(target.url("/ready", port=first)).status == 200


def test_toggle_rejects_a_value_that_is_not_1_or_0(workload):
    reply = http(workload.url("/toggle/live?fail=maybe"))
    assert reply.status == 400
    assert http(workload.url("/health")).status == 200


def test_startup_and_readiness_fail_until_startup_seconds_have_passed(start_workload):
    target = start_workload(env={"WORKLOAD_STARTUP_SECONDS": "1.5"})
    started = time.monotonic()
    reply = http(target.url("/startup"))
    assert reply.status == 503 and 0 < reply.json()["seconds_left"] <= 1.5
    assert http(target.url("/ready")).json()["reason"] == "starting"
    assert http(target.url("/health")).status == 200  # alive while starting
    time.sleep(max(0.0, 1.6 - (time.monotonic() - started)))
    assert http(target.url("/startup")).status == 200
    assert http(target.url("/ready")).status == 200


def test_burn_uses_the_requested_cpu_time(workload):
    before = _cpu_seconds(workload.pid)
    reply = http(workload.url("/burn?ms=600"))
    after = _cpu_seconds(workload.pid)
    assert reply.status == 200
    body = reply.json()
    assert body["completed"] is True and body["cpu_ms"] >= 600
    assert after - before >= 0.5, f"the process used {after - before:.2f}s of CPU for a 600 ms burn"


@pytest.mark.parametrize("query", ["ms=2001", "ms=-1", "ms=lots"])
def test_burn_rejects_values_outside_its_bound(workload, query):
    reply = http(workload.url(f"/burn?{query}"))
    assert reply.status == 400
    assert "ms" in reply.json()["error"]


def test_burn_bound_follows_the_environment(start_workload):
    target = start_workload(env={"WORKLOAD_BURN_MAX_MS": "50"})
    assert http(target.url("/burn?ms=50")).status == 200
    assert http(target.url("/burn?ms=51")).status == 400


def test_metrics_are_prometheus_text_and_counters_increase(workload):
    first = _metrics(workload)
    assert first["workload_http_requests_total"].type == "counter"
    assert first["workload_burn_seconds_total"].type == "counter"
    assert first["process_uptime_seconds"].type == "gauge"
    for _ in range(3):
        http(workload.url("/health"))
    http(workload.url("/burn?ms=200"))
    http(workload.url("/status/500"))
    http(workload.url("/no/such/path"))
    second = _metrics(workload)
    requests = second["workload_http_requests_total"]
    assert requests.value(path="/health", code="200") == 3
    assert requests.value(path="/burn", code="200") == 1
    assert requests.value(path="/status", code="500") == 1
    assert requests.value(path="other", code="404") == 1
    # the first scrape is counted once it has been answered
    assert requests.value(path="/metrics", code="200") == 1
    burned = (second["workload_burn_seconds_total"].value()
              - first["workload_burn_seconds_total"].value())
    assert burned >= 0.2
    assert (second["process_uptime_seconds"].value()
            > first["process_uptime_seconds"].value())
    assert second["process_cpu_seconds_total"].value() >= burned
    assert second["workload_info"].value(name="messenger", version="1.2.3") == 1


def test_metrics_parse_with_prometheus_client(workload):
    parser = pytest.importorskip("prometheus_client.parser")
    http(workload.url("/health"))
    families = {f.name: f for f in parser.text_string_to_metric_families(
        http(workload.url("/metrics")).text)}
    assert families["workload_http_requests"].type == "counter"


def test_alloc_holds_resident_memory_for_the_given_time(workload):
    before = _rss_bytes(workload.pid)
    reply = http(workload.url("/alloc?mb=64&seconds=1"))
    assert reply.status == 200 and reply.json()["mb"] == 64
    assert _rss_bytes(workload.pid) - before >= 60 * 2**20
    assert _metrics(workload)["workload_held_bytes"].value() == 64 * 2**20
    time.sleep(1.5)
    assert _metrics(workload)["workload_held_bytes"].value() == 0


def test_alloc_refuses_more_than_its_budget(start_workload):
    target = start_workload(env={"WORKLOAD_ALLOC_MAX_MB": "10"})
    assert http(target.url("/alloc?mb=8&seconds=5")).status == 200
    over = http(target.url("/alloc?mb=8&seconds=5"))
    assert over.status == 503 and "WORKLOAD_ALLOC_MAX_MB=10" in over.json()["error"]
    assert http(target.url("/alloc?mb=11")).status == 400
    assert http(target.url("/alloc")).status == 400  # mb is required


def test_status_path_sleep_head_and_unknown_paths(workload):
    assert http(workload.url("/status/500")).status == 500
    assert http(workload.url("/status/42")).status == 400
    assert http(workload.url("/nothing-here")).status == 404
    head = http(workload.url("/health"), method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0
    started = time.monotonic()
    assert http(workload.url("/sleep?ms=300")).json() == {"slept_ms": 300}
    assert time.monotonic() - started >= 0.3


def test_whoami_reports_this_process_identity(workload):
    body = http(workload.url("/whoami")).json()
    assert body["uid"] == os.getuid() and body["gid"] == os.getgid()
    assert body["groups"] == sorted(os.getgroups())
    assert body["hostname"] == socket.gethostname()
    assert body["pid"] == workload.pid
    caps = body["capabilities"]
    assert set(caps) >= {"effective", "bounding", "permitted"}
    with open("/proc/self/status", encoding="ascii") as handle:
        bounding = next(line.split()[1] for line in handle if line.startswith("CapBnd:"))
    assert caps["bounding"]["hex"] == bounding  # inherited from this test process
    root = body["root_filesystem"]
    assert root["path"] == "/"
    assert root["read_only"] is (root["error"] == "EROFS")
    if os.getuid() == 0 and not root["read_only"]:
        assert root["writable"] is True
    assert not any(name.startswith(".archconform-write-probe") for name in os.listdir("/"))
    assert body["tmp_writable"] is True


def test_config_env_returns_plain_values_and_redacts_secrets(start_workload):
    target = start_workload(env={
        "FEATURE_COLOR": "blue", "DB_PASSWORD": "hunter2", "API_TOKEN": "tok-123",
        "DATABASE_URL": "postgres://app:s3cret@db:5432/app",
    })
    plain = http(target.url("/config?env=FEATURE_COLOR")).json()
    assert plain == {"env": "FEATURE_COLOR", "set": True, "value": "blue", "redacted": False}
    for name, secret in (("DB_PASSWORD", "hunter2"), ("API_TOKEN", "tok-123")):
        reply = http(target.url(f"/config?env={name}"))
        assert reply.status == 200 and secret not in reply.text
        assert reply.json()["redacted"] is True and reply.json()["length"] == len(secret)
    url = http(target.url("/config?env=DATABASE_URL")).json()
    assert url["value"] == "postgres://app:***@db:5432/app" and url["redacted"] is True
    missing = http(target.url("/config?env=NOT_SET_ANYWHERE"))
    assert missing.status == 404 and missing.json()["set"] is False
    assert http(target.url("/config")).status == 400
    log = target.log_text()
    assert "hunter2" not in log and "s3cret" not in log and "tok-123" not in log


def test_config_file_reads_mounted_values_and_redacts_secret_paths(workload, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "color").write_text("blue\n")
    secrets = tmp_path / "secret"
    secrets.mkdir()
    (secrets / "password").write_text("hunter2")
    reply = http(workload.url(f"/config?file={config / 'color'}"))
    assert reply.status == 200 and reply.json()["value"] == "blue\n"
    listing = http(workload.url(f"/config?file={config}")).json()
    assert listing["directory"] is True and listing["entries"] == ["color"]
    hidden = http(workload.url(f"/config?file={secrets / 'password'}"))
    assert hidden.status == 200 and "hunter2" not in hidden.text
    assert hidden.json()["redacted"] is True and hidden.json()["length"] == 7
    assert http(workload.url(f"/config?file={tmp_path / 'absent'}")).status == 404
    assert http(workload.url("/config?file=/proc/self/environ")).status == 403
    assert http(workload.url("/config?file=relative/path")).status == 400


def test_access_log_has_requests_without_secret_query_values(workload):
    http(workload.url("/?token=abc123&page=2"))
    http(workload.url("/?next=postgres%3A%2F%2Fu%3Apw0rd%40db"))
    log = workload.log_text()
    assert '"GET /?token=***&page=2" 200' in log
    assert "abc123" not in log and "pw0rd" not in log


def test_rate_limit_answers_429_beyond_the_limit_per_client_ip(start_workload):
    target = start_workload(env={"WORKLOAD_RATE_LIMIT": "5/min"})
    codes = [http(target.url("/")).status for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3
    limited = http(target.url("/"))
    assert limited.status == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-limit"] == "5/min"
    # another client IP has its own budget
    assert http(target.url("/"), source="127.0.0.2").status == 200
    # probes and scrapes are never limited
    assert all(http(target.url(p)).status == 200 for p in PROBE_PATHS + ["/metrics"])
    metrics = _metrics(target)
    assert metrics["workload_rate_limited_total"].value() == 4
    assert metrics["workload_http_requests_total"].value(path="/", code="429") == 4


def test_rate_limit_window_slides(start_workload):
    target = start_workload(env={"WORKLOAD_RATE_LIMIT": "3/s"})
    assert [http(target.url("/")).status for _ in range(4)] == [200, 200, 200, 429]
    time.sleep(1.1)
    assert http(target.url("/")).status == 200


def test_rate_limit_can_trust_x_forwarded_for(start_workload):
    target = start_workload(env={"WORKLOAD_RATE_LIMIT": "1/min",
                                 "WORKLOAD_TRUST_FORWARDED": "1"})
    def from_client(ip: str) -> int:
        conn = http_client.HTTPConnection("127.0.0.1", target.port, timeout=10)
        try:
            conn.request("GET", "/", headers={"X-Forwarded-For": f"{ip}, 10.0.0.1"})
            return conn.getresponse().status
        finally:
            conn.close()

    assert [from_client("203.0.113.7"), from_client("203.0.113.7")] == [200, 429]
    assert from_client("203.0.113.8") == 200


def test_udp_ports_echo_datagrams(start_workload):
    target = start_workload(ports="0,0/udp")
    assert len(target.udp_ports) == 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"ping-42", ("127.0.0.1", target.udp_ports[0]))
        data, _ = sock.recvfrom(100)
    assert data == b"ping-42"
    assert _metrics(target)["workload_udp_datagrams_total"].value() == 1


def test_keep_alive_connection_serves_several_requests_including_a_post_body(workload):
    conn = http_client.HTTPConnection("127.0.0.1", workload.port, timeout=10)
    try:
        conn.request("POST", "/toggle/ready?fail=1", body=b"x" * 1000)
        assert conn.getresponse().read() and conn.sock is not None
        sock = conn.sock
        conn.request("GET", "/ready")
        response = conn.getresponse()
        assert response.status == 503 and response.read()
        assert conn.sock is sock  # the same connection answered both
    finally:
        conn.close()
