"""LabelSelector semantics (k8s.io/apimachinery metav1.LabelSelector).

- ``matchLabels`` and every ``matchExpressions`` requirement are ANDed.
- ``In``: the key is present and its value is listed; ``NotIn``: the key is absent OR its value is
  not listed; ``Exists`` / ``DoesNotExist``: the key's presence (values must be empty).
- An empty selector ``{}`` matches everything; a missing (``None``) selector matches nothing
  (``LabelSelectorAsSelector(nil)`` is ``labels.Nothing()``). NetworkPolicy peers give an absent
  selector a meaning of their own (see netpol), so callers there never pass ``None``.
"""

from __future__ import annotations

from archconform.errors import ManifestError

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def requirements(selector: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """The selector as (key, operator, values) requirements; validates operators."""
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        reqs.append((str(k), "In", (str(v),)))
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key")
        values = tuple(str(v) for v in (expr.get("values") or []))
        if op not in OPERATORS:
            raise ManifestError(f"label selector: unknown operator {op!r} for key {key!r} (one of {', '.join(OPERATORS)})")
        if op in ("In", "NotIn") and not values:
            raise ManifestError(f"label selector: {op} on {key!r} needs at least one value")
        if op in ("Exists", "DoesNotExist") and values:
            raise ManifestError(f"label selector: {op} on {key!r} must not have values")
        reqs.append((str(key), op, values))
    return reqs


def matches(selector: dict | None, labels: dict) -> bool:
    """Whether a LabelSelector matches a label set ({} matches everything, None nothing)."""
    if selector is None:
        return False
    for key, op, values in requirements(selector):
        present = key in labels
        if op == "In":
            if not present or str(labels[key]) not in values:
                return False
        elif op == "NotIn":
            if present and str(labels[key]) in values:
                return False
        elif op == "Exists":
            if not present:
                return False
        elif present:  # DoesNotExist
            return False
    return True


def describe(selector: dict | None) -> str:
    """A selector as kubectl prints it: ``app=web,tier in (a,b),!legacy``; {} -> "(all)"."""
    if selector is None:
        return "(none)"
    parts = []
    for key, op, values in requirements(selector):
        if op == "In":
            parts.append(f"{key}={values[0]}" if len(values) == 1 else f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    return ",".join(parts) or "(all)"
