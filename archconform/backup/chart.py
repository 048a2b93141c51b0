"""The experiment's timeline as a chart (PNG) and a table (CSV), to attach to the report.

The chart plots every committed stamp (seq over seconds since the start), restored rows and lost
rows in different colours, the backup (start to completion, shaded), the disaster, the end of the
restore and the first successful query (vertical lines), and shades the lost window: from the
newest restored stamp to the disaster. The CSV has one row per stamp and one per event, so the
chart can be redrawn or checked.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .experiment import ExperimentResult

CSV_FIELDS = ("kind", "t_seconds", "seq", "written_at", "restored")


@dataclass(frozen=True)
class ChartFiles:
    """The files to attach: the PNG chart and the CSV data behind it."""

    png: Path
    csv: Path
    rows: tuple[dict, ...]   #: the CSV rows as dicts (for ``attach_csv``)


def chart_rows(result: "ExperimentResult") -> list[dict]:
    """One dict per stamp (kind ``write``) and per event, times in seconds since the start."""
    t0 = result.started.wall
    present = {seq for seq, _ in result.restored}
    rows = [{"kind": "write", "t_seconds": round((s.written_at - t0).total_seconds(), 6), "seq": s.seq,
             "written_at": s.written_at.isoformat(), "restored": int(s.seq in present)}
            for s in result.writes]
    events = (("backup_started", result.backup.started), ("backup_completed", result.backup.completed),
              ("disaster", result.disaster), ("restore_completed", result.restore.completed),
              ("first_successful_query", result.first_query))
    for kind, instant in events:
        rows.append({"kind": kind, "t_seconds": round(instant.seconds_since(result.started), 6), "seq": "",
                     "written_at": instant.wall.isoformat(), "restored": ""})
    return rows


def render_chart(result: "ExperimentResult", out_dir: str | Path, *, name: str = "backup-timeline") -> ChartFiles:
    """Write ``<name>.png`` and ``<name>.csv`` into ``out_dir`` (created if needed)."""
    # The Agg canvas, attached to a bare Figure: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = chart_rows(result)
    csv_path = out / f"{name}.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)

    writes = [r for r in rows if r["kind"] == "write"]
    at = {r["kind"]: r["t_seconds"] for r in rows if r["kind"] != "write"}
    fig = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    kept = [r for r in writes if r["restored"]]
    lost = [r for r in writes if not r["restored"]]
    ax.plot([r["t_seconds"] for r in kept], [r["seq"] for r in kept], ".", color="tab:green", markersize=4,
            label=f"restored ({len(kept)} rows)")
    ax.plot([r["t_seconds"] for r in lost], [r["seq"] for r in lost], "x", color="tab:red", markersize=4,
            label=f"lost ({len(lost)} rows)")
    ax.axvspan(at["backup_started"], at["backup_completed"], color="tab:blue", alpha=0.25,
               label=f"backup ({result.backup.duration:.3f}s)")
    newest = result.newest_restored
    lost_from = (newest[1] - result.started.wall).total_seconds() if newest else 0.0
    ax.axvspan(lost_from, at["disaster"], color="tab:red", alpha=0.12,
               label=f"lost window ({result.observed_rpo.total_seconds():.3f}s)")
    ax.axvline(at["disaster"], color="black", linewidth=1.5, label="disaster")
    ax.axvline(at["restore_completed"], color="tab:purple", linestyle="--", label="restore completed")
    ax.axvline(at["first_successful_query"], color="tab:green", linestyle=":",
               label=f"first successful query (RTO {result.observed_rto.total_seconds():.3f}s)")
    ax.set_xlabel("seconds since the writer started")
    ax.set_ylabel("writer sequence number")
    ax.set_title("Backup and restore: " + ("promises kept" if result.verdict.passed else "promise broken"))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    png_path = out / f"{name}.png"
    fig.savefig(png_path)
    return ChartFiles(png_path, csv_path, tuple(rows))
