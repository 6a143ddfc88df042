"""PNG histograms of the card's distributions (duration, caption words, flow score), linked from the card.

Drawn with matplotlib's object API on the Agg canvas: no pyplot, no global backend switch in the caller's
process, no display needed. The same rows give the same bytes, so a re-push skips unchanged plots.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from lvd2m_builder.card.stats import DURATION_EDGES, FLOW_EDGES, WORD_EDGES, Summary
from lvd2m_builder.store.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PLOTS_DIR = "plots"
#: name -> (axis label, bucket edges drawn as dashed lines)
PLOTS = {
    "duration": ("clip duration (s)", DURATION_EDGES),
    "caption_words": ("refined caption length (words)", WORD_EDGES),
    "flow_score": ("mean optical-flow magnitude (flow score)", FLOW_EDGES),
}


#: Ticks (at most, and a few more at round numbers) on each axis: matplotlib's default 9 took half again the time.
TICKS = 4


def draw_plots(summary: Summary, axes: Optional[Axes] = None) -> dict[str, bytes]:
    """Each distribution with values as PNG bytes, by name: drawn apart from writing, so the import draws them
    while its last row groups are written, and the preview embeds them without files. All on one figure, cleared
    between them (its axes and ticks made once: an eighth less time than a figure each, the same bytes); ``axes``:
    ``canvas()``, when made ahead."""
    values = {"duration": summary.durations, "caption_words": summary.caption_words, "flow_score": summary.flow_scores}
    wanted = [name for name in PLOTS if len(values[name])]
    if not wanted:
        return {}
    axes = axes if axes is not None else _axes()
    return {name: _histogram(axes, np.asarray(values[name], dtype=float), *PLOTS[name]) for name in wanted}


def canvas() -> Axes:
    """The axes ``draw_plots`` draws on, made ahead by a caller that has time before its numbers are complete (the
    import, while it reads): the figure, and the image formats PIL loads at its first save (~15 ms together, the
    most of which was the first plot's own)."""
    from PIL import Image

    Image.preinit()
    return _axes()


def plot_paths(drawn: dict[str, bytes]) -> dict[str, str]:
    """name -> path relative to the output of each plot drawn, where ``write_plots`` writes it: what the card links
    to, known before the files are written."""
    return {name: _relative(name) for name in PLOTS if name in drawn}


def _relative(name: str) -> str:
    return f"{PLOTS_DIR}/{name}.png"


def write_plots(summary: Summary, out: Path, drawn: Optional[dict[str, bytes]] = None) -> dict[str, str]:
    """Write ``out/plots/NAME.png`` for each distribution with values (``drawn``: ``draw_plots(summary)``, when
    already drawn); returns ``plot_paths`` of them."""
    drawn = draw_plots(summary) if drawn is None else drawn
    written = plot_paths(drawn)
    for name in PLOTS:
        path = out / _relative(name)
        if name not in written:
            path.unlink(missing_ok=True)  # a plot from an earlier run must not outlive its data
            continue
        path.parent.mkdir(exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(drawn[name])
    return written


def _axes() -> Axes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported here: it takes a while to load
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    # fixed margins, room for six-digit counts (matplotlib writes larger ones as multiples of a power of ten):
    # tight_layout would lay out every tick label once more before the figure is drawn, the plot's longest step
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.16, top=0.9)
    return figure.add_subplot()


def _histogram(axes: Axes, values: np.ndarray, label: str, edges: tuple[float, ...]) -> bytes:
    for artist in [*axes.patches, *axes.lines]:  # the figure's last plot
        artist.remove()
    # the data limits of this plot's artists alone, taken as they are added: ``relim`` would work out the outline's
    # extent once more (a tenth of the drawing time; the same bytes)
    axes.ignore_existing_data_limits = True
    high = max(float(np.percentile(values, 99)), edges[-1] * 1.2)
    # binned here and drawn as one filled outline: Axes.hist draws a patch per bar, three times the drawing time
    counts, bins = np.histogram(np.clip(values, None, high), bins=40, range=(min(0.0, float(values.min())), high))
    axes.stairs(counts, bins, fill=True, color="#4c72b0")
    for edge in edges:
        axes.axvline(edge, color="0.4", linestyle="--", linewidth=0.8)
    axes.autoscale()
    axes.set_xlabel(label)
    axes.set_ylabel("clips")
    # at the axes' top, where matplotlib's own placement puts it (nothing is drawn above the axes), without its
    # measuring every tick label again to find that out: the same bytes, ~5% of the drawing time
    axes.set_title(f"{len(values)} clips, mean {values.mean():.1f}", y=1.0)
    axes.locator_params(nbins=TICKS)  # each tick is a line and a label to lay out: the most of the drawing time
    png = io.BytesIO()
    axes.figure.savefig(png, format="png", metadata={"Software": None})
    return png.getvalue()
