"""LabelSelector semantics: k8s docs, "Labels and Selectors" (set-based requirements; NotIn also
matches objects without the key; an empty selector matches everything) and metav1 helpers
(a nil selector selects nothing)."""

import pytest

from archconform.errors import ManifestError
from archconform.model.selectors import describe, matches

LABELS = {"app": "web", "tier": "frontend"}


@pytest.mark.parametrize("selector,expected", [
    ({}, True),
    (None, False),
    ({"matchLabels": {"app": "web"}}, True),
    ({"matchLabels": {"app": "web", "tier": "backend"}}, False),  # matchLabels entries are ANDed
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "x"]}]}, True),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, False),
    # "Labels and Selectors": NotIn matches resources without the key too
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}, False),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
])
def test_matches(selector, expected):
    assert matches(selector, LABELS) is expected


def test_invalid_operator_and_values():
    with pytest.raises(ManifestError):
        matches({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, LABELS)
    with pytest.raises(ManifestError):
        matches({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, LABELS)
    with pytest.raises(ManifestError):
        matches({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, LABELS)


def test_describe():
    assert describe({}) == "(all)"
    assert describe({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}) == "app=web,!x"
