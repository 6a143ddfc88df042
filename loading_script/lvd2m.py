"""LVD-2M as a ``datasets.GeneratorBasedBuilder``, for use from Python.

``datasets`` 4.0 removed loading scripts from ``load_dataset``, so this builder is used directly: import it and
call ``download_and_prepare(file_format="arrow"|"parquet")`` or ``as_streaming_dataset()``. Its
``_generate_examples`` runs the same generator functions as the command line over the inputs named in the config:

- video files, directories, globs or URLs: the ``lvd2m build`` pipeline (``Pipeline`` + ``records.to_row``);
- release CSVs (``*.csv``, ``*.csv.gz``, ...): the ``lvd2m import`` row mapping (``importers.iter_release``);
- a directory written by ``lvd2m import`` or ``lvd2m build``: its rows as they are.

Config ``metadata`` yields ``schema.ROW_FEATURES``; config ``videos`` yields ``schema.VIDEO_FEATURES``, each clip
cut from its source by ``clip_cutter.ClipCutter`` (``lvd2m materialize``'s generator) or, for video inputs, the
accepted file itself. Rejected inputs are logged with their reason, not yielded.

    import sys
    sys.path.insert(0, "loading_script")  # datasets re-imports a builder's module by name
    from lvd2m import Lvd2m
    builder = Lvd2m(config_name="metadata", inputs=("videos/",), overrides={"motion.min_score": 15})
    builder.download_and_prepare(file_format="parquet")
    train = builder.as_dataset(split="train")
"""

import logging
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import datasets

from lvd2m_builder import schema
from lvd2m_builder.config import load
from lvd2m_builder.inputs.listing import list_refs
from lvd2m_builder.materialize.cutter import CLIPS_DIR, ClipCutter, MaterializeConfig
from lvd2m_builder.materialize.run import data_files, iter_rows
from lvd2m_builder.materialize.sources import SourceIndex
from lvd2m_builder.records import to_row
from lvd2m_builder.release.importer import iter_release
from lvd2m_builder.stages.pipeline import Pipeline
from lvd2m_builder.store.manifest import MANIFEST

log = logging.getLogger(__name__)

CONFIG_NAMES = ("metadata", "videos")
TABLE_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst")


@dataclass
class Lvd2mConfig(datasets.BuilderConfig):
    """``inputs``: what to read; ``preset``/``overrides``: build settings for video inputs (as ``--set``);
    ``sources``/``mapping``/``cut_mode``: where table rows' source videos are and how to cut them (``videos``)."""

    inputs: tuple[str, ...] = ()
    preset: str = "paper"
    overrides: dict[str, Any] = field(default_factory=dict)
    sources: Optional[str] = None
    mapping: Optional[str] = None
    cut_mode: str = "accurate"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name not in CONFIG_NAMES:
            raise ValueError(f"config name {self.name!r}: must be one of {', '.join(CONFIG_NAMES)}")
        if isinstance(self.inputs, str):
            self.inputs = (self.inputs,)
        self.inputs = tuple(str(i) for i in self.inputs)
        MaterializeConfig(mode=self.cut_mode)  # validates cut_mode now, not after the first rows


def _kind(item: str) -> str:
    if item.lower().endswith(TABLE_SUFFIXES):
        return "table"
    if os.path.isdir(item) and os.path.exists(os.path.join(item, MANIFEST)):
        return "dataset"
    return "videos"


class Lvd2m(datasets.GeneratorBasedBuilder):
    """Long-take video clips with temporally dense captions (LVD-2M, arXiv 2410.10816)."""

    BUILDER_CONFIG_CLASS = Lvd2mConfig
    BUILDER_CONFIGS = [
        Lvd2mConfig(name="metadata", description="one row per accepted clip (schema.ROW_FEATURES)"),
        Lvd2mConfig(name="videos", description="rows with the clip embedded (schema.VIDEO_FEATURES)"),
    ]
    DEFAULT_CONFIG_NAME = "metadata"
    DEFAULT_WRITER_BATCH_SIZE = 8  # a videos row holds a whole clip

    def _info(self) -> datasets.DatasetInfo:
        videos = self.config.name == "videos"
        return datasets.DatasetInfo(
            description=__doc__.split("\n\n")[0],
            features=schema.VIDEO_FEATURES if videos else schema.ROW_FEATURES,
            homepage="https://github.com/SilentView/LVD-2M",
            citation="@inproceedings{xiong2024lvd2m, title={LVD-2M: A Long-take Video Dataset with Temporally "
                     "Dense Captions}, booktitle={NeurIPS Datasets and Benchmarks Track}, year={2024}}",
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        if not self.config.inputs:
            raise ValueError("give inputs=(...): video directories/files/URLs, release CSVs or an imported DIR")
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"inputs": list(self.config.inputs)})]

    def _generate_examples(self, inputs: list[str]) -> Iterator[tuple[str, dict]]:
        rejected: Counter = Counter()
        videos = [i for i in inputs if _kind(i) == "videos"]
        if videos:
            yield from self._from_videos(videos, rejected)
        rows = self._table_rows([i for i in inputs if _kind(i) != "videos"], rejected)
        if self.config.name == "videos":
            rows = self._cut(rows, rejected)
        for row in rows:
            yield row["key"], row
        if rejected:
            log.warning("lvd2m builder: %d inputs rejected: %s", sum(rejected.values()), dict(rejected))

    def _from_videos(self, inputs: list[str], rejected: Counter) -> Iterator[tuple[str, dict]]:
        """The ``lvd2m build`` pipeline over video inputs."""
        config = load(None, self.config.preset, dict(self.config.overrides))
        settings = config.settings()
        for clip in Pipeline(config)(list_refs(inputs, config.dataset_src)):
            if clip.rejected:
                rejected[clip.rejection.stage] += 1
                log.info("rejected %s at %s: %s", clip.ref.uri, clip.rejection.stage, clip.rejection.reason)
                continue
            row = to_row(clip, settings)
            if self.config.name == "videos":
                row["video"] = {"bytes": Path(clip.path).read_bytes(), "path": None}
            yield row["key"], row

    def _table_rows(self, inputs: list[str], rejected: Counter) -> Iterator[dict]:
        """Rows of release CSVs (the import's mapping) and of directories written by import or build."""
        for item in inputs:
            if _kind(item) == "dataset":
                yield from iter_rows(data_files(Path(item)))
                continue
            for release_row in iter_release([item]):
                if release_row.error is not None:
                    rejected["source"] += 1
                    log.info("rejected %s: %s", release_row.where, release_row.error)
                else:
                    yield release_row.row()

    def _cut(self, rows: Iterator[dict], rejected: Counter) -> Iterator[dict]:
        """Each row's clip cut from its source (``lvd2m materialize``'s generator), embedded, then deleted."""
        index = SourceIndex(self.config.sources, self.config.mapping)
        with tempfile.TemporaryDirectory(prefix="lvd2m-clips-") as scratch:
            cutter = ClipCutter(index, Path(scratch) / CLIPS_DIR, MaterializeConfig(mode=self.config.cut_mode))
            for outcome in cutter(rows):
                if outcome.reject is not None:
                    rejected[outcome.reject["stage"]] += 1
                    log.info("rejected %s: %s", outcome.row["key"], outcome.reject["reason"])
                    continue
                video = outcome.clip.read_bytes()
                outcome.clip.unlink()
                yield {**outcome.row, "video": {"bytes": video, "path": None}}
