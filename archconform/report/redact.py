"""Redaction: secrets never reach a log line, an attachment or the report.

``redact(text)`` is applied to everything archconform writes into ``reports/`` (attachments,
log records, the sign-off summary, and a final sweep over the Allure results at session end).
It removes:

- every value registered at run time with ``register_secret(value)`` (the apply path registers
  each generated secret value), in its raw, base64, URL-quoted, HTML-escaped and JSON-escaped
  forms, so a value is caught however it was printed;
- the values of ``data`` and ``stringData`` in dumps of Secret objects (YAML, JSON or Python
  repr, base64 or not); ``redact_obj`` does the same on dicts before they are serialised;
- passwords in URLs (``scheme://user:pass@host`` becomes ``scheme://user:***@host``);
- bearer tokens, ``Authorization:`` headers, JSON Web Tokens and PEM private keys;
- credential fields of kubeconfigs and similar (``client-key-data``, ``client-certificate-data``,
  ``token``, ``password``, ``client-secret``, ...), as ``key: value``, ``"key": "value"`` or
  ``key=value`` (libpq connection strings).

Redaction is deliberately greedy: hiding a harmless value costs a little readability, leaking a
secret costs a credential rotation. Everything is replaced by ``***`` (``MASK``), quoted as
``"***"`` where the value sits after ``key:`` so that redacted YAML stays parseable.

``RedactingFilter`` is a ``logging.Filter``; ``install_log_redaction()`` puts it on the root
logger *and* wraps the LogRecord factory, because Python runs a logger's filters only for records
created on that very logger, not for records propagated from child loggers such as
``archconform.kube``.
"""

from __future__ import annotations

import base64
import os
import html
import json
import logging
import re
import threading
import urllib.parse
from typing import Any, Callable

MASK = "***"
#: The mask where the value is YAML: quoted, because a bare ``***`` would parse as an alias.
_YAML_MASK = f'"{MASK}"'

#: Registered values shorter than this are refused: masking every "ab" in every report would make
#: the report unreadable and gives no protection (such a value is not a credential).
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()          # the values as registered
_variants: list[str] = []           # every printed form of them, longest first
_variant_pattern: re.Pattern[str] | None = None


