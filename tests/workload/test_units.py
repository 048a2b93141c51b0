"""The workload's pure parts: configuration parsing, the rate limiter, redaction, decoding."""

from __future__ import annotations

import pytest

from archconform_workload import introspect, probes
from archconform_workload.config import (Config, ConfigError, PortSpec, parse_ports,
                                         parse_rate_limit)
from archconform_workload.state import RateLimiter


def test_ports_list_tcp_and_udp():
    assert parse_ports("8080,9090,53/udp") == [PortSpec(8080, "tcp"), PortSpec(9090, "tcp"),
                                               PortSpec(53, "udp")]
    assert parse_ports("") == [PortSpec(8080, "tcp")]
    assert parse_ports(" 8443/TCP ") == [PortSpec(8443, "tcp")]


@pytest.mark.parametrize("text", ["80,80", "99999", "x", "53/icmp", ","])
def test_bad_port_lists_are_rejected(text):
    with pytest.raises(ConfigError, match="WORKLOAD_PORTS"):
        parse_ports(text)


@pytest.mark.parametrize(("text", "limit", "period"), [
    ("100/min", 100, 60.0), ("100r/m", 100, 60.0), ("10/s", 10, 1.0),
    ("1000/hour", 1000, 3600.0), ("5 / second", 5, 1.0),
])
def test_rate_limits_parse(text, limit, period):
    rule = parse_rate_limit(text)
    assert (rule.limit, rule.period) == (limit, period)


@pytest.mark.parametrize("text", ["", "0", "off", None])
def test_rate_limit_off(text):
    assert parse_rate_limit(text) is None


def test_config_from_env_defaults_and_overrides():
    default = Config.from_env({"HOSTNAME": "pod-1"})
    assert default.ports == [PortSpec(8080, "tcp")] and default.bind == "0.0.0.0"
    assert default.pod == "pod-1" and default.rate_limit is None and default.access_log
    custom = Config.from_env({"WORKLOAD_NAME": "auth", "POD_NAME": "auth-0",
                              "WORKLOAD_ACCESS_LOG": "0", "WORKLOAD_DRAIN_SECONDS": "2"})
    assert (custom.name, custom.pod, custom.access_log, custom.drain_seconds) == (
        "auth", "auth-0", False, 2.0)
    with pytest.raises(ConfigError, match="WORKLOAD_ACCESS_LOG"):
        Config.from_env({"WORKLOAD_ACCESS_LOG": "sometimes"})
    with pytest.raises(ConfigError, match="at least"):
        Config.from_env({"WORKLOAD_DRAIN_SECONDS": "-1"})


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limiter_sliding_window_per_client():
    clock = FakeClock()
    limiter = RateLimiter(parse_rate_limit("3/min"), clock=clock)
    assert [limiter.check("a")[0] for _ in range(4)] == [True, True, True, False]
    allowed, remaining, retry = limiter.check("a")
    assert (allowed, remaining, retry) == (False, 0, 60.0)
    assert limiter.check("b")[0] is True  # its own budget
    clock.now += 30
    assert limiter.check("a")[0] is False
    clock.now += 30.001  # the first three leave the window together
    assert [limiter.check("a")[0] for _ in range(4)] == [True, True, True, False]


def test_rate_limiter_does_not_count_refused_requests():
    clock = FakeClock()
    limiter = RateLimiter(parse_rate_limit("2/s"), clock=clock)
    limiter.check("a"), limiter.check("a")
    for _ in range(50):
        clock.now += 0.01
        assert limiter.check("a")[0] is False
    clock.now = 1001.0001
    assert limiter.check("a")[0] is True


@pytest.mark.parametrize(("name", "secret"), [
    ("DB_PASSWORD", True), ("POSTGRES_PASSWD", True), ("API_TOKEN", True), ("JWT_SECRET", True),
    ("AWS_ACCESS_KEY_ID", True), ("STRIPE_API_KEY", True), ("KEY", True), ("SIGNING_KEY2", True),
    ("FEATURE_COLOR", False), ("LOG_LEVEL", False), ("KEYCLOAK_REALM", False), ("PWD", False),
    ("MONKEY_MODE", False),
])
def test_secret_looking_names(name, secret):
    assert introspect.is_secret_name(name) is secret


def test_url_credentials_are_masked():
    assert (introspect.mask_url_credentials("redis://default:p4ss@cache:6379/0 and "
                                            "https://x.example/path")
            == "redis://default:***@cache:6379/0 and https://x.example/path")
    assert introspect.redact_query("token=abc&page=2&dsn=postgres%3A%2F%2Fu%3Apw%40db") == (
        "token=***&page=2&dsn=***")
    assert introspect.env_value("X", {"X": "plain"})["value"] == "plain"


def test_capability_names_decode_proc_masks():
    assert introspect.capability_names(0) == []
    assert introspect.capability_names(1 << 10 | 1 << 13) == ["NET_BIND_SERVICE", "NET_RAW"]
    # docker's default bounding set
    assert introspect.capability_names(0x00000000a80425fb) == [
        "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"]
    assert introspect.capability_names(1 << 45) == ["CAP_45"]


def test_dns_probe_payload_is_a_well_formed_query():
    payload = probes.dns_query_payload("archconform.probe.")
    assert payload[2:4] == b"\x01\x00" and payload[4:6] == b"\x00\x01"  # RD, one question
    assert payload[12:] == b"\x0barchconform\x05probe\x00\x00\x01\x00\x01"


def test_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]
    assert probes.percentile(values, 95) == 95.0
    assert probes.percentile(values, 50) == 50.0
    assert probes.percentile([7.0], 99) == 7.0
