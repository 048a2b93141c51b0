"""The image, as far as it can be checked without a Docker engine: the Dockerfile's promises
(pinned slim base, uid 1000, no writes at run time, exec-form CMD) and a run of the server under
the same restrictions a pod's securityContext imposes (read-only root, uid/gid 1000, no
capabilities, no_new_privs), imitated with unshare and setpriv where this machine allows it."""

from __future__ import annotations

import ast
import json
from pathlib import Path
import os
import re
import shutil
import subprocess
import sys

import pytest

from archconform.load.local import WORKLOAD_DIR
from tests.workload.helpers import http

DOCKERFILE = WORKLOAD_DIR / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_base_image_is_a_pinned_slim_python():
    froms = [rest for keyword, rest in _instructions() if keyword == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", froms[0]), froms


def test_runs_as_uid_1000_with_an_exec_form_cmd_and_no_healthcheck():
    instructions = _instructions()
    keywords = [keyword for keyword, _ in instructions]
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] == "1000"  # numeric: runAsNonRoot can verify it
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in ("RUN", "COPY"))
    assert "HEALTHCHECK" not in keywords and "ENTRYPOINT" not in keywords
    cmd = json.loads(next(rest for keyword, rest in instructions if keyword == "CMD"))
    assert cmd == ["python", "-m", "archconform_workload", "serve"]
    assert any(keyword == "EXPOSE" and "8080" in rest for keyword, rest in instructions)
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONPATH=/app" in env


def test_copied_sources_exist_and_are_standard_library_only():
    for keyword, rest in _instructions():
        if keyword == "COPY":
            source = rest.split()[0]
            assert (WORKLOAD_DIR / source).exists(), source
    for path in (WORKLOAD_DIR / "archconform_workload").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ("archconform_workload",
                                                                 "__future__"), (path.name, name)


def _can_imitate_a_pod() -> str | None:
    if os.geteuid() != 0:
        return "needs root to unshare a mount namespace"
    for tool in ("unshare", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -o remount,bind,ro / && ! touch /.archconform-ro-check"],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        return "this machine does not allow a private read-only remount of /"
    return None


def pod_like(keep: str) -> list[str]:
    """The sandbox command prefix: readOnlyRootFilesystem + an emptyDir on /tmp, then
    runAsUser/runAsGroup 1000, capabilities drop ALL, allowPrivilegeEscalation false.

    ``keep`` (the workload's source) stays visible when it lives under /tmp (a checkout in /tmp,
    as CI may have): the old /tmp is bound to /mnt before the emptyDir hides it, and that one
    directory is bound back (read-only, like the rest of the root).
    """
    script = "mount -o remount,bind,ro / && "
    if keep.startswith("/tmp/"):
        rel = keep[len("/tmp/"):]
        script = (f"mount --bind /tmp /mnt && mount -t tmpfs -o mode=1777 tmpfs /tmp && "
                  f"mkdir -p '{keep}' && mount --bind -o ro '/mnt/{rel}' '{keep}' && umount -l /mnt && " + script)
    else:
        script += "mount -t tmpfs -o mode=1777 tmpfs /tmp && "
    script += ('exec setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=-all '
               '--bounding-set=-all --no-new-privs "$0" "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]



def _reachable_by_others(path: str) -> bool:
    """Can a non-root uid execute this file (every directory above it searchable by others)?"""
    real = Path(os.path.realpath(path))
    if not real.is_file() or not real.stat().st_mode & 0o001:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in real.parents)


def python_for_uid_1000() -> str | None:
    """An interpreter (>= 3.11; the workload is stdlib-only) that uid 1000 can execute and that the
    sandbox's fresh /tmp does not hide: the current one's real file unless it lives in a private
    home (a pyenv under /root) or under /tmp, else the system's."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        if candidate.startswith("/tmp/") or not _reachable_by_others(candidate):
            continue
        check = subprocess.run([candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
                               capture_output=True, timeout=10)
        if check.returncode == 0:
            return candidate
    return None


def test_serves_under_a_pod_like_security_context(start_workload):
    reason = _can_imitate_a_pod()
    if reason:
        pytest.skip(reason)
    python = python_for_uid_1000()
    if python is None:
        pytest.skip(f"no Python >= 3.11 that uid 1000 may execute ({sys.executable} is in a private directory)")
    target = start_workload(command_prefix=pod_like(str(WORKLOAD_DIR)), ports="0,0/udp", python=python)
    for path in ("/health", "/ready", "/startup", "/", "/metrics", "/burn?ms=20",
                 "/alloc?mb=1&seconds=1"):
        assert http(target.url(path)).status == 200, path
    who = http(target.url("/whoami")).json()
    assert (who["uid"], who["gid"], who["groups"]) == (1000, 1000, [])
    assert who["capabilities"]["effective"]["names"] == []
    assert who["capabilities"]["bounding"]["names"] == []
    assert who["no_new_privs"] is True
    root = who["root_filesystem"]
    assert (root["writable"], root["read_only"], root["error"]) == (False, True, "EROFS")
    assert root["mount_read_only"] is True
    assert who["tmp_writable"] is True
    assert target.stop() == 0
    assert "Read-only file system" not in target.log_text()
