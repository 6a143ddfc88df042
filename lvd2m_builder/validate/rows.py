"""The row checks: every row of every shard, a record batch at a time, against the settings it was built with.

Accepted rows are checked column by column over the batch (``suspects``); only the few rows that may break a
promise are turned into Python rows and checked one by one (``check_accepted``), which writes the findings, so
what a finding says and where it lies do not depend on the vectorised pass. Each row's settings come from its
own provenance: ``json.dumps(sort_keys=True)`` puts them last, so the text before them (stage seconds, models:
what shows that a stage ran) is parsed for every row, the settings once per distinct text (``ProvenanceRules``).

Captions are required only where a captions stage ran on the row: its settings have a ``captions`` section
that is enabled (a tree without one predates captioning: off) and its provenance shows the stage at work
(``seconds["captions"]``, or the ``segments`` and ``merge`` models). With weights absent the stage is skipped,
rows carry no caption, and that is no error.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lvd2m_builder.arrow_bytes import rows_holding
from lvd2m_builder.card.clip_report import ClipScores
from lvd2m_builder.validate.card import ACCEPTED, REJECTS, VIDEOS
from lvd2m_builder.validate.findings import Finding

#: Seconds are stored as float32; comparisons allow its rounding.
TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class RowRules:
    min_s: float
    max_s: Optional[float]
    captions: bool


def rules_for(provenance: Optional[str], fallback: dict[str, Any]) -> tuple[RowRules, bool]:
    """The row's rules and whether its own provenance named the settings (else ``fallback``'s are used).

    Raises ValueError (json's decode error included) when the provenance is not a JSON object or the settings
    have no usable duration.
    """
    return _rules(json.loads(provenance or "{}"), fallback)


def _rules(data: Any, fallback: dict[str, Any]) -> tuple[RowRules, bool]:
    if not isinstance(data, dict):
        raise ValueError("provenance is not a JSON object")
    own = isinstance(data.get("settings"), dict)
    min_s, max_s, enabled = _settings_rules(data["settings"] if own else fallback)
    return RowRules(min_s, max_s, enabled and captions_ran(data)), own


def _settings_rules(settings: dict[str, Any]) -> tuple[float, Optional[float], bool]:
    """(duration.min_s, duration.max_s, captions enabled) of a settings tree; ValueError without a min_s."""
    duration = settings.get("duration") or {}
    if not isinstance(duration.get("min_s"), (int, float)):
        raise ValueError("settings have no duration.min_s")
    return duration["min_s"], duration.get("max_s"), captions_enabled(settings)


_SETTINGS_KEY = '"settings": '
_SCAN = json.JSONDecoder().scan_once


def _loads(text: str) -> Any:
    """``json.loads(text)``, with the C scanner called directly where the text is one value and nothing else (the
    wrapper costs as much as the parse on the short texts here); any other text goes through ``json.loads``."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


class ProvenanceRules:
    """``rules_for`` over many rows, each distinct settings text parsed once.

    A provenance whose last member is ``"settings"`` (``json.dumps(sort_keys=True)`` puts it there) is read as
    two parts: the text before it, closed with a brace, and the settings' own text. Where both parse, that is
    the object the whole text holds (a cut inside a string or a nested object would leave the first part
    unparsable, and trailing text the second), so the rules are those ``rules_for`` gives; any other text is
    parsed whole. The settings' text is recognised by comparing the end of each row's text with the last one
    seen (a memory compare, where hashing kilobytes per row would cost more than the parse it saves).
    """

    def __init__(self, fallback: dict[str, Any]) -> None:
        self.fallback = fallback
        self.tails: dict[str, tuple] = {}  # '"settings": {...}}' -> (_settings_rules of it, or its error)
        self.last: Optional[tuple[str, tuple]] = None

    def __call__(self, provenance: Optional[str]) -> tuple[RowRules, bool]:
        text = provenance or "{}"
        if self.last is not None and len(text) > len(self.last[0]) and text.endswith(self.last[0]):
            tail, rules = self.last
        else:
            at = text.rfind(_SETTINGS_KEY)
            if at <= 0 or not text.endswith("}"):
                return rules_for(text, self.fallback)
            tail = text[at:]
            if tail not in self.tails:
                try:
                    settings = json.loads(tail[len(_SETTINGS_KEY):-1])
                except ValueError:
                    return rules_for(text, self.fallback)
                if not isinstance(settings, dict):  # the dataset's settings hold: rules_for decides
                    return rules_for(text, self.fallback)
                try:
                    self.tails[tail] = (_settings_rules(settings), None)
                except ValueError as e:
                    self.tails[tail] = (None, e)
            rules = self.tails[tail]
            self.last = (tail, rules)
        head = text[:len(text) - len(tail)].rstrip()
        if not (head.endswith(",") or head == "{"):  # not cut between two members
            return rules_for(text, self.fallback)
        try:
            data = json.loads(head[:-1] + "}")
        except ValueError:
            return rules_for(text, self.fallback)
        if not isinstance(data, dict):
            return rules_for(text, self.fallback)
        found, error = rules
        if error is not None:
            raise error
        min_s, max_s, enabled = found
        return RowRules(min_s, max_s, enabled and captions_ran(data)), True

    def column(self, values: pa.Array) -> list[tuple[Optional[RowRules], bool, Optional[str]]]:
        """(rules, own, why not) of every provenance of a column: rows that end with the settings tail seen
        last hand only the text before it to Python (the settings are most of each text)."""
        out: list = [None] * len(values)
        rest = np.arange(len(values))
        while len(rest):
            if self.last is not None:
                tail, (found, error) = self.last
                size = len(tail.encode())
                texts = values.take(pa.array(rest))
                same = pc.and_(pc.ends_with(texts, tail), pc.greater(pc.binary_length(texts), size))
                same = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
                heads = pc.cast(pc.binary_slice(pc.cast(texts.filter(pa.array(same)), pa.binary()), 0, -size), pa.string())
                # the two rules a row with these settings can have, made once
                ran, idle = (RowRules(found[0], found[1], found[2]), RowRules(found[0], found[1], False)) if found \
                    else (None, None)
                for index, head in zip(rest[same].tolist(), heads.to_pylist()):
                    head = head.rstrip()
                    data = None
                    if head.endswith(","):  # cut between two members
                        try:
                            data = _loads(head[:-1] + "}")
                        except ValueError:
                            pass
                    elif head == "{":
                        data = {}
                    if type(data) is not dict:
                        out[index] = self._safe(values[index].as_py())
                    elif error is not None:
                        out[index] = (None, False, str(error))
                    else:
                        out[index] = (ran if found[2] and captions_ran(data) else idle, True, None)
                rest = rest[~same]
            if len(rest):  # the next row with another tail: parsed alone, and its tail becomes the last one
                out[int(rest[0])] = self._safe(values[int(rest[0])].as_py())
                rest = rest[1:]
        return out

    def _safe(self, text: Optional[str]) -> tuple[Optional[RowRules], bool, Optional[str]]:
        try:
            return (*self(text), None)
        except ValueError as e:
            return None, False, str(e)


def captions_enabled(settings: dict[str, Any]) -> bool:
    section = settings.get("captions")
    return isinstance(section, dict) and bool(section.get("enabled", True))


def captions_ran(provenance: dict[str, Any]) -> bool:
    models = provenance.get("models") or {}
    seconds = provenance.get("seconds") or {}
    return "captions" in seconds or {"segments", "merge"} <= set(models)


def check_accepted(row: dict[str, Any], rules: RowRules) -> Iterator[tuple[str, str]]:
    """(code, message) for every way ``row`` breaks what an accepted clip promises."""
    duration = row.get("duration")
    if duration is None:
        yield "duration_missing", "accepted row has no duration"
    elif duration < rules.min_s - TOLERANCE_S:
        yield "duration_below_min", f"duration {duration:.3f} s < configured minimum {rules.min_s:g} s"
    elif rules.max_s is not None and duration > rules.max_s + TOLERANCE_S:
        yield "duration_above_max", f"duration {duration:.3f} s > configured maximum {rules.max_s:g} s"
    start, end = row.get("span_start"), row.get("span_end")
    if start is None or end is None or not end > start:
        yield "span_invalid", f"span_end {end} is not after span_start {start}"
    if row.get("cut_times"):
        yield "cuts_in_accepted", f"accepted row has scene cuts at {row['cut_times']}"
    if rules.captions and not (row.get("refined_caption") or "").strip():
        yield "caption_missing", "captions were enabled but refined_caption is empty"
    yield from _check_segments(row.get("segments") or [], duration)


def _check_segments(segments: list[dict[str, Any]], duration: Optional[float]) -> Iterator[tuple[str, str]]:
    previous = None
    for i, segment in enumerate(segments):
        start, end = segment.get("start"), segment.get("end")
        if start is None or end is None or not end > start:
            yield "segment_invalid", f"segment {i} has start {start} and end {end}"
            continue
        if start < -TOLERANCE_S or (duration is not None and end > duration + TOLERANCE_S):
            yield "segment_outside", f"segment {i} [{start:.3f}, {end:.3f}] is outside [0, {duration}]"
        if previous is not None:
            if start < previous[0]:
                yield "segments_unordered", f"segment {i} starts at {start:.3f} s, before segment {i - 1}"
            elif start < previous[1] - TOLERANCE_S:
                yield "segments_overlap", f"segment {i} starts at {start:.3f} s, before segment {i - 1} ends"
        previous = (start, end)


#: Python's ``str.isspace`` characters (RE2's \s is ASCII only), for ``str.split`` done column-wise.
_SPACE = "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"


def squeeze(values: pa.Array) -> pa.Array:
    """``" ".join(text.split())`` of every (non-null) value: whitespace runs become one space, none at either end.

    RE2 rewrites only the values that need more than their end spaces trimmed (two spaces in a row, other
    whitespace): most captions need nothing, and the rewrite costs 20x the look.
    """
    rough = rows_holding(values, [*range(0x09, 0x0E), *range(0x1C, 0x20)])  # ASCII spaces but " "
    rough |= ~pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    rough |= pc.greater(pc.count_substring(values, "  "), 0).to_numpy(zero_copy_only=False)
    trimmed = pc.utf8_trim(values, " ")
    if not rough.any():
        return trimmed
    at = pa.array(np.flatnonzero(rough))
    fixed = pc.replace_substring_regex(pc.replace_substring_regex(values.take(at), f"{_SPACE}+", " "), "^ | $", "")
    return pc.replace_with_mask(trimmed, pa.array(rough), fixed)


class CaptionRepeats:
    """The same refined_caption on many different clips (bad API replies): counted by a 64-bit hash of the text
    with its whitespace squeezed, 14 bytes a row (hash, shard, row); the texts are read back only for repeats."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.digests = array("Q")
        self.shards = array("H")
        self.rows = array("I")
        self.shard_names: list[str] = []

    def add(self, captions: pa.Array, shard: str, first_row: int) -> None:
        """The captions of consecutive rows of ``shard``, from row ``first_row`` on (null or blank: none)."""
        if not self.shard_names or self.shard_names[-1] != shard:
            self.shard_names.append(shard)
        texts = squeeze(pc.fill_null(captions, "")).to_pylist()
        kept = [i for i, text in enumerate(texts) if text]
        self.digests.extend(hash(texts[i]) & 0xFFFF_FFFF_FFFF_FFFF for i in kept)
        self.shards.extend([len(self.shard_names) - 1] * len(kept))
        self.rows.extend(first_row + i for i in kept)

    def findings(self, row_at: Callable[[str, int], dict[str, Any]]) -> Iterator[Finding]:
        """One finding per repeated caption, at its first row, in the order the repeats passed the limit;
        ``row_at(shard, row)`` reads a row back."""
        digests = np.frombuffer(self.digests, dtype=np.uint64)
        order = np.argsort(digests, kind="stable")
        ordered = digests[order]
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(ordered) else order
        counts = np.diff(np.append(starts, len(ordered)))
        repeated = np.flatnonzero(counts > self.limit)
        passed = order[starts[repeated] + self.limit]  # where each repeat passed the limit
        for group in repeated[np.argsort(passed, kind="stable")]:
            first = order[starts[group]]
            shard, index = self.shard_names[self.shards[first]], int(self.rows[first])
            row = row_at(shard, index)
            text = " ".join((row.get("refined_caption") or "").split())
            shown = text if len(text) <= 80 else text[:77] + "..."
            yield Finding("caption_repeated", f"refined_caption on {int(counts[group])} clips (limit {self.limit}), "
                          f"first here: {shown!r}", "error", shard, index, row.get("key"))


def suspects(batch: pa.RecordBatch, min_s: np.ndarray, max_s: np.ndarray, captions: np.ndarray,
             clip_threshold: Optional[float]) -> np.ndarray:
    """Rows of an accepted batch that may break a promise: every row ``check_accepted`` (or the clip-score
    check) finds anything in is among them; ``max_s`` is NaN where there is none, ``captions`` says where
    captions are required."""
    def column(name: str) -> np.ndarray:
        return batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64)  # null: NaN

    duration, start, end = column("duration"), column("span_start"), column("span_end")
    missing = ~pc.is_valid(batch.column("duration")).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        flagged = missing | (duration < min_s - TOLERANCE_S) | (duration > max_s + TOLERANCE_S) | ~(end > start)
    cuts = pc.fill_null(pc.list_value_length(batch.column("cut_times")), 0).to_numpy(zero_copy_only=False)
    flagged |= cuts > 0
    if captions.any():
        text = pc.fill_null(batch.column("refined_caption"), "")
        blank = pc.match_substring_regex(text, f"^{_SPACE}*$").to_numpy(zero_copy_only=False)
        flagged |= captions & blank
    flagged |= _segments_suspect(batch.column("segments"), duration)
    if clip_threshold is not None and "clip_score" in batch.schema.names:
        with np.errstate(invalid="ignore"):
            flagged |= column("clip_score") < clip_threshold
    return flagged


def _segments_suspect(segments: pa.Array, duration: np.ndarray) -> np.ndarray:
    """Rows whose segments ``_check_segments`` may find fault with."""
    flagged = np.zeros(len(segments), dtype=bool)
    values = pc.list_flatten(segments)
    if not len(values):
        return flagged
    parent = pc.list_parent_indices(segments).to_numpy(zero_copy_only=False)
    start = pc.struct_field(values, [0]).to_numpy(zero_copy_only=False).astype(np.float64)
    end = pc.struct_field(values, [1]).to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore"):
        valid = end > start  # False where either is missing
        bad = ~valid | (start < -TOLERANCE_S) | (end > duration[parent] + TOLERANCE_S)
        # each valid segment against the valid segment before it in the same row
        kept = np.flatnonzero(valid)
        same = parent[kept][1:] == parent[kept][:-1]
        previous_start, previous_end = start[kept][:-1], end[kept][:-1]
        later = kept[1:]
        disorder = same & ((start[later] < previous_start) | (start[later] < previous_end - TOLERANCE_S))
    flagged[parent[bad]] = True
    flagged[parent[later[disorder]]] = True
    return flagged


class RowChecker:
    """Every row, a batch at a time: keys unique per config and never both accepted and rejected, accepted rows
    kept honest, rejects explained, embedded clips playable. Findings go to ``add`` in row order."""

    def __init__(self, limit: int, settings: dict[str, Any], clip_threshold: Optional[float],
                 add: Callable[[Finding], None]) -> None:
        self.add = add
        self.rules = ProvenanceRules(settings)
        self.keys: dict[str, dict[str, tuple[str, int]]] = {}  # config -> key -> (shard, row)
        self.repeats = CaptionRepeats(limit)
        self.clip_scores = ClipScores(clip_threshold)
        self.borrowed = 0  # accepted rows held to the dataset's settings: their provenance names none

    def batch(self, config: str, shard: str, first: int, batch: pa.RecordBatch) -> None:
        """Check the rows of ``batch``, rows ``first`` on of ``shard``, read as config ``config``."""
        notes: list[tuple[int, Finding]] = []

        def note(offset: int, code: str, message: str, key: Optional[str] = None, severity: str = "error") -> None:
            notes.append((offset, Finding(code, message, severity, shard, first + offset, key)))

        names = batch.schema.names
        keys = batch.column("key").to_pylist() if "key" in names else [None] * batch.num_rows
        self._keys(config, shard, first, keys, note)
        if config == ACCEPTED:
            self._accepted(shard, first, batch, keys, note)
        elif config == REJECTS:
            explained = np.ones(batch.num_rows, dtype=bool)
            for name in ("stage", "reason"):
                if name not in names:
                    explained[:] = False
                    continue
                text = batch.column(name)
                explained &= pc.fill_null(pc.not_equal(text, ""), False).to_numpy(zero_copy_only=False)
            for offset in np.flatnonzero(~explained).tolist():
                note(offset, "reject_unexplained", "reject without stage or reason", keys[offset])
        elif config == VIDEOS:
            for offset, row in enumerate(batch.to_pylist()):
                problem = video_problem(row)
                if problem:
                    note(offset, "video_invalid", problem, keys[offset])
        notes.sort(key=lambda n: n[0])  # a row's key findings, then its others, as they were noted
        for _, finding in notes:
            self.add(finding)

    def _keys(self, config: str, shard: str, first: int, keys: list, note) -> None:
        mine = self.keys.setdefault(config, {})
        other = self.keys.setdefault(REJECTS if config == ACCEPTED else ACCEPTED, {}) \
            if config in (ACCEPTED, REJECTS) else {}
        for offset, key in enumerate(keys):
            if not key:
                note(offset, "key_missing", "row has no key")
            elif key in mine:
                there = mine[key]
                note(offset, "key_duplicate", f"key also at {there[0]} row {there[1]}", key)
            else:
                mine[key] = (shard, first + offset)
                if key in other:
                    there = other[key]
                    note(offset, "key_accepted_and_rejected", f"key is also at {there[0]} row {there[1]}", key)

    def _accepted(self, shard: str, first: int, batch: pa.RecordBatch, keys: list, note) -> None:
        rules: list[Optional[RowRules]] = []
        broken: dict[int, str] = {}
        for offset, (found, own, why) in enumerate(self.rules.column(batch.column("provenance"))):
            if why is not None:
                broken[offset] = why
            self.borrowed += found is not None and not own
            rules.append(found)
        plain = [r or RowRules(-np.inf, None, False) for r in rules]
        min_s = np.array([r.min_s for r in plain], dtype=np.float64)
        max_s = np.array([np.nan if r.max_s is None else r.max_s for r in plain], dtype=np.float64)
        captions = np.array([r.captions for r in plain], dtype=bool)
        threshold = self.clip_scores.threshold
        flagged = suspects(batch, min_s, max_s, captions, threshold)
        flagged[list(broken)] = True
        for offset in np.flatnonzero(flagged).tolist():
            row = batch.slice(offset, 1).to_pylist()[0]
            if offset in broken:
                note(offset, "provenance_invalid", f"cannot read settings: {broken[offset]}", keys[offset])
            else:
                for code, message in check_accepted(row, rules[offset]):
                    note(offset, code, message, keys[offset])
            score = row.get("clip_score")
            if threshold is not None and score is not None and score < threshold:
                note(offset, "clip_score_low", f"clip_score {score:.3f} < embed.min_clip_score {threshold:g}: the "
                     "caption may not describe the clip", keys[offset], "warning")
        self.repeats.add(batch.column("refined_caption"), shard, first)
        if "clip_score" in batch.schema.names:
            self.clip_scores.values.extend(batch.column("clip_score").drop_null().to_pylist())


def video_problem(row: dict[str, Any]) -> Optional[str]:
    """Why an embedded clip is unusable: it does not decode, or its length is more than one frame off the row's."""
    import io

    import decord

    data = (row.get("video") or {}).get("bytes")
    if not data:
        return "no video bytes"
    try:
        reader = decord.VideoReader(io.BytesIO(data), num_threads=1)
        reader.get_batch([0, len(reader) - 1])
    except Exception as e:  # decord raises its own DECORDError/RuntimeError types on damaged data
        return f"video does not decode: {str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__}"
    expected = round((row.get("duration") or 0) * (row.get("fps") or 0))
    if abs(len(reader) - expected) > 1:
        return f"video has {len(reader)} frames, the row's duration x fps says {expected}"
    return None
