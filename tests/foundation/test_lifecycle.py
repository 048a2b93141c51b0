"""One cluster per run: created once under a lock, deleted once, kept or reused on request.

The real KindProvider runs against stand-in `kind`/`docker` executables (tests/foundation/fakebin.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archconform.clusters.lifecycle import ClusterSession
from archconform.errors import ClusterError

from . import fakebin


@pytest.fixture
def fake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = fakebin.install(tmp_path / "bin")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return tmp_path / "bin"


def session(tmp_path: Path, **kw) -> ClusterSession:
    (tmp_path / "clusters").mkdir(exist_ok=True)
    return ClusterSession(kind="kind", run_id="t1", workdir=tmp_path / "run", root=tmp_path, **kw)


def kind_calls(bindir: Path, verb: str) -> list[str]:
    return [c for c in fakebin.calls(bindir) if c.startswith(f"kind {verb}")]


def test_created_once_shared_and_deleted_once(tmp_path, fake_env):
    s = session(tmp_path)
    first = s.acquire()
    second = session(tmp_path).acquire()          # another process of the run: reads state.json
    assert first.name == second.name == "archconform-t1"
    assert Path(first.kubeconfig).is_file() and oct(Path(first.kubeconfig).stat().st_mode)[-3:] == "600"
    assert len(kind_calls(fake_env, "create")) == 1
    s.release()
    s.release()                                   # idempotent
    deletes = kind_calls(fake_env, "delete")
    assert deletes == [f"kind delete cluster --name archconform-t1 --kubeconfig {first.kubeconfig}"]
    assert json.loads((tmp_path / "run" / "state.json").read_text())["status"] == "deleted"


def test_keep_cluster_is_not_deleted(tmp_path, fake_env):
    s = session(tmp_path, keep=True)
    s.acquire()
    s.release()
    assert kind_calls(fake_env, "delete") == []
    assert json.loads((tmp_path / "run" / "state.json").read_text())["status"] == "kept"


def test_reused_cluster_is_never_deleted(tmp_path, fake_env):
    s = session(tmp_path, reuse="team-cluster")
    handle = s.acquire()
    s.release()
    assert handle.name == "team-cluster" and not handle.owned
    assert kind_calls(fake_env, "create") == [] and kind_calls(fake_env, "delete") == []
    assert kind_calls(fake_env, "get") == ["kind get kubeconfig --name team-cluster"]


def test_failed_creation_is_remembered_and_still_cleaned_up(tmp_path, fake_env, monkeypatch):
    monkeypatch.setenv("FAKE_KIND_FAIL", "node image pull failed")
    s = session(tmp_path)
    with pytest.raises(ClusterError, match="kind create cluster archconform-t1 failed.*node image pull failed"):
        s.acquire()
    with pytest.raises(ClusterError, match="node image pull failed"):
        session(tmp_path).acquire()               # other workers do not retry a failed create
    assert len(kind_calls(fake_env, "create")) == 1
    s.release()                                   # a half-created kind cluster is still deleted
    assert kind_calls(fake_env, "delete") == ["kind delete cluster --name archconform-t1 --kubeconfig "
                                              f"{tmp_path / 'run' / 'kubeconfig'}"] or \
        kind_calls(fake_env, "delete") == ["kind delete cluster --name archconform-t1"]


def test_bootstrap_failure_deletes_the_created_cluster(tmp_path, fake_env):
    def bootstrap(provider, handle):
        raise ClusterError("metrics-server did not become available")

    s = session(tmp_path, bootstrap=bootstrap)
    with pytest.raises(ClusterError, match="metrics-server"):
        s.acquire()
    s.release()
    assert len(kind_calls(fake_env, "delete")) == 1


def test_slow_create_is_bounded_and_its_children_killed(tmp_path, fake_env, monkeypatch):
    token = f"tok{os.getpid()}"
    monkeypatch.setenv("FAKE_KIND_CREATE_SECONDS", "30")
    monkeypatch.setenv("FAKE_TOKEN", token)
    s = session(tmp_path)
    s.timeouts = s.timeouts.replace(cluster_create=1.0)
    with pytest.raises(ClusterError, match="did not finish within"):
        s.acquire()
    s.release()
    assert len(kind_calls(fake_env, "delete")) == 1
    leftovers = [p for p in Path("/proc").glob("[0-9]*") if token in _cmdline(p)]
    assert leftovers == [], f"processes left behind: {[ _cmdline(p) for p in leftovers]}"


def _cmdline(proc_dir: Path) -> str:
    try:
        return (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
