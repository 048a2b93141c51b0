"""Graceful SIGTERM: requests in flight are answered, the process exits 0 within its bound."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.workload.helpers import http

#: How long a SIGTERMed workload with nothing in flight may take to exit.
EXIT_BOUND_S = 3.0


def _in_background(url: str) -> tuple[threading.Thread, list]:
    replies: list = []

    def call() -> None:
        try:
            replies.append(http(url, timeout=20))
        except Exception as exc:  # noqa: BLE001 - the assertion reports it
            replies.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, replies


def _wait_inflight(workload, count: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = http(workload.url("/metrics")).text
        if f"workload_inflight_requests {count + 1}" in text:  # the scrape itself is in flight
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {count} request(s) in flight")


def test_sigterm_stops_an_idle_workload_quickly(workload):
    started = time.monotonic()
    workload.terminate()
    assert workload.wait(EXIT_BOUND_S) == 0
    assert time.monotonic() - started < EXIT_BOUND_S
    log = workload.log_text()
    assert "received SIGTERM, draining" in log and "stopped (all requests answered)" in log


def test_sigterm_drains_a_request_in_flight_and_refuses_new_connections(workload):
    thread, replies = _in_background(workload.url("/sleep?ms=1500"))
    _wait_inflight(workload, 1)
    signalled = time.monotonic()
    workload.terminate()
    time.sleep(0.8)  # listeners closed, the sleeping request still going
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", workload.port), timeout=2).close()
    assert workload.wait(5) == 0
    thread.join(5)
    assert replies and not isinstance(replies[0], Exception), replies
    assert replies[0].status == 200 and replies[0].json() == {"slept_ms": 1500}
    assert replies[0].headers.get("connection") == "close"
    assert time.monotonic() - signalled < 1.5 + EXIT_BOUND_S


def test_sigterm_gives_up_on_requests_longer_than_the_drain_budget(start_workload):
    target = start_workload(env={"WORKLOAD_DRAIN_SECONDS": "1"})
    _in_background(target.url("/sleep?ms=8000"))
    _wait_inflight(target, 1)
    signalled = time.monotonic()
    target.terminate()
    assert target.wait(5) == 0
    assert time.monotonic() - signalled < 1 + EXIT_BOUND_S
    assert "1 request(s) still in flight after 1s" in target.log_text()


def test_shutdown_delay_keeps_serving_with_readiness_failing(start_workload):
    target = start_workload(env={"WORKLOAD_SHUTDOWN_DELAY_SECONDS": "1.5"})
    target.terminate()
    time.sleep(0.3)
    ready = http(target.url("/ready"))
    assert ready.status == 503 and ready.json()["reason"] == "shutting down"
    assert http(target.url("/health")).status == 200
    assert target.wait(1.5 + EXIT_BOUND_S) == 0


def test_sigint_stops_it_too(workload):
    import signal

    workload.process.send_signal(signal.SIGINT)
    assert workload.wait(EXIT_BOUND_S) == 0
    assert "received SIGINT" in workload.log_text()
