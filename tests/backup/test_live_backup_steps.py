"""The backup phrases of docs/steps.md § Live vocabulary (steps/live_backup.py).

- Each documented example parses with exactly one registered step, into the right parameters.
- The CronJob-less phrase finds the system's backup CronJob in the database's namespace, and
  says which CronJobs are there when it finds none or several (ITDO ERP has none).
- End to end: a real pytest process with the archconform plugin runs Finch's backup scenarios
  with ``--cluster existing --context fake --allow-destructive``: ``Given the system is
  deployed`` applies Finch's manifests to the fake API server, the experiment runs through the
  official client against a real PostgreSQL (tests/backup/test_cluster_engine_http.ClusterSide
  plays the cluster), the Then steps judge it; the chart, its data and the summary are attached
  and the verdicts recorded with measured and promised figures in the sign-off.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml
from pytest_bdd.steps import step_function_context_registry

from archconform.errors import ManifestError
from archconform.manifests import Manifests, render
from tests.fakekube import FakeKube, objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)

from .conftest import cronjob
from .test_cluster_engine_http import PVC_PROTECTION, ClusterSide

ROOT = Path(__file__).resolve().parents[2]
STEPS_DOC = ROOT / "docs" / "steps.md"

import steps.live_backup as live_backup  # noqa: E402  (registers the steps)

TEMPLATES = {
    ("when", 'the backup experiment runs against the {kind} "{ref}" with the CronJob "{cronjob}"'),
    ("when", 'the backup experiment runs against the {kind} "{ref}"'),
    ("then", "every row written before the last backup is restored"),
    ("then", "the data lost in the restore is at most {duration}"),
    ("then", "the restore completes within {duration}"),
}


def _documented_examples() -> dict[tuple[str, str], str]:
    """(type, template) -> the example line of that phrase in docs/steps.md § Live vocabulary."""
    text = STEPS_DOC.read_text()
    live = text[text.index("## Live vocabulary"):]
    live = live[: live.index("\n## ", 1)] if "\n## " in live[1:] else live
    out = {}
    for chunk in live.split("\n### ")[1:]:
        head = re.match(r"(When|Then|Given) `(.+)`\n", chunk)
        example = re.search(r"```gherkin\n(?:When|Then|Given|And) (.+)\n```", chunk)
        if head and example:
            out[(head.group(1).lower(), head.group(2))] = example.group(1)
    return out


def _registered():
    return [c for c in step_function_context_registry.values() if c.step_func.__module__ == live_backup.__name__]


def test_the_module_registers_exactly_the_documented_backup_phrases():
    registered = {(c.type, c.parser.template) for c in _registered()}
    assert registered == TEMPLATES
    documented = _documented_examples()
    assert TEMPLATES <= set(documented), "a backup phrase is missing from docs/steps.md § Live vocabulary"


@pytest.mark.parametrize("step_type,template", sorted(TEMPLATES))
def test_each_documented_example_parses_with_exactly_its_step(step_type, template):
    example = _documented_examples()[(step_type, template)]
    hits = [c for c in _registered() if c.type == step_type and c.parser.is_matching(example)]
    assert [h.parser.template for h in hits] == [template]


def test_the_parameters_come_out_as_written():
    by_template = {c.parser.template: c.parser for c in _registered()}
    with_cronjob = by_template['the backup experiment runs against the {kind} "{ref}" with the CronJob "{cronjob}"']
    text = ('the backup experiment runs against the Deployment "finch-production/postgres" '
            'with the CronJob "finch-production/postgres-backup"')
    assert with_cronjob.parse_arguments(text) == {"kind": "Deployment", "ref": "finch-production/postgres",
                                                  "cronjob": "finch-production/postgres-backup"}
    # The shorter phrase does not swallow the longer one (a quoted parameter never spans a quote).
    alone = by_template['the backup experiment runs against the {kind} "{ref}"']
    assert not alone.is_matching(text)
    assert alone.parse_arguments('the backup experiment runs against the StatefulSet "itdo-erp-prod/postgres-cluster"') \
        == {"kind": "StatefulSet", "ref": "itdo-erp-prod/postgres-cluster"}
    assert not alone.is_matching('the backup experiment runs against the statefulset "a/b"')
    assert by_template["the data lost in the restore is at most {duration}"].parse_arguments(
        "the data lost in the restore is at most 1h30m") == {"duration": "1h30m"}
    assert not by_template["the restore completes within {duration}"].is_matching("the restore completes within 4 hours")


def test_the_backup_cronjob_of_a_namespace_is_the_one_that_runs_pg_dump():
    assert live_backup.the_backup_cronjob(render("csa_hello", "base"), "StatefulSet", "storage-system/postgres") \
        == "storage-system/postgres-backup"
    assert live_backup.the_backup_cronjob(render("finch", "base"), "Deployment", "finch-staging/postgres") \
        == "finch-staging/postgres-backup"
    # ITDO ERP deploys no backup: its database's namespace has no CronJob at all.
    with pytest.raises(ManifestError) as info:
        live_backup.the_backup_cronjob(render("itdo_erp", "base"), "StatefulSet", "itdo-erp-prod/postgres-cluster")
    assert str(info.value) == ('the backup experiment against the StatefulSet "itdo-erp-prod/postgres-cluster" needs '
                               "the system's backup: no CronJob in namespace itdo-erp-prod runs pg_dump (CronJobs "
                               "there: none), so there is no backup to restore from")
    # A CronJob that dumps nothing does not count; two that dump are one too many.
    report = cronjob("python report.py", name="nightly-report")
    other = cronjob("pg_dumpall > /backup/all.sql", name="all-databases")
    assert live_backup.the_backup_cronjob(Manifests([cronjob(), report]), "StatefulSet", "production/postgres") \
        == "production/postgres-backup"
    with pytest.raises(ManifestError, match=r"found 2 backup CronJobs in namespace production "
                                            r"\(postgres-backup, all-databases\); name one"):
        live_backup.the_backup_cronjob(Manifests([cronjob(), report, other]), "StatefulSet", "production/postgres")
    with pytest.raises(ManifestError, match=r"CronJobs there: nightly-report\)"):
        live_backup.the_backup_cronjob(Manifests([report]), "StatefulSet", "production/postgres")


# -- end to end: the plugin, the steps, Finch's manifests, the fake API server ----------------------

FEATURE = textwrap.dedent("""\
    Feature: Finch backups, run by the backup steps
      Background:
        Given the system "finch"

      @live @observed @destructive @serial
      Scenario: Restore within the RTO
        Source: Kubernetes Architecture Documentation (Finch) § Disaster Recovery › RTO/RPO Targets
        Given the system is deployed
        When the backup experiment runs against the Deployment "finch-production/postgres" with the CronJob "finch-production/postgres-backup"
        Then the restore completes within 30m
        And every row written before the last backup is restored

      @live @observed @destructive @serial
      Scenario: Data loss within the RPO
        Source: Kubernetes Architecture Documentation (Finch) § Disaster Recovery › RTO/RPO Targets
        Given the system is deployed
        When the backup experiment runs against the Deployment "finch-production/postgres"
        Then the data lost in the restore is at most 1h
    """)

CONFTEST = textwrap.dedent('''\
    """The experiment at loopback pace: a row every 50 ms, 0.4 s either side of the backup."""
    import archconform.backup.cluster as cluster
    import archconform.kube.waiting as waiting

    cluster.WRITER_INTERVAL, cluster.BEFORE_BACKUP, cluster.AFTER_BACKUP = 0.05, 0.4, 0.4
    cluster.POLL_INTERVAL = waiting.POLL_INTERVAL = 0.05

    pytest_plugins = ["steps.common", "steps.live_common", "steps.live_backup"]
    ''')

TEST_MODULE = 'from pytest_bdd import scenarios\n\nscenarios("features/backup.feature")\n'


def _api_server_semantics(fake: FakeKube, secrets: list[str]) -> None:
    """What a real API server does on create that the fake does not: a Secret's stringData
    becomes base64 data; the PVC-protection admission puts its finalizer on every claim.
    Generated secret values are collected in ``secrets``."""
    def secret(obj: dict) -> dict:
        secrets.extend(v for v in (obj.get("stringData") or {}).values() if len(v) >= 8)
        data = dict(obj.get("data") or {})
        data.update({k: base64.b64encode(v.encode()).decode() for k, v in (obj.pop("stringData", None) or {}).items()})
        obj["data"] = data
        return obj

    def claim(obj: dict) -> dict:
        obj["metadata"].setdefault("finalizers", []).append(PVC_PROTECTION)
        return obj

    fake.on_create("Secret", secret)
    fake.on_create("PersistentVolumeClaim", claim)


def _workloads_ready(fake: FakeKube, stop: threading.Event) -> threading.Thread:
    """The Deployment/StatefulSet controllers' status: every workload reports its replicas ready."""
    def run() -> None:
        while not stop.wait(0.05):
            for kind in ("Deployment", "StatefulSet"):
                for obj in fake.list(kind):
                    md, replicas = obj["metadata"], obj.get("spec", {}).get("replicas", 1)
                    status = obj.get("status") or {}
                    if status.get("readyReplicas") == replicas and status.get("observedGeneration") == md.get("generation"):
                        continue
                    fake.patch_status(kind, md["name"], namespace=md["namespace"], status={
                        "observedGeneration": md.get("generation", 1), "replicas": replicas,
                        "readyReplicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas,
                        "currentReplicas": replicas, "currentRevision": "r1", "updateRevision": "r1"})

    thread = threading.Thread(target=run, daemon=True, name="workloads ready")
    thread.start()
    return thread


