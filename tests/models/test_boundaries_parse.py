"""Reading replies at their edges: a CAPTION: prefix only counts at the start of a line; exact reject reasons."""

from __future__ import annotations

import pytest

from lvd2m_builder.models import parse


@pytest.mark.parametrize("text", [
    "Here is my caption: A dog runs along the beach at sunset.",
    "Sure! The caption: a dog runs along the beach at sunset.",
    "I would write this CAPTION: A dog runs along the beach at sunset.",
], ids=["lowercase-mid-line", "after-a-label", "uppercase-mid-line"])
def test_a_caption_word_inside_a_line_is_not_a_prefix(text):
    with pytest.raises(parse.Unusable, match="no CAPTION: prefix"):
        parse.caption(text)


def test_a_prefix_on_a_later_line_still_counts():
    assert parse.caption("Here is my caption:\nCAPTION: A dog runs along the beach.") == "A dog runs along the beach."


@pytest.mark.parametrize("text, reason", [
    ("A dog runs along the beach.", "the reply has no CAPTION: prefix"),
    ("  \n", "empty reply"),
    ("CAPTION: **  **", "empty reply"),
], ids=["no-prefix", "blank", "only-markdown"])
def test_unusable_caption_reasons_are_exact(text, reason):
    """The reason is what the reject row and the retry reminder carry: pinned word for word."""
    with pytest.raises(parse.Unusable) as info:
        parse.caption(text)
    assert str(info.value) == reason


def test_only_markdown_and_quotes_are_stripped_from_a_caption():
    assert parse.caption("CAPTION: X-rays of a hand appear one by one, then fade.") == (
        "X-rays of a hand appear one by one, then fade.")
    assert parse.caption('CAPTION: **"A dog runs along the beach."**') == "A dog runs along the beach."
