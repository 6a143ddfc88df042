"""``lvd2m export-wds OUT``: the ``videos`` config as webdataset tars (``KEY.mp4`` + ``KEY.json``).

Training loaders built on webdataset (and ``load_dataset("webdataset", ...)``) read tars, not Parquet; this writes
them from the clip bytes the ``videos`` config already holds, one row at a time, so nothing is cut or decoded again.
The new tars are written beside the destination and swapped in as a whole, so no tar of an earlier, larger export
stays behind; a destination holding anything but tars lvd2m writes is refused before any work.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Optional

from lvd2m_builder import schema
from lvd2m_builder.errors import OutputError
from lvd2m_builder.export.wds import WDS_DIR, TarSeries
from lvd2m_builder.store.output_dir import check_replaceable, replace_dir
from lvd2m_builder.store.shards import iter_batches

log = logging.getLogger(__name__)


def export_webdataset(out: str | Path, dest: Optional[str | Path] = None, per_tar: int = 64) -> tuple[str, int]:
    """Write ``dest`` (default ``OUT/webdataset``) tars; returns (brace pattern of the tars, samples written)."""
    out = Path(out)
    files = sorted(out.glob(schema.VIDEOS_PATTERN)) or sorted(out.glob(schema.LEGACY_PATTERNS["videos"]))
    if not files:
        raise OutputError(str(out), "has no videos config: build with --embed-videos or run lvd2m materialize first")
    folder = Path(dest) if dest else out / WDS_DIR
    check_replaceable(folder, WDS_DIR)
    staged = folder.parent / f".staging-{os.getpid()}" / folder.name
    tars = TarSeries(staged, per_tar)
    written = 0
    try:
        for batch in iter_batches(files):
            for row in batch.to_pylist():
                video = row.pop("video")
                tars.write(row["key"], video["bytes"], row)
                written += 1
        pattern = tars.close()
        replace_dir(folder, staged, WDS_DIR)
    except BaseException:
        tars.abort()
        raise
    finally:
        shutil.rmtree(staged.parent, ignore_errors=True)
    log.info("%d clips -> %s", written, pattern)
    return pattern, written
