"""The live steps of these areas (security, RBAC, ingress, probes) run through pytest-bdd and the
archconform plugin in a real pytest process, against the fake API server as a cluster someone
else owns (``--cluster existing``): fixtures (``kube``, ``cluster``, ``sut``, ``workload_image``),
tables and the skip for a promise the cluster cannot show are wired as a live run needs them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from archconform.manifests import render
from tests.fakekube import objects, statuses
from tests.fakekube.fixtures import fake_kube  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "someone-elses-cluster"

FEATURE = textwrap.dedent("""\
    @security
    Feature: Live steps of the security, RBAC, ingress and probe areas

      Background:
        Given the system "tbyte"

      @live @observed @normal
      Scenario: The application namespace refuses a privileged pod
        Then the namespace "tbyte" rejects a privileged pod under the "restricted" Pod Security Standard

      @live @observed @normal
      Scenario: The application service account gets exactly its Role
        Then the API server grants the ServiceAccount "tbyte/tbyte-app" exactly these permissions in namespace "tbyte":
          | resource   | verbs            |
          | pods       | get, list, watch |
          | services   | get, list, watch |
          | configmaps | get, list, watch |
        And the API server does not grant the ServiceAccount "tbyte/tbyte-app" cluster-admin

      @live @observed @normal
      Scenario: A cluster without an ingress implementation cannot show routing
        Then requests for host "tbyte.local" path "/" reach the Service "tbyte/frontend" through the ingress

      @live @observed @normal
      Scenario: The API server grants more than the Role
        Then the API server forbids the ServiceAccount "tbyte/debugger" to "get" "secrets" in namespace "tbyte"
    """)

CONFTEST = textwrap.dedent(f"""\
    import sys
    sys.path.insert(0, {str(ROOT)!r})
    from pathlib import Path
    pytest_plugins = sorted(f"steps.{{p.stem}}" for p in Path({str(ROOT / "steps")!r}).glob("*.py")
                            if not p.name.startswith("_"))
    """)

TEST_MODULE = 'from pytest_bdd import scenarios\n\nscenarios("tbyte/live.feature")\n'

APP = "system:serviceaccount:tbyte:tbyte-app"


def _authorizer(sar):
    spec = sar["spec"]
    attrs = spec["resourceAttributes"]
    ok = (spec.get("user") == APP and attrs.get("namespace") == "tbyte" and attrs.get("group") == ""
          and attrs["resource"] in ("pods", "services", "configmaps") and not attrs.get("subresource")
          and attrs["verb"] in ("get", "list", "watch")) \
        or (spec.get("user") == "system:serviceaccount:tbyte:debugger" and attrs["resource"] == "secrets")
    sar["status"] = {"allowed": ok, "reason": "RBAC: allowed by RoleBinding" if ok else ""}
    return sar


def test_the_live_steps_run_through_the_plugin_against_a_cluster(fake_kube, tmp_path):  # noqa: F811
    fake_kube.put(objects.node("node-a"))
    ingress = next(o for o in render("tbyte", "kind") if o["kind"] == "Ingress")
    fake_kube.put(ingress)                          # deployed, but no IngressClass on this cluster
    fake_kube.put({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "tbyte", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    fake_kube.on_create("Pod", lambda pod: statuses.pod_security_violation(
        pod, level="restricted", violations='privileged (container "probe" must not set securityContext.privileged=true)'))
    fake_kube.on_create("SubjectAccessReview", _authorizer)
    (tmp_path / "features" / "tbyte").mkdir(parents=True)
    (tmp_path / "features" / "tbyte" / "live.feature").write_text(FEATURE)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_live.py").write_text(TEST_MODULE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nbdd_features_base_dir = features/\naddopts = -p no:locust\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake_kube.kubeconfig(context=CONTEXT)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(kubeconfig), ARCHCONFORM_ROOT=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), str(tmp_path / "test_live.py"), "--cluster", "existing", "--context", CONTEXT],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    output = proc.stdout + proc.stderr
    assert "2 passed" in output and "1 failed" in output and "1 skipped" in output, output
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and "cannot be observed on this cluster: this cluster has no ingress implementation: " \
                                  "no IngressClass exists" in skipped[0], output
    assert ("promised ServiceAccount tbyte/debugger may not get secrets in namespace tbyte; the API server says: "
            "ServiceAccount tbyte/debugger get secrets in namespace tbyte: allowed (RBAC: allowed by RoleBinding); "
            "the model says denied") in output
    assert fake_kube.requests_for("POST", "/namespaces/tbyte/pods")[0].param("dryRun") == "All"
    assert len(fake_kube.requests_for("POST", "/subjectaccessreviews")) == 7 * 8 + 1 + 1
