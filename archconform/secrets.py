"""Generated secrets: the committed manifests never carry a secret value.

A Secret in systems/ carries the annotation ``archconform.io/generate`` with a JSON object of
key → template. ``random:N`` is N random URL-safe characters; ``${key}`` refers to another key
of the same Secret (so a URL can embed the generated password). Values are produced at apply time,
registered with the report's redaction so they can never reach a log line or an attachment, and
put in ``stringData``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets as _secrets
import string

from typing import Callable

from .errors import ManifestError
from .manifests import GENERATE_ANNOTATION as ANNOTATION, ref

_RANDOM = re.compile(r"^random:(\d+)$")
_REF = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
_ALPHABET = string.ascii_letters + string.digits


def _register(value: str) -> None:
    try:
        from .report.redact import register_secret
    except ImportError:  # report package not installed in this context
        return
    register_secret(value)


def templates_of(obj: dict) -> dict[str, str]:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{ref(obj)}: annotation {ANNOTATION} is not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ManifestError(f"{ref(obj)}: annotation {ANNOTATION} must map keys to template strings")
    return data


def generate(templates: dict[str, str], *, where: str = "Secret") -> dict[str, str]:
    """Resolve key → template into key → value (random parts first, then ${key} references)."""
    values: dict[str, str] = {}
    for key, tmpl in templates.items():
        m = _RANDOM.match(tmpl)
        if m:
            values[key] = "".join(_secrets.choice(_ALPHABET) for _ in range(int(m.group(1))))
    for key, tmpl in templates.items():
        if key in values:
            continue

        def sub(match: re.Match) -> str:
            name = match.group(1)
            if name not in values:
                raise ManifestError(f"{where}: template of {key!r} refers to ${{{name}}}, which is not a random key")
            return values[name]

        values[key] = _REF.sub(sub, tmpl)
    return values


def materialize(objs: list[dict], *, existing: Callable[[dict], dict | None] | None = None) -> list[dict]:
    """Copies of the objects with every generating Secret filled in (stringData).

    ``existing(obj)`` may return the decoded data of that Secret as it already is in the cluster;
    when it holds every generated key, those values are kept: regenerating them on a reused
    cluster would change the password of a database that is already initialised.
    """
    out = []
    for obj in objs:
        templates = templates_of(obj) if obj.get("kind") == "Secret" else {}
        if not templates:
            out.append(obj)
            continue
        filled = copy.deepcopy(obj)
        current = (existing(obj) if existing else None) or {}
        if all(k in current for k in templates):
            values = {k: current[k] for k in templates}
        else:
            values = generate(templates, where=ref(obj))
        # Only what holds random material is secret: a literal template ("username": "tbyte") is
        # committed in the manifests, and masking it would blank that word everywhere (a system
        # named tbyte vanished from its own sign-off).
        for key, v in values.items():
            if _RANDOM.match(templates[key]) or _REF.search(templates[key]):
                _register(v)
        filled.setdefault("stringData", {}).update(values)
        out.append(filled)
    return out


def decoded_data(secret: dict | None) -> dict[str, str] | None:
    """A Secret object's data, base64-decoded (None for no Secret)."""
    if not secret:
        return None
    out = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    out.update(secret.get("stringData") or {})
    return out
