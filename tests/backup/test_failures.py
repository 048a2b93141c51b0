"""Failure modes, each a one-line error that says what failed and with what output; never a
"restore" of nothing, never a password in a message, never a server left running."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import pytest

from archconform.backup import (BackupCommand, BackupFailed, EmptyDump, LocalEngine, LocalPostgres,
                                RestoreFailed, ServerDidNotStart, WriterCannotConnect, run_experiment)
from archconform.backup.local import free_port
from archconform.errors import ArchconformError, PromiseBroken

from .conftest import FINCH_SCRIPT, TEST_PASSWORD, TEST_TIMEOUTS, cronjob, pid_alive

FAST = dict(interval=0.05, before_backup=0.2, after_backup=0.2, timeouts=TEST_TIMEOUTS)


class SpyEngine(LocalEngine):
    """A LocalEngine that records which operations the experiment called."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def disaster(self):
        self.calls.append("disaster")
        super().disaster()

    def restore(self, backup):
        self.calls.append("restore")
        return super().restore(backup)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def _table_rows(pg: LocalPostgres) -> int:
    import psycopg

    with psycopg.connect(pg.dsn) as conn:
        return conn.execute("SELECT count(*) FROM archconform_stamps").fetchone()[0]


def test_a_failing_backup_command_is_reported_and_nothing_is_destroyed(pg):
    # pipefail on, pg_dump pointed at a database that does not exist: exit non-zero.
    cmd = BackupCommand.from_cronjob(cronjob('set -o pipefail; pg_dump "${DATABASE_URL}_gone" | gzip > /backup/b.sql.gz'))
    engine = SpyEngine(pg, cmd)
    with pytest.raises(BackupFailed) as info:
        run_experiment(engine, **FAST)
    msg = _one_line(info.value)
    assert "cronjob/postgres-backup in production failed (exit 1)" in msg
    assert 'database "app_gone" does not exist' in msg
    assert pg.password not in msg
    assert not isinstance(info.value, EmptyDump)
    assert isinstance(info.value, PromiseBroken)        # a broken backup promise, not a run error
    assert engine.calls == []                            # no disaster, no restore
    assert pg.running and _table_rows(pg) > 0


def test_without_pipefail_an_empty_dump_is_detected_by_content_and_never_restored(pg):
    # The Finch shape (pg_dump | gzip, no pipefail) with pg_dump failing: gzip exits 0.
    cmd = BackupCommand.from_cronjob(cronjob('pg_dump "${DATABASE_URL}_gone" | gzip > /backup/backup-$(date +%Y%m%d).sql.gz'))
    engine = SpyEngine(pg, cmd)
    with pytest.raises(EmptyDump) as info:
        run_experiment(engine, **FAST)
    msg = _one_line(info.value)
    assert "exited 0 but the dump" in msg
    assert "it holds no SQL at all" in msg
    assert "without 'set -o pipefail'" in msg
    assert 'database "app_gone" does not exist' in msg     # pg_dump's own complaint, kept
    assert "no restore attempted" in msg
    assert engine.calls == []
    dumps = list((pg.workdir / "volumes" / "backup").glob("backup-*.sql.gz"))
    assert len(dumps) == 1 and gzip.decompress(dumps[0].read_bytes()) == b""
    assert pg.running and _table_rows(pg) > 0


def test_finchs_verbatim_command_against_a_down_server_yields_exit_0_and_an_empty_dump(pg, finch_command):
    engine = LocalEngine(pg, finch_command)
    pg.stop()
    with pytest.raises(EmptyDump) as info:
        engine.take_backup("archconform_stamps")
    msg = _one_line(info.value)
    assert "exited 0" in msg and "connection" in msg and "Connection refused" in msg
    assert pg.password not in msg


