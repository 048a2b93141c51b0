"""bin/docker-engine: start a Docker daemon where none answers, stop only the one we started.

Why fakes: the real path installs Debian's docker.io and starts dockerd as root, which these
tests must not do to the machine; a `docker` and a `dockerd` on PATH that behave like them (the
client answers `docker info` once the daemon runs) exercise the same code. The real daemon is
started by the same function in the kind provider's from-source path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archconform import dockerengine

from . import fakebin

DOCKER = """#!/usr/bin/env bash
if [ "$1" = info ]; then
  if [ -f "$FAKE_DIR/running" ] && kill -0 "$(cat "$FAKE_DIR/running")" 2>/dev/null; then echo '"20.10.24+dfsg1"'; exit 0; fi
  echo "Cannot connect to the Docker daemon" >&2; exit 1
fi
exit 0
"""

DOCKERD = """#!/usr/bin/env bash
[ -n "${FAKE_DOCKERD_FAIL:-}" ] && { echo "failed to start daemon: $FAKE_DOCKERD_FAIL" >&2; exit 1; }
sleep "${FAKE_DOCKERD_DELAY:-0}"
echo $$ > "$FAKE_DIR/running"
echo "API listen on /var/run/docker.sock"
trap 'rm -f "$FAKE_DIR/running"; exit 0' TERM
while true; do sleep 0.1; done
"""


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("docker", DOCKER), ("dockerd", DOCKERD)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    shadow = fakebin.shadow_path(tmp_path / "system", "docker", "dockerd", "apt-get")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{shadow}")
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.setenv("ARCHCONFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(dockerengine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(dockerengine, "PROGRESS_EVERY", 0.5)
    # a real dockerd may run on this machine: its pid file is not the fakes' business
    monkeypatch.setattr(dockerengine, "DOCKERD_PIDFILE", tmp_path / "docker.pid")
    yield tmp_path
    dockerengine.stop(say=lambda m: None)


def test_a_daemon_that_answers_is_used_and_never_stopped(fakes: Path):
    keeper = subprocess.Popen(["bash", "-c", f"echo $$ > {fakes}/running; exec sleep 30"])
    try:
        time.sleep(0.3)
        assert dockerengine.start(say=lambda m: None) == \
            "Docker 20.10.24+dfsg1 answers (not ours; left as it is)"
        assert dockerengine.stop(say=lambda m: None).startswith("no dockerd started by archconform")
        assert keeper.poll() is None
    finally:
        keeper.kill()
        keeper.wait()


def test_no_daemon_starts_one_marks_it_ours_and_stop_ends_it(fakes: Path):
    said: list[str] = []
    os.environ["FAKE_DOCKERD_DELAY"] = "1.2"
    try:
        line = dockerengine.start(say=said.append)
    finally:
        del os.environ["FAKE_DOCKERD_DELAY"]
    assert line.startswith("Docker 20.10.24+dfsg1 answers (started by archconform, pid ")
    assert any(m.startswith("waiting for dockerd to answer") for m in said), said
    record = dockerengine.ours()
    assert record and dockerengine._pid_alive(record["pid"])
    assert "started by archconform" in dockerengine.status()
    assert dockerengine.stop(say=lambda m: None) == f"dockerd (pid {record['pid']}) stopped"
    assert not dockerengine._pid_alive(record["pid"])
    assert dockerengine.ours() is None
    assert dockerengine.status() == "no Docker daemon answers; dockerd installed"


def test_a_dockerd_that_dies_is_one_line_with_its_log(fakes: Path, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKERD_FAIL", "error initializing graphdriver")
    with pytest.raises(dockerengine.EngineError) as err:
        dockerengine.start(say=lambda m: None)
    assert "dockerd exited with code 1 before answering: failed to start daemon: error initializing " \
           "graphdriver" in str(err.value)
    assert dockerengine.ours() is None


def test_a_dockerd_that_never_answers_times_out_and_is_stopped(fakes: Path, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKERD_DELAY", "30")
    with pytest.raises(dockerengine.EngineError) as err:
        dockerengine.start(say=lambda m: None, timeout=1.5)
    assert "dockerd did not answer within 2s (waited for `docker info`)" in str(err.value)
    assert dockerengine.ours() is None


def test_without_dockerd_and_without_root_it_says_what_to_do(fakes: Path, monkeypatch):
    (fakes / "bin" / "dockerd").unlink()
    monkeypatch.setattr(dockerengine.os, "geteuid", lambda: 1000)
    with pytest.raises(dockerengine.EngineError) as err:
        dockerengine.start(say=lambda m: None)
    assert str(err.value) == ("no Docker daemon answers and dockerd is not installed; Docker Engine needs the "
                              "Debian packages docker.io, iptables; installing them needs root and apt-get")


def test_the_command_prints_one_line_and_no_traceback(fakes: Path):
    (fakes / "bin" / "dockerd").unlink()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-m", "archconform.dockerengine", "status"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "no Docker daemon answers; dockerd not installed (docker.io)"


def test_a_dockerd_that_runs_but_does_not_answer_and_is_not_ours_is_left_alone(fakes: Path, monkeypatch):
    keeper = subprocess.Popen(["sleep", "30"])
    try:
        (fakes / "docker.pid").write_text(str(keeper.pid))
        with pytest.raises(dockerengine.EngineError) as err:
            dockerengine.start(say=lambda m: None)
        assert f"a dockerd (pid {keeper.pid}) runs but does not answer" in str(err.value)
        assert keeper.poll() is None
    finally:
        keeper.kill()
        keeper.wait()
