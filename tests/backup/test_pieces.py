"""The pure pieces: reading the CronJob, the Job kubectl would create from it, path mapping,
pipefail detection, DSN redaction and the verdict's wording."""

from __future__ import annotations

from datetime import timedelta

import pytest

from archconform.backup import BackupCommand, Verdict, job_from_cronjob, redact_dsn
from archconform.backup.engine import has_pipefail
from archconform.errors import ManifestError, PromiseBroken

from .conftest import FINCH_SCRIPT, cronjob


def test_backup_command_is_read_verbatim_from_the_cronjob():
    cmd = BackupCommand.from_cronjob(cronjob())
    assert cmd.argv == ("/bin/bash", "-c", FINCH_SCRIPT)
    assert cmd.env_refs == {"DATABASE_URL": {"secretKeyRef": {"name": "postgres-credentials", "key": "database-url"}}}
    assert cmd.mounts == {"/backup": "backup"}
    assert cmd.source == "cronjob/postgres-backup in production"
    assert cmd.image == "postgres:15-alpine"


def test_a_cronjob_without_a_command_cannot_be_run_locally():
    cj = cronjob()
    del cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    with pytest.raises(ManifestError, match="has no command or args"):
        BackupCommand.from_cronjob(cj)
    with pytest.raises(ManifestError, match="has no container 'nope'; it has postgres-backup"):
        BackupCommand.from_cronjob(cronjob(), container="nope")


def test_mount_paths_map_only_as_whole_path_components():
    cmd = BackupCommand.shell("pg_dump $U | gzip > /backup/backup-1.gz && ls /backup /backups /backup-x '/backup'",
                              mounts={"/backup": "v"})
    script = cmd.mapped({"/backup": "/tmp/L/v"})[2]
    assert script == "pg_dump $U | gzip > /tmp/L/v/backup-1.gz && ls /tmp/L/v /backups /backup-x '/tmp/L/v'"


def test_job_from_cronjob_is_what_kubectl_create_job_from_sends():
    job = job_from_cronjob(cronjob(), "postgres-backup-archconform-1")
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    md = job["metadata"]
    assert md["name"] == "postgres-backup-archconform-1" and md["namespace"] == "production"
    assert md["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual", "team": "data"}
    assert md["labels"] == {"app": "postgres-backup"}
    assert md["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "postgres-backup",
                                      "uid": "0b5c1f6e-0000-4000-8000-000000000001"}]
    assert job["spec"] == cronjob()["spec"]["jobTemplate"]["spec"]
    job["spec"]["backoffLimit"] = 9                      # a copy, not a view into the CronJob
    assert cronjob()["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize("script, expected", [
    (FINCH_SCRIPT, False),
    ("set -o pipefail; " + FINCH_SCRIPT, True),
    ("set -euo pipefail\n" + FINCH_SCRIPT, True),
    ("/bin/bash -o pipefail -c 'a | b'", True),
    ("echo pipefail | cat", False),
])
def test_pipefail_detection(script, expected):
    assert has_pipefail(script) is expected


@pytest.mark.parametrize("dsn, redacted", [
    ("postgresql://app:s3cr%40t@db:5432/finch", "postgresql://app:***@db:5432/finch"),
    ("postgres://app@db/finch", "postgres://app@db/finch"),
    ("host=db user=app password=s3cret dbname=finch", "host=db user=app password=*** dbname=finch"),
    ("host=db password='a b c' dbname=x", "host=db password=*** dbname=x"),
    ("postgresql://db/finch?user=app&password=s3cret&sslmode=require",
     "postgresql://db/finch?user=app&password=***&sslmode=require"),
])
def test_redact_dsn(dsn, redacted):
    assert redact_dsn(dsn) == redacted


def _verdict(**kw):
    base = dict(promised_rpo=timedelta(hours=1), promised_rto=timedelta(minutes=30),
                observed_rpo=timedelta(seconds=12), lost_rows=240, observed_rto=timedelta(seconds=95),
                backup_duration=timedelta(seconds=4))
    base.update(kw)
    return Verdict.judge(**base)


def test_verdict_met():
    v = _verdict(worst_case_loss=timedelta(minutes=30))
    assert v.passed and v.reasons == ()
    assert v.message().splitlines() == [
        "backup promises kept",
        "RPO promised 1h0m0s met: observed 12s (240 rows lost); schedule worst case 30m0s + backup 4s = 30m4s",
        "RTO promised 30m0s met: observed 1m35s (disaster to first successful query)",
    ]
    v.check()


def test_verdict_lists_every_reason():
    v = _verdict(observed_rpo=timedelta(hours=2), observed_rto=timedelta(hours=5),
                 worst_case_loss=timedelta(hours=24), missing_older_rows=(3, 4))
    assert len(v.reasons) == 4
    head = v.message().splitlines()[0]
    assert head.startswith("backup promise broken: observed data loss 2h0m0s (240 rows) exceeds the promised RPO 1h0m0s")
    assert "observed restore time 5h0m0s exceeds the promised RTO 30m0s" in head
    assert "the backup schedule can lose up to 24h0m4s" in head
    assert "2 rows older than the newest restored row are missing (seq 3, 4)" in head
    with pytest.raises(PromiseBroken):
        v.check()


def test_backup_time_alone_can_tip_the_schedule_over_the_rpo():
    v = _verdict(worst_case_loss=timedelta(hours=1))   # hourly backups: exactly the RPO, plus 4 s
    assert not v.passed and "up to 1h0m4s" in v.reasons[0]


def test_unpromised_numbers_are_reported_not_judged():
    v = _verdict(promised_rpo=None, promised_rto=None, worst_case_loss=timedelta(days=1))
    assert v.passed
    assert v.message().splitlines()[1].startswith("RPO (no number promised): observed 12s (240 rows lost)")
    assert v.message().splitlines()[2].startswith("RTO (no number promised): observed 1m35s")
