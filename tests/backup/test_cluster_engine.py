"""ClusterEngine's whole flow (Job from the CronJob, toolbox, exec, disaster on pod + PVC,
restore, queries) against a stand-in for the Kube facade backed by a real PostgreSQL.

The stand-in (local_cluster.py) runs "pods" as local processes; the real HTTP path through the
official client is exercised later against tests/fakekube."""

from __future__ import annotations

from datetime import timedelta

import pytest

from archconform.backup import EmptyDump, RestoreFailed, run_on_cluster
from archconform.backup.cluster import ClusterEngine, dns_name, rewrite_host

from .conftest import FINCH_SCRIPT, TEST_TIMEOUTS, cronjob
from .local_cluster import NS, LocalCluster, postgres_objects


def make(pg, tmp_path, script=FINCH_SCRIPT, database_url=None):
    volume = tmp_path / "backup-volume"
    volume.mkdir()
    cluster = LocalCluster(pg, postgres_objects(database_url or pg.dsn, cronjob(script)), volume)
    engine = ClusterEngine(cluster, namespace=NS, cronjob="postgres-backup", statefulset="postgres",
                           run_id="run-42", timeouts=TEST_TIMEOUTS)
    return cluster, engine


def test_the_experiment_runs_through_the_facade(pg, tmp_path):
    cluster, _ = make(pg, tmp_path)
    result = run_on_cluster(cluster, namespace=NS, cronjob="postgres-backup", statefulset="postgres",
                            run_id="run-42", promised_rpo=timedelta(hours=1), promised_rto=timedelta(minutes=30),
                            interval=0.05, before_backup=0.4, after_backup=0.4, timeouts=TEST_TIMEOUTS)
    restored = [seq for seq, _ in result.restored]
    newest = restored[-1]
    assert restored == list(range(1, newest + 1))
    assert {s.seq for s in result.lost} == {s.seq for s in result.writes if s.seq > newest} != set()
    assert dict(result.restored) == {s.seq: s.written_at for s in result.writes if s.seq <= newest}
    assert result.verdict.passed, result.verdict.message()

    # The Job is what `kubectl create job --from=cronjob/postgres-backup` creates.
    job_name = "postgres-backup-archconform-run-42-1"
    applied = [c for c in cluster.calls if c[0] == "apply"]
    assert applied[0] == ("apply", "Job", job_name)
    assert applied[1] == ("apply", "Pod", "postgres-backup-archconform-toolbox-run-42")
    assert result.backup.detail == job_name
    # The disaster: PVC first, then the pod; the writer went through a port-forward to the pod.
    deletes = [c for c in cluster.calls if c[0] == "delete"]
    assert deletes[:2] == [("delete", "PersistentVolumeClaim", "data-postgres-0"), ("delete", "Pod", "postgres-0")]
    assert ("port_forward", "Pod", "postgres-0") in cluster.calls
    # Cleanup removed what the engine created: the Job, its pod and the toolbox.
    assert {c[1:] for c in deletes[2:]} == {("Job", job_name), ("Pod", f"{job_name}-x7k2p"),
                                            ("Pod", "postgres-backup-archconform-toolbox-run-42")}
    assert result.backup.facts.format == "plain+gzip" and result.backup.location.startswith(
        "pod/postgres-backup-archconform-toolbox-run-42:")


def test_the_job_is_kubectls_and_the_toolbox_is_the_same_pod_sleeping(pg, tmp_path):
    cluster, engine = make(pg, tmp_path)
    with engine:
        session = engine.connect()
        session.execute("CREATE TABLE archconform_stamps (seq bigint primary key, written_at timestamptz)")
        session.close()
        engine.take_backup("archconform_stamps")
    job, toolbox = cluster.applied[:2]
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["ownerReferences"][0]["uid"] == cluster.objects[("CronJob", "postgres-backup")]["metadata"]["uid"]
    assert job["spec"] == cronjob()["spec"]["jobTemplate"]["spec"]
    c = toolbox["spec"]["containers"][0]
    assert c["command"][0] == "sleep" and "args" not in c
    assert c["env"] == cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert c["volumeMounts"] == [{"name": "backup", "mountPath": "/backup"}]
    assert toolbox["spec"]["volumes"] == cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert toolbox["spec"]["restartPolicy"] == "Never"


