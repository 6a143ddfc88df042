"""Hierarchical captions (paper 3.2, App. E.2): a VLM captions each segment's grid, an LLM merges the captions.

Per clip: one VLM request per segment (its cols x rows grid), then one LLM request that refines the caption of
a one-segment clip or merges the chronological ``Caption 1: ... Caption 2: ...`` list into one paragraph
(``refined_caption``), then optionally one that rewrites it as a short user-style prompt. Requests are batched
across a window of clips at every step. The segments keep their times (which the paper's release drops). A
reply that is empty, lacks the ``CAPTION:`` prefix, or loops is asked once more; if it is still unusable the
clip is rejected here with the reason, and never carries it as a caption.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from lvd2m_builder.config import CaptionConfig
from lvd2m_builder.models import parse, prompts
from lvd2m_builder.models.ask import ask
from lvd2m_builder.models.interface import Backend, Request, describe
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import BatchedStage
from lvd2m_builder.stages.batching import run_windows
from lvd2m_builder.stages.segments import split

PREFIX = "CAPTION:"


class CaptionStage(BatchedStage):
    stage = "captions"

    def __init__(self, config: CaptionConfig, vlm: Backend, llm: Backend) -> None:
        self.config = config
        self.vlm = vlm
        self.llm = llm
        self.window = llm.batch_size  # clips per step; the VLM takes their segments in its own batches
        self.models = {"segments": describe(config.vlm), "merge": describe(config.llm), "prompts": prompts.VERSION}
        if config.rewrite:
            self.models["rewrite"] = describe(config.llm)

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        return run_windows(self.stage, clips, self.window, self._caption)

    def _caption(self, clips: list[Clip]) -> None:
        for clip in clips:
            clip.models.update(self.models)
        clips = self._segments(clips)
        self._merge(clips)
        if self.config.rewrite:
            self._rewrite([clip for clip in clips if not clip.rejected])

    def _segments(self, clips: list[Clip]) -> list[Clip]:
        """Caption every segment's grid; returns the clips whose segments all have a usable caption."""
        jobs, requests = [], []
        for clip in clips:
            grids = clip.frames.get(self.stage, [])
            bounds = split(clip.info.duration, self.config.segment_s, self.config.min_tail_s)
            if len(grids) != len(bounds):
                clip.reject(self.stage, f"{len(grids)} frame grids for {len(bounds)} segments")
                continue
            for (start, end), (_t, grid) in zip(bounds, grids):
                jobs.append((clip, start, end))
                prompt = prompts.SEGMENT.format(count=self.config.grid_cols * self.config.grid_rows, seconds=end - start)
                requests.append(Request(prompt, (grid,), max_new_tokens=self.config.segment_max_new_tokens))
        answers = ask(self.vlm, requests, parse.description, prompts.SEGMENT_REMINDER)
        for (clip, start, end), answer in zip(jobs, answers):
            if clip.rejected:
                continue
            if answer.value is None:
                index = len(clip.segments) + 1
                clip.reject(self.stage, f"segment {index} ({start:.1f}-{end:.1f}s): {answer.reason()}")
                clip.segments = []
                continue
            clip.segments.append({"start": round(start, 3), "end": round(end, 3), "caption": answer.value})
        return [clip for clip in clips if not clip.rejected]

    def _merge(self, clips: list[Clip]) -> None:
        requests = []
        for clip in clips:
            captions = [segment["caption"] for segment in clip.segments]
            clip.raw_caption = prompts.raw_caption(captions)
            if len(captions) == 1:
                requests.append(Request(prompts.REFINE.format(caption=captions[0]), system=prompts.REFINE_SYSTEM,
                                        max_new_tokens=self.config.merge_max_new_tokens))
            else:
                requests.append(Request(prompts.MERGE.format(captions=clip.raw_caption), system=prompts.MERGE_SYSTEM,
                                        max_new_tokens=self.config.merge_max_new_tokens))
        for clip, answer in zip(clips, ask(self.llm, requests, parse.caption, prompts.CAPTION_REMINDER, PREFIX)):
            if answer.value is None:
                clip.reject(self.stage, f"{'refine' if len(clip.segments) == 1 else 'merge'}: {answer.reason()}")
            else:
                clip.refined_caption = answer.value

    def _rewrite(self, clips: list[Clip]) -> None:
        requests = [Request(prompts.REWRITE.format(caption=clip.refined_caption), system=prompts.REWRITE_SYSTEM,
                            max_new_tokens=self.config.rewrite_max_new_tokens) for clip in clips]
        for clip, answer in zip(clips, ask(self.llm, requests, parse.caption, prompts.CAPTION_REMINDER, PREFIX)):
            if answer.value is None:
                clip.reject(self.stage, f"rewrite: {answer.reason()}")
            else:
                clip.rewritten_caption = answer.value
