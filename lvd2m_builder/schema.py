"""The single source of truth for the dataset's features.

The shard writer, the dataset card's YAML, the validator and the loading script all read the features from
here. Names follow the LVD-2M release where one exists (``video_time`` -> ``duration``, ``total score`` ->
``flow_score``).
"""

from __future__ import annotations

from datasets import Features, List, Value, Video

SEMANTIC = {"content_variation": Value("string"), "visual_diversity": Value("string")}
SEGMENT = {"start": Value("float32"), "end": Value("float32"), "caption": Value("string")}

#: Fields every clip has, accepted or not, as far as they were measured.
_COMMON = {
    "key": Value("string"),
    "source_key": Value("string"),  # the input's key: the row's own, or for a shot its video's (cuts.on_cut=split)
    "video_id": Value("string"),
    "url": Value("string"),
    "dataset_src": Value("string"),
    "span_start": Value("float64"),
    "span_end": Value("float64"),
    "duration": Value("float32"),
    "fps": Value("float32"),
    "width": Value("int32"),
    "height": Value("int32"),
    "num_frames": Value("int32"),
    "cut_times": List(Value("float32")),
    "flow_score": Value("float32"),
    "flow_backend": Value("string"),
    "semantic": SEMANTIC,
}

#: CLIP embedding and caption alignment (lvd2m_builder/embed; null where the stage did not run): the clip's
#: mean-pooled, L2-normalised image embedding, its cosine with the refined caption, and each segment's caption
#: against that segment's frames (in the order of ``segments``).
CLIP_FIELDS = {
    "clip_embedding": List(Value("float16")),
    "clip_score": Value("float32"),
    "segment_clip_scores": List(Value("float32")),
}

ROW_FEATURES = Features(
    {
        **_COMMON,
        "segments": List(SEGMENT),
        "raw_caption": Value("string"),
        "refined_caption": Value("string"),
        "rewritten_caption": Value("string"),
        "orig_caption": Value("string"),
        **CLIP_FIELDS,
        "provenance": Value("string"),
    }
)

REJECT_FEATURES = Features(
    {
        **_COMMON,
        "stage": Value("string"),
        "reason": Value("string"),
        "provenance": Value("string"),
    }
)

#: Parquet leaf columns of free text, (nearly) unique per row: written without a dictionary, which would overflow
#: its page limit after a few thousand rows and be thrown away (a quarter of an import's write time, and bigger
#: files). Keys, captions and provenance (a build's holds each row's timings); names and sources keep theirs.
FREE_TEXT_LEAVES = frozenset({"key", "source_key", "segments.list.element.caption", "raw_caption", "refined_caption",
                              "rewritten_caption", "orig_caption", "provenance"})
#: Parquet leaf columns of measured numbers, which seldom repeat (times, scores): written without a dictionary too,
#: which cost them about twice the write time and made them larger (88k release rows, a column: 5-9 vs 2-5 ms,
#: 0.4-0.5 vs 0.3 MB); they keep their statistics, which a filter by duration or score prunes by.
MEASURE_LEAVES = frozenset({"span_start", "span_end", "duration", "flow_score", "clip_score"})

#: The ``videos`` config: an accepted row plus the clip itself (bytes embedded; decoded with torchcodec).
VIDEO_FEATURES = Features({**ROW_FEATURES, "video": Video()})

#: What is published (the card's configs, ``push``): Parquet, named as ``push_to_hub`` names its files.
TRAIN_DIR = "data"
REJECTS_DIR = "rejects"
VIDEOS_DIR = "videos"
TRAIN_PATTERN = f"{TRAIN_DIR}/train-*.parquet"
REJECTS_PATTERN = f"{REJECTS_DIR}/train-*.parquet"
VIDEOS_PATTERN = f"{VIDEOS_DIR}/train-*.parquet"
#: The Arrow layout outputs had before Parquet: still read (validate, reshard), converted by ``reshard``/``push``.
LEGACY_PATTERNS = {"default": f"{TRAIN_DIR}/train-*.arrow", "rejects": f"{REJECTS_DIR}/rejects-*.arrow",
                   "videos": f"{VIDEOS_DIR}/train-*.arrow"}


def configs(videos: bool = False) -> list[dict]:
    """The card's ``configs``: which files ``load_dataset(out)`` and ``load_dataset(out, "rejects")`` read.

    ``videos``: also ``load_dataset(out, "videos")``, the rows with their clips embedded (``--embed-videos``).
    """
    result = [
        {"config_name": "default", "data_files": [{"split": "train", "path": TRAIN_PATTERN}]},
        {"config_name": "rejects", "data_files": [{"split": "train", "path": REJECTS_PATTERN}]},
    ]
    if videos:
        result.append({"config_name": "videos", "data_files": [{"split": "train", "path": VIDEOS_PATTERN}]})
    return result


def dataset_info(videos: bool = False) -> list[dict]:
    """The card's ``dataset_info``: one entry per config, features in the Hub's YAML form."""
    result = [
        {"config_name": "default", "features": ROW_FEATURES._to_yaml_list()},
        {"config_name": "rejects", "features": REJECT_FEATURES._to_yaml_list()},
    ]
    if videos:
        result.append({"config_name": "videos", "features": VIDEO_FEATURES._to_yaml_list()})
    return result
