"""Connecting: kubeconfig and context errors, reachability, credentials: one line each, fast.

Why the fake: unreachable servers, wrong contexts and refused credentials are played on demand; a
real API server answering is shown by every test of test_real_apiserver.py.
"""

from __future__ import annotations

import socket
import time

import pytest
import yaml

from archconform.errors import ClusterError, UsageError
from archconform.kube import Kube, Unauthorized, Unreachable
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_TIMEOUTS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kubeconfig(path, server: str, contexts=("alpha", "beta"), current="alpha", token="t"):
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"server": server}}],
           "users": [{"name": "u", "user": {"token": token}}],
           "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts]}
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def test_reachable_server_gives_its_version(fake_kube: FakeKube):
    kube = Kube(fake_kube.kubeconfig_path, "fake", FAST_TIMEOUTS)
    assert kube.check_reachable() == "v1.37.0"
    assert kube.server == fake_kube.url
    assert kube.context == "fake"
    # the official client sent the kubeconfig's bearer token
    assert fake_kube.requests[-1].headers.get("authorization") == "Bearer fake-token"


def test_unknown_context_lists_the_available_ones(tmp_path):
    path = _kubeconfig(tmp_path / "config", "http://127.0.0.1:1")
    with pytest.raises(UsageError) as info:
        Kube(str(path), "gamma", FAST_TIMEOUTS)
    message = str(info.value)
    assert "\n" not in message
    assert "'gamma'" in message and str(path) in message
    assert "available contexts: alpha, beta" in message


def test_missing_kubeconfig_names_the_file(tmp_path):
    missing = tmp_path / "nope" / "config"
    with pytest.raises(UsageError) as info:
        Kube(str(missing), None, FAST_TIMEOUTS)
    assert str(info.value) == f"cannot read kubeconfig {missing}: No such file or directory"


def test_kubeconfig_that_is_a_directory(tmp_path):
    with pytest.raises(UsageError) as info:
        Kube(str(tmp_path), None, FAST_TIMEOUTS)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_kubeconfig_with_broken_yaml(tmp_path):
    path = tmp_path / "config"
    path.write_text("clusters: [\n  - name: a\n bad indent: {")
    with pytest.raises(UsageError, match=r"^kubeconfig .*config is not valid YAML \(line \d+\)$"):
        Kube(str(path), None, FAST_TIMEOUTS)


def test_no_current_context_and_none_given(tmp_path):
    path = _kubeconfig(tmp_path / "config", "http://127.0.0.1:1", current=None)
    with pytest.raises(UsageError, match="has no current-context; pass --context "
                                         r"\(available contexts: alpha, beta\)"):
        Kube(str(path), None, FAST_TIMEOUTS)


def test_kubeconfig_from_the_environment(tmp_path, monkeypatch, fake_kube: FakeKube):
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{fake_kube.kubeconfig_path}")
    kube = Kube(None, None, FAST_TIMEOUTS)
    assert kube.context == "fake"
    assert kube.server_version() == "v1.37.0"


def test_closed_port_is_unreachable_within_seconds(tmp_path):
    port = _free_port()  # nothing listens there any more
    path = _kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}")
    kube = Kube(str(path), "beta", FAST_TIMEOUTS)
    started = time.monotonic()
    with pytest.raises(Unreachable) as info:
        kube.check_reachable()
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert isinstance(info.value, ClusterError)
    assert "\n" not in message
    assert f"http://127.0.0.1:{port}" in message
    assert "connection refused" in message and "'beta'" in message


def test_closed_port_on_an_ordinary_call_is_unreachable_too(tmp_path):
    port = _free_port()
    kube = Kube(str(_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}")), None,
                FAST_TIMEOUTS)
    started = time.monotonic()
    with pytest.raises(Unreachable) as info:
        kube.get("Pod", "web", namespace="shop")
    assert time.monotonic() - started < 5
    assert str(info.value) == (f"get pod/shop/web failed: cannot reach the API server at "
                               f"http://127.0.0.1:{port}: connection refused")
    assert info.value.__cause__ is not None  # the client's exception is chained


def test_wrong_token_is_one_line_unauthorized(tmp_path, fake_kube: FakeKube):
    path = _kubeconfig(tmp_path / "config", fake_kube.url, token="stale")
    kube = Kube(str(path), "alpha", FAST_TIMEOUTS)
    with pytest.raises(Unauthorized) as info:
        kube.check_reachable()
    assert "\n" not in str(info.value)
    assert "401" in str(info.value) and fake_kube.url in str(info.value)


def test_a_server_that_never_answers_times_out_in_the_reachability_budget(tmp_path, monkeypatch):
    import archconform.kube.client as kube_client

    monkeypatch.setattr(kube_client, "REACHABILITY_TIMEOUT", 0.5)
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        timeouts = (FAST_TIMEOUTS.replace(reachability=0.5)
                    if hasattr(FAST_TIMEOUTS, "reachability") else FAST_TIMEOUTS)
        kube = Kube(str(_kubeconfig(tmp_path / "config", server)), None, timeouts)
        started = time.monotonic()
        with pytest.raises(Unreachable, match="timed out"):
            kube.check_reachable()
        assert time.monotonic() - started < 2.5
