"""The end of a command, for people: the funnel as a small table, the top reasons, and where the output is."""

from __future__ import annotations

from typing import Any

from lvd2m_builder.run.stats import shorten

TOP_REASONS = 2  # per stage
REASON_WIDTH = 60


def funnel_table(stats: dict[str, Any]) -> str:
    """``stage  in  out  top reasons``, one line per stage that saw clips, skipped stages named as such."""
    reasons: dict[str, list[tuple[str, int]]] = {}
    for key, count in stats.get("rejected_by_reason", {}).items():
        stage, _, reason = key.partition(": ")
        reasons.setdefault(stage, []).append((reason, count))
    rows = [("stage", "in", "out", "top reasons")]
    for step in stats.get("funnel", []):
        if step.get("skipped"):
            note = f"skipped: {shorten(step['skipped'], REASON_WIDTH)}"
        else:
            top = sorted(reasons.get(step["stage"], []), key=lambda pair: -pair[1])[:TOP_REASONS]
            note = "; ".join(f"{count} x {shorten(reason, REASON_WIDTH)}" for reason, count in top)
        rows.append((step["stage"], str(step["in"]), str(step["out"]), note))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
                     for row in rows)


def build_summary(stats: dict[str, Any], out: str) -> str:
    clips, accepted = stats["clips"], stats["accepted"]
    missing = stats.get("missing_inputs", 0)
    gone = f"{missing} named input{'s' * (missing != 1)} did not exist (source rejects)\n" if missing else ""
    return (f"{funnel_table(stats)}\n\n{gone}{accepted} of {clips} clip{'s' * (clips != 1)} accepted -> {out}\n"
            f"load it with: load_dataset({out!r}, streaming=True)")
