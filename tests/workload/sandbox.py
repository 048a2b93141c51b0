"""A pod-like sandbox for running the stand-in workload locally, as a restricted pod would:
readOnlyRootFilesystem with an emptyDir on /tmp, runAsUser/runAsGroup 1000, capabilities dropped,
allowPrivilegeEscalation false (unshare + setpriv; needs root). Shared by the workload's image test
and the live security tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from archconform.load.local import WORKLOAD_DIR


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to unshare a mount namespace"
    for tool in ("unshare", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -o remount,bind,ro / && ! touch /.archconform-ro-check"],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        return "this machine does not allow a private read-only remount of /"
    return None


def pod_like(keep: str) -> list[str]:
    """The sandbox command prefix: readOnlyRootFilesystem + an emptyDir on /tmp, then
    runAsUser/runAsGroup 1000, capabilities drop ALL, allowPrivilegeEscalation false.

    ``keep`` (the workload's source) stays visible when it lives under /tmp (a checkout in /tmp,
    as CI may have): the old /tmp is bound to /mnt before the emptyDir hides it, and that one
    directory is bound back (read-only, like the rest of the root).
    """
    script = "mount -o remount,bind,ro / && "
    if keep.startswith("/tmp/"):
        rel = keep[len("/tmp/"):]
        script = (f"mount --bind /tmp /mnt && mount -t tmpfs -o mode=1777 tmpfs /tmp && "
                  f"mkdir -p '{keep}' && mount --bind -o ro '/mnt/{rel}' '{keep}' && umount -l /mnt && " + script)
    else:
        script += "mount -t tmpfs -o mode=1777 tmpfs /tmp && "
    script += ('exec setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=-all '
               '--bounding-set=-all --no-new-privs "$0" "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]



def _reachable_by_others(path: str) -> bool:
    """Can a non-root uid execute this file (every directory above it searchable by others)?"""
    real = Path(os.path.realpath(path))
    if not real.is_file() or not real.stat().st_mode & 0o001:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in real.parents)


def python_for_uid_1000() -> str | None:
    """An interpreter (>= 3.11; the workload is stdlib-only) that uid 1000 can execute and that the
    sandbox's fresh /tmp does not hide: the current one's real file unless it lives in a private
    home (a pyenv under /root) or under /tmp, else the system's."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        if candidate.startswith("/tmp/") or not _reachable_by_others(candidate):
            continue
        check = subprocess.run([candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
                               capture_output=True, timeout=10)
        if check.returncode == 0:
            return candidate
    return None




def prefix() -> list[str]:
    """The command prefix that runs the workload (from this checkout) inside the sandbox."""
    return pod_like(str(WORKLOAD_DIR))


def skip_reason() -> str | None:
    """Why the sandbox cannot run here (None when it can): no root/tools, or no interpreter uid 1000 may run."""
    reason = unavailable()
    if reason:
        return reason
    if python_for_uid_1000() is None:
        return f"no Python >= 3.11 that uid 1000 may execute ({sys.executable} is in a private directory)"
    return None
