"""Semantic check (paper App. E.1): a VLM looks at uniform frames and answers GOOD or BAD to two questions.

(1) content variation: a static background, setting and characters is BAD; (2) visual diversity and text: a
person talking to a static camera, or text only, is not diverse, and dominating text overlays are BAD. A clip
is kept only when both answers are GOOD; both verdicts go in the row's ``semantic`` field (rejects keep them
too). An answer with no capitalized GOOD or BAD is asked once more, then the clip is rejected with the answer.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from lvd2m_builder.config import SemanticConfig
from lvd2m_builder.models import prompts
from lvd2m_builder.models.ask import ask
from lvd2m_builder.models.interface import Backend, Request, describe
from lvd2m_builder.models.parse import verdict
from lvd2m_builder.records import Clip
from lvd2m_builder.stages.base import BatchedStage
from lvd2m_builder.stages.batching import run_windows

QUESTIONS = (("content_variation", prompts.SEMANTIC_CONTENT), ("visual_diversity", prompts.SEMANTIC_DIVERSITY))


class SemanticFilter(BatchedStage):
    stage = "semantic"

    def __init__(self, config: SemanticConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.model = describe(config.vlm)
        self.window = max(1, backend.batch_size // len(QUESTIONS))  # clips per model call

    def __call__(self, clips: Iterable[Clip]) -> Iterator[Clip]:
        return run_windows(self.stage, clips, self.window, self._judge)

    def _judge(self, clips: list[Clip]) -> None:
        asked, requests = [], []
        for clip in clips:
            frames = tuple(frame for _t, frame in clip.frames.get(self.stage, ()))
            if not frames:
                clip.reject(self.stage, "no frames were sampled for the semantic check")
                continue
            asked.append(clip)
            shown = (prompts.FRAMES_AS_GRID if self.config.grid_cols else prompts.FRAMES_AS_IMAGES)
            shown = shown.format(count=self.config.frames)
            requests += [Request(text.format(frames=shown), frames, max_new_tokens=self.config.max_new_tokens)
                         for _name, text in QUESTIONS]
        answers = ask(self.backend, requests, verdict, prompts.VERDICT_REMINDER)
        for k, clip in enumerate(asked):
            mine = dict(zip((name for name, _ in QUESTIONS), answers[k * len(QUESTIONS) : (k + 1) * len(QUESTIONS)]))
            clip.semantic = {name: answer.value for name, answer in mine.items()}
            clip.models["semantic"] = self.model
            clip.models["prompts"] = prompts.VERSION
            unusable = [f"{name}: {a.reason()}" for name, a in mine.items() if a.value is None]
            bad = [name for name, a in mine.items() if a.value == "BAD"]
            reasons = ([" and ".join(bad) + " judged BAD"] if bad else []) + unusable
            if reasons:
                clip.reject(self.stage, "; ".join(reasons))
