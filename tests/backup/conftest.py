"""Fixtures for the backup engine's tests: a real PostgreSQL server on 127.0.0.1 per test.

Each test gets its own server in its own temp dir (about 1 s to init and start), stopped and
removed afterwards whatever happened; the fixture checks that it really is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from archconform.backup import BackupCommand, LocalPostgres, find_binaries
from archconform.settings import Timeouts

#: Tight budgets so that a hang fails a test in seconds, not the 15-30 minutes a cluster gets.
TEST_TIMEOUTS = Timeouts().replace(pod_start=30.0, backup=30.0, restore=60.0, probe=3.0)

#: The backup command of Finch's CronJob (document § Persistent Storage Strategy / Backup
#: Strategy), the way systems/finch declares it: bash -c, pg_dump piped into gzip, no pipefail.
FINCH_SCRIPT = "pg_dump $DATABASE_URL | gzip > /backup/backup-$(date +%Y%m%d).sql.gz"


def cronjob(script: str = FINCH_SCRIPT, *, name: str = "postgres-backup", namespace: str = "production") -> dict:
    """A backup CronJob shaped like the system's: one container, DATABASE_URL from a Secret, and
    a volume mounted at /backup."""
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "namespace": namespace, "uid": "0b5c1f6e-0000-4000-8000-000000000001"},
        "spec": {
            "schedule": "0 2 * * *",
            "jobTemplate": {
                "metadata": {"labels": {"app": "postgres-backup"}, "annotations": {"team": "data"}},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "postgres-backup", "image": "postgres:15-alpine",
                        "command": ["/bin/bash", "-c", script],
                        "env": [{"name": "DATABASE_URL", "valueFrom": {
                            "secretKeyRef": {"name": "postgres-credentials", "key": "database-url"}}}],
                        "volumeMounts": [{"name": "backup", "mountPath": "/backup"}],
                    }],
                    "volumes": [{"name": "backup", "persistentVolumeClaim": {"claimName": "postgres-backup"}}],
                }}},
            },
        },
    }


#: The password of every test server (they are copies of one initdb'd template; 127.0.0.1 only).
TEST_PASSWORD = "archconform-test-" + os.urandom(4).hex()


@pytest.fixture(scope="session")
def binaries():
    return find_binaries()


@pytest.fixture(scope="session")
def template(binaries):
    """One initdb for the whole session; each server starts from a copy of it. (Not under
    pytest's tmp_path: that is private to root, and the server may run as another OS user.)"""
    directory = Path(tempfile.mkdtemp(prefix="archconform-pg-template-"))
    try:
        yield LocalPostgres.make_template(directory, binaries=binaries, password=TEST_PASSWORD,
                                          timeouts=TEST_TIMEOUTS)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg(binaries, template):
    server = LocalPostgres(binaries=binaries, timeouts=TEST_TIMEOUTS, password=TEST_PASSWORD, template=template)
    with server:
        yield server
    assert not server.running
    assert not server.workdir.exists()


@pytest.fixture
def finch_command() -> BackupCommand:
    return BackupCommand.from_cronjob(cronjob())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
