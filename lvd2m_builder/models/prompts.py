"""The prompts of the semantic check (paper App. E.1) and of hierarchical captioning (paper 3.2, App. E.2).

Written from the paper's description of its prompts. ``VERSION`` is recorded in every row's provenance; it
carries a digest of the texts below, so an edited prompt can never pass for the old one.
"""

from __future__ import annotations

import hashlib

FRAMES_AS_IMAGES = "These {count} images are frames sampled uniformly, in time order, from one video."
FRAMES_AS_GRID = (
    "This image is a grid of {count} frames sampled uniformly from one video, in time order: read it left to "
    "right, then top to bottom."
)

SEMANTIC_CONTENT = (
    "{frames} Judge the variation of the video's content over time. If the background, the setting and the "
    "characters all stay static, with nothing changing, the video is BAD. If the content visibly changes or "
    "develops over time, the video is GOOD. Answer with one capitalized word: GOOD or BAD."
)

SEMANTIC_DIVERSITY = (
    "{frames} Judge the visual diversity of the video and the presence of text. A video that only shows a "
    "person talking to a static camera is not visually diverse, and neither is a video that only shows text. "
    "A video whose frames are dominated by text overlays is BAD. A visually diverse video with no dominating "
    "text is GOOD. Answer with one capitalized word: GOOD or BAD."
)

VERDICT_REMINDER = "Reply with exactly one word, GOOD or BAD, in capital letters."

SEGMENT = (
    "This image is a grid of {count} frames sampled uniformly from a {seconds:.0f}-second segment of one video, "
    "in time order: read it left to right, then top to bottom. Describe the segment as one continuous video, "
    "not frame by frame. Cover the overall content and context, the events and actions, the characters, the "
    "backgrounds, the objects, and the camera's perspective and movement."
)

SEGMENT_REMINDER = "Reply with a plain descriptive paragraph about the video segment, without repeating yourself."

_RULES = (
    "You write one-paragraph captions for videos. Describe only what can be observed. Give an overview of the "
    "actions, the background, the visual style and the characters, and tell the storyline in chronological "
    "order. Never mention frames, frame counts or images, and never describe the video frame by frame. "
    "Start your reply with 'CAPTION:'."
)

REFINE_SYSTEM = _RULES
REFINE = "This caption describes a video:\n{caption}\nWrite one refined caption for the video."

MERGE_SYSTEM = _RULES
MERGE = (
    "These captions describe consecutive parts of one video, in chronological order:\n{captions}\n"
    "Write one caption for the whole video."
)

REWRITE_SYSTEM = (
    "You turn detailed video captions into short prompts, the way a user would type them to a video generator: "
    "one sentence of at most 40 words naming the main subject, the action and the setting. "
    "Start your reply with 'CAPTION:'."
)
REWRITE = "Detailed caption:\n{caption}\nWrite the short prompt."

CAPTION_REMINDER = "Your reply must start with 'CAPTION:' followed by the caption itself."

_TEXTS = (FRAMES_AS_IMAGES, FRAMES_AS_GRID, SEMANTIC_CONTENT, SEMANTIC_DIVERSITY, VERDICT_REMINDER, SEGMENT, SEGMENT_REMINDER, REFINE_SYSTEM,
          REFINE, MERGE_SYSTEM, MERGE, REWRITE_SYSTEM, REWRITE, CAPTION_REMINDER)
VERSION = "1+" + hashlib.sha1("\x00".join(_TEXTS).encode()).hexdigest()[:8]


def raw_caption(captions: list[str]) -> str:
    """The segments' captions as the paper's chronological list: ``Caption 1: ... Caption 2: ...``."""
    return " ".join(f"Caption {i}: {text}" for i, text in enumerate(captions, 1))
