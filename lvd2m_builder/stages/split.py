"""The ``split`` stage (cuts.on_cut=split): a video's cuts divide it into shots, each a clip of its own.

The cut check has already run over the whole video, and marked each cut's transition: the last time the old shot
may keep and the first time of the new one (one frame apart for a hard cut; a fade's or a dissolve's frames lie
between). A transition belongs to no shot: its frames, and ``split.margin_frames`` more on each side, are trimmed
from both neighbours. Every shot leaves once, in time order: one shorter than ``duration.min_s`` (or longer than
``duration.max_s``) as a ``duration`` reject with its span, the others on to the motion check and the model
stages. A shot longer than ``split.max_s`` is cut into equal consecutive pieces first.

Nothing is decoded again: a shot's motion score is the mean over the video's 2 fps flow pairs that lie inside it
(motion.pairs_score), and the video's stage seconds are shared out by frames. Spans are frame-exact (the probe's
frame times), and a shot's key derives from its video's key and its frames, so a rerun gives the same keys.

A decode that failed part-way (decode.py, ``Clip.decode_failure``) leaves the shots that ended at a cut before
it: those are complete and kept, and say so in their provenance; the rest of the video, from the last cut on,
is one ``decode`` reject with the reason.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Iterator, Optional

import numpy as np

from lvd2m_builder.config import DurationConfig, SplitConfig
from lvd2m_builder.records import Clip, ClipRef, ShotOf
from lvd2m_builder.stages.base import Stage
from lvd2m_builder.stages.duration import duration_reason
from lvd2m_builder.stages.motion import pairs_score

#: How far a transition's time may sit from a frame's start and still name that frame (times are kept to the
#: millisecond in provenance; frames are at least 1/240 s apart).
_TOLERANCE = 5e-4


class Split(Stage):
    stage = "split"

    def __init__(self, config: SplitConfig, duration: DurationConfig) -> None:
        self.config = config
        self.duration = duration

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            if clip.rejected:
                yield clip
            else:
                yield from shots(clip, self.config, self.duration)  # a list: a failure yields no half video


class _Frames:
    """Clip-relative seconds <-> frame indices of the video file, from the probe's frame start times."""

    def __init__(self, video: Clip) -> None:
        self.starts = video.frame_starts
        self.offset = (video.ref.span_start or 0.0) + float(self.starts[0])
        self.first = int(np.searchsorted(self.starts, self.offset - _TOLERANCE))
        self.end = int(np.searchsorted(self.starts, self.offset + video.info.duration - _TOLERANCE))
        self.end_time = video.info.duration  # clip seconds where the clip's last frame ends

    def last_at_or_before(self, t: float) -> int:
        return int(np.searchsorted(self.starts, self.offset + t + _TOLERANCE, side="right")) - 1

    def first_at_or_after(self, t: float) -> int:
        return int(np.searchsorted(self.starts, self.offset + t - _TOLERANCE))

    def time(self, index: int) -> float:
        """Clip seconds where frame ``index`` starts (the clip's end for the frame after its last)."""
        return self.end_time if index >= self.end else float(self.starts[index]) - self.offset


def shot_bounds(video: Clip, margin: int) -> list[tuple[int, int, Optional[int], Optional[int]]]:
    """(first frame, end frame, cut before, cut after) of each shot: the video between its transitions, each
    transition widened by ``margin`` frames; shots left with no frame are dropped. Cuts are indices into
    ``video.transitions`` (sorted), None at the video's ends."""
    frames = _Frames(video)
    transitions = sorted(video.transitions)
    shots, first, before = [], frames.first, None
    for n, (keep_until, resume_at) in enumerate(transitions):
        end = min(frames.last_at_or_before(keep_until) + 1 - margin, frames.end)
        shots.append((first, end, before, n))
        first, before = max(first, frames.first_at_or_after(resume_at) + margin), n
    shots.append((first, frames.end, before, None))
    return [shot for shot in shots if shot[1] > shot[0]]


