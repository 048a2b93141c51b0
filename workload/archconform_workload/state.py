"""Process-wide state shared by every port: toggles, counters, held memory, the rate limiter."""

from __future__ import annotations

import collections
import hashlib
import math
import os
import threading
import time
from dataclasses import dataclass

from archconform_workload import __version__
from archconform_workload.config import Config, RateLimit

#: Paths that get their own label in the request counter; anything else counts as "other" so a
#: scan of random URLs cannot blow up the number of series.
KNOWN_PATHS = (
    "/", "/health", "/healthz", "/ping", "/ready", "/startup", "/metrics", "/burn", "/alloc",
    "/sleep", "/status", "/toggle/live", "/toggle/ready", "/whoami", "/config",
)
#: Paths the rate limiter never counts: kubelet probes and Prometheus scrapes come from the node
#: and the monitoring stack, not from the clients an ingress limit is about.
RATE_LIMIT_EXEMPT = frozenset({"/health", "/healthz", "/ping", "/ready", "/startup", "/metrics"})


class RateLimiter:
    """Sliding-window log per client IP: at most ``limit`` accepted requests in any window of
    ``period`` seconds. Refused requests do not count against the client (as nginx's limit_req
    does not count rejected requests)."""

    def __init__(self, rule: RateLimit, clock=time.monotonic):
        self.rule = rule
        self._clock = clock
        self._log: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()
        self._checks = 0

    def check(self, client: str) -> tuple[bool, int, float]:
        """(allowed, remaining, retry_after_seconds) for one request from ``client``."""
        now = self._clock()
        horizon = now - self.rule.period
        with self._lock:
            log = self._log.setdefault(client, collections.deque())
            while log and log[0] <= horizon:
                log.popleft()
            self._checks += 1
            if self._checks % 1024 == 0:
                self._forget_idle(horizon)
            if len(log) >= self.rule.limit:
                return False, 0, max(0.0, log[0] - horizon)
            log.append(now)
            return True, self.rule.limit - len(log), 0.0

    def _forget_idle(self, horizon: float) -> None:
        for client in [c for c, log in self._log.items() if not log or log[-1] <= horizon]:
            del self._log[client]


@dataclass
class Held:
    size: int
    until: float
    buffer: bytearray


