"""Configuration from the environment (the container's only input besides its arguments).

Every variable is optional; a malformed one is a one-line ``ConfigError`` at start-up, never a
half-configured server.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import Mapping


class ConfigError(ValueError):
    """A WORKLOAD_* variable has a value the server cannot use."""


@dataclass(frozen=True)
class PortSpec:
    port: int
    protocol: str  # "tcp" (HTTP) or "udp" (echo)

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests per ``period`` seconds per client IP (a sliding window)."""

    limit: int
    period: float
    text: str

    def __str__(self) -> str:
        return self.text


_PERIODS = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hour": 3600.0,
}


def parse_ports(text: str | None) -> list[PortSpec]:
    """``"8080,9090,53/udp"`` -> HTTP on 8080 and 9090, UDP echo on 53. Port 0 picks a free port."""
    text = (text or "").strip() or "8080"
    specs: list[PortSpec] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        number, _, protocol = item.partition("/")
        protocol = (protocol or "tcp").strip().lower()
        if protocol not in ("tcp", "udp"):
            raise ConfigError(f"WORKLOAD_PORTS: {item!r}: protocol must be tcp or udp")
        try:
            port = int(number)
        except ValueError:
            raise ConfigError(f"WORKLOAD_PORTS: {item!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"WORKLOAD_PORTS: {item!r} is out of range 0-65535")
        spec = PortSpec(port, protocol)
        if port and spec in specs:
            raise ConfigError(f"WORKLOAD_PORTS: {item!r} is listed twice")
        specs.append(spec)
    if not specs:
        raise ConfigError("WORKLOAD_PORTS lists no port")
    return specs


def parse_rate_limit(text: str | None) -> RateLimit | None:
    """``"100/min"`` (also ``100/m``, ``100r/m``, ``10/s``, ``1000/hour``); empty or ``0`` is off."""
    text = (text or "").strip()
    if not text or text in ("0", "off", "none"):
        return None
    match = re.fullmatch(r"(\d+)\s*r?\s*/\s*([a-z]+)", text.lower())
    if not match or match.group(2) not in _PERIODS:
        raise ConfigError(f"WORKLOAD_RATE_LIMIT: {text!r} is not like 100/min, 10/s or 1000/hour")
    limit = int(match.group(1))
    if limit <= 0:
        return None
    return RateLimit(limit=limit, period=_PERIODS[match.group(2)], text=text)


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}: {raw!r} must be at least {minimum:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not 1/0/true/false")


@dataclass(frozen=True)
class Config:
    ports: list[PortSpec] = field(default_factory=lambda: [PortSpec(8080, "tcp")])
    bind: str = "0.0.0.0"
    name: str = "workload"
    version: str = "unknown"
    pod: str = ""
    namespace: str = ""
    node: str = ""
    startup_seconds: float = 0.0
    rate_limit: RateLimit | None = None
    trust_forwarded: bool = False
    access_log: bool = True
    drain_seconds: float = 5.0
    shutdown_delay_seconds: float = 0.0
    burn_max_ms: int = 2000
    sleep_max_ms: int = 10000
    alloc_max_mb: int = 256
    alloc_max_seconds: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Config":
        """Read every WORKLOAD_* variable (and the downward-API POD_* ones) from ``env``."""
        env = os.environ if env is None else env
        return cls(
            ports=parse_ports(env.get("WORKLOAD_PORTS")),
            bind=env.get("WORKLOAD_BIND", "").strip() or "0.0.0.0",
            name=env.get("WORKLOAD_NAME", "").strip() or "workload",
            version=env.get("WORKLOAD_VERSION", "").strip() or "unknown",
            pod=env.get("POD_NAME", "").strip() or env.get("HOSTNAME", "").strip()
            or socket.gethostname(),
            namespace=env.get("POD_NAMESPACE", "").strip(),
            node=env.get("NODE_NAME", "").strip(),
            startup_seconds=_number(env, "WORKLOAD_STARTUP_SECONDS", 0.0),
            rate_limit=parse_rate_limit(env.get("WORKLOAD_RATE_LIMIT")),
            trust_forwarded=_flag(env, "WORKLOAD_TRUST_FORWARDED", False),
            access_log=_flag(env, "WORKLOAD_ACCESS_LOG", True),
            drain_seconds=_number(env, "WORKLOAD_DRAIN_SECONDS", 5.0),
            shutdown_delay_seconds=_number(env, "WORKLOAD_SHUTDOWN_DELAY_SECONDS", 0.0),
            burn_max_ms=int(_number(env, "WORKLOAD_BURN_MAX_MS", 2000, minimum=1)),
            alloc_max_mb=int(_number(env, "WORKLOAD_ALLOC_MAX_MB", 256, minimum=1)),
            alloc_max_seconds=_number(env, "WORKLOAD_ALLOC_MAX_SECONDS", 600.0, minimum=1),
        )
