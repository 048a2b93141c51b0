"""Backup schedules. Sources: k8s docs "CronJob" (Schedule syntax, macros, Time zones:
spec.timeZone, CRON_TZ/TZ unsupported) and robfig/cron v3 spec.go (the library the CronJob
controller uses: hour-by-hour walk, so a nonexistent wall-clock time is skipped and a repeated
one runs twice; dom/dow ORed unless one is a star). croniter parses and expands the expression;
a cross-check iterates croniter itself where both agree (no DST)."""

from datetime import datetime, timedelta, timezone

import pytest
from croniter import croniter

from archconform.errors import ManifestError
from archconform.model import backup as B


def cronjob(schedule, *, tz=None, command=None, suspend=False):
    spec = {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "backup", "image": "postgres:17", "command": command or ["sh", "-c", "pg_dump db > /backup/db.sql"]}]}}}}}
    if tz:
        spec["timeZone"] = tz
    if suspend:
        spec["suspend"] = True
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "db-backup", "namespace": "n"}, "spec": spec}


@pytest.mark.parametrize("schedule,worst", [
    ("0 * * * *", timedelta(hours=1)),
    ("*/15 * * * *", timedelta(minutes=15)),
    ("0 */6 * * *", timedelta(hours=6)),
    ("0 2 * * *", timedelta(days=1)),
    ("0 3 * * 1-5", timedelta(days=3)),          # Friday 03:00 -> Monday 03:00
    ("0 9,17 * * *", timedelta(hours=16)),        # uneven gaps: the worst counts
    ("@daily", timedelta(days=1)), ("@weekly", timedelta(days=7)), ("@hourly", timedelta(hours=1)),
    ("0 0 1 * *", timedelta(days=31)),
    ("@every 90m", timedelta(minutes=90)),
])
def test_worst_gap_utc(schedule, worst):
    assert B.worst_case_loss(schedule, "UTC", year=2026) == worst


@pytest.mark.parametrize("schedule", ["17 */3 * * *", "5 4 * * 0", "0 0 1,15 * *", "30 1 * 2-4 1,3"])
def test_agrees_with_croniter_iteration_in_utc(schedule):
    it = croniter(schedule, datetime(2026, 1, 1, tzinfo=timezone.utc) - timedelta(seconds=1))
    prev, worst = it.get_next(datetime), timedelta(0)
    while prev.year == 2026:
        nxt = it.get_next(datetime)
        worst = max(worst, nxt - prev)
        prev = nxt
    assert B.worst_case_loss(schedule, "UTC", year=2026) == worst


def test_dom_dow_or_semantics():
    # docs / cron: when both day-of-month and day-of-week are restricted, either matches
    assert B.worst_case_loss("0 2 1 * 1", year=2026) <= timedelta(days=7)
    # dow restricted, dom a star: AND (i.e. only the dow restriction applies)
    assert B.worst_case_loss("0 2 * * 1", year=2026) == timedelta(days=7)


def test_dst_spring_forward_skips_a_daily_run():
    # robfig/cron: 02:30 does not exist on 2026-03-29 in Europe/Berlin -> no run that day
    g = B.gaps("30 2 * * *", "Europe/Berlin", year=2026)
    assert g.worst == timedelta(hours=47)
    assert g.worst_from.date().isoformat() == "2026-03-28"
    assert any("clocks go forward" in n for n in g.notes)
    # the same schedule in UTC never has a gap above a day
    assert B.worst_case_loss("30 2 * * *", "UTC", year=2026) == timedelta(days=1)
    # a run outside the skipped hour is never skipped; its worst gap is the 25 h autumn day
    assert B.worst_case_loss("30 4 * * *", "Europe/Berlin", year=2026) == timedelta(hours=25)


def test_dst_fall_back_never_lengthens_gaps():
    assert B.worst_case_loss("0 * * * *", "America/New_York", year=2026) == timedelta(hours=1)


def test_rpo_verdicts():
    assert B.rpo_verdict(cronjob("0 * * * *"), "1h", year=2026).ok
    v = B.rpo_verdict(cronjob("0 */4 * * *"), "1h", year=2026)
    assert not v.ok and "4h" in v.message and v.explanation == v.message
    v = B.rpo_verdict(cronjob("0 * * * *"), "1h", job_duration="5m", year=2026)
    assert not v.ok and "1h5m" in v.message
    v = B.rpo_verdict(cronjob("30 2 * * *", tz="Europe/Berlin"), "24h", year=2026)
    assert not v.ok and "1d23h" in v.message
    assert not B.rpo_verdict(cronjob("0 * * * *", suspend=True), "1h").ok


def test_cron_tz_prefix_noted_and_invalid_schedules():
    g = B.gaps("CRON_TZ=Europe/Berlin 30 2 * * *", year=2026)
    assert g.worst == timedelta(hours=47) and "not supported by Kubernetes" in g.notes[0]
    for bad in ("* * * *", "0 0 L * *", "61 * * * *", "0 0 * * 1#2"):
        with pytest.raises(ManifestError):
            B.gaps(bad, year=2026)


def test_parse_duration():
    assert B.parse_duration("1h30m") == timedelta(minutes=90)
    assert B.parse_duration("24 hours") == timedelta(days=1)
    assert B.parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ManifestError):
        B.parse_duration("soon")


def test_retention_detection():
    keep7 = cronjob("0 2 * * *", command=["sh", "-c", "pg_dump db | gzip > /b/$(date +%F).gz && find /b -mtime +7 -delete"])
    r = B.retention(keep7, "30d")
    assert r.mechanism == "find -mtime +7 -delete" and r.keeps == timedelta(days=7)
    assert r.findings and "< promised 30d" in r.findings[0]
    assert not B.retention(keep7, "7d").findings
    nothing = B.retention(cronjob("0 2 * * *"), "30d")
    assert nothing.mechanism is None and "no pruning found" in nothing.findings[0]
    s3 = B.retention(cronjob("0 2 * * *", command=["sh", "-c", "pg_dump db | aws s3 cp - s3://bk/db.sql"]))
    assert "lifecycle" in s3.findings[0]
    restic = B.retention(cronjob("0 2 * * *", command=["sh", "-c", "restic backup /data && restic forget --keep-daily 7 --prune"]))
    assert restic.mechanism == "restic forget"
    velero = {"apiVersion": "velero.io/v1", "kind": "Schedule", "metadata": {"name": "daily"},
              "spec": {"schedule": "0 1 * * *", "template": {"ttl": "168h"}}}
    assert B.retention(velero, "30d").findings and B.rpo_verdict(velero, "24h", year=2026).ok


def test_pipefail():
    bad = cronjob("0 2 * * *", command=["/bin/sh", "-c", "pg_dump -h db app | gzip > /backup/app.sql.gz"])
    f = B.pipefail_findings(bad)
    assert len(f) == 1 and "pg_dump" in f[0] and "Job succeeds" in f[0]
    good = cronjob("0 2 * * *", command=["/bin/bash", "-c", "set -euo pipefail\npg_dump -h db app | gzip > /backup/app.sql.gz"])
    assert B.pipefail_findings(good) == []
    no_pipe = cronjob("0 2 * * *", command=["sh", "-c", "pg_dump -Fc -f /backup/app.dump app || exit 1"])
    assert B.pipefail_findings(no_pipe) == []
