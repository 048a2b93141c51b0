"""Quantities: k8s.io/apimachinery resource.Quantity (suffixes, exponents, rounding up), as
documented on "Resource Management for Pods and Containers" (CPU and memory units)."""

import pytest

from archconform.errors import ManifestError
from archconform.model.quantity import bytes_of, cpu_millis, format_bytes, format_cpu, suspicious_memory


@pytest.mark.parametrize("q,millis", [
    ("250m", 250), ("1", 1000), ("0.5", 500), (2, 2000), ("1.5", 1500), ("100m", 100),
    ("0.1m", 1),  # below 1m rounds UP (MilliValue rounds up)
    ("1e3m", 1000), ("2k", 2_000_000),
])
def test_cpu_millis(q, millis):
    # k8s docs, Resource Management: "0.1 is equivalent to 100m"; "1 CPU unit = 1000m"
    assert cpu_millis(q) == millis


@pytest.mark.parametrize("q,n", [
    ("512Mi", 512 * 2**20), ("1Gi", 2**30), ("2G", 2 * 10**9), ("100k", 100_000), ("128974848", 128974848),
    ("129e6", 129_000_000), ("123Mi", 128974848), ("1Ki", 1024), ("500m", 1),  # 0.5 byte rounds up to 1
])
def test_bytes_of(q, n):
    # k8s docs, Resource Management "Memory resource units": 128974848, 129e6, 129M, 123Mi are
    # roughly the same value; 400m of memory is 0.4 bytes (a typo the docs warn about)
    assert bytes_of(q) == n


def test_milli_memory_is_flagged():
    # k8s docs: "If you request 400m of memory, this is a request for 0.4 bytes"
    assert suspicious_memory("400m") and not suspicious_memory("400Mi")


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "10 Mi", "5Xi", "Mi"])
def test_rejects_garbage(bad):
    with pytest.raises(ManifestError):
        cpu_millis(bad)


def test_formatting_round_trips():
    assert format_cpu(250) == "250m" and format_cpu(2000) == "2"
    assert format_bytes(512 * 2**20) == "512Mi" and format_bytes(1000) == "1000"
