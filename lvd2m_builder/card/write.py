"""The dataset card: YAML (configs and features from ``schema.py``) that makes ``load_dataset(out)`` work, and
prose: what LVD-2M is, the pipeline with the settings actually used, the funnel, statistics tables and plots."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import jinja2
from datasets import Features, List, Value
from huggingface_hub import DatasetCardData

from lvd2m_builder import __version__, schema
from lvd2m_builder.card import clip_report as embed_report
from lvd2m_builder.card.plots import write_plots
from lvd2m_builder.card.stats import Summary, summarize
from lvd2m_builder.errors import ManifestError, OutputError
from lvd2m_builder.run.stats import most_common, shorten
from lvd2m_builder.stages.registry import STAGES
from lvd2m_builder.store.atomic import atomic_path
from lvd2m_builder.store.manifest import Manifest
from lvd2m_builder.store.output_dir import check_card, sign_card
from lvd2m_builder.store.reader import open_source, read_settings

#: Card templates live in the repo's top-level ``cards/``, shipped as ``lvd2m_builder.cards`` (pyproject package-dir).
TEMPLATE = resources.files("lvd2m_builder.cards") / "dataset_card.md"
DEFAULT_TITLE = "LVD-2M-style long-take video clips"
_KNOWN_SECTIONS = {"preset", "dataset_src", "duration", "cuts", "split", "motion", "shard_size", "workers",
                   "decode_chunk"}


#: The Hub's size categories, by upper bound.
_SIZE_CATEGORIES = ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
                    (10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
                    (10**11, "10B<n<100B"), (10**12, "100B<n<1T"))
#: By default what the clips may be used for is set by their source videos, named row by row in ``url``: the
#: card's License section says so, and an ``other`` license's link points there (``card.license_link`` to change).
LICENSE_NAME, LICENSE_LINK = "source-video-terms", "README.md#license"


def plural(count: int, noun: str) -> str:
    """``1 clip``, ``3 clips``: the card reads right for a one-clip build too."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _size_category(n: int) -> str:
    return next((name for limit, name in _SIZE_CATEGORIES if n < limit), "n>1T")


