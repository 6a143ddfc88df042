"""``lvd2m preview``: write the visual report of a build or an import, local or on the Hub.

One HTML file (``index.html``) and a folder of thumbnails (``thumbs/``), nothing else: no server, no external
asset. Histograms are the card's own plots (``card_plots``), drawn over the accepted clips shown and inlined.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from tqdm.auto import tqdm

from lvd2m_builder.card.plots import draw_plots
from lvd2m_builder.card.stats import Summary
from lvd2m_builder.errors import ConfigError, ManifestError, OutputError
from lvd2m_builder.materialize.cutter import CLIPS_DIR
from lvd2m_builder.materialize.sources import output_index
from lvd2m_builder.preview.origins import Origins
from lvd2m_builder.preview.page import render
from lvd2m_builder.preview.rows import ACCEPTED, records, tally
from lvd2m_builder.preview.thumbs import THUMBS_DIR, ContactSheets
from lvd2m_builder.run.logs import bar_disabled
from lvd2m_builder.store.atomic import write_text_atomic
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.store.output_dir import check_replaceable
from lvd2m_builder.store.reader import DatasetSource, open_source

log = logging.getLogger(__name__)

PREVIEW_DIR = "preview"
PAGE = "index.html"
_TITLES = {"duration": "Duration", "caption_words": "Caption words", "flow_score": "Flow score"}


@dataclass(frozen=True)
class PreviewConfig:
    """``frames`` thumbnails per clip, ``thumb_width`` px wide; ``page_size`` clips per page; at most ``limit`` rows
    of each config (accepted, rejects); ``thumbs=False`` skips decoding (a quick look at a large dataset);
    ``workers`` clips decoded at once (threads: decord leaves the GIL while it decodes); a clip fetched from
    elsewhere (the Hub, a URL) may be at most ``max_fetch_bytes``."""

    frames: int = 8
    thumb_width: int = 160
    page_size: int = 50
    limit: Optional[int] = None
    thumbs: bool = True
    workers: int = 2
    max_fetch_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if not 1 <= self.frames <= 32:
            raise ConfigError("frames", self.frames, "must be between 1 and 32")
        if not 32 <= self.thumb_width <= 1024:
            raise ConfigError("thumb_width", self.thumb_width, "must be between 32 and 1024 pixels")
        if not 1 <= self.page_size <= 1000:
            raise ConfigError("page_size", self.page_size, "must be between 1 and 1000 clips")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("limit", self.limit, "must be at least 1 (leave it out for every row)")
        if not 1 <= self.workers <= 64:
            raise ConfigError("workers", self.workers, "must be between 1 and 64")
        if self.max_fetch_bytes < 1:
            raise ConfigError("max_fetch_bytes", self.max_fetch_bytes, "must be at least 1")


def default_out(source: str) -> Path:
    """``SOURCE/preview`` for a local dataset; ``NAME--REPO-preview`` in the working directory for a Hub repo."""
    if Path(source).is_dir():
        return Path(source) / PREVIEW_DIR
    return Path(source.replace("/", "--") + "-preview")


def preview(source: str, out: Optional[str | Path] = None, config: PreviewConfig = PreviewConfig(),
            revision: Optional[str] = None, progress: Optional[bool] = None, sources: Optional[str] = None) -> Path:
    """Write the report of ``source`` (a local directory or a Hub repo id) into ``out``; returns the page's path.

    ``sources``: a directory or URL of videos named ``VIDEO_ID.*`` to take each clip from (see ``origins``)."""
    dataset = open_source(source, revision)
    out = Path(out) if out is not None else default_out(source)
    clips = records(dataset, source, config.limit, revision)
    _prepare(out)
    stats = _stats(dataset) or tally(clips)
    if config.thumbs:
        is_local = Path(source).is_dir()
        own = output_index(Path(source), _manifest(Path(source))) if is_local else None
        origins = Origins(None if is_local else dataset, sources, own)
        sheets = ContactSheets(out, config.frames, config.thumb_width, origins,
                               Path(source) / CLIPS_DIR if is_local else None, config.max_fetch_bytes)
        with ThreadPoolExecutor(config.workers) as pool:
            for _ in tqdm(pool.map(sheets, clips), total=len(clips), desc="contact sheets", unit="clip",
                          disable=bar_disabled(progress)):
                pass
    truncated = config.limit is not None and len(clips) < stats.get("clips", 0)
    note = f"At most {config.limit} rows of each config are shown (--limit)." if truncated else ""
    html = render(dataset.label, clips, stats, _histograms(clips), config.page_size, note)
    page = out / PAGE
    write_text_atomic(page, html)
    log.info("preview of %d clips -> %s", len(clips), page)
    return page


def _manifest(source: Path) -> Optional[Manifest]:
    """A local dataset's manifest, read only (preview changes nothing there); None when it has none that reads:
    rows are then followed only where they name a URL or an absolute path."""
    try:
        return Manifest.load(source)
    except ManifestError:
        return None


def _prepare(out: Path) -> None:
    """Create ``out``; remove thumbnails an earlier preview left, so none outlives its clip. An ``out`` holding
    anything a preview does not write is refused, so no file of the user's is ever deleted."""
    check_replaceable(out, PREVIEW_DIR)
    try:
        (out / THUMBS_DIR).mkdir(parents=True, exist_ok=True)
        for old in (out / THUMBS_DIR).glob("*.jpg"):
            old.unlink()
    except OSError as e:
        raise OutputError(str(out), e.strerror or str(e)) from e


def _stats(dataset: DatasetSource) -> Optional[dict[str, Any]]:
    """The dataset's stats.json (funnel and reasons over every clip, not only those shown), when it has one."""
    if not dataset.exists("stats.json"):
        return None
    stats = json.loads(dataset.read_text("stats.json"))
    return stats if "funnel" in stats else None


def _histograms(clips: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The card's histograms over the accepted clips shown, as (title, PNG data URI) pairs."""
    accepted = [c for c in clips if c["stage"] == ACCEPTED]
    words = [len(c["caption"].split()) for c in accepted if c["caption"].strip()]
    summary = Summary(
        durations=np.array([c["duration"] for c in accepted if c["duration"] is not None], dtype=float),
        flow_scores=np.array([c["flow"] for c in accepted if c["flow"] is not None], dtype=float),
        caption_words=np.array(words, dtype=np.int64),
        resolutions=Counter(c["size"] for c in accepted if c["size"]),
    )
    return [(_TITLES[name], "data:image/png;base64," + base64.b64encode(png).decode())
            for name, png in draw_plots(summary).items()]
