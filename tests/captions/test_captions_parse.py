"""Reading replies: GOOD/BAD verdicts, the CAPTION: prefix, and generation loops."""

from __future__ import annotations

import pytest

from lvd2m_builder.models import parse, prompts


@pytest.mark.parametrize("text, expected", [
    ("GOOD", "GOOD"), ("BAD.", "BAD"), ("**BAD**", "BAD"), ("Answer: GOOD", "GOOD"),
    ("GOOD. The scene changes a lot.", "GOOD"), ("BAD - it is not GOOD", "BAD"), ("\n\n`GOOD`\n", "GOOD"),
], ids=["bare", "period", "markdown", "labelled", "explained", "both-first-wins", "code"])
def test_verdicts_are_read_robustly(text, expected):
    assert parse.verdict(text) == expected


@pytest.mark.parametrize("text, why", [
    ("", "no capitalized GOOD or BAD"), ("good", "no capitalized GOOD or BAD"), ("GOODNESS", "no capitalized"),
    ("It could be GOOD or BAD.", "both GOOD and BAD"),
], ids=["empty", "lowercase", "inside-a-word", "hedged"])
def test_unreadable_verdicts_say_why(text, why):
    with pytest.raises(parse.Unusable, match=why):
        parse.verdict(text)


@pytest.mark.parametrize("text, expected", [
    ("CAPTION: A dog runs on the beach.", "A dog runs on the beach."),
    ("CAPTION:A dog runs on the beach.", "A dog runs on the beach."),
    ("**CAPTION:** A dog runs on the beach.", "A dog runs on the beach."),
    ("Sure, here it is.\nCAPTION: A dog runs on the beach.\n", "A dog runs on the beach."),
    ("Caption: A dog runs on the beach.", "A dog runs on the beach."),
    ('CAPTION: "A dog runs on the beach."', "A dog runs on the beach."),
], ids=["plain", "no-space", "bold", "preamble-line", "title-case", "quoted"])
def test_captions_are_taken_after_the_prefix(text, expected):
    assert parse.caption(text) == expected


@pytest.mark.parametrize("text, why", [
    ("", "empty reply"), ("A dog runs on the beach.", "no CAPTION: prefix"),
    ("Caption 1: A dog runs on the beach.", "no CAPTION: prefix"), ("CAPTION:   ", "empty reply"),
    ("CAPTION: dog", "too short"), ("CAPTION: " + "dog " * 30, "1-word sequence repeats"),
    ("CAPTION: A dog runs and " + "runs on the sand " * 6, "4-word sequence repeats"),
    ("CAPTION: " + "A dog runs on the beach.\n" * 3, "sentence repeats 3 times"),
], ids=["empty", "no-prefix", "segment-label", "blank-body", "short", "word-loop", "phrase-loop", "sentence-loop"])
def test_unusable_captions_say_why(text, why):
    with pytest.raises(parse.Unusable, match=why):
        parse.caption(text)


def test_ordinary_prose_is_not_taken_for_a_loop():
    text = ("A red car drives along a coastal road under a clear sky. The camera follows it from above. "
            "The car stops near a white lighthouse, and a man in a blue jacket gets out and walks to the cliff "
            "edge, where waves break on the rocks far below. Very very slowly the camera circles him.")
    assert parse.degenerate(text) is None


def test_raw_caption_lists_the_segments_in_order():
    assert prompts.raw_caption(["A.", "B.", "C."]) == "Caption 1: A. Caption 2: B. Caption 3: C."


def test_the_prompt_version_changes_with_the_prompt_texts():
    assert prompts.VERSION.startswith("1+") and len(prompts.VERSION) == 10


_HUGE_REPLIES = """
from lvd2m_builder.models import parse
line = "A red car drives along the coast road while gulls circle over the cliffs."
cases = {
    "newlines": ("\\n" * 20_000 + "CAPTION: " + line, line),
    "blank-mb": ("\\n \\t" * 350_000 + "CAPTION: " + line, line),
    "no-prefix-mb": (" \\n" * 500_000 + "just prose, no prefix", "no CAPTION: prefix"),
    "stars-mb": ("** \\n" * 250_000 + "**CAPTION:** " + line, line),
}
for name, (text, expected) in cases.items():
    try:
        got = parse.caption(text)
    except parse.Unusable as e:
        got = str(e)
    assert expected in got, (name, got[:80])
    print(name, "ok")
"""


def test_caption_parsing_is_linear_in_the_reply_length():
    """Replies of 20k newlines to 1 MB: a quadratic prefix search takes hours on the MB ones (measured: 2.5 s on
    20k newlines, 4x per doubling); a linear one well under a second. The subprocess timeout makes the difference
    an assertion about behaviour (it finishes) rather than a timing."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import lvd2m_builder

    root = str(Path(lvd2m_builder.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", _HUGE_REPLIES], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["newlines", "ok", "blank-mb", "ok", "no-prefix-mb", "ok", "stars-mb", "ok"]
