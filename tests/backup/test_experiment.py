"""The experiment for real: PostgreSQL on 127.0.0.1, the system's pg_dump | gzip command taken
during writes, the data directory destroyed, the documented restore, and the measured loss window
checked row by row against the writer's own record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from archconform.backup import BackupCommand, LocalEngine, LocalPostgres, run_experiment, run_local
from archconform.errors import PromiseBroken

from .conftest import TEST_PASSWORD, TEST_TIMEOUTS, cronjob

INTERVAL = 0.05


@pytest.fixture(scope="module")
def shared_pg(binaries, template):
    """One server for the module's shared experiment (the others get their own ``pg``)."""
    server = LocalPostgres(binaries=binaries, timeouts=TEST_TIMEOUTS, password=TEST_PASSWORD, template=template)
    with server:
        yield server
    assert not server.running and not server.workdir.exists()


@pytest.fixture(scope="module")
def result(shared_pg):
    """One experiment, looked at from several sides by the tests below."""
    return run_experiment(LocalEngine(shared_pg, BackupCommand.from_cronjob(cronjob())),
                          promised_rpo=timedelta(hours=1), promised_rto=timedelta(minutes=30),
                          interval=INTERVAL, before_backup=0.6, after_backup=0.6, timeouts=TEST_TIMEOUTS)


def test_the_rows_after_the_snapshot_are_exactly_the_lost_ones(result):
    writes = {s.seq: s for s in result.writes}
    restored = dict(result.restored)
    newest = max(restored)

    # Everything up to the snapshot is back, with the very stamps the writer wrote...
    assert sorted(restored) == list(range(1, newest + 1))
    assert restored == {seq: writes[seq].written_at for seq in range(1, newest + 1)}
    # ...and exactly the rows after it are missing.
    lost = {s.seq for s in result.lost}
    assert lost == set(writes) - set(restored)
    assert lost == set(range(newest + 1, max(writes) + 1))
    assert result.verdict.lost_rows == len(lost) >= 5
    assert newest >= 5


def test_the_snapshot_point_lies_in_the_backup_window(result):
    b = result.backup
    writes = {s.seq: s for s in result.writes}
    newest = max(seq for seq, _ in result.restored)
    # Row `newest` was committed before the dump's snapshot, row `newest + 1` after it; the
    # snapshot is taken between the command's start and its completion.
    assert writes[newest].committed_at <= b.completed.wall
    assert writes[newest + 1].committed_at >= b.started.wall
    # So every row committed before the backup started is present, every row stamped after it
    # completed is lost.
    assert all(s.seq <= newest for s in result.writes if s.committed_at < b.started.wall)
    assert all(s.seq > newest for s in result.writes if s.written_at > b.completed.wall)


def test_the_measured_loss_window_matches_the_writers_record_within_one_interval(result):
    b = result.backup
    last = result.writes[-1]
    newest_stamp = result.restored[-1][1]
    # RPO observed is the writer's newest stamp minus the newest restored stamp...
    assert result.observed_rpo == last.written_at - newest_stamp
    # ...and the loss window starts within one writer interval of the backup's window.
    assert b.started.wall - timedelta(seconds=INTERVAL) <= newest_stamp <= b.completed.wall
    expected_from_backup = last.written_at - b.started.wall
    assert expected_from_backup - timedelta(seconds=b.duration) <= result.observed_rpo
    assert result.observed_rpo <= expected_from_backup + timedelta(seconds=INTERVAL)


def test_rto_is_disaster_to_first_successful_query(result):
    r = result.restore
    assert result.disaster.mono < r.started.mono <= r.completed.mono <= result.first_query.mono
    assert result.observed_rto == timedelta(seconds=result.first_query.mono - result.disaster.mono)
    assert [name for name, _ in r.phases] == ["re-init", "start", "load"]
    assert timedelta(0) < result.observed_rto < timedelta(seconds=TEST_TIMEOUTS.restore)


def test_the_dump_was_the_systems_gzip_and_was_judged_by_content(result, shared_pg):
    pg = shared_pg
    facts = result.backup.facts
    assert facts.format == "plain+gzip" and facts.readable and facts.has_table_data and facts.has_end_marker
    assert result.backup.location.startswith(str(pg.workdir / "volumes" / "backup" / "backup-"))
    assert result.backup.location.endswith(".sql.gz")
    assert "pg_dump $DATABASE_URL | gzip" in result.backup.command
    assert pg.password not in result.backup.command


def test_verdict_passes_with_generous_promises(result):
    assert result.verdict.passed, result.verdict.message()
    result.verdict.check()
    message = result.verdict.message()
    assert "RPO promised 1h0m0s" in message and "RTO promised 30m0s" in message
    assert f"({result.verdict.lost_rows} rows lost)" in message


def test_a_daily_schedule_breaks_a_one_hour_rpo_in_one_call():
    # What a step calls: the CronJob manifest in, the judged experiment out (server included).
    result = run_local(cronjob(), promised_rpo=timedelta(hours=1), promised_rto=timedelta(minutes=30),
                       worst_case_loss=timedelta(hours=24), interval=INTERVAL, before_backup=0.3,
                       after_backup=0.3, timeouts=TEST_TIMEOUTS)
    assert not result.verdict.passed
    assert result.verdict.lost_rows > 0 and result.restored
    assert any("schedule can lose up to 24h0m0s" in r for r in result.verdict.reasons)
    with pytest.raises(PromiseBroken, match="more than the promised RPO 1h0m0s"):
        result.verdict.check()


def test_a_tight_rpo_is_broken_by_the_measured_loss(pg, finch_command):
    result = run_experiment(LocalEngine(pg, finch_command), promised_rpo=timedelta(milliseconds=100),
                            promised_rto=timedelta(milliseconds=1), interval=INTERVAL, before_backup=0.3,
                            after_backup=0.5, timeouts=TEST_TIMEOUTS)
    reasons = " | ".join(result.verdict.reasons)
    assert "exceeds the promised RPO" in reasons
    assert "exceeds the promised RTO" in reasons


def test_chart_and_csv_are_written(result, tmp_path):
    files = result.chart(tmp_path)
    assert files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = files.csv.read_text().splitlines()
    assert lines[0] == "kind,t_seconds,seq,written_at,restored"
    kinds = [line.split(",")[0] for line in lines[1:]]
    assert kinds.count("write") == len(result.writes)
    assert {"backup_started", "backup_completed", "disaster", "restore_completed",
            "first_successful_query"} <= set(kinds)
    lost_in_csv = [r for r in files.rows if r["kind"] == "write" and r["restored"] == 0]
    assert len(lost_in_csv) == result.verdict.lost_rows


def test_custom_format_backups_restore_through_pg_restore(pg):
    cmd = BackupCommand.shell('set -o pipefail; pg_dump -Fc -f /backup/db.dump "$DATABASE_URL"',
                              mounts={"/backup": "backup"})
    result = run_experiment(LocalEngine(pg, cmd), interval=INTERVAL, before_backup=0.3, after_backup=0.3,
                            timeouts=TEST_TIMEOUTS)
    assert result.backup.facts.format == "custom"
    assert "pg_restore" in result.restore.command
    assert sorted(seq for seq, _ in result.restored) == list(range(1, result.restored[-1][0] + 1))
    assert result.verdict.lost_rows > 0
