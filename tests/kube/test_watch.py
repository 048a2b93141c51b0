"""Watch: events in order, scripted timelines, reconnects, 410 relists, stop, bounds.

Why the fake: streams dropped, versions expired (410) and reconnects refused (429, 503) at a chosen
moment, which a real server cannot be made to do; real watches are in test_real_apiserver.py.
"""

from __future__ import annotations

import threading
import time

from archconform.kube import Kube
from tests.fakekube import FakeKube, objects


def after_initial(watch, count: int, script) -> list:
    """Iterate ``watch``; once the first ``count`` events (the initial list) have arrived, start
    the scripted timeline, so that a slow machine cannot move the script before the watch."""
    events = []
    for event in watch:
        events.append(event)
        if len(events) == count:
            script()
    return events


def summary(events) -> list[tuple[str, str, str | None]]:
    return [(t, o["metadata"]["name"], (o.get("status") or {}).get("phase")) for t, o in events]


def test_events_in_order_including_a_scripted_timeline(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.namespace("shop"))
    fake_kube.put(objects.pod("web-1", "shop", labels={"app": "web"}, phase="Pending"))

    def timeline() -> None:
        fake_kube.schedule(0.1, fake_kube.put, objects.pod("web-2", "shop", labels={"app": "web"},
                                                           phase="Pending"))
        fake_kube.schedule(0.2, fake_kube.patch_status, "Pod", "web-1", namespace="shop",
                           status={"phase": "Running"})
        fake_kube.schedule(0.3, fake_kube.put, objects.pod("other", "shop", labels={"app": "db"}))
        fake_kube.schedule(0.4, fake_kube.delete, "Pod", "web-2", namespace="shop")

    events = []
    with fake_cluster.watch("Pod", namespace="shop", label_selector="app=web", timeout=5) as w:
        for event in w:
            events.append(event)
            if len(events) == 1:
                timeline()
            if event[0] == "DELETED":
                break
    assert summary(events) == [("ADDED", "web-1", "Pending"), ("ADDED", "web-2", "Pending"),
                               ("MODIFIED", "web-1", "Running"), ("DELETED", "web-2", "Pending")]
    assert all(o["kind"] == "Pod" for _, o in events)
    versions = [int(o["metadata"]["resourceVersion"]) for _, o in events[1:]]
    assert versions == sorted(versions)


def test_from_a_resource_version_skips_the_initial_list(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.config_map("a"))
    version = fake_kube.get("ConfigMap", "a")["metadata"]["resourceVersion"]
    fake_kube.put(objects.config_map("b"))
    with fake_cluster.watch("ConfigMap", namespace="default", resource_version=version,
                            timeout=1) as w:
        assert summary(w) == [("ADDED", "b", None)]


def test_label_changes_appear_as_added_and_deleted(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.config_map("cfg", labels={"role": "blue"}))

    def timeline() -> None:
        fake_kube.schedule(0.1, fake_kube.update, "ConfigMap", "cfg",
                           patch={"metadata": {"labels": {"role": "green"}}})
        fake_kube.schedule(0.2, fake_kube.update, "ConfigMap", "cfg",
                           patch={"metadata": {"labels": {"role": "blue"}}})

    with fake_cluster.watch("ConfigMap", namespace="default", label_selector="role=blue",
                            timeout=1.5) as w:
        assert [t for t, _ in after_initial(w, 1, timeline)] == ["ADDED", "DELETED", "ADDED"]


def test_reconnects_when_the_stream_ends(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.config_map("a"))

    def timeline() -> None:
        fake_kube.schedule(0.2, fake_kube.close_watches)
        fake_kube.schedule(0.5, fake_kube.put, objects.config_map("b"))

    w = fake_cluster.watch("ConfigMap", namespace="default", timeout=1.5)
    seen = summary(after_initial(w, 1, timeline))
    assert seen == [("ADDED", "a", None), ("ADDED", "b", None)]
    assert w.reconnects >= 1
    watches = [r for r in fake_kube.requests_for("GET", "/configmaps") if r.param("watch")]
    assert len(watches) >= 2
    # the second stream resumed from the version the first one had reached
    assert watches[1].param("resourceVersion") == \
        fake_kube.get("ConfigMap", "a")["metadata"]["resourceVersion"]


