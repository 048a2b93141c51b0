"""Kubernetes resource quantities as exact integers.

Restated from the Quantity type of k8s.io/apimachinery (pkg/api/resource/quantity.go): a signed
decimal number, optionally with an exponent (``1e3``, ``1E3``), followed by at most one suffix:
binary ``Ki Mi Gi Ti Pi Ei`` (powers of 1024) or decimal ``n u m "" k M G T P E`` (powers of
1000). Values are exact (``fractions.Fraction``); conversions to an integer unit round UP, as
``Quantity.MilliValue()`` / ``Quantity.Value()`` do (``0.1m`` CPU is 1 millicore, ``500m`` of
memory is half a byte, i.e. 1 byte: a classic typo this module does not hide, see
``suspicious_memory``).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from archconform.errors import ManifestError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
}
_RE = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(?:([eE])([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")


def parse(q: object) -> Fraction:
    """The exact value of a quantity (a string like "250m", or an int/float from YAML)."""
    if isinstance(q, bool) or q is None:
        raise ManifestError(f"not a quantity: {q!r}")
    if isinstance(q, int):
        return Fraction(q)
    if isinstance(q, float):
        return Fraction(str(q))
    text = str(q).strip()
    m = _RE.match(text)
    if not m:
        raise ManifestError(f"not a Kubernetes quantity: {q!r} (expected e.g. 250m, 1, 0.5, 512Mi, 1Gi, 2G)")
    sign, number, e, exp, suffix = m.groups()
    value = Fraction(number)
    if e:
        value *= Fraction(10) ** int(exp)
    suffix = suffix or ""
    value *= _BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix]
    return -value if sign == "-" else value


def cpu_millis(q: object) -> int:
    """CPU quantity in millicores, rounded up ("250m" -> 250, "1" -> 1000, "0.5" -> 500)."""
    return math.ceil(parse(q) * 1000)


def bytes_of(q: object) -> int:
    """Memory/storage quantity in bytes, rounded up ("512Mi" -> 536870912, "2G" -> 2e9)."""
    return math.ceil(parse(q))


def value_of(resource: str, q: object) -> int:
    """Integer value in the unit this module uses for a resource name: millicores for cpu
    (``cpu``, ``requests.cpu``, ``limits.cpu``), bytes for everything else."""
    base = resource.split(".", 1)[1] if resource.startswith(("requests.", "limits.")) else resource
    return cpu_millis(q) if base == "cpu" else bytes_of(q)


def format_cpu(millis: int) -> str:
    """250 -> "250m", 2000 -> "2"."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(n: int) -> str:
    """Largest binary suffix that divides exactly: 536870912 -> "512Mi", else plain bytes."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        if n and n % _BINARY[suffix] == 0:
            return f"{n // _BINARY[suffix]}{suffix}"
    return str(n)


def format_value(resource: str, value: int) -> str:
    base = resource.split(".", 1)[1] if resource.startswith(("requests.", "limits.")) else resource
    if base == "cpu":
        return format_cpu(value)
    if base in ("memory", "ephemeral-storage", "storage") or base.startswith("hugepages-"):
        return format_bytes(value)
    return str(value)


def suspicious_memory(q: object) -> bool:
    """True for a memory quantity below 1 KiB or with a milli suffix ("500m" means 0.5 byte)."""
    text = str(q).strip()
    return text.endswith("m") or parse(q) < 1024
