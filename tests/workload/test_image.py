"""The image, as far as it can be checked without a Docker engine: the Dockerfile's promises
(pinned slim base, uid 1000, no writes at run time, exec-form CMD) and a run of the server under
the same restrictions a pod's securityContext imposes (read-only root, uid/gid 1000, no
capabilities, no_new_privs), imitated with unshare and setpriv where this machine allows it."""

from __future__ import annotations

import ast
import json
import re
import sys

import pytest

from archconform.load.local import WORKLOAD_DIR
from tests.workload import sandbox
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


def test_serves_under_a_pod_like_security_context(start_workload):
    reason = sandbox.skip_reason()
    if reason:
        pytest.skip(reason)
    target = start_workload(command_prefix=sandbox.prefix(), ports="0,0/udp", python=sandbox.python_for_uid_1000())
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