def test_finchs_backup_scenarios_run_end_to_end_through_the_plugin(fake_kube, pg, tmp_path):  # noqa: F811
    project = tmp_path / "project"
    (project / "features").mkdir(parents=True)
    (project / "features" / "backup.feature").write_text(FEATURE)
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_backup.py").write_text(TEST_MODULE)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake_kube.kubeconfig(context="fake")))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_", "PG", "ARCHCONFORM_"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(kubeconfig), ARCHCONFORM_ROOT=str(ROOT),
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    reports = tmp_path / "reports"

    fake_kube.put(objects.node("node-a"))          # the plugin waits for Ready nodes before any scenario
    generated: list[str] = []
    _api_server_semantics(fake_kube, generated)
    stop = threading.Event()
    ready = _workloads_ready(fake_kube, stop)
    try:
        with ClusterSide(fake_kube, pg, tmp_path / "volumes", namespace="finch-production", kind="Deployment",
                         name="postgres") as side:
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:locust",
                 "--rootdir", str(project), str(project), "--cluster", "existing", "--context", "fake",
                 "--allow-destructive", "--reports-dir", str(reports)],
                capture_output=True, text=True, env=env, cwd=project, timeout=90)
    finally:
        stop.set()
        ready.join(5)
    output = proc.stdout + proc.stderr

    # The RTO scenario passes; the RPO one fails on the daily schedule, not on the measurement.
    assert "1 failed, 1 passed" in output, output
    assert re.search(r"PASSED test_backup.py::test_restore_within_the_rto", output), output
    failure = output[output.index("test_data_loss_within_the_rpo"):]
    assert "the backup schedule can lose up to 24h0m0s (its worst case 24h0m0s plus the measured backup time" in failure, output
    assert "more than the promised RPO 1h0m0s" in failure

    # It really ran against the fake: Finch deployed, two backup Jobs from Finch's CronJob, two
    # disasters on the postgres pod and its claim, the claim re-created, everything cleaned up.
    jobs = [j["metadata"]["name"] for j in side.jobs_run]
    assert len(jobs) == 2 and all(j.startswith("postgres-backup-archconform-") for j in jobs)
    assert all(j["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual" for j in side.jobs_run)
    assert [line for line in side.timeline if line.startswith("job/")] == [f"job/{j} exit 0" for j in jobs]
    pvcs = "/api/v1/namespaces/finch-production/persistentvolumeclaims/postgres-data"
    # deployed, destroyed and re-created twice, removed with the system at the end of the run
    assert [r.method for r in fake_kube.requests if r.path == pvcs and r.method != "GET"] == \
        ["PATCH", "DELETE", "PATCH", "DELETE", "PATCH", "DELETE"]
    assert len(side.forwards) == 2 and side.forwards[0] != side.forwards[1]     # a new pod after the first disaster

    # Evidence: the summary, the chart and its data attached to each scenario; verdicts with the
    # measured and promised figures in the sign-off.
    results = reports / "allure-results"
    attachments = {p.suffix for p in results.glob("*-attachment.*")}
    assert {".png", ".csv", ".txt"} <= attachments, sorted(p.name for p in results.iterdir())
    pngs = list(results.glob("*-attachment.png"))
    assert len(pngs) == 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    csv_text = next(results.glob("*-attachment.csv")).read_text()
    assert csv_text.startswith("kind,t_seconds,seq,written_at,restored") and "backup_started" in csv_text
    text = json.dumps(json.loads((reports / "signoff.json").read_text()))
    cells = {row["info"]["promise"]: row["cells"]["observed"] for row in json.loads(text)["rows"]}
    rto, rpo = cells["Restore within the RTO"], cells["Data loss within the RPO"]
    assert rto["verdict"] == "passed" and rto["promised"] == "RTO 30m; every row written before the last backup"
    assert re.fullmatch(r"restore [\d.]+s of 30m RTO; (\d+) of \1 rows written before the backup restored",
                        rto["measured"]), rto
    assert rpo["verdict"] == "failed" and rpo["promised"] == "RPO 1h"
    assert re.fullmatch(r"lost \d+ rows \([\d.]+s\) of 1h RPO, schedule worst case 24h0m0s", rpo["measured"]), rpo
    assert [e["name"] for e in rto["evidence"]] == ["backup experiment on Deployment finch-production/postgres",
                                                    "backup timeline", "backup timeline data"]
    # No generated password reached the report or the output.
    assert generated
    for path in [*results.iterdir(), reports / "signoff.json", reports / "signoff.md"]:
        if path.suffix != ".png":
            content = path.read_text(errors="replace")
            assert not [v for v in generated if v in content], path
    assert not [v for v in generated if v in output]
