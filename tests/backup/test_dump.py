"""Judging dumps by content: real pg_dump output, then damaged copies of it. The shell snippet
used next to a dump on a cluster is run here on the same files and must agree."""

from __future__ import annotations

import gzip
import subprocess

import pytest

from archconform.backup.dump import END_MARKER, inspect_dump, inspect_script, parse_facts
from archconform.backup.writer import create_table
from archconform.backup.engine import PsycopgSession

TABLE = "archconform_stamps"


@pytest.fixture(scope="module")
def dumps(binaries, template, tmp_path_factory):
    """A plain, a gzip and a custom-format dump of a small writer table, plus damaged variants."""
    from archconform.backup import LocalPostgres

    from .conftest import TEST_PASSWORD, TEST_TIMEOUTS

    out = tmp_path_factory.mktemp("dumps")
    with LocalPostgres(binaries=binaries, timeouts=TEST_TIMEOUTS, password=TEST_PASSWORD, template=template) as pg:
        session = PsycopgSession(pg.dsn, connect_timeout=3)
        create_table(session, TABLE)
        session.execute(f"INSERT INTO {TABLE} SELECT g, now() FROM generate_series(1, 2000) g")
        session.execute("CREATE TABLE other (x int)")
        session.close()
        env = pg.tool_env()
        plain = subprocess.run([binaries.tool("pg_dump"), pg.dsn], env=env, capture_output=True, check=True).stdout
        subprocess.run([binaries.tool("pg_dump"), "-Fc", "-f", str(out / "db.dump"), pg.dsn], env=env, check=True)
        subprocess.run([binaries.tool("pg_dump"), "-T", TABLE, "-f", str(out / "other.sql"), pg.dsn], env=env,
                       check=True)
    files = {
        "plain": plain,
        "gzip": gzip.compress(plain),
        "gzip_truncated": gzip.compress(plain)[: len(gzip.compress(plain)) // 2],
        "plain_cut": plain[: plain.rindex(END_MARKER.encode()) - 200],
        "gzip_of_nothing": gzip.compress(b""),
        "zero_bytes": b"",
        "custom": (out / "db.dump").read_bytes(),
        "custom_truncated": (out / "db.dump").read_bytes()[:-2000],
        "other_table_only": (out / "other.sql").read_bytes(),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = out / name
        paths[name].write_bytes(data)
    return paths


def facts(dumps, name, binaries):
    return inspect_dump(dumps[name], TABLE, pg_restore=binaries.tool("pg_restore"))


@pytest.mark.parametrize("name, fmt", [("plain", "plain"), ("gzip", "plain+gzip"), ("custom", "custom")])
def test_complete_dumps_are_usable(dumps, binaries, name, fmt):
    f = facts(dumps, name, binaries)
    assert (f.format, f.readable, f.has_table_data, f.has_end_marker) == (fmt, True, True, True)
    assert f.problem() is None


@pytest.mark.parametrize("name, problem", [
    ("gzip_truncated", "truncated or corrupt (EOFError"),
    ("plain_cut", "pg_dump's end-of-dump marker is missing"),
    ("gzip_of_nothing", "it holds no SQL at all (20 bytes on disk"),
    ("zero_bytes", "the file is empty (0 bytes)"),
    ("custom_truncated", "truncated or corrupt"),
    ("other_table_only", f"it has no data for table {TABLE}"),
])
def test_unusable_dumps_say_why(dumps, binaries, name, problem):
    f = facts(dumps, name, binaries)
    assert f.problem() is not None and problem in f.problem()


@pytest.mark.parametrize("name", ["plain", "gzip", "gzip_truncated", "plain_cut", "gzip_of_nothing",
                                  "zero_bytes", "other_table_only"])
def test_the_in_pod_shell_snippet_agrees_with_the_local_inspection(dumps, binaries, name):
    local = facts(dumps, name, binaries)
    out = subprocess.run(["sh", "-c", inspect_script(str(dumps[name]), TABLE)], capture_output=True,
                         text=True, timeout=30).stdout
    remote = parse_facts(out, f"pod:{dumps[name]}", TABLE)
    assert (remote.format, remote.size, remote.readable, remote.has_table_data, remote.has_end_marker) == \
        (local.format, local.size, local.readable, local.has_table_data, local.has_end_marker), out
    assert (remote.problem() is None) == (local.problem() is None)


def test_a_custom_dump_can_only_be_judged_with_pg_restore(dumps):
    f = inspect_dump(dumps["custom"], TABLE)
    assert "needs pg_restore" in f.problem()
