"""Where an open_clip model's weights lie on this machine: local files and caches only, never the network.

``embed.model`` names the architecture and ``embed.pretrained`` the weights:
- a built-in name (``ViT-B-32``) with a pretrained tag (``laion2b_s34b_b79k``): the tag's file in the Hugging
  Face cache (``hf_hub`` tags) or in open_clip's URL cache (``~/.cache/clip``);
- a built-in name with a checkpoint file (``pretrained: /models/vitb32.pt``);
- ``local-dir:PATH``: open_clip's own layout, ``open_clip_config.json`` plus a checkpoint, in one directory;
- ``hf-hub:ORG/REPO``: that repo's snapshot in the Hugging Face cache, loaded as a ``local-dir``.
Anything absent raises :class:`MissingWeightsError` saying what to fetch; the stage is then skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from lvd2m_builder.config import EmbedConfig
from lvd2m_builder.errors import MissingDependencyError, MissingWeightsError

CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
_CONFIG_NAME = "open_clip_config.json"
_TAG_PREPROCESS = ("mean", "std", "interpolation", "resize_mode")


@dataclass(frozen=True)
class Located:
    """What ``open_clip.create_model`` gets: a name, a checkpoint file, and the settings the tag trained with."""

    name: str
    checkpoint: Optional[str]  # None for local-dir (open_clip finds the file in the directory)
    label: str  # the model id written into provenance
    quick_gelu: bool = False
    preprocess: dict[str, Any] = field(default_factory=dict)


def open_clip_module():
    try:
        import open_clip
    except ImportError as e:
        raise MissingDependencyError("open_clip_torch", "embed") from e
    return open_clip


def locate(config: EmbedConfig) -> Located:
    """The local weights ``config`` names; raises MissingWeightsError or MissingDependencyError."""
    open_clip = open_clip_module()
    model = config.model.strip()
    if model.startswith("local-dir:"):
        return _local_dir(model, Path(model[len("local-dir:"):]))
    if model.startswith("hf-hub:"):
        return _hf_hub(model, model[len("hf-hub:"):], config.cache_dir)
    if open_clip.get_model_config(model) is None:
        known = ", ".join(open_clip.list_models()[:8])
        raise MissingWeightsError(model, "-", f"not an open_clip model name (known: {known}, ...)")
    pretrained = config.pretrained.strip()
    if not pretrained:
        raise MissingWeightsError(model, "-", "embed.pretrained is empty: name a tag or a checkpoint file "
                                  "(random weights are never used)")
    if os.sep in pretrained or pretrained.endswith(CHECKPOINT_SUFFIXES):
        if not os.path.isfile(pretrained):
            raise MissingWeightsError(model, pretrained, "no such checkpoint file")
        return Located(model, pretrained, f"open_clip:{model}@{Path(pretrained).name}")
    tag = open_clip.get_pretrained_cfg(model, pretrained)
    if not tag:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise MissingWeightsError(model, pretrained, f"unknown pretrained tag (known for {model}: {known})")
    path = _cached_tag(tag, config.cache_dir)
    if path is None:
        where = tag.get("hf_hub") or tag.get("url") or "-"
        raise MissingWeightsError(model, where, f"{model}/{pretrained} is not in the local caches; nothing is "
                                  f"downloaded at run time (fetch it once, e.g. python -c \"import open_clip; "
                                  f"open_clip.create_model('{model}', pretrained='{pretrained}')\")")
    preprocess = {k: tag[k] for k in _TAG_PREPROCESS if k in tag}
    return Located(model, path, f"open_clip:{model}@{pretrained}", bool(tag.get("quick_gelu")), preprocess)


def _local_dir(model: str, directory: Path) -> Located:
    if not (directory / _CONFIG_NAME).is_file():
        raise MissingWeightsError(model, str(directory), f"no {_CONFIG_NAME} there")
    if not any(p.suffix in CHECKPOINT_SUFFIXES for p in directory.iterdir()):
        raise MissingWeightsError(model, str(directory), "no checkpoint (.safetensors, .bin, .pth) there")
    return Located(f"local-dir:{directory}", None, f"open_clip:{model}")


def _hf_hub(model: str, repo_id: str, cache_dir: str) -> Located:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, _CONFIG_NAME, cache_dir=cache_dir or None)
    if not isinstance(found, str):
        raise MissingWeightsError(model, repo_id, "not in the local Hugging Face cache; nothing is downloaded at "
                                  f"run time (fetch it first: hf download {repo_id})")
    located = _local_dir(model, Path(found).parent)
    return Located(located.name, None, f"open_clip:{model}")


def _cached_tag(tag: dict[str, Any], cache_dir: str) -> Optional[str]:
    """The tag's checkpoint in the HF cache or open_clip's URL cache, or None."""
    hub = tag.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub)
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        names = [filename[: -len(Path(filename).suffix)] + ".safetensors", filename] if filename else \
            [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
        for name in names:
            path = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir or None)
            if isinstance(path, str):
                return path
    if tag.get("file") and os.path.isfile(tag["file"]):
        return tag["file"]
    url = tag.get("url", "")
    if url:
        path = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if os.path.isfile(path):
            return path
    return None


def input_size(located: Located) -> int:
    """The model's square input side, from its config alone (no weights loaded): a process that only decodes
    (run/executors/ray.py) cuts the frames that another process's model takes."""
    if located.name.startswith("local-dir:"):
        data = json.loads((Path(located.name[len("local-dir:"):]) / _CONFIG_NAME).read_text())
        model_cfg, preprocess = data["model_cfg"], data.get("preprocess_cfg", {})
    else:
        model_cfg, preprocess = open_clip_module().get_model_config(located.name), {}
    size = preprocess.get("size") or model_cfg["vision_cfg"]["image_size"]
    return int(size if isinstance(size, int) else size[0])