def test_an_empty_dump_on_the_cluster_is_reported_and_nothing_is_destroyed(pg, tmp_path):
    # The Secret's URL names a database that does not exist; Finch's pipeline hides the failure.
    bad_url = pg.url("gone")
    cluster, engine = make(pg, tmp_path, database_url=bad_url)
    with engine:
        with pytest.raises(EmptyDump) as info:
            engine.take_backup("archconform_stamps")
    msg = str(info.value)
    assert "job/postgres-backup-archconform-run-42-1 (from cronjob/postgres-backup in production) exited 0" in msg
    assert "it holds no SQL at all" in msg and "pipefail" in msg
    assert pg.password not in msg
    assert not any(c[0] == "delete" and c[1] == "PersistentVolumeClaim" for c in cluster.calls)


def test_a_failed_backup_job_reports_its_exit_code_and_message(pg, tmp_path):
    cluster, engine = make(pg, tmp_path, script="set -o pipefail; " + FINCH_SCRIPT.replace("$DATABASE_URL", "${DATABASE_URL}_x"))
    with engine:
        with pytest.raises(Exception) as info:
            engine.take_backup("archconform_stamps")
    assert type(info.value).__name__ == "BackupFailed"
    assert "failed (exit 1)" in str(info.value) and "does not exist" in str(info.value)


def test_a_restore_whose_database_never_comes_back_fails_with_what_it_waited_for(pg, tmp_path):
    cluster, engine = make(pg, tmp_path)
    with engine:
        session = engine.connect()
        session.execute("CREATE TABLE archconform_stamps (seq bigint primary key, written_at timestamptz)")
        session.execute("INSERT INTO archconform_stamps VALUES (1, now())")
        session.close()
        record = engine.take_backup("archconform_stamps")
        engine.disaster()
        pg.stop()                                  # the new pod never serves
        engine.timeouts = TEST_TIMEOUTS.replace(restore=1.0)
        with pytest.raises(RestoreFailed, match="accept connections"):
            engine.restore(record)


def test_names_and_dsn_rewriting():
    assert dns_name("Postgres_Backup-archconform-RUN 1") == "postgres-backup-archconform-run-1"
    long = dns_name("x" * 80)
    assert len(long) == 63 and long.startswith("x" * 50)
    assert rewrite_host("postgresql://app:pw@postgres-service:5432/finch", "127.0.0.1", 40001) in (
        "host=127.0.0.1 port=40001 user=app password=pw dbname=finch",
        "user=app password=pw dbname=finch host=127.0.0.1 port=40001")


def test_a_failing_restore_on_the_cluster_shows_psqls_first_error(pg, tmp_path):
    import gzip
    from pathlib import Path

    cluster, engine = make(pg, tmp_path)
    with engine:
        session = engine.connect()
        session.execute("CREATE TABLE archconform_stamps (seq bigint primary key, written_at timestamptz)")
        session.execute("INSERT INTO archconform_stamps VALUES (1, now())")
        session.close()
        record = engine.take_backup("archconform_stamps")
        dump = Path(record.location.split(":", 1)[1])
        dump.write_bytes(gzip.compress(gzip.decompress(dump.read_bytes()).replace(b"\n1\t", b"\n1\tgarbage\t")))
        engine.disaster()
        with pytest.raises(RestoreFailed) as info:
            engine.restore(record)
    msg = str(info.value)
    assert "\n" not in msg and "failed (psql exit 3)" in msg and "ERROR:" in msg