def test_a_truncated_dump_is_reported(pg):
    # The command "succeeds" but leaves half a gzip stream behind (a full disk, a killed copy).
    script = (f"{FINCH_SCRIPT.replace('/backup/backup-$(date +%Y%m%d).sql.gz', '/backup/full.gz')}; "
              "head -c 300 /backup/full.gz > /backup/zz-cut.sql.gz")
    engine = SpyEngine(pg, BackupCommand.from_cronjob(cronjob(script)))
    with pytest.raises(EmptyDump, match="truncated or corrupt .*pg_dump's end-of-dump marker is missing"):
        run_experiment(engine, **FAST)
    assert engine.calls == []


class CorruptingEngine(SpyEngine):
    """The dump gets damaged on its way to storage: one data row's timestamp is garbled."""

    def take_backup(self, table):
        record = super().take_backup(table)
        path = Path(record.location)
        sql = gzip.decompress(path.read_bytes()).decode()
        head, sep, rest = sql.partition("FROM stdin;\n")
        first_row, nl, tail = rest.partition("\n")
        seq, _, _stamp = first_row.partition("\t")
        path.write_bytes(gzip.compress((head + sep + f"{seq}\tnot-a-timestamp" + nl + tail).encode()))
        return record


def test_a_restore_that_fails_shows_psqls_first_error(pg, finch_command):
    engine = CorruptingEngine(pg, finch_command)
    with pytest.raises(RestoreFailed) as info:
        run_experiment(engine, **FAST)
    msg = _one_line(info.value)
    assert "failed (psql exit 3)" in msg
    assert 'ERROR:  invalid input syntax for type timestamp with time zone: "not-a-timestamp"' in msg
    assert engine.calls == ["disaster", "restore"]
    assert pg.password not in msg


def test_a_restore_from_a_gzip_damaged_after_the_backup_fails(pg, finch_command):
    class Flipper(SpyEngine):
        def take_backup(self, table):
            record = super().take_backup(table)
            data = bytearray(Path(record.location).read_bytes())
            data[len(data) // 2] ^= 0xFF
            Path(record.location).write_bytes(bytes(data))
            return record

    with pytest.raises(RestoreFailed, match=r"^restore of .*\.sql\.gz failed \(psql exit \d+\): \S"):
        run_experiment(Flipper(pg, finch_command), **FAST)


def test_a_writer_that_cannot_connect_shows_the_dsn_without_its_password(binaries, finch_command):
    port = free_port()                                   # nobody listens there
    server = LocalPostgres(binaries=binaries, password="s3cret-Pa55", port=port, timeouts=TEST_TIMEOUTS)
    try:
        engine = SpyEngine(server, finch_command)
        with pytest.raises(WriterCannotConnect) as info:
            run_experiment(engine, **FAST)
    finally:
        server.close()
    msg = _one_line(info.value)
    assert f"cannot connect to postgresql://postgres:***@127.0.0.1:{port}/app" in msg
    assert "s3cret" not in msg
    assert "refused" in msg
    assert isinstance(info.value, ArchconformError) and not isinstance(info.value, PromiseBroken)
    assert engine.calls == []


def test_a_server_that_cannot_start_shows_the_end_of_its_log(binaries, template):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = LocalPostgres(binaries=binaries, port=port, timeouts=TEST_TIMEOUTS, password=TEST_PASSWORD,
                               template=template)
        with pytest.raises(ServerDidNotStart) as info:
            with server:
                pass
    msg = _one_line(info.value)
    assert f"did not start on 127.0.0.1:{port}" in msg
    assert 'could not bind IPv4 address "127.0.0.1": Address already in use' in msg
    assert "FATAL:  could not create any TCP/IP sockets" in msg
    assert not server.running and not server.workdir.exists()


def test_the_server_is_stopped_and_removed_when_the_body_raises(binaries, template):
    with pytest.raises(RuntimeError, match="boom"):
        with LocalPostgres(binaries=binaries, timeouts=TEST_TIMEOUTS, password=TEST_PASSWORD,
                           template=template) as server:
            pid = server._proc.pid
            assert pid_alive(pid)
            raise RuntimeError("boom")
    assert not pid_alive(pid)
    assert not server.workdir.exists()
