"""Training logs: a CSV of every logged step (TensorBoard too when it is installed) and a
PNG loss curve written at the end of training."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw


class MetricsLog:
    """Appends rows {step, name: value, ...} to <dir>/metrics.csv.

    On resume, rows after the resumed step (steps count completed updates) are dropped first, so the file holds one
    row per logged step whatever happened to the run.
    """

    def __init__(self, directory: str | Path, resume_step: int | None = None, enabled: bool = True):
        self.path = Path(directory) / "metrics.csv"
        self.enabled = enabled
        self.rows: list[dict[str, Any]] = []
        if enabled and self.path.is_file() and resume_step is not None:
            with self.path.open(newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self._tensorboard = _tensorboard(directory) if enabled else None
        if enabled:
            self._rewrite()

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.rows.append({"step": step, **values})
        self._rewrite()
        if self._tensorboard is not None:
            self._tensorboard.log_metrics(values, step=step)

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        columns = ["step"] + sorted({k for r in self.rows for k in r if k != "step"})
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

    def series(self, name: str) -> tuple[list[int], list[float]]:
        steps, values = [], []
        for r in self.rows:
            if r.get(name) not in (None, ""):
                steps.append(int(r["step"]))
                values.append(float(r[name]))
        return steps, values


def _tensorboard(directory: str | Path):
    try:
        from lightning_fabric.loggers import TensorBoardLogger

        return TensorBoardLogger(root_dir=str(directory), name="tensorboard")
    except (ImportError, ModuleNotFoundError):
        return None


Series = tuple[list[int], list[float]]
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def plot_curves(path: str | Path, panels: list[dict[str, Series]], title: str) -> Path:
    """Draw panels of curves (name -> (steps, values)) stacked in one PNG, each panel with its
    own y axis (log scale when all its values are positive and span over a decade), so that
    losses and figures in other units (PSNR in dB) stay readable side by side."""
    width, panel_height, top = 720, 300, 30
    image = Image.new("RGB", (width, top + panel_height * max(1, len(panels))), "white")
    draw = ImageDraw.Draw(image)
    draw.text((60, 10), title, fill="black")
    for i, curves in enumerate(panels or [{}]):
        _draw_panel(draw, (60, top + i * panel_height + 20, width - 60, top + (i + 1) * panel_height - 40), curves)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _draw_panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], curves: dict[str, Series]) -> None:
    left, upper, right, lower = box
    curves = {k: v for k, v in curves.items() if v[0]}
    points = [(s, v) for steps, values in curves.values() for s, v in zip(steps, values) if math.isfinite(v)]
    if not points:
        draw.text((left, (upper + lower) // 2), f"no values logged for {', '.join(curves) or 'this panel'}",
                  fill="black")
        return
    values = [v for _, v in points]
    log_y = min(values) > 0 and max(values) / min(values) > 10

    def y_of(v: float) -> float:
        return math.log10(v) if log_y else v

    x0, x1 = min(s for s, _ in points), max(s for s, _ in points)
    y0, y1 = min(map(y_of, values)), max(map(y_of, values))
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-6)

    def to_px(s: float, v: float) -> tuple[float, float]:
        return (left + (s - x0) / (x1 - x0) * (right - left), lower - (y_of(v) - y0) / (y1 - y0) * (lower - upper))

    draw.rectangle([left, upper, right, lower], outline="black")
    draw.text((left, lower + 6), f"step {x0}", fill="black")
    draw.text((right - 60, lower + 6), f"step {x1}", fill="black")
    draw.text((5, upper - 6), f"{10 ** y1 if log_y else y1:.3g}", fill="black")
    draw.text((5, lower - 6), f"{10 ** y0 if log_y else y0:.3g}", fill="black")
    if log_y:
        draw.text((left + 80, lower + 6), "log scale", fill="gray")
    for i, (name, (steps, vals)) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        pts = [to_px(s, v) for s, v in zip(steps, vals) if math.isfinite(v) and (v > 0 or not log_y)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        draw.text((right - 150, upper + 8 + 14 * i), name, fill=colour)
