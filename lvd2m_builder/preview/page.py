"""The report as one self-contained HTML file.

jinja2 renders the static parts (funnel, reasons, histograms, the filter controls); the clips go in as embedded
JSON that the page's inline script filters, sorts and pages, so the DOM holds one page of clips however many
there are, and thumbnails load lazily. The filter state lives in the URL fragment (``#stage=cuts&page=2``):
a link or a reload shows the same view, and the funnel's stages and reasons link straight to their clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

from lvd2m_builder import __version__
from lvd2m_builder.preview.rows import ACCEPTED
from lvd2m_builder.run.stats import shorten
from lvd2m_builder.stages.registry import STAGES

ASSETS = Path(__file__).parent
#: Sort keys the page offers: value -> label.
SORTS = {"order": "dataset order", "duration": "duration", "flow": "flow score", "video": "video id", "stage": "stage"}


def render(label: str, clips: list[dict[str, Any]], stats: dict[str, Any], plots: list[tuple[str, str]],
           page_size: int, note: str = "") -> str:
    """The page's HTML. ``stats`` has stats.json's shape; ``plots`` are (title, data URI) pairs."""
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(ASSETS), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["shorten"] = shorten  # reasons stay whole in links and filters, shortened only where shown
    stages = stage_order({c["stage"] for c in clips} - {ACCEPTED})
    reasons: dict[str, int] = {}
    for clip in clips:
        if clip["reason_class"]:
            reasons[clip["reason_class"]] = reasons.get(clip["reason_class"], 0) + 1
    return env.get_template("page.html").render(
        label=label,
        version=__version__,
        note=note,
        stats=stats,
        shown={"accepted": sum(c["stage"] == ACCEPTED for c in clips), "rejected": sum(c["stage"] != ACCEPTED for c in clips)},
        stage_options=[(s, sum(c["stage"] == s for c in clips)) for s in stages],
        reason_options=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        funnel=[{**row, "link": fragment(stage=row["stage"])} for row in stats.get("funnel", [])],
        reasons=[(reason, count, fragment(reason=reason)) for reason, count in stats.get("rejected_by_reason", {}).items()],
        plots=plots,
        sorts=SORTS,
        css=Markup((ASSETS / "page.css").read_text()),
        js=Markup((ASSETS / "page.js").read_text()),
        data={"page_size": page_size, "stages": [ACCEPTED, *stages], "clips": clips},
    )


def stage_order(stages: set[str]) -> list[str]:
    """Pipeline order first, then stages the schema does not know (an importer's, say) by name."""
    return sorted(stages, key=lambda s: (STAGES.index(s) if s in STAGES else len(STAGES), s))


def fragment(**state: str) -> str:
    """A link to the page's view with this filter state, e.g. ``#stage=cuts``."""
    return "#" + urlencode(state)
