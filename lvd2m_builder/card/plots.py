"""PNG histograms of the card's distributions (duration, caption words, flow score), linked from the card.

Drawn with matplotlib's object API on the Agg canvas: no pyplot, no global backend switch in the caller's
process, no display needed. The same rows give the same bytes, so a re-push skips unchanged plots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lvd2m_builder.card.stats import DURATION_EDGES, FLOW_EDGES, WORD_EDGES, Summary
from lvd2m_builder.store.atomic import atomic_path

PLOTS_DIR = "plots"
#: name -> (axis label, bucket edges drawn as dashed lines)
PLOTS = {
    "duration": ("clip duration (s)", DURATION_EDGES),
    "caption_words": ("refined caption length (words)", WORD_EDGES),
    "flow_score": ("mean optical-flow magnitude (flow score)", FLOW_EDGES),
}


def write_plots(summary: Summary, out: Path) -> dict[str, str]:
    """Write ``out/plots/NAME.png`` for each distribution with values; returns name -> path relative to ``out``."""
    values = {"duration": summary.durations, "caption_words": summary.caption_words, "flow_score": summary.flow_scores}
    directory = out / PLOTS_DIR
    written = {}
    for name, (label, edges) in PLOTS.items():
        path = directory / f"{name}.png"
        if len(values[name]) == 0:
            path.unlink(missing_ok=True)  # a plot from an earlier run must not outlive its data
            continue
        directory.mkdir(exist_ok=True)
        _histogram(np.asarray(values[name], dtype=float), label, edges, path)
        written[name] = f"{PLOTS_DIR}/{name}.png"
    return written


def _histogram(values: np.ndarray, label: str, edges: tuple[float, ...], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported here: it takes a while to load
    from matplotlib.figure import Figure

    high = max(float(np.percentile(values, 99)), edges[-1] * 1.2)
    figure = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist(np.clip(values, None, high), bins=40, range=(min(0.0, float(values.min())), high), color="#4c72b0")
    for edge in edges:
        axes.axvline(edge, color="0.4", linestyle="--", linewidth=0.8)
    axes.set_xlabel(label)
    axes.set_ylabel("clips")
    axes.set_title(f"{len(values)} clips, mean {values.mean():.1f}")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", metadata={"Software": None})