def _forms(value: str) -> set[str]:
    """The ways a value can appear in text: raw, base64, URL-quoted, HTML/JSON-escaped."""
    raw = value.encode("utf-8")
    forms = {
        value,
        base64.b64encode(raw).decode("ascii"),
        base64.urlsafe_b64encode(raw).decode("ascii"),
        base64.b64encode(raw).decode("ascii").rstrip("="),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        html.escape(value, quote=True),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
    }
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret value so that ``redact`` masks it everywhere from now on.

    Call it for every secret value the run generates or reads (generated Secret data, database
    passwords, tokens). Values shorter than ``MIN_SECRET_LENGTH`` characters are ignored.
    """
    global _variant_pattern
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    value = str(value)
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        variants = set(_variants) | _forms(value)
        _variants[:] = sorted(variants, key=len, reverse=True)
        _variant_pattern = re.compile("|".join(re.escape(v) for v in _variants))


def registered_secrets() -> list[str]:
    """The values registered so far (the plugin hands them from xdist workers to the controller)."""
    with _lock:
        return sorted(_secrets)


def clear_registered_secrets() -> None:
    """Forget every registered value (tests use this; a run never needs it)."""
    global _variant_pattern
    with _lock:
        _secrets.clear()
        _variants.clear()
        _variant_pattern = None


# --- patterns ------------------------------------------------------------------------------

# scheme://user:password@host  ->  scheme://user:***@host   (user may be empty: redis://:pw@h)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"<>]*:)(?P<pw>[^\s@/'\"<>]+)@")

_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer|basic|token)\s+(?P<cred>[A-Za-z0-9\-._~+/]{6,}=*)")

# Authorization: anything up to the end of the line or the closing quote
_AUTH_HEADER = re.compile(
    r"(?i)(?P<head>[\"']?\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?P<val>[^\"'\r\n]+)"
)

_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<what>[A-Z ]*PRIVATE KEY)-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S
)

#: Keys whose value is a credential wherever they appear (kubeconfig users, connection strings,
#: cloud credentials, auth-provider configs).
CREDENTIAL_KEYS = (
    "password", "passwd", "pgpassword", "token", "id-token", "refresh-token", "access-token",
    "client-key-data", "client-certificate-data", "client-secret", "client_secret",
    "secret-access-key", "aws_secret_access_key", "aws_session_token", "api-key", "api_key",
    "apikey", "x-api-key", "x-auth-token",
)
_KEY_ALTERNATION = "|".join(re.escape(k) for k in sorted(CREDENTIAL_KEYS, key=len, reverse=True))
# key: value / "key": "value" / key=value ; the value ends at whitespace, quote, comma, brace, &
_CREDENTIAL_FIELD = re.compile(
    r"(?i)(?P<head>(?<![\w\-.])(?P<q>[\"']?)(?:" + _KEY_ALTERNATION + r")(?P=q)\s*(?:[:=])[ \t]*)"
    r"(?P<val>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s,;}&\"'\]]+)"
)

#: One pass that every pattern below needs to match something first (each pattern contains one of
#: these words), so the common case, a string with none of them, costs one C-level scan.
_TRIGGER = re.compile("(?i)" + "|".join(re.escape(t) for t in sorted(
    {"://", "bearer", "basic", "token", "authorization", "eyj", "private key", "secret", *CREDENTIAL_KEYS},
    key=len, reverse=True)))

# --- Secret manifests in text ----------------------------------------------------------------

_SECRET_KIND = re.compile(r"""(?m)(?:^|[{,\s])["']?kind["']?\s*[:=]\s*["']?Secret["']?\s*(?:$|[,}\n])""")
_YAML_DOC_SPLIT = re.compile(r"(?m)^(?=---\s*$)")
_YAML_DATA_KEY = re.compile(r"^(?P<indent>[ \t]*)(?:- )?(?P<key>data|stringData)\s*:\s*(?P<rest>.*)$")
_YAML_ENTRY = re.compile(r"^(?P<head>[ \t]*[^\s:#][^:]*:)(?P<sep>\s*)(?P<val>.*)$")
# "data": {...} or 'data': {...} or data: {...} (flow style / JSON / Python repr), no nesting inside
_FLOW_DATA = re.compile(r"""(?P<head>(?<![\w\-])["']?(?:data|stringData)["']?\s*[:=]\s*)\{(?P<body>[^{}]*)\}""")
_FLOW_ENTRY = re.compile(
    r"""(?P<k>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s:,{}]+)\s*:\s*(?P<v>"(?:[^"\\]|\\.)*"|'[^']*'|[^,}]*)"""
)


def _mask_flow_body(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        v = m.group("v").strip()
        if not v:
            return m.group(0)
        q = v[0] if v[0] in "\"'" else '"'
        return f"{m.group('k')}: {q}{MASK}{q}"
    return _FLOW_ENTRY.sub(one, body)


def _redact_yaml_secret_doc(doc: str) -> str:
    """Mask the values under data:/stringData: of one YAML document that is a Secret."""
    out: list[str] = []
    lines = doc.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _YAML_DATA_KEY.match(line)
        if not m:
            out.append(line)
            i += 1
            continue
        rest = m.group("rest").strip()
        if rest.startswith("{"):
            out.append(_FLOW_DATA.sub(lambda f: f.group("head") + "{" + _mask_flow_body(f.group("body")) + "}", line))
            i += 1
            continue
        out.append(line)
        key_indent = len(m.group("indent")) + (2 if line.lstrip().startswith("- ") else 0)
        i += 1
        child_indent: int | None = None
        while i < len(lines):
            child = lines[i]
            stripped = child.strip()
            indent = len(child) - len(child.lstrip())
            if stripped and indent <= key_indent:
                break
            if not stripped:
                out.append(child)
                i += 1
                continue
            if child_indent is None:
                child_indent = indent
            if indent == child_indent:
                e = _YAML_ENTRY.match(child)
                if e:
                    val = e.group("val").strip()
                    out.append(f"{e.group('head')} {_YAML_MASK}" if val else child)
                else:
                    out.append(" " * indent + _YAML_MASK)
            # deeper lines are continuation of a block scalar or a multi-line value: dropped
            i += 1
    return "\n".join(out)


def _redact_secret_manifests(text: str) -> str:
    if not _SECRET_KIND.search(text):
        return text
    # YAML: split into documents and mask the data of those that are Secrets
    docs = _YAML_DOC_SPLIT.split(text)
    docs = [_redact_yaml_secret_doc(d) if _SECRET_KIND.search(d) else d for d in docs]
    text = "".join(docs)
    # JSON, flow-style YAML and Python repr: mask any data/stringData mapping
    return _FLOW_DATA.sub(lambda f: f.group("head") + "{" + _mask_flow_body(f.group("body")) + "}", text)


def _mask_credential(m: re.Match[str]) -> str:
    val = m.group("val")
    if not val or val in ('""', "''"):
        return m.group(0)
    q = val[0] if val[0] in "\"'" else ""
    if not q and ":" in m.group("head"):
        q = '"'  # key: value is YAML-like; a bare *** would be a YAML alias
    return f"{m.group('head')}{q}{MASK}{q}"


def redact(text: Any) -> str:
    """Return ``text`` with every secret masked (see the module docstring for what counts).

    Accepts ``str`` or ``bytes`` (decoded as UTF-8 with replacement); anything else is ``str()``-ed.
    """
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    pattern = _variant_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if not _TRIGGER.search(text):
        return text
    text = _PEM_PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group('what')}-----{MASK}-----END {m.group('what')}-----", text)
    text = _redact_secret_manifests(text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('head')}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
    text = _JWT.sub(MASK, text)
    text = _CREDENTIAL_FIELD.sub(_mask_credential, text)
    return text


def redact_obj(obj: Any) -> Any:
    """A deep copy of a JSON-like structure with secrets masked.

    Secret objects (``kind: Secret``) keep their keys but every ``data``/``stringData`` value
    becomes ``***``; mapping keys that name credentials (``CREDENTIAL_KEYS``, e.g. a kubeconfig
    user's ``token``) get a masked value; every other string goes through ``redact``.
    """
    if isinstance(obj, dict):
        is_secret = obj.get("kind") == "Secret"
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = str(k).lower()
            if is_secret and k in ("data", "stringData") and isinstance(v, dict):
                out[k] = {dk: MASK for dk in v}
            elif key in CREDENTIAL_KEYS and isinstance(v, (str, bytes)) and v:
                out[k] = MASK
            elif key in ("authorization", "proxy-authorization") and isinstance(v, str):
                out[k] = MASK
            else:
                out[k] = redact_obj(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, (str, bytes)):
        return redact(obj)
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message (and traceback) through ``redact``.

    It never drops a record; it formats the message with its arguments first, so a secret passed
    as an argument (``log.info("url %s", url)``) is caught too.
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 (logging's name)
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact one log record in place (message, arguments, exception and stack text)."""
    if getattr(record, "_archconform_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what we can, redacted
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._archconform_redacted = True  # type: ignore[attr-defined]
    return record


_installed: tuple[RedactingFilter, Callable[..., logging.LogRecord]] | None = None


def install_log_redaction() -> RedactingFilter:
    """Install redaction for every log record of this process; idempotent.

    Adds a ``RedactingFilter`` to the root logger and wraps the LogRecord factory so that
    records created on any logger (whose filters the root logger never sees) are redacted at
    creation, before any handler, pytest's log capture included, formats them.
    """
    global _installed
    if _installed is not None:
        return _installed[0]
    flt = RedactingFilter()
    logging.getLogger().addFilter(flt)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = (flt, previous)
    return flt


def uninstall_log_redaction() -> None:
    """Undo ``install_log_redaction`` (the plugin calls it when pytest unconfigures)."""
    global _installed
    if _installed is None:
        return
    flt, previous = _installed
    logging.getLogger().removeFilter(flt)
    logging.setLogRecordFactory(previous)
    _installed = None


#: Files the tree sweep never rewrites: pixels and archives have no text to mask.
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tiff", ".webm", ".mp4", ".ogg",
                   ".zip", ".gz", ".pcap", ".pdf", ".woff", ".woff2", ".ico"}


def _redact_json_strings(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _redact_json_strings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_json_strings(v) for v in obj]
    if isinstance(obj, str):
        return redact(obj)
    return obj


def redact_file(path: "os.PathLike[str] | str") -> bool:
    """Redact one file in place; returns True if it changed. JSON files are redacted string by
    string (so they stay valid JSON; JSON attachments also get ``redact_obj``); other text files
    as text; binary files (``BINARY_SUFFIXES``, or not UTF-8) are left alone."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() in BINARY_SUFFIXES:
        return False
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    new: str
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            new = redact(text)
        else:
            cleaned = redact_obj(data) if p.name.endswith("-attachment.json") else _redact_json_strings(data)
            new = text if cleaned == data else json.dumps(cleaned, ensure_ascii=False)
    else:
        new = redact(text)
    if new != text:
        p.write_text(new, encoding="utf-8")
        return True
    return False


def redact_tree(root: "os.PathLike[str] | str") -> list[str]:
    """Redact every file under ``root`` in place (the plugin sweeps the Allure results at session
    end, after every worker has written); returns the files that changed."""
    from pathlib import Path

    changed = []
    base = Path(root)
    if not base.is_dir():
        return changed
    for p in sorted(base.rglob("*")):
        if p.is_file() and not p.is_symlink() and redact_file(p):
            changed.append(str(p))
    return changed
