"""What flows through the pipeline: a ClipRef in, a Clip carried through the stages, a row or reject out."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from lvd2m_builder import __version__
from lvd2m_builder.inputs.public import public_name, public_reason
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES

if TYPE_CHECKING:
    from lvd2m_builder.stages.cuts.frame_signals import Candidate

_KEY_NAMESPACE = uuid.UUID("6f1c1a52-0d2b-5b7e-9a43-1c2d9e0b7a11")


@dataclass(frozen=True)
class ShotOf:
    """Where a shot came from (``cuts.on_cut=split``): the input video's key, the shot's place among the clips
    that video gave, and its frames ``[first, end)`` in the file, which make its key frame-exact."""

    source: str
    index: int
    count: int
    frames: tuple[int, int]


@dataclass(frozen=True)
class ClipRef:
    """One candidate clip: a source URI and, for clip tables, a span inside it (seconds); a shot also says which
    input video it was cut from."""

    uri: str
    video_id: str
    dataset_src: str = "local"
    span_start: Optional[float] = None
    span_end: Optional[float] = None
    orig_caption: Optional[str] = None
    error: Optional[str] = None  # why listing found this ref unusable (a malformed table row): rejected at source
    shot: Optional[ShotOf] = None
    root: Optional[str] = None  # a local input's root: outputs name it relative to that (inputs/public.py)

    @property
    def key(self) -> str:
        """uuid5 of URI + span (a shot: of its video's key + its frames): stable across rebuilds, so a rerun writes
        the same keys, and unique even where two listed spans of one video hold the same shot."""
        if self.shot is not None:
            first, end = self.shot.frames
            return str(uuid.uuid5(_KEY_NAMESPACE, f"{self.shot.source}#frames={first}-{end}"))
        span = "" if self.span_start is None else f"#{self.span_start:.3f}-{self.span_end:.3f}"
        return str(uuid.uuid5(_KEY_NAMESPACE, self.uri + span))

    @property
    def source_key(self) -> str:
        """The key of the input this clip came from: its own, or its video's for a shot (resume and rebuild
        count inputs by it)."""
        return self.shot.source if self.shot is not None else self.key

    @property
    def name(self) -> str:
        """What outputs call the source: ``uri`` relative to ``root``, credentials masked (not the key's input,
        so keys stay what they were)."""
        return public_name(self.uri, self.root)


@dataclass
class VideoInfo:
    """What probing found; ``duration`` is the clip's (the span's, when one is given)."""

    fps: float
    num_frames: int
    duration: float
    width: int
    height: int
    rotation: int = 0
    keyframes: tuple[int, ...] = ()  # indices of the file's keyframes (where a decode can start), from its index


@dataclass
class Rejection:
    stage: str
    reason: str


@dataclass
class Clip:
    """A clip on its way through the stages; a rejected clip passes through the later stages untouched."""

    ref: ClipRef
    path: Optional[str] = None
    info: Optional[VideoInfo] = None
    frame_starts: Optional[np.ndarray] = None
    cut_times: list[float] = field(default_factory=list)
    cut_scores: list[float] = field(default_factory=list)
    flow_score: Optional[float] = None
    flow_backend: Optional[str] = None
    flow_pairs: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, t1, magnitude) per frame pair
    frames: dict[str, list[tuple[float, np.ndarray]]] = field(default_factory=dict)
    rejection: Optional[Rejection] = None
    seconds: dict[str, float] = field(default_factory=dict)
    semantic: Optional[dict[str, Optional[str]]] = None  # verdicts, when the semantic stage ran
    segments: list[dict[str, Any]] = field(default_factory=list)  # {start, end, caption} per segment
    raw_caption: Optional[str] = None
    refined_caption: Optional[str] = None
    rewritten_caption: Optional[str] = None
    models: dict[str, str] = field(default_factory=dict)  # role -> model that ran, plus the prompts' version
    # robust cut detector: per-frame candidates (in memory only) and the motion stage's per-pair flow residuals
    # (t0, t1, residual, unmatched share); transnetv2: (time, probability) per frame; either decision's evidence
    # is written into provenance
    cut_candidates: list[Candidate] = field(default_factory=list)
    cut_probabilities: list[tuple[float, float]] = field(default_factory=list)
    flow_residuals: list[tuple[float, float, float, float]] = field(default_factory=list)
    cut_evidence: dict[str, Any] = field(default_factory=dict)
    # cuts.on_cut=split: each cut's transition as (last time the old shot may keep, first time of the new shot),
    # clip-relative; where a partial decode stopped (time, why); what a shot's provenance records of its split
    transitions: list[tuple[float, float]] = field(default_factory=list)
    decode_failure: Optional[tuple[float, str]] = None
    split: dict[str, Any] = field(default_factory=dict)
    # CLIP (embed/): per-frame embeddings (in memory only), the pooled clip embedding, caption alignment scores,
    # and the zero-shot pre-filter's probabilities (written into provenance)
    frame_embeddings: list[tuple[float, np.ndarray]] = field(default_factory=list)
    clip_embedding: Optional[np.ndarray] = None
    clip_score: Optional[float] = None
    segment_clip_scores: Optional[list[Optional[float]]] = None
    prefilter_scores: dict[str, float] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        return self.rejection is not None

    def reject(self, stage: str, reason: str) -> None:
        if self.rejection is None:  # reasons are published: the source by its public name
            self.rejection = Rejection(stage, public_reason(reason, self.ref.uri, self.ref.root, self.path))

    def travel(self, finished: bool) -> None:
        """Drop what only the stages behind it use before the clip crosses to another process (an executor
        that runs the pipeline in segments): the local file, the decoder's bookkeeping, the cut detectors'
        per-frame evidence; a finished (or rejected) clip also drops its frames, so only what its row holds
        travels."""
        self.path = None
        self.frame_starts = None
        self.cut_candidates = []
        self.cut_probabilities = []
        self.flow_residuals = []
        self.flow_pairs = []
        if finished or self.rejected:
            self.frames = {}
            self.frame_embeddings = []


def _common(clip: Clip) -> dict[str, Any]:
    ref, info = clip.ref, clip.info
    span_start = ref.span_start if ref.span_start is not None else 0.0
    span_end = ref.span_end if ref.span_end is not None else (span_start + info.duration if info else None)
    return {
        "key": ref.key,
        "source_key": ref.source_key,
        "video_id": ref.video_id,
        "url": ref.name,
        "dataset_src": ref.dataset_src,
        "span_start": span_start,
        "span_end": span_end,
        "duration": info.duration if info else None,
        "fps": info.fps if info else None,
        "width": info.width if info else None,
        "height": info.height if info else None,
        "num_frames": info.num_frames if info else None,
        "cut_times": [round(t, 3) for t in clip.cut_times],
        "flow_score": clip.flow_score,
        "flow_backend": clip.flow_backend,
        "semantic": clip.semantic,
    }


def provenance(clip: Clip, settings: dict[str, Any]) -> str:
    """The JSON provenance string: settings used, package version, per-stage seconds and detector scores."""
    return json.dumps(
        {
            "lvd2m_builder": __version__,
            "settings": settings,
            "seconds": {k: round(v, 4) for k, v in clip.seconds.items()},
            "cut_scores": [round(s, 2) for s in clip.cut_scores],
            **({"models": clip.models} if clip.models else {}),
            **({"cut_evidence": clip.cut_evidence} if clip.cut_evidence else {}),
            **({"split": clip.split} if clip.split else {}),
            **({"prefilter": clip.prefilter_scores} if clip.prefilter_scores else {}),
        },
        sort_keys=True,
    )


def to_row(clip: Clip, settings: dict[str, Any]) -> dict[str, Any]:
    """An accepted clip as a row of ``ROW_FEATURES``."""
    row = {
        **_common(clip),
        "segments": clip.segments,
        "raw_caption": clip.raw_caption,
        "refined_caption": clip.refined_caption,
        "rewritten_caption": clip.rewritten_caption,
        "orig_caption": clip.ref.orig_caption,
        "clip_embedding": None if clip.clip_embedding is None else clip.clip_embedding.astype(np.float16),
        "clip_score": clip.clip_score,
        "segment_clip_scores": clip.segment_clip_scores,
        "provenance": provenance(clip, settings),
    }
    assert row.keys() == ROW_FEATURES.keys(), "row fields drifted from schema.ROW_FEATURES"
    return row


def to_reject(clip: Clip, settings: dict[str, Any]) -> dict[str, Any]:
    """A rejected clip as a row of ``REJECT_FEATURES``: stage, reason and whatever scores were computed."""
    assert clip.rejection is not None
    row = {
        **_common(clip),
        "stage": clip.rejection.stage,
        "reason": clip.rejection.reason,
        "provenance": provenance(clip, settings),
    }
    assert row.keys() == REJECT_FEATURES.keys(), "reject fields drifted from schema.REJECT_FEATURES"
    return row
