"""Evidence a step attaches to the report, and the verdicts it records for the sign-off.

Steps call these; they work with or without an Allure run (without one, an attachment is a
no-op returning None, a verdict is still collected for the sign-off):

- ``attach_text``, ``attach_html``, ``attach_csv``, ``attach_json``: redacted first, always.
- ``attach_png``: not text-redacted (a PNG is pixels; there is no text in it to mask). Its text
  metadata chunks (tEXt/zTXt/iTXt, where matplotlib and Chromium write titles and tool names)
  are dropped. Whatever a PNG *draws* must come from redacted data: timelines are drawn from
  numbers, screenshots from our own redacted report.
- ``record_verdict(level, verdict, measured=..., promised=..., evidence=[...])``: one cell of the
  sign-off table, e.g. ``record_verdict("observed", "passed", measured="20 replicas in 3m40s",
  promised="20, response < 2m", evidence=[matrix])``.
- ``set_environment(**facts)``: cluster facts for environment.properties (the cluster fixture).

Attachments go to the current Allure step (or the test when no step is open) through the
allure-pytest-bdd lifecycle, so each returns an ``Attachment`` naming the results file; the
sign-off links evidence to it.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import threading
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .redact import redact, redact_obj
from .scenarios import LEVELS

#: What a step may record as a verdict at one level of evidence.
VERDICTS = ("passed", "failed", "known gap", "platform gap", "error", "skipped")


@dataclass(frozen=True)
class Attachment:
    """An attachment in the Allure results: its display name and its file name there."""

    name: str
    source: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Collector:
    """Per-process store of what the sign-off needs. The pytest plugin owns the lifecycle:
    ``current`` is the nodeid of the running scenario; xdist workers export ``export()`` to the
    controller, which ``merge()``s."""

    current: str | None = None
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdicts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    attachments: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    uuids: dict[str, str] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def export(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({
                "infos": self.infos, "outcomes": self.outcomes, "verdicts": self.verdicts,
                "attachments": self.attachments, "uuids": self.uuids, "facts": self.facts,
            }))

    def merge(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            self.infos.update(data.get("infos", {}))
            self.outcomes.update(data.get("outcomes", {}))
            for key in ("verdicts", "attachments"):
                mine = getattr(self, key)
                for nodeid, items in data.get(key, {}).items():
                    mine.setdefault(nodeid, []).extend(items)
            self.uuids.update(data.get("uuids", {}))
            self.facts.update(data.get("facts", {}))

    def reset(self) -> None:
        with self.lock:
            self.current = None
            for d in (self.infos, self.outcomes, self.verdicts, self.attachments, self.uuids, self.facts):
                d.clear()


COLLECTOR = Collector()


#: Spellings of the same fact (``ClusterHandle.describe()`` keys, with or without a ``cluster.``
#: prefix) and the key environment.properties uses for it.
FACT_ALIASES = {
    "kind": "cluster_kind", "name": "cluster_name", "nodes": "node_count",
    "kubernetes_version": "kubernetes_version", "version": "kubernetes_version",
    "server_version": "kubernetes_version", "cni": "cni", "profile": "profile", "run_id": "run_id",
    "zones": "zones", "context": "cluster_context", "owned": "cluster_owned",
}
#: Never written to the report: paths to credentials, container ids.
SKIPPED_FACTS = {"kubeconfig", "container_id"}


def fact_key(key: str) -> str:
    """The environment.properties key for a fact: ``cluster.kind`` and ``kind`` become
    ``cluster_kind``, ``cluster.nodes`` becomes ``node_count``, other dots and dashes become ``_``."""
    k = str(key).strip().replace("-", "_")
    bare = k[len("cluster."):] if k.startswith("cluster.") else k
    bare = bare.replace(".", "_")
    if bare in FACT_ALIASES:
        return FACT_ALIASES[bare]
    if bare in SKIPPED_FACTS:
        return bare
    return k.replace(".", "_")


def set_environment(**facts: Any) -> None:
    """Record cluster facts for environment.properties (``cluster_kind``, ``cluster_name``,
    ``kubernetes_version``, ``node_count``, ``cni``, ...; ``ClusterHandle.describe()`` keys, with
    or without a ``cluster.`` prefix, are mapped by ``fact_key``). Later calls override earlier
    keys. The cluster fixture calls it: ``set_environment(**cluster.describe())``."""
    with COLLECTOR.lock:
        for key, value in facts.items():
            name = fact_key(key)
            if value is None or name in SKIPPED_FACTS:
                continue
            COLLECTOR.facts[name] = redact(str(value))


def _lifecycle() -> Any | None:
    """The allure-pytest-bdd lifecycle of this process, if Allure is recording."""
    try:
        import allure_commons
        from allure_pytest_bdd.pytest_bdd_listener import PytestBDDListener
    except ImportError:  # pragma: no cover - allure-pytest-bdd is a dependency
        return None
    for plugin in allure_commons.plugin_manager.get_plugins():
        if isinstance(plugin, PytestBDDListener):
            return plugin.lifecycle
    return None


def _attach(name: str, body: bytes | str, mime: str, ext: str) -> Attachment | None:
    from allure_commons.model2 import ExecutableItem

    lifecycle = _lifecycle()
    if lifecycle is None or lifecycle._last_item_uuid(item_type=ExecutableItem) is None:
        return None
    uid = str(uuidlib.uuid4())
    from allure_commons.types import AttachmentType

    attachment_type = next((t for t in AttachmentType if t.mime_type == mime), None)
    source = lifecycle.attach_data(uid, body, name=name, attachment_type=attachment_type, extension=ext)
    source = source or f"{uid}-attachment.{ext}"
    ref = Attachment(name=name, source=source, type=mime)
    nodeid = COLLECTOR.current
    if nodeid is not None:
        with COLLECTOR.lock:
            COLLECTOR.attachments.setdefault(nodeid, []).append(ref.to_dict())
    return ref


def attach_text(name: str, text: str) -> Attachment | None:
    """Attach plain text (redacted)."""
    return _attach(name, redact(text), "text/plain", "txt")


def attach_html(name: str, html: str) -> Attachment | None:
    """Attach an HTML fragment or page, e.g. a reachability matrix (redacted)."""
    return _attach(name, redact(html), "text/html", "html")


def attach_json(name: str, obj: Any) -> Attachment | None:
    """Attach a JSON-able object (Secret data and credential fields masked, strings redacted)."""
    body = json.dumps(redact_obj(obj), indent=2, sort_keys=True, default=str)
    return _attach(name, redact(body), "application/json", "json")


def attach_csv(name: str, rows: Iterable[Sequence[Any]] | Iterable[Mapping[str, Any]]) -> Attachment | None:
    """Attach rows as CSV: a list of sequences (first row is the header) or a list of dicts
    (header from the first dict's keys). Every cell is redacted."""
    rows = list(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if rows and isinstance(rows[0], Mapping):
        header = list(rows[0].keys())
        writer.writerow([redact(h) for h in header])
        for row in rows:
            writer.writerow([redact(row.get(h, "")) for h in header])  # type: ignore[union-attr]
    else:
        for row in rows:
            writer.writerow([redact(cell) for cell in row])  # type: ignore[union-attr]
    return _attach(name, redact(buffer.getvalue()), "text/csv", "csv")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}


def strip_png_text(data: bytes) -> bytes:
    """The PNG without its text metadata chunks; raises ValueError if it is not a PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        if kind not in _PNG_TEXT_CHUNKS:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def attach_png(name: str, path_or_bytes: str | Path | bytes) -> Attachment | None:
    """Attach a PNG (a file path or its bytes). Not text-redacted, see the module docstring;
    its text metadata chunks are removed."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return _attach(name, strip_png_text(data), "image/png", "png")


def record_verdict(
    level: str,
    verdict: str,
    *,
    measured: str | None = None,
    promised: str | None = None,
    evidence: Iterable[Attachment | str | None] = (),
    note: str | None = None,
) -> None:
    """Record a verdict of the running scenario at one level of evidence for the sign-off.

    ``level`` is declared/modeled/observed; ``verdict`` one of ``VERDICTS``. ``measured`` and
    ``promised`` are short human figures ("20 replicas in 3m40s", "20, response < 2m").
    ``evidence`` holds ``Attachment``s returned by the attach helpers, names of attachments of this
    scenario, or URLs. At the scenario's own level (its ``@declared``/``@modeled``/``@observed``
    tag) the scenario's outcome decides the verdict shown; the figures and evidence come from
    here. Raises RuntimeError outside a running scenario and ValueError on an unknown
    level or verdict.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown evidence level {level!r}; expected one of {', '.join(LEVELS)}")
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
    nodeid = COLLECTOR.current
    if nodeid is None:
        raise RuntimeError("record_verdict() must be called from a running scenario step")
    refs: list[dict[str, str]] = []
    for item in evidence:
        if item is None:
            continue
        if isinstance(item, Attachment):
            refs.append(item.to_dict())
        else:
            refs.append({"name": redact(str(item)), "source": "", "type": ""})
    row = {
        "level": level,
        "verdict": verdict,
        "measured": redact(measured) if measured is not None else None,
        "promised": redact(promised) if promised is not None else None,
        "note": redact(note) if note is not None else None,
        "evidence": refs,
    }
    with COLLECTOR.lock:
        COLLECTOR.verdicts.setdefault(nodeid, []).append(row)
