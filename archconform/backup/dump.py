"""Judging a dump by its content before anything is restored from it.

An exit code is not enough: ``pg_dump $URL | gzip > file`` without ``set -o pipefail`` exits 0
when pg_dump fails, leaving a valid gzip of nothing. So a dump counts as usable only when

- it is readable to its end (a gzip stream with its end-of-stream marker and a good CRC; a
  custom-format archive that ``pg_restore`` reads through),
- it holds the writer table's data (a ``COPY``/``INSERT`` for it in plain SQL, a ``TABLE DATA``
  entry in a custom archive), and
- it ends with pg_dump's end-of-dump marker (plain SQL).

The facts are gathered either here (local files) or by a shell snippet run next to the dump
(on a cluster, through exec); ``DumpFacts.problem()`` judges both the same way.
"""

from __future__ import annotations

import gzip
import shlex
import subprocess
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

#: The comment pg_dump writes after the last object of a complete plain-format dump.
END_MARKER = "-- PostgreSQL database dump complete"

_GZIP_MAGIC = b"\x1f\x8b"
_CUSTOM_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class DumpFacts:
    """What a dump file holds, as far as restoring the writer table is concerned."""

    location: str             #: path (local) or pod:path (cluster)
    size: int                 #: bytes on disk
    format: str               #: "plain", "plain+gzip", "custom", "custom+gzip", "empty" or "unknown"
    readable: bool            #: read to its end without a decompression or archive error
    has_table_data: bool      #: the writer table's rows are in it
    has_end_marker: bool      #: pg_dump's end-of-dump marker is present (custom: read through)
    read_error: str = ""      #: the decompression/archive error, if any
    table: str = ""           #: the writer table looked for

    def problem(self) -> str | None:
        """Why this dump cannot be restored from, or None when it is usable."""
        if self.size == 0:
            return "the file is empty (0 bytes)"
        if self.format == "empty":
            return f"it holds no SQL at all ({self.size} bytes on disk, nothing inside)"
        if self.format == "unknown":
            return "it is neither a plain SQL, gzip nor pg_dump custom-format file"
        reasons = []
        if not self.readable:
            reasons.append(f"it is truncated or corrupt ({self.read_error or 'unreadable'})")
        if not self.has_table_data:
            reasons.append(f"it has no data for table {self.table}")
        if not self.has_end_marker:
            reasons.append("pg_dump's end-of-dump marker is missing")
        return "; ".join(reasons) or None

    @property
    def compressed(self) -> bool:
        return self.format.endswith("+gzip")

    @property
    def custom(self) -> bool:
        return self.format.startswith("custom")


def _table_prefixes(table: str) -> tuple[str, ...]:
    name = table if "." in table else f"public.{table}"
    return (f"COPY {name} ", f"COPY {name}(", f"INSERT INTO {name} ", f"INSERT INTO {name}(")


