"""Sample steps, and the tag handling the lead's archconform/plugin.py provides in the real suite.

Each step ends in the way a real one can: passing, a broken promise (PromiseBroken), a known gap
(strict xfail from GAPS.yaml), a platform gap (PlatformGap), a framework error (any other
exception), a skip for a live cluster. The planted secret comes from $ARCHCONFORM_TEST_SECRET.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml
from pytest_bdd import given, parsers, then

from archconform.errors import PlatformGap, PromiseBroken
from archconform.report import (attach_csv, attach_html, attach_json, attach_png, attach_text,
                                record_verdict, register_secret, set_environment)

LIVE_REASON = "needs a live cluster (--cluster kind|kwok|k3s|eks|existing)"
log = logging.getLogger("archconform.samples")


def _gaps(feature_file: str) -> dict[str, str]:
    path = Path(feature_file).parent / "GAPS.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else {}


def pytest_bdd_apply_tag(tag, function):
    """What the lead's plugin does: @live skips offline, @gap:<id> is no marker (the xfail comes
    from @known_gap in pytest_collection_modifyitems, where the feature file is known)."""
    if tag == "live":
        pytest.mark.live(function)
        return pytest.mark.skip(reason=LIVE_REASON)(function)
    if tag.startswith("gap:"):
        return function
    return None


def pytest_collection_modifyitems(items):
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    for item in items:
        template = scenario_wrapper_template_registry.get(item.obj)
        if template is None or "known_gap" not in template.tags:
            continue
        gap = next(t.split(":", 1)[1] for t in template.tags if t.startswith("gap:"))
        reason = _gaps(template.feature.filename)[gap]
        item.add_marker(pytest.mark.xfail(strict=True, reason=f"known gap: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _cluster_facts():
    set_environment(cluster_kind="none", cni="n/a (offline run)")


# --- steps -----------------------------------------------------------------------------------

@given("the HPA of messenger-service", target_fixture="hpa")
def _():
    hpa = {"kind": "HorizontalPodAutoscaler", "spec": {"minReplicas": 3, "maxReplicas": 20}}
    attach_json("hpa messenger-service", hpa)
    return hpa


@then("it allows 3 to 20 replicas")
def _(hpa):
    spec = hpa["spec"]
    record_verdict("declared", "passed", measured=f"minReplicas {spec['minReplicas']}, maxReplicas {spec['maxReplicas']}",
                   promised="3 to 20 replicas")
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 20)


@then("the quota admits 20 pods")
def _(hpa):
    record_verdict("modeled", "known gap", measured="10 pods admitted", promised="20 replicas")
    raise PromiseBroken("the messenger-system quota admits 10 pods of 2 CPU (limits.cpu 20), not 20")


@given(parsers.parse("the PodDisruptionBudget of {service}"), target_fixture="pdb")
def _(service):
    return {"service": service, "minAvailable": 2}


@then("it keeps at least 2 pods")
def _(pdb):
    assert pdb["minAvailable"] >= 2


@given("the reachability matrix to auth-service", target_fixture="matrix")
def _():
    rows = [["from \\ to", "auth-system/auth-service"],
            ["ingress-system/ingress", "."], ["frontend-system/web", "."],
            ["messenger-system/messenger-service", "X"], ["default/any", "X"]]
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    ref = attach_html("reachability matrix (modeled)", f"<table>{cells}</table>")
    attach_csv("reachability matrix (modeled).csv", rows)
    return {"rows": rows, "ref": ref}


@then("only ingress-system and frontend-system reach it")
def _(matrix):
    allowed = [r[0] for r in matrix["rows"][1:] if r[1] == "."]
    record_verdict("modeled", "passed", measured=f"{len(allowed)} sources allowed: {', '.join(allowed)}",
                   promised="ingress-system, frontend-system", evidence=[matrix["ref"]])
    assert allowed == ["ingress-system/ingress", "frontend-system/web"]


@then("the database is not reachable from messenger-system")
def _(matrix):
    secret = os.environ.get("ARCHCONFORM_TEST_SECRET", "sample-secret-value-0000")
    register_secret(secret)
    raise PromiseBroken(
        "messenger-system/messenger-service reaches postgresql://app:" + secret
        + "@postgres.storage-system:5432/app directly (NetworkPolicy allow-all-egress)"
    )


@then("the cluster enforces NetworkPolicy")
def _(matrix):
    raise PlatformGap("the CNI does not enforce NetworkPolicy: default-deny self-check reached a blocked pod")


@given("the backup CronJob", target_fixture="cronjob")
def _():
    return {"schedule": "0 * * * *"}


@then("the worst-case loss is within 1 hour")
def _(cronjob):
    record_verdict("modeled", "passed", measured="worst-case loss 1h0m0s", promised="RPO 1h")
    assert cronjob["schedule"] == "0 * * * *"


@then("the framework breaks")
def _(cronjob):
    raise RuntimeError("sample framework bug: unexpected None from the manifest loader")


@given("a generated database Secret", target_fixture="secret")
def _():
    value = os.environ.get("ARCHCONFORM_TEST_SECRET", "sample-secret-value-0000")
    register_secret(value)  # what the apply path does for every generated value
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "postgres-credentials", "namespace": "storage-system"},
        "stringData": {"password": value},
        "data": {"password-b64": __import__("base64").b64encode(value.encode()).decode()},
    }


@then("the Secret, its connection URL and a log line are attached")
def _(secret):
    value = secret["stringData"]["password"]
    url = f"postgresql://app:{value}@postgres.storage-system:5432/app"
    attach_text("secret manifest (yaml)", yaml.safe_dump(secret))
    attach_json("secret manifest (json)", secret)
    attach_text("connection", f"connecting to {url}")
    attach_csv("connections", [["service", "url"], ["postgres", url]])
    log.warning("connecting to %s with password=%s", url, value)
    logging.getLogger().warning("root logger line: %s", url)
    print(f"stdout line: {url}")
    record_verdict("declared", "passed", measured=f"connects with {url}", promised="no credential in the report")
    attach_png("connection timeline", _chart(title_metadata=url))


def _chart(title_metadata: str | None = None) -> bytes:
    """A small matplotlib PNG; ``title_metadata`` goes into its PNG text chunks (which
    attach_png must drop), never into the pixels."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=60)
    ax.plot([0, 15, 30, 45, 60], [3, 6, 12, 20, 20])
    ax.set_xlabel("seconds")
    ax.set_ylabel("replicas")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Title": title_metadata or "replicas"})
    plt.close(fig)
    return buf.getvalue()
