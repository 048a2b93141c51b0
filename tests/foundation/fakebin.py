"""Stand-in `kind` and `docker` executables for provider tests.

They are real executables on PATH, so the providers' real subprocess code runs; each call is
appended to calls.log. `kind create cluster` copies $FAKE_KUBECONFIG (if set) to --kubeconfig and
can be slowed down with $FAKE_KIND_CREATE_SECONDS (it sleeps in a child carrying
$FAKE_TOKEN in its command line, so a test can check no such process survives).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

KIND = r'''#!/usr/bin/env bash
echo "kind $*" >> "$FAKE_BIN_DIR/calls.log"
if [ "$1 $2" = "create cluster" ]; then
  kubeconfig=""; name=""
  while [ $# -gt 0 ]; do
    case "$1" in --kubeconfig) kubeconfig="$2"; shift;; --name) name="$2"; shift;; esac; shift
  done
  if [ -n "${FAKE_KIND_CREATE_SECONDS:-}" ]; then
    bash -c "exec -a sleep-$FAKE_TOKEN sleep $FAKE_KIND_CREATE_SECONDS" &
    wait $!
  fi
  if [ -n "${FAKE_KIND_FAIL:-}" ]; then echo "ERROR: failed to create cluster: $FAKE_KIND_FAIL" >&2; exit 1; fi
  if [ -n "${FAKE_KUBECONFIG:-}" ]; then cp "$FAKE_KUBECONFIG" "$kubeconfig"; else echo "apiVersion: v1" > "$kubeconfig"; fi
  echo "$name" >> "$FAKE_BIN_DIR/clusters"
  exit 0
fi
if [ "$1 $2" = "delete cluster" ]; then
  exit 0
fi
if [ "$1 $2" = "get kubeconfig" ]; then
  cat "${FAKE_KUBECONFIG:-/dev/null}"; exit 0
fi
exit 0
'''

DOCKER = r'''#!/usr/bin/env bash
echo "docker $*" >> "$FAKE_BIN_DIR/calls.log"
if [ "$1" = "info" ]; then
  if [ -n "${FAKE_DOCKER_DOWN:-}" ]; then
    echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
    exit 1
  fi
  echo "28.2.2"; exit 0
fi
exit 0
'''


#: Tools a provider looks for: hidden from the PATH the fakes run with, whatever else is there.
HIDDEN = ("kind", "docker", "eksctl")


def install(directory: Path, *, kind: bool = True, docker: bool = True) -> dict[str, str]:
    """Write the fakes into `directory`; return env vars that put them first on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, body, wanted in (("kind", KIND, kind), ("docker", DOCKER, docker)):
        if wanted:
            path = directory / name
            path.write_text(body)
            path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    (directory / "calls.log").touch()
    shadow = shadow_path(directory.parent / f"{directory.name}-system", *HIDDEN)
    return {"FAKE_BIN_DIR": str(directory), "PATH": f"{directory}{os.pathsep}{shadow}"}


def shadow_path(directory: Path, *tools: str) -> str:
    """A PATH of one folder that links every executable on the real PATH except ``tools``.

    Leaving PATH entries out cannot hide a tool that shares its folder with python3 and bash
    (Debian's docker.io puts docker in /usr/bin); a folder of links can. The first of two
    executables with one name wins, as on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            link = directory / name
            if name in tools or os.path.lexists(link):
                continue
            target = os.path.join(entry, name)
            if os.path.isfile(target) and os.access(target, os.X_OK):
                link.symlink_to(target)
    return str(directory)


def path_without(directory: Path, *tools: str) -> str:
    """PATH with ``tools`` hidden (a machine without Go, say): a folder of links in ``directory``."""
    return shadow_path(directory / f"path-without-{'-'.join(tools)}", *tools)


def calls(directory: Path) -> list[str]:
    return (directory / "calls.log").read_text().splitlines()
