"""A secret planted in a Secret manifest, a connection URL, a log line, stdout, a failure message
and PNG metadata appears nowhere under reports/ after the run, nor on the terminal."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

from .conftest import SampleRun


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="),
            urllib.parse.quote(secret, safe="").encode()]


def leaks(root: Path, secret: str) -> list[str]:
    """Every file under root holding the secret in any printed form (bytes, so JSON and
    binary files are searched too)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path} ({form!r})" for form in forms(secret) if form in data]
    return found


def _attachment_texts(run: SampleRun, scenario: str) -> dict[str, str]:
    result = run.by_name()[scenario]
    out: dict[str, str] = {}

    def walk(node: dict) -> None:
        for a in node.get("attachments", []):
            if not a["type"].startswith("image/"):
                out[a["name"]] = (run.results / a["source"]).read_text()
        for step in node.get("steps", []):
            walk(step)

    walk(result)
    return out


def test_the_secret_was_planted_and_masked_where_it_was_printed(sample_run: SampleRun):
    texts = _attachment_texts(sample_run, "credentials stay out of the report")
    assert 'password: "***"' in texts["secret manifest (yaml)"]
    assert '"password": "***"' in texts["secret manifest (json)"]
    assert '"password-b64": "***"' in texts["secret manifest (json)"]
    assert "postgresql://app:***@postgres.storage-system:5432/app" in texts["connection"]
    assert "postgres,postgresql://app:***@postgres.storage-system:5432/app" in texts["connections"]
    # the log lines (a child logger and the root logger) and stdout, as Allure captured them
    assert "connecting to postgresql://app:***@postgres.storage-system:5432/app with password=***" in texts["log"]
    assert "root logger line: postgresql://app:***@" in texts["log"]
    assert "stdout line: postgresql://app:***@" in texts["stdout"]
    failed = sample_run.by_name()["messenger pods cannot reach the database directly"]
    assert "postgresql://app:***@postgres.storage-system:5432/app" in failed["statusDetails"]["message"]
    md = (sample_run.reports / "signoff.md").read_text()
    assert "connects with postgresql://app:***@postgres.storage-system:5432/app" in md


def test_the_secret_appears_nowhere_under_reports(sample_run: SampleRun):
    files = [p for p in sample_run.reports.rglob("*") if p.is_file()]
    assert len(files) > 30, "results, attachments and the sign-off were all written"
    assert leaks(sample_run.reports, sample_run.secret) == []


def test_the_secret_is_not_on_the_terminal(sample_run: SampleRun):
    out = sample_run.proc.stdout + sample_run.proc.stderr
    assert "test_messenger_pods_cannot_reach_the_database_directly" in out, "the failure was printed"
    assert "postgresql://app:***@" in out
    for form in forms(sample_run.secret):
        assert form.decode() not in out