class State:
    """Everything the endpoints read and change. One instance per process."""

    def __init__(self, config: Config):
        self.config = config
        self.version = __version__
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.live_fail = False
        self.ready_fail = False
        self.shutting_down = False
        self.rate_limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        self._lock = threading.Lock()
        self._requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self._burn_seconds = 0.0
        self._rate_limited = 0
        self._udp_datagrams = 0
        self._inflight = 0
        self._idle = threading.Condition(self._lock)
        self._held: dict[int, Held] = {}
        self._next_hold = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def uptime(self) -> float:
        return time.monotonic() - self.started

    def startup_complete(self) -> bool:
        return self.uptime() >= self.config.startup_seconds

    def is_live(self) -> bool:
        return not self.live_fail

    def is_ready(self) -> bool:
        return not self.ready_fail and not self.shutting_down and self.startup_complete()

    def begin_request(self) -> None:
        with self._lock:
            self._inflight += 1

    def end_request(self, path_label: str, code: int) -> None:
        with self._lock:
            self._inflight -= 1
            self._requests[(path_label, str(code))] += 1
            if self._inflight == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if some still are after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True

    @property
    def inflight(self) -> int:
        return self._inflight

    def count_rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def count_udp(self) -> None:
        with self._lock:
            self._udp_datagrams += 1

    # -- load --------------------------------------------------------------------------------
    def burn(self, ms: int) -> dict[str, float]:
        """Burn ``ms`` milliseconds of CPU time on this thread. sha256 over 64 KiB blocks
        releases the GIL, so concurrent burns use several cores as a real service would. A wall
        bound (20x the CPU time, plus a second) stops a burn starved by a CPU limit."""
        block = os.urandom(64 * 1024)
        digest = hashlib.sha256()
        target = ms / 1000.0
        cpu0, wall0 = time.thread_time(), time.monotonic()
        wall_limit = wall0 + target * 20 + 1.0
        while time.thread_time() - cpu0 < target and time.monotonic() < wall_limit:
            digest.update(block)
        cpu = time.thread_time() - cpu0
        wall = time.monotonic() - wall0
        with self._lock:
            self._burn_seconds += cpu
        return {"requested_ms": ms, "cpu_ms": round(cpu * 1000, 3), "wall_ms": round(wall * 1000, 3),
                "completed": cpu >= target}

    def hold(self, mb: int, seconds: float) -> dict[str, object] | None:
        """Allocate and touch ``mb`` MiB for ``seconds``; None when over the process budget."""
        size = mb * 1024 * 1024
        with self._lock:
            if self._held_bytes() + size > self.config.alloc_max_mb * 1024 * 1024:
                return None
            self._next_hold += 1
            key = self._next_hold
            # Reserve before allocating so concurrent requests cannot overshoot the budget.
            self._held[key] = Held(size, time.monotonic() + seconds, bytearray())
        buffer = bytearray(size)
        if size:
            buffer[::4096] = b"\x01" * math.ceil(size / 4096)  # touch every page: resident
        with self._lock:
            self._held[key].buffer = buffer
        timer = threading.Timer(seconds, self._release, args=(key,))
        timer.daemon = True
        timer.start()
        return {"id": key, "mb": mb, "seconds": seconds, "held_mb": self.held_bytes() / 2**20}

    def _release(self, key: int) -> None:
        with self._lock:
            self._held.pop(key, None)

    def _held_bytes(self) -> int:
        return sum(h.size for h in self._held.values())

    def held_bytes(self) -> int:
        with self._lock:
            return self._held_bytes()

    # -- metrics -----------------------------------------------------------------------------
    def render_metrics(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        with self._lock:
            requests = sorted(self._requests.items())
            burn = self._burn_seconds
            limited = self._rate_limited
            inflight = self._inflight
            held = self._held_bytes()
            udp = self._udp_datagrams
        times = os.times()
        cfg = self.config
        lines = [
            "# HELP workload_http_requests_total HTTP requests answered, by path and status code.",
            "# TYPE workload_http_requests_total counter",
        ]
        for (path, code), count in requests:
            lines.append(f'workload_http_requests_total{{path="{path}",code="{code}"}} {count}')
        lines += [
            "# HELP workload_burn_seconds_total CPU seconds burned by /burn.",
            "# TYPE workload_burn_seconds_total counter",
            f"workload_burn_seconds_total {burn:.6f}",
            "# HELP workload_rate_limited_total Requests refused with 429 by WORKLOAD_RATE_LIMIT.",
            "# TYPE workload_rate_limited_total counter",
            f"workload_rate_limited_total {limited}",
            "# HELP workload_udp_datagrams_total UDP datagrams echoed.",
            "# TYPE workload_udp_datagrams_total counter",
            f"workload_udp_datagrams_total {udp}",
            "# HELP workload_inflight_requests HTTP requests being answered now.",
            "# TYPE workload_inflight_requests gauge",
            f"workload_inflight_requests {inflight}",
            "# HELP workload_held_bytes Memory held by /alloc.",
            "# TYPE workload_held_bytes gauge",
            f"workload_held_bytes {held}",
            "# HELP workload_live Whether /health answers 200 (1) or 503 (0).",
            "# TYPE workload_live gauge",
            f"workload_live {int(self.is_live())}",
            "# HELP workload_ready Whether /ready answers 200 (1) or 503 (0).",
            "# TYPE workload_ready gauge",
            f"workload_ready {int(self.is_ready())}",
            "# HELP workload_info Name and version of this workload.",
            "# TYPE workload_info gauge",
            f'workload_info{{name="{_label(cfg.name)}",version="{_label(cfg.version)}"}} 1',
            "# HELP process_uptime_seconds Seconds since the process started.",
            "# TYPE process_uptime_seconds gauge",
            f"process_uptime_seconds {self.uptime():.3f}",
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.started_wall:.3f}",
            "# HELP process_cpu_seconds_total User and system CPU time of the process.",
            "# TYPE process_cpu_seconds_total counter",
            f"process_cpu_seconds_total {times.user + times.system:.6f}",
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
