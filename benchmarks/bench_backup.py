"""Restore throughput: rows restored per second through archconform.backup, next to the raw tool.

A local PostgreSQL server (same binaries as the tests) gets about a million rows of the writer's
shape (seq bigint primary key, written_at timestamptz). One dump is taken with the system's own
command (Finch's ``pg_dump $DATABASE_URL | gzip > /backup/...``) through the library. Then, in
the same run and on the same dump:

1. raw: ``gzip -dc DUMP | psql -X -q -v ON_ERROR_STOP=1`` into a fresh database on the live
   server, timed from the outside (no archconform code);
2. library: the disaster (data directory destroyed) and ``LocalEngine.restore`` (re-init, start,
   load) followed by the first successful query, as the experiment times it.

The load phase of (2) runs the same pipeline as (1); the difference between them is the library's
overhead, and re-init + start is what a real restore pays on top.

    python benchmarks/bench_backup.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import time

from archconform.backup import BackupCommand, Instant, LocalEngine, LocalPostgres
from archconform.backup.engine import PsycopgSession
from archconform.backup.writer import create_table
from archconform.settings import Timeouts

TABLE = "archconform_stamps"
FINCH_SCRIPT = "pg_dump $DATABASE_URL | gzip > /backup/backup-$(date +%Y%m%d).sql.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    timeouts = Timeouts().replace(pod_start=60.0)

    with LocalPostgres(timeouts=timeouts) as pg:
        print(f"server: {pg.describe()}")
        session = PsycopgSession(pg.dsn, connect_timeout=5)
        create_table(session, TABLE)
        t = time.perf_counter()
        session.execute(f"INSERT INTO {TABLE} SELECT g, now() + g * interval '1 millisecond' "
                        f"FROM generate_series(1, %s) g", (args.rows,))
        session.close()
        print(f"loaded {args.rows:,} writer rows in {time.perf_counter() - t:.2f}s")

        engine = LocalEngine(pg, BackupCommand.shell(FINCH_SCRIPT, mounts={"/backup": "backup"}))
        backup = engine.take_backup(TABLE)
        print(f"backup (system's command through the library): {backup.duration:.2f}s, "
              f"{backup.facts.size / 1e6:.1f} MB {backup.facts.format}, judged usable by content")

        # 1. The raw tool, on the same dump, into a fresh database of the live server.
        raw_before = raw_restore(pg, backup.location, args.rows)

        # 2. Through the library: disaster, documented restore, first successful query.
        disaster = Instant.now()
        engine.disaster()
        record = engine.restore(backup)
        count, newest = engine.probe(TABLE)
        first_query = Instant.now()
        total = first_query.seconds_since(disaster)
        phases = dict(record.phases)
        # 3. The raw tool again, now on the restored server (same warmth as the library's load).
        raw_after = raw_restore(pg, backup.location, args.rows)

    assert count == newest == args.rows, (count, newest, args.rows)
    raw_seconds = min(raw_before, raw_after)
    print()
    print(f"{'':40} {'seconds':>8} {'rows/s':>12}")
    print(f"{'raw: gzip -dc | psql, before the library':40} {raw_before:8.2f} {args.rows / raw_before:12,.0f}")
    print(f"{'raw: gzip -dc | psql, after the library':40} {raw_after:8.2f} {args.rows / raw_after:12,.0f}")
    print(f"{'library: load phase':40} {phases['load']:8.2f} {args.rows / phases['load']:12,.0f}")
    print(f"{'library: disaster -> first query (RTO)':40} {total:8.2f} {args.rows / total:12,.0f}")
    print(f"  of which re-init {phases['re-init']:.2f}s, start {phases['start']:.2f}s, "
          f"load {phases['load']:.2f}s, destroy + first query {total - sum(phases.values()):.2f}s")
    print(f"library load vs the faster raw run: {phases['load'] - raw_seconds:+.2f}s "
          f"({(phases['load'] / raw_seconds - 1) * 100:+.1f}%)")


def raw_restore(pg: LocalPostgres, dump: str, rows: int) -> float:
    """Seconds for ``gzip -dc | psql`` of ``dump`` into a fresh database (dropped afterwards)."""
    admin = PsycopgSession(pg.url("postgres"), connect_timeout=5)
    admin.execute("CREATE DATABASE raw_restore")
    cmd = f'set -o pipefail; gzip -dc -- "{dump}" | psql -X -q -v ON_ERROR_STOP=1 -d "$URL"'
    t = time.perf_counter()
    subprocess.run(["/bin/bash", "-c", cmd], env=pg.tool_env({"URL": pg.url("raw_restore")}),
                   check=True, capture_output=True)
    seconds = time.perf_counter() - t
    check = PsycopgSession(pg.url("raw_restore"), connect_timeout=5)
    restored = check.execute(f"SELECT count(*) FROM {TABLE}")[0][0]
    check.close()
    admin.execute("DROP DATABASE raw_restore")
    admin.close()
    assert restored == rows, (restored, rows)
    return seconds


if __name__ == "__main__":
    main()