def test_expired_version_relists_and_reports_the_difference(fake_kube: FakeKube,
                                                            fake_cluster: Kube):
    fake_kube.put(objects.config_map("keep", data={"v": "1"}))
    fake_kube.put(objects.config_map("change", data={"v": "1"}))
    fake_kube.put(objects.config_map("drop"))

    def gap() -> None:  # changes the client never sees as events, then history is gone
        fake_kube.close_watches()
        fake_kube.update("ConfigMap", "change", patch={"data": {"v": "2"}})
        fake_kube.delete("ConfigMap", "drop")
        fake_kube.put(objects.config_map("new"))
        fake_kube.compact()

    w = fake_cluster.watch("ConfigMap", namespace="default", timeout=1.5)
    events = after_initial(w, 3, lambda: fake_kube.schedule(0.2, gap))
    initial, after = events[:3], events[3:]
    assert [t for t, _ in initial] == ["ADDED"] * 3
    assert sorted((t, o["metadata"]["name"]) for t, o in after) == [
        ("ADDED", "new"), ("DELETED", "drop"), ("MODIFIED", "change")]
    changed = next(o for t, o in after if t == "MODIFIED")
    assert changed["data"] == {"v": "2"}
    assert w.relists == 1


def test_stop_from_another_thread_ends_a_blocked_watch(fake_kube: FakeKube, fake_cluster: Kube):
    w = fake_cluster.watch("Pod", namespace="default", timeout=30)
    threading.Timer(0.3, w.stop).start()
    started = time.monotonic()
    assert list(w) == []
    assert time.monotonic() - started < 3


def test_timeout_bounds_a_quiet_watch(fake_kube: FakeKube, fake_cluster: Kube):
    started = time.monotonic()
    assert list(fake_cluster.watch("Service", namespace="default", timeout=0.8)) == []
    assert 0.5 < time.monotonic() - started < 3


# The next two cases need an API server that refuses a reconnect (429 from API Priority and
# Fairness, 503 while it restarts) at a chosen moment: a real server cannot be made to do that on
# demand, so they run on the fake, which answers the scripted Status instead.

def _refuse_next_watch(fake_kube: FakeKube, answer: dict, times: int = 1) -> list:
    refused: list = []

    def hook(req):
        if req.method == "GET" and req.param("watch") and len(refused) < times and \
                [r for r in fake_kube.requests_for("GET", "/configmaps") if r.param("watch")][:-1]:
            refused.append(req)
            return answer
        return None

    fake_kube.on_request(hook)
    return refused


def test_a_throttled_or_unavailable_reconnect_is_retried(fake_kube: FakeKube, fake_cluster: Kube):
    from tests.fakekube import statuses

    for answer in (statuses.too_many_requests(), statuses.status(503, "ServiceUnavailable", "the server is restarting")):
        fake_kube.put(objects.config_map("a"))
        refused = _refuse_next_watch(fake_kube, answer)

        def timeline() -> None:
            fake_kube.schedule(0.2, fake_kube.close_watches)
            fake_kube.schedule(1.5, fake_kube.put, objects.config_map("b"))

        w = fake_cluster.watch("ConfigMap", namespace="default", timeout=3)
        seen = summary(after_initial(w, 1, timeline))
        assert len(refused) == 1, answer
        assert seen == [("ADDED", "a", None), ("ADDED", "b", None)], answer
        fake_kube.delete("ConfigMap", "a")
        fake_kube.delete("ConfigMap", "b")
        fake_kube._request_hooks.clear()


def test_a_reconnect_refused_every_time_ends_the_watch_with_the_error(fake_kube: FakeKube, fake_cluster: Kube):
    import pytest

    from archconform.kube import APIServerError
    from tests.fakekube import statuses

    fake_kube.put(objects.config_map("a"))
    _refuse_next_watch(fake_kube, statuses.status(503, "ServiceUnavailable", "the server is restarting"), times=10)
    w = fake_cluster.watch("ConfigMap", namespace="default", timeout=10)
    started = time.monotonic()
    with pytest.raises(APIServerError, match="503"):
        after_initial(w, 1, lambda: fake_kube.schedule(0.2, fake_kube.close_watches))
    assert time.monotonic() - started < 8
