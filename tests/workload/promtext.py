"""A strict reader of the Prometheus text exposition format 0.0.4, written from the format's
specification (not from the workload's code), so the workload's /metrics is checked against the
format rather than against itself. prometheus_client's parser is used as well when installed.

Rules enforced: every line is a comment, blank, or a sample; ``# TYPE`` at most once per family
and before its first sample; a family's samples are contiguous; metric and label names match
the grammar; label values are quoted with only \\\\, \\" and \\n escapes; values are Go floats
(including NaN, +Inf, -Inf); a counter's samples are named ``<family>`` or ``<family>_total``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(
    rf"^(?P<name>{METRIC_NAME})"
    rf"(?:\{{(?P<labels>(?:{LABEL_NAME}={LABEL_VALUE})(?:,{LABEL_NAME}={LABEL_VALUE})*,?)?\}})?"
    r" (?P<value>\S+)(?: (?P<timestamp>-?\d+))?$"
)
LABEL = re.compile(rf"({LABEL_NAME})=({LABEL_VALUE})")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, **labels: str) -> float:
        """The value of the one sample with exactly these labels."""
        found = [v for _, lbl, v in self.samples if lbl == labels]
        if len(found) != 1:
            raise KeyError(f"{self.name}{labels}: {len(found)} samples")
        return found[0]


def _float(text: str, line: int) -> float:
    if text in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text):
        raise ValueError(f"line {line}: {text!r} is not a float")
    return float(text)


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), quoted[1:-1])


def _family_of(sample_name: str, families: dict[str, Family]) -> str:
    for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
        if sample_name.endswith(suffix) and sample_name[: -len(suffix)] in families:
            return sample_name[: -len(suffix)]
    return sample_name


def parse(text: str) -> dict[str, Family]:
    if text and not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    typed: set[str] = set()
    sampled: set[str] = set()
    current: str | None = None
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(METRIC_NAME, name):
                    raise ValueError(f"line {number}: bad metric name {name!r}")
                family = families.setdefault(name, Family(name))
                if parts[1] == "TYPE":
                    kind = parts[3] if len(parts) == 4 else ""
                    if kind not in TYPES:
                        raise ValueError(f"line {number}: unknown type {kind!r}")
                    if name in typed:
                        raise ValueError(f"line {number}: second TYPE for {name}")
                    if name in sampled:
                        raise ValueError(f"line {number}: TYPE for {name} after its samples")
                    typed.add(name)
                    family.type = kind
                else:
                    family.help = parts[3] if len(parts) == 4 else ""
            continue
        match = SAMPLE.match(line)
        if not match:
            raise ValueError(f"line {number}: not a sample: {line!r}")
        name = match.group("name")
        family_name = _family_of(name, families)
        family = families.setdefault(family_name, Family(family_name))
        if family_name != current and family_name in sampled:
            raise ValueError(f"line {number}: samples of {family_name} are not contiguous")
        if family.type == "counter" and name not in (family_name, f"{family_name}_total",
                                                     f"{family_name}_created"):
            raise ValueError(f"line {number}: counter sample {name} of family {family_name}")
        labels = {key: _unescape(value) for key, value in LABEL.findall(match.group("labels") or "")}
        value = _float(match.group("value"), number)
        if family.type == "counter" and (value < 0 or math.isnan(value)):
            raise ValueError(f"line {number}: counter {name} has value {value}")
        family.samples.append((name, labels, value))
        sampled.add(family_name)
        current = family_name
    return families