def inspect_dump(path: str | Path, table: str, *, pg_restore: str | None = None) -> DumpFacts:
    """Read a local dump to its end and gather its ``DumpFacts``.

    Plain SQL (optionally gzip-compressed) is streamed line by line; a custom-format archive is
    read through with ``pg_restore -f /dev/null`` (needs ``pg_restore``, the path to the tool).
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return DumpFacts(str(path), 0, "empty", True, False, False, table=table)
    with open(path, "rb") as raw:
        magic = raw.read(5)
    compressed = magic[:2] == _GZIP_MAGIC
    opener = gzip.open if compressed else open
    suffix = "+gzip" if compressed else ""
    try:
        with opener(path, "rb") as stream:
            head = stream.read(5)
    except (OSError, EOFError, zlib.error) as exc:
        return DumpFacts(str(path), size, "plain" + suffix, False, False, False, _err(exc), table)
    if not head:
        return DumpFacts(str(path), size, "empty", True, False, False, table=table)
    if head == _CUSTOM_MAGIC:
        return _inspect_custom(path, size, "custom" + suffix, table, pg_restore)
    return _inspect_plain(path, size, "plain" + suffix, opener, table)


def _inspect_plain(path: Path, size: int, fmt: str, opener, table: str) -> DumpFacts:
    prefixes = tuple(p.encode() for p in _table_prefixes(table))
    has_data = False
    tail: deque[bytes] = deque(maxlen=8)
    error = ""
    try:
        with opener(path, "rb") as stream:
            for line in stream:
                if not has_data and line.startswith(prefixes):
                    has_data = True
                if line.strip():
                    tail.append(line)
    except (OSError, EOFError, zlib.error) as exc:
        error = _err(exc)
    marker = any(line.decode("utf-8", "replace").startswith(END_MARKER) for line in tail)
    return DumpFacts(str(path), size, fmt, not error, has_data, marker and not error, error, table)


def _inspect_custom(path: Path, size: int, fmt: str, table: str, pg_restore: str | None) -> DumpFacts:
    if pg_restore is None:
        return DumpFacts(str(path), size, fmt, False, False, False,
                         "a custom-format dump needs pg_restore to be inspected", table)
    if fmt.endswith("+gzip"):
        return DumpFacts(str(path), size, fmt, False, False, False,
                         "a gzip-compressed custom-format archive cannot be read by pg_restore", table)
    listing = subprocess.run([pg_restore, "-l", str(path)], capture_output=True, text=True)
    if listing.returncode != 0:
        return DumpFacts(str(path), size, fmt, False, False, False, listing.stderr.strip(), table)
    name = table.split(".")[-1]
    has_data = any(" TABLE DATA " in line and line.split()[-2:-1] == [name] for line in listing.stdout.splitlines())
    full = subprocess.run([pg_restore, "-f", "/dev/null", str(path)], capture_output=True, text=True)
    error = full.stderr.strip() if full.returncode != 0 else ""
    return DumpFacts(str(path), size, fmt, not error, has_data, not error, error, table)


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def inspect_script(path: str, table: str) -> str:
    """A POSIX shell snippet that prints ``DumpFacts`` for a dump where the dump lives (a pod),
    as ``key=value`` lines for ``parse_facts``. Needs only gzip, head, tail, grep and wc."""
    q = shlex.quote(path)
    pattern = "|".join(p.replace(".", "\\.").replace("(", "\\(") for p in _table_prefixes(table))
    return f"""
f={q}
size=$(wc -c < "$f" 2>/dev/null || echo -1)
echo "size=$size"
magic=$(head -c 2 "$f" | od -An -tx1 | tr -d ' \\n')
if [ "$magic" = "1f8b" ]; then
  if err=$(gzip -t "$f" 2>&1); then echo readable=1; else echo readable=0; echo "error=$(echo "$err" | head -n1)"; fi
  reader="gzip -dc"; echo compressed=1
else
  echo readable=1; reader="cat"; echo compressed=0
fi
first=$($reader "$f" 2>/dev/null | head -c 5)
echo "first=$first"
if $reader "$f" 2>/dev/null | grep -qE -e {shlex.quote('^(' + pattern + ')')}; then echo data=1; else echo data=0; fi
if $reader "$f" 2>/dev/null | tail -n 8 | grep -qF -e {shlex.quote(END_MARKER)}; then echo marker=1; else echo marker=0; fi
""".strip()


def parse_facts(output: str, location: str, table: str) -> DumpFacts:
    """``DumpFacts`` from the output of ``inspect_script`` (plain SQL dumps only)."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    size = int(values.get("size", "-1") or -1)
    compressed = values.get("compressed") == "1"
    first = values.get("first", "")
    if size == 0:
        fmt = "empty"
    elif first.startswith("PGDMP"):
        fmt = "custom" + ("+gzip" if compressed else "")
    elif not first:
        fmt = "empty"
    else:
        fmt = "plain" + ("+gzip" if compressed else "")
    readable = values.get("readable") == "1"
    return DumpFacts(location, max(size, 0), fmt, readable, values.get("data") == "1",
                     values.get("marker") == "1" and readable, values.get("error", ""), table)
