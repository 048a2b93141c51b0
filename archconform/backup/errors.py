"""What can go wrong in a backup experiment, each as one line that says what failed and with what.

Two families:

- the system under test does not keep its backup promise: its backup command fails or produces
  an empty or truncated dump, or its documented restore procedure fails. These are verdicts,
  so they are ``PromiseBroken`` (an ``AssertionError``) as well as ``BackupError``;
- the experiment itself cannot run: the database server does not start, the writer cannot
  connect. These are plain ``ArchconformError`` problems of the run.

Nothing here ever prints a password: DSNs go through ``redact_dsn``.
"""

from __future__ import annotations

import re

from ..errors import ArchconformError, PromiseBroken


class BackupError(ArchconformError):
    """Base class of every error raised by archconform.backup."""


class ServerDidNotStart(BackupError):
    """The local PostgreSQL server did not start; the message ends with the last lines of its log."""


class WriterCannotConnect(BackupError):
    """The stamp writer could not connect; the message shows the DSN with its password redacted."""


class BackupFailed(BackupError, PromiseBroken):
    """The system's backup command exited non-zero, timed out or left no dump file."""


class EmptyDump(BackupFailed):
    """The backup command reported success, but the dump is empty or truncated (found by content).

    Typical cause: ``pg_dump ... | gzip > file`` without ``set -o pipefail``, where a failing
    pg_dump is hidden behind gzip's exit code 0. No restore is ever attempted from such a dump.
    """


class RestoreFailed(BackupError, PromiseBroken):
    """The documented restore procedure failed; the message shows the tool's first error line."""


_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@/?#\s]*)(?P<at>@)")
_KV_PASSWORD = re.compile(r"(?P<head>(?<![?&])\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&\s]*)", re.IGNORECASE)


def redact_dsn(text: str) -> str:
    """``text`` with every password in a PostgreSQL DSN replaced by ``***``.

    Handles URLs (``postgresql://user:secret@host/db``, ``...?password=secret``) and key/value
    strings (``host=h password=secret``). Anything else is returned unchanged.
    """
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}" if m["pw"] else m[0], text)
    text = _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}***", text)


def first_line(text: str | bytes | None, *, prefer: str = "ERROR") -> str:
    """The most telling single line of a tool's output: the first line containing ``prefer``
    (psql's ``ERROR:``, say), else the first non-blank line, else ``(no output)``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for line in lines:
        if prefer and prefer in line:
            return line
    return lines[0] if lines else "(no output)"


_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] ")


def last_lines(text: str, count: int = 5) -> str:
    """The last ``count`` non-blank lines of a server log, timestamps stripped, joined with
    `` | `` (one line)."""
    lines = [_LOG_PREFIX.sub("", line.strip()) for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "(empty log)"