def pieces(first: int, end: int, frames: _Frames, max_s: Optional[float]) -> list[tuple[int, int]]:
    """``[first, end)`` cut into the fewest equal consecutive pieces of at most ``max_s`` seconds (by time, so a
    VFR shot is cut evenly too)."""
    start, length = frames.time(first), frames.time(end) - frames.time(first)
    count = 1 if max_s is None else max(1, math.ceil(length / max_s - 1e-9))
    bounds = [first] + [frames.first_at_or_after(start + k * length / count) for k in range(1, count)] + [end]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def shots(video: Clip, config: SplitConfig, duration: DurationConfig) -> list[Clip]:
    """The clips ``video`` leaves as: its shots (kept on, or rejected for their duration), and after a failed
    decode the unread rest as one reject; the video itself when it holds no shot at all."""
    frames = _Frames(video)
    stopped = frames.end  # the first frame not decoded
    if video.decode_failure is not None:
        stopped = frames.first_at_or_after(video.decode_failure[0])
        if stopped <= frames.first:
            video.reject("decode", video.decode_failure[1])
            return [video]
    found = shot_bounds(video, config.margin_frames)
    if not found:
        video.reject("split", "no shot: every frame belongs to a transition")
        return [video]
    transitions = sorted(video.transitions)
    planned: list[tuple[int, int, dict[str, Any], Optional[tuple[str, str]]]] = []
    for first, end, before, after in found:
        if after is None and stopped < frames.end or end > stopped:  # runs into the frames that did not decode
            why = video.decode_failure[1]
            planned.append((first, frames.end, {}, ("decode", f"decoding stopped at {frames.time(stopped):.2f}s "
                            f"({why}): this shot and the rest of the video are incomplete")))
            break
        bounds = {"cut_before": None if before is None else _rounded(transitions[before]),
                  "cut_after": None if after is None else _rounded(transitions[after])}
        parts = pieces(first, end, frames, config.max_s)
        for k, (a, b) in enumerate(parts):
            extra = {"piece": [k, len(parts)]} if len(parts) > 1 else {}
            reason = duration_reason(frames.time(b) - frames.time(a), duration)
            planned.append((a, b, {**bounds, **extra}, None if reason is None else ("duration", reason)))
    total = sum(b - a for a, b, _, _ in planned)
    out = []
    for index, (a, b, record, rejection) in enumerate(planned):
        shot = _shot(video, frames, a, b, ShotOf(video.ref.key, index, len(planned), (a, b)), (b - a) / total)
        shot.split = {"source": video.ref.key, "shot": index, "of": len(planned), "frames": [a, b],
                      "cuts": len(transitions), "margin_frames": config.margin_frames, **record}
        if video.decode_failure is not None:
            shot.split["decode_failed_at"] = round(frames.time(stopped), 3)
        if index == 0:
            shot.cut_evidence = video.cut_evidence  # the video's cut check, recorded once
        if rejection is not None:
            shot.reject(*rejection)
        out.append(shot)
    return out


def _shot(video: Clip, frames: _Frames, first: int, end: int, of: ShotOf, share: float) -> Clip:
    """Frames ``[first, end)`` of ``video`` as a clip: frame-exact span, its own key, its part of the scores."""
    ref, info = video.ref, video.info
    start, stop = frames.time(first), frames.time(end)
    base = float(frames.starts[0])  # spans count from the file's first frame, as ClipRef spans do
    shot_ref = ClipRef(uri=ref.uri, video_id=ref.video_id, dataset_src=ref.dataset_src,
                       span_start=frames.offset + start - base, span_end=frames.offset + stop - base,
                       orig_caption=ref.orig_caption, shot=of, root=ref.root)
    return Clip(
        ref=shot_ref,
        path=video.path,
        info=replace(info, num_frames=end - first, duration=stop - start),  # keyframes kept: decodes seek
        frame_starts=video.frame_starts,
        flow_score=pairs_score(video.flow_pairs, start, frames.time(end - 1)),
        flow_backend=video.flow_backend,
        seconds={stage: spent * share for stage, spent in video.seconds.items()},
    )


def _rounded(transition: tuple[float, float]) -> list[float]:
    return [round(transition[0], 3), round(transition[1], 3)]
