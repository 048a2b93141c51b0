"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as the fake API server applies them.

Strategic merge patches are applied as merge patches (lists replaced whole), which is exact for
everything archconform sends (maps, scalars, and lists it sends complete).
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied (the fake answers 422 or 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    current = doc
    for part in parts[:-1]:
        if isinstance(current, list):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise PatchError(f"path segment {part!r} does not exist")
    return current, parts[-1]


def json_patch(doc: Any, ops: list[dict]) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        if kind in ("add", "replace"):
            if not parts:
                doc = copy.deepcopy(op["value"])
                continue
            parent, key = _parent(doc, parts)
            if isinstance(parent, list):
                index = len(parent) if key == "-" else int(key)
                if kind == "add":
                    parent.insert(index, copy.deepcopy(op["value"]))
                else:
                    parent[index] = copy.deepcopy(op["value"])
            else:
                if kind == "replace" and key not in parent:
                    raise PatchError(f"replace: {op['path']} does not exist")
                parent[key] = copy.deepcopy(op["value"])
        elif kind == "remove":
            parent, key = _parent(doc, parts)
            try:
                del parent[int(key) if isinstance(parent, list) else key]
            except (KeyError, IndexError) as exc:
                raise PatchError(f"remove: {op['path']} does not exist") from exc
        elif kind in ("move", "copy"):
            src_parent, src_key = _parent(doc, _pointer(op["from"]))
            value = src_parent[int(src_key) if isinstance(src_parent, list) else src_key]
            if kind == "move":
                del src_parent[int(src_key) if isinstance(src_parent, list) else src_key]
            doc = json_patch(doc, [{"op": "add", "path": op["path"], "value": value}])
        elif kind == "test":
            parent, key = _parent(doc, parts)
            actual = parent[int(key) if isinstance(parent, list) else key]
            if actual != op.get("value"):
                raise PatchError(f"test failed at {op['path']}")
        else:
            raise PatchError(f"unknown JSON patch op {kind!r}")
    return doc