def _pipeline(settings: dict[str, Any], stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(stage, method, setting) rows: the thresholds and models this run used, read from its settings."""
    d = settings["duration"]
    rows = [("duration", "probed length", f"> {d['min_s']:g} s" + (f", <= {d['max_s']:g} s" if d.get("max_s") else ""))]
    c = settings.get("cuts") or {}
    split = c.get("on_cut") == "split"
    if c.get("enabled"):
        rows.append(("scene cuts", *_cut_check(c)))
    if split:
        s = settings.get("split") or {}
        cap = f"; shots over {s['max_s']:g} s cut into equal pieces" if s.get("max_s") else ""
        rows.append(("split", "shots between cuts", f"transitions trimmed, {s.get('margin_frames')} frames more "
                                                    f"each side; shots > {d['min_s']:g} s kept on{cap}"))
    m = settings.get("motion") or {}
    if m.get("enabled"):
        model = (f"torchvision RAFT-large, {m['raft_updates']} updates" if m["backend"] == "raft"
                 else f"OpenCV DIS optical flow, preset {m['dis_preset']}")
        rows.append(("motion", model, f"mean flow magnitude >= {m['min_score']:g} between frames at {m['fps']:g} fps "
                                      f"resized to {m['height']}x{m['width']}"))
    for name in sorted(set(settings) - _KNOWN_SECTIONS, key=_stage_order):  # later stages describe themselves
        section = settings[name]
        if isinstance(section, dict):
            rows.append((name, *_section(name, section, stats)))
    return rows


def _cut_check(c: dict[str, Any]) -> tuple[str, str]:
    """(method, setting) of the cut detector the settings name (``cuts.detector``; older settings: ``content``),
    and what a cut does (``cuts.on_cut``)."""
    detector = c.get("detector", "content")
    fate = "cuts split videos into shots" if c.get("on_cut") == "split" else "any cut rejects"
    if detector == "robust":
        r = c["robust"]
        return ("lvd2m robust check: per-frame spikes, fades and dissolves, confirmed by optical-flow residuals",
                f"{r['tiny_width']} px frames at the native rate; spike ratio {r['spike_ratio']:g}, unmatched pixels "
                f">= {r['min_unmatched']:g}, blank std <= {r['blank_std']:g}, dissolve blend {r['dissolve_blend']:g};"
                f" {fate}")
    if detector == "transnetv2":
        return "TransNetV2 on every frame", f"cut probability > {c['transnet_threshold']:g}; {fate}"
    return ("PySceneDetect ContentDetector",
            f"threshold {c['threshold']:g}, min_scene_len {c['min_scene_len']}, frames at {c['fps']:g} fps; {fate}")


def _stage_order(name: str) -> tuple[int, str]:
    return (STAGES.index(name) if name in STAGES else len(STAGES), name)


def _section(name: str, section: dict[str, Any], stats: dict[str, Any]) -> tuple[str, str]:
    """(method, setting) of a stage section: its models and values, and whether it ran (stats' ``not_run``, or
    for older stats its seconds)."""
    if not section.get("enabled", True):
        return "off", "-"
    models = [f"{role} {value['model']}" + (f" ({value['backend']})" if value.get("backend") else "")
              for role, value in sorted(section.items()) if isinstance(value, dict) and value.get("model")]
    values = ", ".join(f"{k} {v}" for k, v in sorted(section.items()) if k != "enabled" and not isinstance(v, dict))
    method = "; ".join(models) or "on"
    if name in stats.get("not_run", {}):
        return f"{method} (skipped: {stats['not_run'][name]})", values
    ran = name in stats.get("seconds", {}) or name not in STAGES
    return method + ("" if ran else " (enabled, ran on no clip)"), values


def _type_name(feature: Any) -> str:
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, List):
        return f"list<{_type_name(feature.feature)}>"
    if isinstance(feature, dict):
        return "struct{" + ", ".join(f"{k}: {_type_name(v)}" for k, v in feature.items()) + "}"
    return type(feature).__name__


def _fields(features: Features) -> list[tuple[str, str]]:
    return [(name, _type_name(feature)) for name, feature in features.items()]


@cache
def card_template() -> jinja2.Template:
    """The card's template, compiled once a process (``DatasetCard.from_template`` compiles its template at every
    call: ~8 ms at the end of every import, which compiles it ahead, while it reads)."""
    return jinja2.Template(TEMPLATE.read_text(encoding="utf-8"))


def card_markdown(stats: dict[str, Any], settings: dict[str, Any], summary: Optional[Summary] = None,
                  plots: Optional[dict[str, str]] = None, repo_id: str = "lvd2m", videos: bool = False,
                  clip_section: str = "", card_fields: Optional[dict[str, str]] = None) -> str:
    """The card's text as ``DatasetCard.from_template`` renders it (the card data's YAML and fields, then the
    template's own values), with the template compiled once; it is also what huggingface_hub writes back after
    parsing it (a test holds both), so the import writes it as rendered, without parsing its YAML and dumping it
    again (~13 ms of pure-Python YAML at its end). ``clip_section``: the CLIP embeddings section
    (embed/report.py), markdown, "" when the stage was off. ``card_fields``: the card fields a user set (config
    ``card.*``, kept in the manifest)."""
    summary = summary or Summary()
    plots = plots or {}
    fields = card_fields or {}
    license = fields.get("license", "other")
    extra = {"license_name": fields["license_name"]} if fields.get("license_name") else {}
    if license == "other":  # the Hub asks an `other` license for a name and a link to its terms
        extra = {"license_name": fields.get("license_name", LICENSE_NAME),
                 "license_link": fields.get("license_link", LICENSE_LINK)}
    data = DatasetCardData(
        pretty_name=fields.get("pretty_name", DEFAULT_TITLE),
        license=license,
        **extra,
        task_categories=["text-to-video"],
        size_categories=[_size_category(stats["accepted"])],
        annotations_creators=["machine-generated"],
        source_datasets=["extended|lvd2m"] if "import" in settings else ["original"],
        tags=["video", "long-take", "dense-captions", "lvd2m"],
        configs=schema.configs(videos=videos),
        dataset_info=schema.dataset_info(videos=videos),
    )
    distributions = [
        ("Duration", summary.duration_buckets(), plots.get("duration")),
        ("Caption words", summary.word_buckets(), plots.get("caption_words")),
        ("Flow score", summary.flow_buckets(), plots.get("flow_score")),
    ]
    values = dict(
        repo_id=repo_id,
        version=__version__,
        preset=settings.get("preset", "-"),
        min_duration=f"{settings['duration']['min_s']:g}",
        pipeline=_pipeline(settings, stats),
        funnel=stats["funnel"],
        reasons=[(shorten(reason), count) for reason, count in most_common(stats.get("rejected_by_reason", {}))[:10]],
        input_clips=plural(stats["clips"], "input clip"),
        split=stats.get("split"),
        accepted=stats["accepted"],
        accepted_clips=plural(stats["accepted"], "clip"),
        accept_percent=round(100 * stats["accept_rate"], 1),
        summary=summary.table(),
        distributions=distributions,
        fields=_fields(schema.ROW_FEATURES),
        clip_section=clip_section,
        videos=videos,
        description=fields.get("description", ""),
        citation=fields.get("citation", ""),
    )
    # as from_template passes them: the card data's fields, then the template's own values over them
    return card_template().render({**data.to_dict(), **values}, card_data=data.to_yaml())


def card_text(out: Path, stats: dict[str, Any], settings: dict[str, Any], summary: Summary, plots: dict[str, str],
              repo_id: Optional[str] = None, card_fields: Optional[dict[str, str]] = None) -> str:
    """The README.md ``write_card`` writes, signed: rendered apart from writing, so an import renders it while its
    last row groups are written. ``plots``: name -> path of the plots linked; ``card_fields``: the manifest's (read
    from ``out`` when None)."""
    videos = bool(list(out.glob(schema.VIDEOS_PATTERN)))
    clip_section = embed_report.card_section(out, stats, settings)
    fields = _card_fields(out) if card_fields is None else card_fields
    return sign_card(card_markdown(stats, settings, summary, plots, repo_id or out.resolve().name, videos,
                                   clip_section, fields))


def write_card(out: Path, stats: dict[str, Any], settings: dict[str, Any], repo_id: Optional[str] = None,
               summary: Optional[Summary] = None, drawn: Optional[dict[str, bytes]] = None,
               text: Optional[str] = None) -> Path:
    """Write ``out/README.md`` and its plots from the shards in ``out`` (or from ``summary``, when the writer
    summed up the rows as it wrote them, ``drawn``, its plots when already drawn, and ``text``, the card when
    already rendered by ``card_text`` with ``plot_paths(drawn)``); the Load snippet names ``repo_id``, the card
    fields are the manifest's. A README.md lvd2m did not write (or that was edited since) is never replaced:
    ``OutputError``."""
    out = Path(out)
    check_card(out)
    summary = summary if summary is not None else summarize(out)
    plots = write_plots(summary, out, drawn)
    text = card_text(out, stats, settings, summary, plots, repo_id) if text is None else text
    path = out / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _card_fields(out: Path) -> dict[str, str]:
    """The card fields the manifest keeps (none when it is missing or does not parse)."""
    try:
        manifest = Manifest.load(out)
    except ManifestError:
        return {}
    return manifest.card if manifest is not None else {}


def refresh_card(out: Path, repo_id: Optional[str] = None) -> Path:
    """``lvd2m card OUT``: render the card again from what ``out`` holds (stats.json, settings, shards)."""
    out = Path(out)
    settings = read_settings(open_source(str(out))) if out.is_dir() else None
    if not (out / "stats.json").is_file() or settings is None:
        raise OutputError(str(out), "no stats.json or no settings found: not the output of lvd2m build")
    return write_card(out, json.loads((out / "stats.json").read_text()), settings, repo_id)
