"""A fake Kubernetes API server for archconform's own tests (real HTTP, state in memory).

    from tests.fakekube import FakeKube, ExecReply, objects, statuses

    with FakeKube() as fake:
        kube = Kube(fake.kubeconfig_path, "fake", timeouts)   # the official client, unpatched
        fake.put(objects.node("node-a"))
        fake.on_exec(lambda call: ExecReply(stdout="ok\\n", rc=0))

As a pytest fixture: ``from tests.fakekube.fixtures import fake_kube  # noqa: F401``.

What it is for now that a real control plane runs in the tests (tests/realkube: Kubernetes
v1.37.2 built from source, KWOK nodes): answers a real server cannot give on demand (injected
500s, 429s and 503s, dropped watches, an expired resourceVersion, slow responses, a Failure
Status sent with 2xx), exec and port-forward streams (KWOK runs no container), and timelines a
test scripts to the millisecond. Where it was compared with the real server and found wrong it
was corrected (a server-side apply the schema refuses: HTTP 500 "failed to create typed patch
object"; the two-PDB eviction refusal: HTTP 500 without reason). Known remaining difference:
its server-side apply is a merge patch (no field ownership: a field dropped from a manifest is
not removed), so apply semantics are tested on the real server
(tests/kube/test_real_apiserver.py).
"""

from . import objects, statuses
from .server import (EvictionCall, ExecCall, ExecError, ExecReply, FakeKube, LogCall,
                     PortForwardCall, RecordedRequest, Reject)

__all__ = ["FakeKube", "ExecReply", "ExecCall", "ExecError", "EvictionCall", "LogCall",
           "PortForwardCall",
           "RecordedRequest", "Reject", "objects", "statuses"]
