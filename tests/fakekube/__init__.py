"""A fake Kubernetes API server for archconform's own tests (real HTTP, state in memory).

    from tests.fakekube import FakeKube, ExecReply, objects, statuses

    with FakeKube() as fake:
        kube = Kube(fake.kubeconfig_path, "fake", timeouts)   # the official client, unpatched
        fake.put(objects.node("node-a"))
        fake.on_exec(lambda call: ExecReply(stdout="ok\\n", rc=0))

As a pytest fixture: ``from tests.fakekube.fixtures import fake_kube  # noqa: F401``.
"""

from . import objects, statuses
from .server import (EvictionCall, ExecCall, ExecError, ExecReply, FakeKube, LogCall,
                     PortForwardCall, RecordedRequest, Reject)

__all__ = ["FakeKube", "ExecReply", "ExecCall", "ExecError", "EvictionCall", "LogCall",
           "PortForwardCall",
           "RecordedRequest", "Reject", "objects", "statuses"]
