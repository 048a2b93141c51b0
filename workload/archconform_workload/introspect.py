"""What the container can see about itself: identity, capabilities, root filesystem, config.

Used by the runtime pod-security checks (``/whoami``) and the configuration checks
(``/config``). Secret-looking values are redacted here, before they leave the process.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from typing import Any
from urllib.parse import unquote_plus

#: Linux capability numbers (include/uapi/linux/capability.h), named as Kubernetes spells them
#: in securityContext.capabilities (without the CAP_ prefix).
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)

#: Environment variable names whose values are never returned (matched case-insensitively).
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|CREDENTIAL|PRIVATE|APIKEY|API_KEY|ACCESS_KEY"
    r"|(^|_)KEY($|_)|_KEY\d*$|(^|_)PASS($|_)",
    re.IGNORECASE,
)
#: File paths whose contents are never returned.
SECRET_PATH = re.compile(
    r"secret|token|passw|credential|private|\.key$|/key$|/tls\.key|serviceaccount",
    re.IGNORECASE,
)
#: ``scheme://user:password@host`` -> the password part.
URL_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^/@:\s]*:)(?P<password>[^/@\s]+)@",
                             re.IGNORECASE)
#: Paths /config?file= refuses: they would expose the process itself (/proc/self/environ).
FORBIDDEN_PREFIXES = ("/proc", "/sys", "/dev")
#: Largest file /config?file= returns.
MAX_FILE_BYTES = 64 * 1024
REDACTED = "***"


def mask_url_credentials(text: str) -> str:
    """``postgres://app:s3cret@db/x`` -> ``postgres://app:***@db/x``."""
    return URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}{REDACTED}@", text)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def redact_query(query: str) -> str:
    """A query string fit for an access log: values of secret-looking keys become ``***``."""
    if not query:
        return ""
    parts = []
    for item in query.split("&"):
        key, sep, value = item.partition("=")
        if sep and (is_secret_name(unquote_plus(key))
                    or URL_CREDENTIALS.search(unquote_plus(value))):
            value = REDACTED
        parts.append(f"{key}{sep}{value}")
    return "&".join(parts)


def env_value(name: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The answer of ``/config?env=NAME``."""
    environ = dict(os.environ) if environ is None else environ
    value = environ.get(name)
    answer: dict[str, Any] = {"env": name, "set": value is not None}
    if value is None:
        answer.update(value=None, redacted=False)
    elif is_secret_name(name):
        answer.update(value=REDACTED, redacted=True, length=len(value))
    else:
        masked = mask_url_credentials(value)
        answer.update(value=masked, redacted=masked != value)
    return answer


def file_value(path: str) -> tuple[int, dict[str, Any]]:
    """The answer of ``/config?file=PATH`` as (HTTP status, body)."""
    if not path.startswith("/"):
        return 400, {"file": path, "error": "path must be absolute"}
    real = os.path.realpath(path)
    for prefix in FORBIDDEN_PREFIXES:
        if real == prefix or real.startswith(prefix + "/"):
            return 403, {"file": path, "error": f"reading under {prefix} is not allowed"}
    if os.path.isdir(real):
        try:
            entries = sorted(e for e in os.listdir(real) if not e.startswith(".."))
        except OSError as exc:
            return 403, {"file": path, "exists": True, "error": exc.strerror or str(exc)}
        return 200, {"file": path, "exists": True, "directory": True, "entries": entries}
    try:
        with open(real, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return 404, {"file": path, "exists": False}
    except OSError as exc:
        return 403, {"file": path, "exists": os.path.exists(real),
                     "error": exc.strerror or str(exc)}
    truncated = len(data) > MAX_FILE_BYTES
    data = data[:MAX_FILE_BYTES]
    body: dict[str, Any] = {"file": path, "exists": True, "truncated": truncated}
    if SECRET_PATH.search(path) or SECRET_PATH.search(real):
        body.update(value=REDACTED, redacted=True, length=len(data))
    else:
        text = data.decode("utf-8", errors="replace")
        masked = mask_url_credentials(text)
        body.update(value=masked, redacted=masked != text, length=len(data))
    return 200, body


def _proc_status() -> dict[str, str]:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def capability_names(mask: int) -> list[str]:
    """Bit mask from /proc/self/status -> sorted Kubernetes-style names."""
    names = []
    for bit in range(64):
        if mask & (1 << bit):
            names.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"CAP_{bit}")
    return names


def capabilities() -> dict[str, Any]:
    """Effective, permitted, bounding, inheritable and ambient sets, as hex and as names."""
    status = _proc_status()
    sets: dict[str, Any] = {}
    for key, label in (("CapEff", "effective"), ("CapPrm", "permitted"), ("CapBnd", "bounding"),
                       ("CapInh", "inheritable"), ("CapAmb", "ambient")):
        if key in status:
            mask = int(status[key], 16)
            sets[label] = {"hex": status[key], "names": capability_names(mask)}
    return sets


def root_filesystem_probe(directory: str = "/") -> dict[str, Any]:
    """Try to create a file in ``directory`` (outside /tmp). A read-only mount answers EROFS
    whatever the user's permissions, so ``read_only`` is decisive; EACCES only says this user
    may not write there."""
    probe = os.path.join(directory, f".archconform-write-probe-{os.getpid()}")
    result: dict[str, Any] = {"path": directory}
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        result.update(writable=False, read_only=exc.errno == errno.EROFS, error=code)
        return result
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    result.update(writable=True, read_only=False, error=None)
    return result


def root_mount_read_only() -> bool | None:
    """Whether /proc/self/mountinfo lists the root mount as ``ro`` (None when unknown)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    answer = None
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[4] == "/":
            answer = "ro" in fields[5].split(",")  # the last mount on / wins
    return answer


def whoami() -> dict[str, Any]:
    """The answer of ``/whoami``."""
    status = _proc_status()
    uids = status.get("Uid", "").split()
    gids = status.get("Gid", "").split()
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "uids": [int(u) for u in uids] if uids else None,
        "gids": [int(g) for g in gids] if gids else None,
        "no_new_privs": status.get("NoNewPrivs") == "1" if "NoNewPrivs" in status else None,
        "seccomp": {"0": "disabled", "1": "strict", "2": "filter"}.get(status.get("Seccomp", ""),
                                                                        None),
        "capabilities": capabilities(),
        "root_filesystem": {**root_filesystem_probe("/"), "mount_read_only": root_mount_read_only()},
        "tmp_writable": os.access("/tmp", os.W_OK),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }
