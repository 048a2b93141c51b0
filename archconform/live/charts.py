"""Time-series charts for observed checks: one PNG (matplotlib, Agg canvas) plus the CSV behind it.

A chart is a stack of panels sharing the time axis (seconds since the experiment started); each
panel holds one or more series. Series are drawn as steps by default, because what they show
(ready endpoints, a PDB's allowed disruptions, failed requests per second) holds its value
until the next observation. Promised limits are horizontal lines, phases (the drain, the
rollout) are shaded spans.

The CSV is written next to the PNG so the chart can be redrawn or checked: by default one row
per point (``panel, series, t_seconds, value``); a caller with a natural wide table (the
availability timeline) passes its own rows.

No pyplot: a bare ``Figure`` on a ``FigureCanvasAgg`` never touches the global backend, so it
is safe in a test process, in threads, and on machines without a display.

    files = render(out_dir, "drain-timeline", [
        Panel("ready endpoints", [Series("ready", points)], hlines=[HLine(2, "promised minimum")]),
        Panel("failed requests / s", [Series("failures", fpoints, style="bar")]),
    ], title="drain of kind-worker")
    attach(files, "drain of kind-worker")
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

log = logging.getLogger("archconform.live")

Point = tuple[float, "float | None"]


@dataclass(frozen=True)
class Series:
    """One line of a panel: (t_seconds, value) points; a None value is a gap (not observed)."""

    name: str
    points: Sequence[Point]
    #: "step" (value holds until the next point), "line", or "bar" (one bar per point).
    style: str = "step"
    color: str | None = None


@dataclass(frozen=True)
class HLine:
    """A promised limit drawn across a panel."""

    value: float
    label: str
    color: str = "tab:red"


@dataclass(frozen=True)
class Span:
    """A shaded phase on every panel (the drain, the rollout)."""

    start: float
    end: float
    label: str
    color: str = "tab:blue"


@dataclass(frozen=True)
class Panel:
    """One subplot: its y-axis label, its series and its limits."""

    ylabel: str
    series: Sequence[Series]
    hlines: Sequence[HLine] = ()
    #: Whole numbers only on the y axis (pod counts, failures).
    integer: bool = True


@dataclass(frozen=True)
class ChartFiles:
    """The files written: the PNG chart and the CSV data behind it (rows kept for attach_csv)."""

    png: Path
    csv: Path
    rows: tuple[dict, ...] = field(default=())


def long_rows(panels: Sequence[Panel]) -> list[dict]:
    """One row per point: panel, series, t_seconds, value (empty when not observed)."""
    rows = []
    for panel in panels:
        for series in panel.series:
            for t, value in series.points:
                rows.append({"panel": panel.ylabel, "series": series.name, "t_seconds": round(t, 3),
                             "value": "" if value is None else value})
    return rows


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write dict rows as CSV (header from the first row's keys; later keys appended)."""
    path = Path(path)
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header or ["t_seconds"], restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _draw_series(ax, series: Series) -> None:
    ts = [t for t, _ in series.points]
    vs = [float("nan") if v is None else float(v) for _, v in series.points]
    kwargs: dict[str, Any] = {"label": series.name}
    if series.color:
        kwargs["color"] = series.color
    if not ts:
        ax.plot([], [], **kwargs)
    elif series.style == "bar":
        ax.bar(ts, vs, width=0.9, align="edge", alpha=0.7, **kwargs)
    elif series.style == "line":
        ax.plot(ts, vs, marker=".", **kwargs)
    else:
        ax.step(ts, vs, where="post", **kwargs)


def render(out_dir: str | Path, name: str, panels: Sequence[Panel], *, title: str = "",
           spans: Iterable[Span] = (), rows: Sequence[Mapping[str, Any]] | None = None,
           xlabel: str = "seconds since start") -> ChartFiles:
    """Write ``<name>.png`` and ``<name>.csv`` into ``out_dir`` (created if needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not panels:
        raise ValueError("a chart needs at least one panel")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = [dict(r) for r in rows] if rows is not None else long_rows(panels)
    csv_path = write_csv(out / f"{name}.csv", data)

    spans = list(spans)
    fig = Figure(figsize=(10, 2.6 * len(panels) + 0.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        for span in spans:
            ax.axvspan(span.start, span.end, color=span.color, alpha=0.12, label=span.label)
        for series in panel.series:
            _draw_series(ax, series)
        for line in panel.hlines:
            ax.axhline(line.value, color=line.color, linestyle="--", linewidth=1.2,
                       label=f"{line.label} ({line.value:g})")
        ax.set_ylabel(panel.ylabel)
        if panel.integer:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png_path = out / f"{name}.png"
    fig.savefig(png_path, format="png")
    return ChartFiles(png=png_path, csv=csv_path, rows=tuple(data))


def attach(files: ChartFiles, name: str) -> bool:
    """Attach the PNG and CSV to the report when the report package provides the helpers.

    Returns False (and logs) when it does not: the files stay on disk either way.
    """
    try:
        from archconform.report import attach_csv, attach_png
    except ImportError:
        log.info("report helpers not available; chart kept at %s", files.png)
        return False
    attach_png(f"{name} (chart)", files.png)
    attach_csv(f"{name} (data)", list(files.rows))
    return True
