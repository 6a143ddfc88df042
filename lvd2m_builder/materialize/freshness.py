"""Outputs made from the accepted rows (the ``videos`` config, the webdataset tars) follow those rows.

``lvd2m materialize`` records, per output it writes, a digest of the accepted rows it was made from
(``stats.json["materialize"]["rows"]``). A build that changes the accepted rows (new clips, a new threshold, new
captions) finds the digests stale and redoes those outputs the way they were made (same mode, same sources),
reusing the clips already cut, so ``videos`` never lists other rows than the default config.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from lvd2m_builder import schema
from lvd2m_builder.export.wds import WDS_DIR
from lvd2m_builder.materialize.cutter import MaterializeConfig
from lvd2m_builder.store.shards import iter_batches

log = logging.getLogger(__name__)

#: What ``stats.json["materialize"]`` says about each output: where its files are listed, and its config flag.
OUTPUTS = {schema.VIDEOS_DIR: "videos", WDS_DIR: "webdataset"}


def rows_digest(out: Path) -> str:
    """A digest of the accepted rows (each key with its provenance, in key order): it changes whenever a row
    is added, dropped, re-decided or rebuilt, and not when the shards are only regrouped (reshard)."""
    pairs = []
    for batch in iter_batches(sorted(out.glob(schema.TRAIN_PATTERN))):
        for key, provenance in zip(batch.column("key").to_pylist(), batch.column("provenance").to_pylist()):
            pairs.append(f"{key}\t{hashlib.sha1((provenance or '').encode()).hexdigest()}")
    return hashlib.sha1("\n".join(sorted(pairs)).encode()).hexdigest()


def materialize_section(out: Path) -> Optional[dict[str, Any]]:
    """``stats.json["materialize"]`` as the last materialize wrote it (None when there is none)."""
    try:
        return json.loads((out / "stats.json").read_text()).get("materialize")
    except (OSError, ValueError, AttributeError):
        return None


def stale_outputs(out: Path, section: Optional[dict[str, Any]]) -> list[str]:
    """The outputs present under ``out`` that were made from other accepted rows than those there now."""
    present = [name for name in OUTPUTS if any((out / name).glob("*.*"))]
    if not present:
        return []
    digest = rows_digest(out)
    made_from = (section or {}).get("rows") or {}
    return [name for name in present if made_from.get(name) != digest]


def refresh_config(out: Path, section: Optional[dict[str, Any]],
                   asked: Optional[MaterializeConfig] = None) -> Optional[MaterializeConfig]:
    """The materialize run this build needs: what was ``asked`` (``--embed-videos``) plus every stale output,
    made as before; None when nothing is to be done."""
    stale = stale_outputs(out, section)
    if stale:
        log.info("%s: %s made from other accepted rows than those now in data/: made again", out, ", ".join(stale))
    if asked is None and not stale:
        return None
    base = asked or MaterializeConfig(mode=(section or {}).get("mode", "accurate"), embed_videos=False,
                                      webdataset=False)
    return replace(base, embed_videos=base.embed_videos or schema.VIDEOS_DIR in stale,
                   webdataset=base.webdataset or WDS_DIR in stale)
