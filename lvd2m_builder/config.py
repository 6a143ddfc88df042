"""One typed, frozen config tree for a build, with the LVD-2M ``paper`` preset as the default.

YAML keys equal field names; unknown keys and bad values raise :class:`ConfigError` naming the dotted field.
CLI overrides use the same dotted names (``motion.min_score=15``).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional
from urllib.parse import urlsplit

import yaml

from lvd2m_builder.errors import ConfigError
from lvd2m_builder.redact import public_settings, public_url

PRESETS = ("paper", "robust")


def _check(condition: bool, name: str, value: Any, why: str) -> None:
    if not condition:
        raise ConfigError(name, value, why)


class _Section:
    """Base of every config dataclass: ``Literal`` fields are checked against their type, the one place their
    allowed values are stated. ``PREFIX`` is the dotted name a section's errors use when it is built alone;
    :func:`from_dict` replaces it with the path the section really has (``captions.llm.``, say)."""

    PREFIX: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for name, hint in typing.get_type_hints(type(self)).items():
            if typing.get_origin(hint) is Literal:
                allowed = typing.get_args(hint)
                _check(getattr(self, name) in allowed, self.PREFIX + name, getattr(self, name),
                       f"must be one of {', '.join(map(str, allowed))}")
        self.validate()

    def validate(self) -> None:
        """Range checks beyond the type."""


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or out of range
        return False


@dataclass(frozen=True)
class DurationConfig(_Section):
    """Candidate gate: the paper keeps clips longer than 10 s, with no upper bound."""

    PREFIX: ClassVar[str] = "duration."

    min_s: float = 10.0
    max_s: Optional[float] = None

    def validate(self) -> None:
        _check(self.min_s >= 0, "duration.min_s", self.min_s, "must be >= 0")
        _check(self.max_s is None or self.max_s > self.min_s, "duration.max_s", self.max_s, "must exceed min_s")


@dataclass(frozen=True)
class RobustCutConfig(_Section):
    """Thresholds of the ``robust`` cut detector (filters/robust_cuts.py); grey levels are on a 0-255 scale.

    Hard cuts are isolated spikes of per-frame change on ``tiny_width``-px frames at the native frame rate,
    confirmed by the motion stage's flow: at least ``min_unmatched`` of the pixels of the 2 fps pair around the
    spike must stay unmatched (error > ``match_tol``) after warping, so a pan, zoom or moving subject does not
    count, nor does a spike after which the picture returns within ``flash_frames`` frames (the closest
    before/after frames differ by at most ``return_ratio`` of the spike: a flash). Fades are runs of blank
    (near-uniform dark or bright) frames; a run of at most ``flash_frames`` after which the picture returns
    (correlation >= ``return_ncc``) is a flash. Dissolves are frames within ``dissolve_blend`` (a share of the
    change across) of the average of the frames ``dissolve_s`` / 2 before and after, when those differ by at
    least ``dissolve_across``.
    """

    PREFIX: ClassVar[str] = "cuts.robust."

    tiny_width: int = 64
    spike_ratio: float = 4.0
    spike_window: int = 8
    min_unmatched: float = 0.2
    match_tol: float = 20.0
    blank_std: float = 10.0
    black_level: float = 24.0
    white_level: float = 225.0
    flash_frames: int = 2
    return_ratio: float = 0.5
    return_ncc: float = 0.8
    dissolve_s: float = 0.5
    dissolve_blend: float = 0.3
    dissolve_across: float = 25.0
    edge_s: float = 0.25
    merge_s: float = 1.0

    def validate(self) -> None:
        p = "cuts.robust."
        _check(16 <= self.tiny_width <= 512, p + "tiny_width", self.tiny_width, "must be in [16, 512]")
        _check(self.spike_ratio > 1, p + "spike_ratio", self.spike_ratio, "must be > 1")
        _check(self.spike_window >= 2, p + "spike_window", self.spike_window, "must be >= 2")
        for name in ("min_unmatched", "return_ratio", "return_ncc"):
            _check(0 <= getattr(self, name) <= 1, p + name, getattr(self, name), "must be in [0, 1]")
        for name in ("match_tol", "blank_std", "dissolve_across"):
            _check(0 < getattr(self, name) <= 255, p + name, getattr(self, name), "must be in (0, 255]")
        _check(0 <= self.black_level < self.white_level <= 255, p + "black_level/white_level",
               (self.black_level, self.white_level), "need 0 <= black_level < white_level <= 255")
        _check(self.flash_frames >= 0, p + "flash_frames", self.flash_frames, "must be >= 0")
        _check(self.dissolve_s > 0, p + "dissolve_s", self.dissolve_s, "must be > 0")
        _check(0 < self.dissolve_blend < 1, p + "dissolve_blend", self.dissolve_blend, "must be in (0, 1)")
        _check(self.edge_s >= 0, p + "edge_s", self.edge_s, "must be >= 0")
        _check(self.merge_s >= 0, p + "merge_s", self.merge_s, "must be >= 0")


@dataclass(frozen=True)
class CutConfig(_Section):
    """Scene-cut check. ``on_cut``: ``reject`` drops a clip with any cut (the paper: its sources were already cut
    into clips); ``split`` divides a video at its cuts into shots, each a clip of its own (see ``SplitConfig``).

    ``detector``: ``content`` is the paper's PySceneDetect ContentDetector on frames sampled at ``fps`` (with
    ``threshold`` and ``min_scene_len``), its cuts placed with the frames at ``refine_fps`` (null: midpoints); ``robust`` tells camera motion from cuts (``robust`` holds its
    thresholds); ``transnetv2`` is TransNetV2 on every frame (pip install 'lvd2m-builder[transnet]'), a cut
    where its probability exceeds ``transnet_threshold``.
    """

    PREFIX: ClassVar[str] = "cuts."

    enabled: bool = True
    threshold: float = 50.0
    min_scene_len: int = 0
    fps: float = 0.5
    refine_fps: Optional[float] = 2.0
    detector: Literal["content", "robust", "transnetv2"] = "content"
    robust: RobustCutConfig = field(default_factory=RobustCutConfig)
    transnet_threshold: float = 0.5
    on_cut: Literal["reject", "split"] = "reject"

    def validate(self) -> None:
        _check(0 < self.threshold <= 255, "cuts.threshold", self.threshold, "must be in (0, 255]")
        _check(self.min_scene_len >= 0, "cuts.min_scene_len", self.min_scene_len, "must be >= 0")
        _check(self.fps > 0, "cuts.fps", self.fps, "must be > 0")
        _check(self.refine_fps is None or self.refine_fps >= self.fps, "cuts.refine_fps", self.refine_fps,
               "must be null or at least cuts.fps")
        _check(0 < self.transnet_threshold < 1, "cuts.transnet_threshold", self.transnet_threshold, "must be in (0, 1)")


@dataclass(frozen=True)
class SplitConfig(_Section):
    """Shots of a video split at its cuts (``cuts.on_cut=split``; stages/split.py).

    A transition belongs to no shot: its frames, and ``margin_frames`` more on each side, are trimmed from both
    neighbours. ``max_s`` (none in the paper) cuts a longer shot into equal consecutive pieces of at most that
    length, as Panda-70M and Open-Sora cap clip length; with ``max_s`` below twice ``duration.min_s`` a piece can
    fall under ``duration.min_s`` and be rejected.
    """

    PREFIX: ClassVar[str] = "split."

    margin_frames: int = 3
    max_s: Optional[float] = None

    def validate(self) -> None:
        _check(self.margin_frames >= 0, "split.margin_frames", self.margin_frames, "must be >= 0")
        _check(self.max_s is None or self.max_s > 0, "split.max_s", self.max_s, "must be null or > 0")


@dataclass(frozen=True)
class MotionConfig(_Section):
    """Motion check: mean optical-flow magnitude between consecutive ``fps`` frames resized to height x width."""

    PREFIX: ClassVar[str] = "motion."

    enabled: bool = True
    backend: Literal["dis", "raft"] = "dis"
    fps: float = 2.0
    height: int = 520
    width: int = 960
    min_score: float = 20.0
    dis_preset: Literal["ultrafast", "fast", "medium"] = "ultrafast"
    dis_scale: float = 0.5
    raft_updates: int = 12
    batch_size: int = 8
    device: str = "auto"

    def validate(self) -> None:
        _check(self.fps > 0, "motion.fps", self.fps, "must be > 0")
        _check(self.height > 0 and self.width > 0, "motion.height/width", (self.height, self.width), "must be > 0")
        _check(
            self.backend != "raft" or (self.height % 8 == 0 and self.width % 8 == 0),
            "motion.height/width",
            (self.height, self.width),
            "RAFT needs sizes divisible by 8",
        )
        _check(self.min_score >= 0, "motion.min_score", self.min_score, "must be >= 0")
        _check(0 < self.dis_scale <= 1, "motion.dis_scale", self.dis_scale, "must be in (0, 1]")
        _check(self.raft_updates >= 1, "motion.raft_updates", self.raft_updates, "must be >= 1")
        _check(self.batch_size >= 1, "motion.batch_size", self.batch_size, "must be >= 1")


#: Open models a user can run (transformers or any OpenAI-compatible server); the ``paper`` model preset below
#: names the paper's own open models instead.
OPEN_VLM = "Qwen/Qwen2.5-VL-7B-Instruct"
OPEN_LLM = "Qwen/Qwen2.5-7B-Instruct"


@dataclass(frozen=True)
class ModelConfig(_Section):
    """One model behind one backend: ``transformers`` in this process, or an OpenAI-compatible server."""

    PREFIX: ClassVar[str] = "model."

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = OPEN_VLM
    gguf_file: str = ""  # transformers: a GGUF file inside ``model`` (loaded through the gguf package)
    device: str = "auto"  # transformers: auto = cuda when there is one (bf16), else cpu (float32)
    batch_size: int = 16  # transformers: sequences per generate call (bench/captions.py: 11x batch 1 on a GPU)
    base_url: str = "http://127.0.0.1:8000/v1"  # openai: the server's /v1 root
    api_key_env: str = "OPENAI_API_KEY"  # openai: the environment variable holding the key (never stored)
    concurrency: int = 8  # openai: requests in flight
    timeout_s: float = 120.0
    retries: int = 3  # openai: retries on 429, 5xx, timeouts and malformed replies
    backoff_s: float = 1.0  # openai: first retry delay; doubles each retry

    def validate(self) -> None:
        _check(bool(self.model.strip()), "model.model", self.model, "must name a model id or a local path")
        _check(self.batch_size >= 1, "model.batch_size", self.batch_size, "must be >= 1")
        _check(_is_http_url(self.base_url), "model.base_url", public_url(self.base_url),
               "must be an http(s) URL with a host")
        _check(self.concurrency >= 1, "model.concurrency", self.concurrency, "must be >= 1")
        _check(self.timeout_s > 0, "model.timeout_s", self.timeout_s, "must be > 0")
        _check(self.retries >= 0, "model.retries", self.retries, "must be >= 0")
        _check(self.backoff_s >= 0, "model.backoff_s", self.backoff_s, "must be >= 0")

    def __repr__(self) -> str:  # reprs reach logs: credentials in base_url stay out of them
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.name != "base_url")
        return f"ModelConfig({shown}, base_url={public_url(self.base_url)!r})"


@dataclass(frozen=True)
class SemanticConfig(_Section):
    """Semantic check (paper App. E.1): a VLM judges ``frames`` uniform frames GOOD or BAD on two prompts."""

    PREFIX: ClassVar[str] = "semantic."

    enabled: bool = True
    frames: int = 8
    frame_width: int = 448  # frames are resized to this width (aspect kept) before they reach the model
    grid_cols: int = 0  # 0: the frames go as separate images; N: tiled N columns wide into one image
    max_new_tokens: int = 16
    vlm: ModelConfig = field(default_factory=ModelConfig)
    on_missing: Literal["skip", "error"] = "skip"  # weights absent: skip the stage with a log line, or fail

    def validate(self) -> None:
        _check(self.frames >= 1, "semantic.frames", self.frames, "must be >= 1")
        _check(self.grid_cols >= 0 and (self.grid_cols == 0 or self.frames % self.grid_cols == 0),
               "semantic.grid_cols", self.grid_cols, "must be 0 or divide semantic.frames")
        _check(self.frame_width >= 28, "semantic.frame_width", self.frame_width, "must be >= 28")
        _check(self.max_new_tokens >= 1, "semantic.max_new_tokens", self.max_new_tokens, "must be >= 1")


@dataclass(frozen=True)
class CaptionConfig(_Section):
    """Hierarchical captions (paper 3.2, App. E.2): a VLM per ``segment_s`` grid of frames, an LLM merges."""

    PREFIX: ClassVar[str] = "captions."

    enabled: bool = True
    segment_s: float = 30.0
    min_tail_s: float = 10.0  # a last part shorter than this joins the segment before it
    grid_cols: int = 2
    grid_rows: int = 3  # cols x rows frames per segment, read left to right, top to bottom
    tile_width: int = 480  # each frame's width in the grid (aspect kept)
    border: int = 8  # white pixels around and between tiles
    rewrite: bool = False  # third pass: a short user-prompt-style ``rewritten_caption``
    segment_max_new_tokens: int = 384
    merge_max_new_tokens: int = 512
    rewrite_max_new_tokens: int = 96
    vlm: ModelConfig = field(default_factory=ModelConfig)
    llm: ModelConfig = field(default_factory=lambda: ModelConfig(model=OPEN_LLM))
    on_missing: Literal["skip", "error"] = "skip"

    def validate(self) -> None:
        _check(self.segment_s > 0, "captions.segment_s", self.segment_s, "must be > 0")
        _check(0 <= self.min_tail_s <= self.segment_s, "captions.min_tail_s", self.min_tail_s, "must be in [0, segment_s]")
        _check(self.grid_cols >= 1 and self.grid_rows >= 1, "captions.grid_cols/grid_rows",
               (self.grid_cols, self.grid_rows), "must be >= 1")
        _check(self.tile_width >= 28, "captions.tile_width", self.tile_width, "must be >= 28")
        _check(self.border >= 0, "captions.border", self.border, "must be >= 0")
        for name in ("segment_max_new_tokens", "merge_max_new_tokens", "rewrite_max_new_tokens"):
            _check(getattr(self, name) >= 1, f"captions.{name}", getattr(self, name), "must be >= 1")


#: Model presets as dotted overrides (``lvd2m build --models paper``). The paper used PLLaVA-7B (semantic),
#: LLaVA-v1.6-34B (segments) and Claude-3-Haiku (merging). PLLaVA needs its own code, so ``paper`` uses the
#: LLaVA-NeXT model it was initialised from; Claude is not open, so merging keeps the open LLM.
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "open": {},
    "paper": {
        "semantic.vlm.model": "llava-hf/llava-v1.6-vicuna-7b-hf",
        "semantic.grid_cols": 2,  # one image: eight LLaVA-NeXT images would overflow its 4k-token context
        "captions.vlm.model": "llava-hf/llava-v1.6-34b-hf",
    },
}


@dataclass(frozen=True)
class EmbedConfig(_Section):
    """CLIP embeddings (open_clip; not in the paper): per clip, and caption-video alignment (``clip_score``).

    ``model`` is an open_clip name with a ``pretrained`` tag or local checkpoint file, or ``local-dir:PATH`` /
    ``hf-hub:ORG/REPO`` (then ``pretrained`` is ignored). Weights come only from local files or caches
    (``cache_dir``; empty = the default Hugging Face and open_clip caches). ``frames_per_segment`` uniform
    frames per caption segment (the captions' segment_s split) are embedded and mean-pooled. ``precision`` auto
    is bf16 on a GPU and fp32 on the CPU. Rows whose ``clip_score`` is below ``min_clip_score`` are flagged.
    """

    PREFIX: ClassVar[str] = "embed."

    enabled: bool = False
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    frames_per_segment: int = 6
    batch_size: int = 64
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    min_clip_score: float = 0.2
    cache_dir: str = ""
    on_missing: Literal["skip", "error"] = "skip"

    def validate(self) -> None:
        _check(bool(self.model.strip()), "embed.model", self.model, "must name an open_clip model")
        _check(self.frames_per_segment >= 1, "embed.frames_per_segment", self.frames_per_segment, "must be >= 1")
        _check(self.batch_size >= 1, "embed.batch_size", self.batch_size, "must be >= 1")
        _check(-1 <= self.min_clip_score <= 1, "embed.min_clip_score", self.min_clip_score, "must be in [-1, 1]")


#: Zero-shot prompts for clips the VLM check would call BAD (paper App. E.1), with the probability that rejects.
PREFILTER_PROMPTS = {
    "a video frame covered with text overlay": 0.8,
    "a person talking to the camera": 0.8,
    "a static presentation slide": 0.8,
}
PREFILTER_CONTRAST = (
    "a video frame of a natural scene",
    "a video frame of people doing something",
    "a video frame of an animal",
    "a video frame of a landscape or a city",
)


@dataclass(frozen=True)
class PrefilterConfig(_Section):
    """Cheap CLIP zero-shot check before the VLM (needs ``embed``): a clip is rejected when the softmax of its
    embedding's similarities to one of ``prompts`` and to every ``contrast`` prompt gives that prompt at least
    its threshold. The defaults are a starting point: tune the thresholds on your own data."""

    PREFIX: ClassVar[str] = "prefilter."

    enabled: bool = False
    prompts: dict[str, float] = field(default_factory=lambda: dict(PREFILTER_PROMPTS))
    contrast: tuple[str, ...] = PREFILTER_CONTRAST

    def validate(self) -> None:
        _check(isinstance(self.prompts, dict), "prefilter.prompts", self.prompts, "must map prompts to thresholds")
        # YAML merges into the defaults: a prompt set to null is dropped
        object.__setattr__(self, "prompts", {k: v for k, v in self.prompts.items() if v is not None})
        _check(bool(self.prompts), "prefilter.prompts", self.prompts, "must map at least one prompt to a threshold")
        for prompt, threshold in self.prompts.items():
            _check(isinstance(prompt, str) and bool(prompt.strip()), "prefilter.prompts", prompt, "must be text")
            _check(isinstance(threshold, (int, float)) and 0 < threshold <= 1, f"prefilter.prompts[{prompt!r}]",
                   threshold, "must be a probability in (0, 1]")
        _check(isinstance(self.contrast, (list, tuple)) and len(self.contrast) >= 1, "prefilter.contrast",
               self.contrast, "must list at least one prompt")
        object.__setattr__(self, "contrast", tuple(self.contrast))


@dataclass(frozen=True)
class DedupConfig(_Section):
    """Near-duplicates (needs ``embed``): accepted rows whose clip embeddings have cosine >= ``threshold`` are
    one clip; the longest (then the largest, then the smallest key) is kept. Exact search in ``block``-row blocks."""

    PREFIX: ClassVar[str] = "dedup."

    enabled: bool = False
    threshold: float = 0.95
    block: int = 4096
    device: str = "auto"

    def validate(self) -> None:
        _check(0 < self.threshold <= 1, "dedup.threshold", self.threshold, "must be in (0, 1]")
        _check(self.block >= 1, "dedup.block", self.block, "must be >= 1")


@dataclass(frozen=True)
class CardConfig(_Section):
    """Dataset card fields a user sets (``--set card.license=cc-by-4.0``). Unset fields keep what the output's
    manifest holds from an earlier build, so they survive rebuilds; no row depends on them.

    ``license`` is a Hub license id (``other`` with ``license_name`` and ``license_link``, the terms' address, for
    one the Hub does not list);
    ``description`` is a paragraph under the title; ``citation`` a BibTeX entry cited before LVD-2M's.
    """

    PREFIX: ClassVar[str] = "card."

    pretty_name: Optional[str] = None
    license: Optional[str] = None
    license_name: Optional[str] = None
    license_link: Optional[str] = None
    description: Optional[str] = None
    citation: Optional[str] = None

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            _check(value is None or (isinstance(value, str) and bool(value.strip())), f"card.{f.name}", value,
                   "must be a non-empty string")
        _check(self.license is None or re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", self.license) is not None,
               "card.license", self.license, "must be a Hub license id such as cc-by-4.0, mit or other")


@dataclass(frozen=True)
class InputsConfig(_Section):
    """How rows name local inputs. Rows are published, so by default a file is named relative to the input the
    user gave (``trip/clip.mp4``, not ``/home/alice/footage/trip/clip.mp4``: inputs/public.py);
    ``absolute_paths`` keeps the absolute path, for a dataset that stays on the machine that built it."""

    PREFIX: ClassVar[str] = "inputs."

    absolute_paths: bool = False


@dataclass(frozen=True)
class BuildConfig(_Section):
    """Everything a build needs; ``preset`` names the settings it started from."""

    PREFIX: ClassVar[str] = ""

    preset: str = "paper"
    dataset_src: str = "local"
    inputs: InputsConfig = field(default_factory=InputsConfig)
    duration: DurationConfig = field(default_factory=DurationConfig)
    cuts: CutConfig = field(default_factory=CutConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    captions: CaptionConfig = field(default_factory=CaptionConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    prefilter: PrefilterConfig = field(default_factory=PrefilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    card: CardConfig = field(default_factory=CardConfig)  # the card's fields: kept apart from settings()
    shard_size: int = 16
    decode_chunk: int = 16  # frames a decode thread keeps ready ahead of the scorers; 0: no thread, no overlap
    # Where it runs, not what it makes: these stay out of settings() (rows' provenance, the settings hash).
    workers: int = field(default=1, metadata={"run": True})
    clip_timeout_s: Optional[float] = field(default=None, metadata={"run": True})
    executor: Literal["local", "ray"] = field(default="local", metadata={"run": True})  # local processes or Ray
    ray_address: Optional[str] = field(default=None, metadata={"run": True})  # ray: the cluster (None: RAY_ADDRESS)
    # ray: actors of the CPU pool (fetch to motion; None: every cluster CPU the model pools leave), and GPUs per
    # actor of a model stage's pool by stage name, over the share the stage declares (stages/registry.py)
    ray_cpu_actors: Optional[int] = field(default=None, metadata={"run": True})
    ray_gpus: dict[str, float] = field(default_factory=dict, metadata={"run": True})

    def validate(self) -> None:
        _check(self.shard_size >= 1, "shard_size", self.shard_size, "must be >= 1")
        _check(self.workers >= 1, "workers", self.workers, "must be >= 1")
        _check(self.clip_timeout_s is None or self.clip_timeout_s > 0, "clip_timeout_s", self.clip_timeout_s, "must be > 0")
        _check(self.decode_chunk >= 0, "decode_chunk", self.decode_chunk, "must be >= 0")
        _check(self.ray_address is None or self.executor == "ray", "ray_address", self.ray_address,
               "only means something with executor=ray")
        _check(self.ray_cpu_actors is None or self.ray_cpu_actors >= 1, "ray_cpu_actors", self.ray_cpu_actors,
               "must be >= 1")
        for stage, share in self.ray_gpus.items():
            _check(0 < share <= 1 or share == int(share) > 1, f"ray_gpus[{stage!r}]", share,
                   "must be a share of one GPU in (0, 1], or a whole number of GPUs")
        split = self.cuts.on_cut == "split"
        _check(split or self.split.max_s is None, "split.max_s", self.split.max_s,
               "only means something with cuts.on_cut=split")
        _check(self.split.max_s is None or self.split.max_s > self.duration.min_s, "split.max_s", self.split.max_s,
               "must exceed duration.min_s, or every piece is rejected")
        for name in ("prefilter", "dedup"):
            _check(not getattr(self, name).enabled or self.embed.enabled, f"{name}.enabled", True,
                   "needs CLIP embeddings: set embed.enabled=true too")

    def to_dict(self) -> dict[str, Any]:
        """Every field, run settings included: what ``from_dict`` and ``--config`` take back."""
        return dataclasses.asdict(self)

    def settings(self) -> dict[str, Any]:
        """What shapes the rows: recorded in each row's provenance and hashed for resume. Run settings
        (``RUN_SETTINGS``) are not part of it, so a rerun with more workers is the same build; nor are the card's
        fields, which the manifest keeps apart (``card``). Credentials in URLs (a model's ``base_url``) are masked,
        since provenance, the manifest and the card are published."""
        return public_settings({name: value for name, value in self.to_dict().items()
                                if name not in RUN_SETTINGS and name != "card"})

    def replace(self, overrides: dict[str, Any]) -> "BuildConfig":
        """A copy with dotted-name overrides applied (``{"motion.min_score": 15}``)."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            node = data
            *parents, leaf = dotted.split(".")
            for part in parents:
                if not isinstance(node.get(part), dict):
                    raise ConfigError(dotted, value, f"unknown section {part!r}")
                node = node[part]
            if leaf not in node:
                raise ConfigError(dotted, value, "unknown field")
            node[leaf] = value
        return from_dict(data)


#: Fields of BuildConfig that say where a build runs (workers, executor, ...), not what it makes.
RUN_SETTINGS = frozenset(f.name for f in dataclasses.fields(BuildConfig) if f.metadata.get("run"))


def preset(name: str) -> BuildConfig:
    """The named preset: ``paper`` holds the LVD-2M settings and stays the reference."""
    if name not in PRESETS:
        raise ConfigError("preset", name, f"unknown preset; choose one of {', '.join(PRESETS)}")
    if name == "robust":  # the paper's settings, with a cut check that tells camera motion from cuts
        return BuildConfig(preset=name, cuts=CutConfig(detector="robust"))
    return BuildConfig(preset=name)


def from_dict(data: dict[str, Any], cls: type = BuildConfig, prefix: str = "") -> Any:
    """Build a config dataclass from plain data, rejecting unknown keys and wrong types by dotted name."""
    if not isinstance(data, dict):
        raise ConfigError(prefix or "config", data, "must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}", data[unknown[0]], f"unknown field (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except ConfigError as e:  # the section named itself by its own PREFIX: give the path it really has
        own = getattr(cls, "PREFIX", "")
        if prefix and prefix != own and e.field.startswith(own):
            raise ConfigError(prefix + e.field[len(own):], e.value, e.why) from e
        raise


def _coerce(hint: Any, value: Any, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(value, hint, f"{name}.")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, name)
    if origin is Literal:
        return value  # checked by the section itself (_Section), whichever way it is built
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, value, "must be true or false")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, value, f"must be a number ({hint.__name__})")
        if hint is int and float(value) != int(value):
            raise ConfigError(name, value, "must be an integer")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(name, value, "must be a string")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(name, value, "must be a mapping")
        key_hint, value_hint = args
        return {_coerce(key_hint, k, f"{name}[{k!r}]"): (None if v is None else _coerce(value_hint, v, f"{name}[{k!r}]"))
                for k, v in value.items()}  # None: YAML's way to drop a default entry (see PrefilterConfig)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(name, value, "must be a list")
        return tuple(_coerce(args[0], item, f"{name}[{i}]") for i, item in enumerate(value))
    raise TypeError(f"config field {name}: no coercion for type {hint!r}")  # a new field type needs a rule here


def load(path: str | Path | None = None, preset_name: str = "paper", overrides: dict[str, Any] | None = None) -> BuildConfig:
    """Preset, then the YAML file over it, then dotted overrides: the order a user expects."""
    config = preset(preset_name)
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError("config file", str(path), str(e)) from e
        merged = _deep_merge(config.to_dict(), data)
        config = from_dict(merged)
    if overrides:
        config = config.replace(overrides)
    return config


def _deep_merge(base: dict[str, Any], top: Any) -> Any:
    if not isinstance(top, dict):
        return top
    merged = dict(base)
    for key, value in top.items():
        merged[key] = _deep_merge(base[key], value) if isinstance(base.get(key), dict) else value
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """``motion.min_score=15`` -> ("motion.min_score", 15); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError("--set", text, "expected NAME=VALUE, e.g. motion.min_score=15")
    name, raw = text.split("=", 1)
    try:
        return name.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:  # not YAML (a leading @, an unbalanced quote): the text as it was typed
        return name.strip(), raw
