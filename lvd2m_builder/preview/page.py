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
from lvd2m_builder.run.stats import most_common, shorten
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
        reason_options=most_common(reasons),
        funnel=[{**row, "link": fragment(stage=row["stage"])} for row in stats.get("funnel", [])],
        videos=shot_strips(clips),
        reasons=[(reason, count, fragment(reason=reason)) for reason, count in most_common(stats.get("rejected_by_reason", {}))],
        plots=plots,
        sorts=SORTS,
        css=Markup((ASSETS / "page.css").read_text()),
        js=Markup((ASSETS / "page.js").read_text()),
        data={"page_size": page_size, "stages": [ACCEPTED, *stages], "clips": clips},
    )


def shot_strips(clips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shots of each split video side by side on its timeline, with the cuts (trimmed transitions) between.

    Each shot's box sits at its span, as a share of the video's length (its last shot's end), and shows its first
    thumbnail and fate; the gaps between consecutive shots are the cuts.
    """
    by_video: dict[str, list[dict[str, Any]]] = {}
    for clip in clips:
        if clip["shot"] is not None and clip["span"][0] is not None and clip["span"][1] is not None:
            by_video.setdefault(clip["source_key"], []).append(clip)
    strips = []
    for shots in by_video.values():
        shots.sort(key=lambda clip: clip["shot"][0])
        length = max(clip["span"][1] for clip in shots) or 1.0
        at = lambda t: round(100 * t / length, 3)
        boxes = [{"key": c["key"], "left": at(c["span"][0]), "width": at(c["span"][1] - c["span"][0]),
                  "stage": c["stage"], "label": f"shot {c['shot'][0] + 1}: {c['duration'] or 0:.1f} s, {c['stage']}",
                  "thumb": c["thumbs"][0][1] if c["thumbs"] else None} for c in shots]
        cuts = [{"left": at(a["span"][1]), "width": max(at(b["span"][0] - a["span"][1]), 0.2),
                 "label": f"cut: {a['span'][1]:.2f}-{b['span'][0]:.2f} s trimmed"}
                for a, b in zip(shots, shots[1:])]
        strips.append({"video_id": shots[0]["video_id"], "url": shots[0]["url"], "shots": boxes, "cuts": cuts,
                       "count": shots[0]["shot"][1], "length": length})
    return strips


def stage_order(stages: set[str]) -> list[str]:
    """Pipeline order first, then stages the schema does not know (an importer's, say) by name."""
    return sorted(stages, key=lambda s: (STAGES.index(s) if s in STAGES else len(STAGES), s))


def fragment(**state: str) -> str:
    """A link to the page's view with this filter state, e.g. ``#stage=cuts``."""
    return "#" + urlencode(state)
