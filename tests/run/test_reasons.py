"""Reject reasons group by kind (how many cuts is the row's ``cut_times``, not a kind) and are stored whole;
only what a person reads is shortened, on a word boundary."""

from __future__ import annotations

import pytest

from lvd2m_builder.card.write import card_markdown
from lvd2m_builder.config import preset
from lvd2m_builder.run.stats import ShardStats, merge, reason_class, shorten
from lvd2m_builder.stages.cuts.robust import describe


def _cuts(n: int) -> str:
    return "scene cut(s) at " + ", ".join(f"{2.0 * (i + 1):.2f}s" for i in range(n))


def _events(n: int, signal: str = "hard cut") -> list[dict]:
    return [{"t": 1.5 * (i + 1), "signal": signal, "frame": 36 * (i + 1), "ratio": 5.79, "unmatched": 0.408}
            for i in range(n)]


def test_scene_cuts_group_by_kind_whatever_their_number():
    stats = ShardStats()
    for n in (1, 2, 4, 5, 6):
        stats.add_outcome("cuts", _cuts(n))
    assert stats.rejected_by_reason == {"cuts: scene cut(s) at #s": 5}


def test_reasons_older_outputs_stored_join_the_same_kind():
    """stats.json of an older build holds ``# scene cut(s) at #s, #s`` and ``# cut(s): ...`` classes."""
    old = ShardStats(clips=3, rejected_by_stage={"cuts": 3}, rejected_by_reason={
        "cuts: # scene cut(s) at #s, #s": 2, "cuts: # cut(s): hard cut at #s (ratio #, unmatched #)": 1})
    new = ShardStats()
    new.add_outcome("cuts", _cuts(3))
    new.add_outcome("cuts", describe(_events(4)))
    assert merge([old, new])["rejected_by_reason"] == {"cuts: scene cut(s) at #s": 3,
                                                        "cuts: hard cut at #s (ratio #, unmatched #)": 2}


def test_robust_reasons_are_stored_whole_and_group_by_signal():
    reason = describe(_events(12) + _events(3, "fade"))
    assert len(reason) > 400 and reason.count("hard cut at") == 12  # the reason itself: whole
    kind = reason_class(reason)
    assert kind == reason_class(describe(_events(1, "fade") + _events(2)))
    assert kind == "fade at #s (ratio #, unmatched #); hard cut at #s (ratio #, unmatched #)"


@pytest.mark.parametrize("width", [20, 40, 80])
def test_shorten_cuts_on_a_word_boundary(width):
    text = "hard cut at 4.20s (ratio 5.79, unmatched 0.408); fade through black at 8.00s (level 3.2)"
    short = shorten(text, width)
    assert len(short) <= width and short.endswith(" …")
    assert text.startswith(short[:-2]) and text[len(short) - 2] in " ,;:("  # the next character ends a word


def test_the_card_shows_long_reasons_shortened_and_stats_keep_them_whole():
    long_reason = "captions: segment # (#-#s): the reply was " + " ".join(["not a caption"] * 30)
    stats = merge([ShardStats(clips=2, accepted=1, rejected_by_stage={"captions": 1},
                              rejected_by_reason={long_reason: 1})])
    assert list(stats["rejected_by_reason"]) == [long_reason]
    card = card_markdown(stats, preset("paper").settings())
    row = next(line for line in card.splitlines() if line.startswith("| captions: segment"))
    shown = row.split(" | ")[0].removeprefix("| ")
    assert shown.endswith(" …") and long_reason.startswith(shown[:-2])
    assert long_reason[len(shown) - 2] == " "
