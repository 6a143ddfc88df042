"""CLIP embedding throughput and near-duplicate search time, through the embed stage's own code.

(a) images/s at batch 1 (the baseline: one frame per model call) and (b) at the chosen batch, through
``ClipModel.encode_images`` (uint8 frames in, host-to-device copy and normalisation included), median of
``--repeat`` timed runs after a warm-up; (b)/(a) is the batching gain. (c) the model's forward alone on inputs
already on the device: (b)/(c) is what the stage's data handling costs. (d) the dedup search
(``find_duplicates``, exact, blocked) over ``--dedup-rows`` synthetic unit embeddings of the model's dimension
with 1% planted near-copies, checked to find exactly those.

    python bench/embed.py                                   # CPU: tiny random CLIP at 32 px, under a minute
    python bench/embed.py --model ViT-B-32 --random-weights # CPU: a real architecture, random weights
    python bench/embed.py --device cuda --model ViT-L-14 --random-weights   # GPU: 224 px, bf16, batch 256

Random weights time the arithmetic exactly; the embeddings mean nothing. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

import numpy as np

from lvd2m_builder.config import EmbedConfig
from lvd2m_builder.dedup.search import find_duplicates
from lvd2m_builder.models.clip import ClipModel, resolve
from lvd2m_builder.models.clip_weights import Located, locate
from lvd2m_builder.testing.tiny_clip import write_tiny_model


def build_model(args, scratch: str) -> ClipModel:
    device, precision = resolve(args.device, args.precision)
    if args.model == "tiny":
        located = locate(EmbedConfig(model=f"local-dir:{write_tiny_model(scratch)}"))
        return ClipModel(located, device, precision, args.batch)
    if args.random_weights:
        return ClipModel(Located(args.model, None, f"open_clip:{args.model}@random"), device, precision, args.batch,
                         random_weights=True)
    return ClipModel(locate(EmbedConfig(model=args.model, pretrained=args.pretrained)), device, precision, args.batch)


def images_per_second(model: ClipModel, batch: int, images: int, repeat: int) -> float:
    import torch

    frames = np.random.default_rng(0).integers(0, 256, (images, model.image_size, model.image_size, 3), np.uint8)
    model.batch_size = batch
    model.encode_images(frames[: min(images, 2 * batch)])  # warm-up: kernels, allocator, autotuning
    runs = []
    for _ in range(repeat):
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        model.encode_images(frames)  # returns host arrays: the device work is finished when it returns
        runs.append(time.perf_counter() - started)
    return images / statistics.median(runs)


def forward_only(model: ClipModel, batch: int, images: int, repeat: int) -> float:
    """images/s of the model alone: normalised inputs already on the device, no copies, no host work."""
    import torch

    x = torch.randn(batch, 3, model.image_size, model.image_size, device=model.device).to(model.input_dtype)
    steps = max(1, images // batch)
    runs = []
    with torch.inference_mode():
        model.net.encode_image(x, normalize=True)
        for _ in range(repeat):
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(steps):
                model.net.encode_image(x, normalize=True)
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            runs.append(time.perf_counter() - started)
    return steps * batch / statistics.median(runs)


def agreement(model: ClipModel, batch: int) -> float:
    """The lowest cosine between the same images embedded at batch 1 and at ``batch``: batching is no excuse for
    other embeddings (bf16 kernels may differ in the last bits)."""
    frames = np.random.default_rng(1).integers(0, 256, (min(2 * batch, 64), model.image_size, model.image_size, 3),
                                               np.uint8)
    model.batch_size = 1
    single = model.encode_images(frames)
    model.batch_size = batch
    return float(np.min(np.sum(single * model.encode_images(frames), axis=1)))


def planted(rows: int, dim: int, share: float = 0.01, seed: int = 0) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, dim), dtype=np.float32)
    copies = int(rows * share)
    originals = rng.choice(rows - copies, copies, replace=False)
    vectors[rows - copies :] = vectors[originals] + 0.02 * rng.standard_normal((copies, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float16), copies  # stored as the rows store them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--model", default="tiny", help="tiny (default), or an open_clip name such as ViT-L-14")
    parser.add_argument("--pretrained", default="", help="a cached tag or checkpoint file (without --random-weights)")
    parser.add_argument("--random-weights", action="store_true", help="random weights for a named model")
    parser.add_argument("--precision", default="auto", help="auto (bf16 on cuda, fp32 on cpu), fp32, bf16, fp16")
    parser.add_argument("--batch", type=int, help="the chosen batch (default 256 on cuda, 64 on cpu)")
    parser.add_argument("--images", type=int, help="images per timed run at the chosen batch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dedup-rows", type=int, help="synthetic embeddings to deduplicate (default 100000 on "
                        "cuda, 20000 on cpu)")
    parser.add_argument("--block", type=int, default=4096, help="dedup block rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device, precision = resolve(args.device, args.precision)
    cuda = device.startswith("cuda")
    args.batch = args.batch or (256 if cuda else 64)
    images = args.images or (8 * args.batch if cuda else 4 * args.batch)
    rows = args.dedup_rows or (100_000 if cuda else 20_000)
    with tempfile.TemporaryDirectory() as scratch:
        model = build_model(args, scratch)
        single = images_per_second(model, 1, min(images, 64 if cuda else 32), args.repeat)
        batched = images_per_second(model, args.batch, images, args.repeat)
        same = agreement(model, args.batch)
        bare = forward_only(model, args.batch, images, args.repeat)
    vectors, copies = planted(rows, model.dim)
    found = find_duplicates(vectors, np.arange(rows), 0.95, args.block, device)  # warm-up and correctness
    started = time.perf_counter()
    find_duplicates(vectors, np.arange(rows), 0.95, args.block, device)
    search_s = time.perf_counter() - started
    check = ""
    if cuda:  # the GPU search must decide as the CPU does
        subset = min(rows, 20_000)
        on_cpu = find_duplicates(vectors[:subset], np.arange(subset), 0.95, args.block, "cpu")
        on_gpu = find_duplicates(vectors[:subset], np.arange(subset), 0.95, args.block, device)
        agree = [(d.index, d.kept) for d in on_cpu] == [(d.index, d.kept) for d in on_gpu]
        check = f"; cuda and cpu agree on the first {subset} rows: {'yes' if agree else 'NO'}"
    print(f"{model.label} on {device} ({precision}), {model.image_size} px, embedding dim {model.dim}, "
          f"median of {args.repeat}")
    print(f"(a) batch 1              : {single:9.1f} images/s")
    print(f"(b) batch {args.batch:<4d}           : {batched:9.1f} images/s   (b)/(a) = {batched / single:.1f}x   "
          f"(lowest cosine of (b) vs (a) embeddings: {same:.4f})")
    print(f"(c) model alone, batch {args.batch}: {bare:9.1f} images/s   (b)/(c) = {batched / bare:.2f} "
          "(what uint8 frames in, copies and host arrays out cost)")
    print(f"(d) dedup of {rows} embeddings (block {args.block}): {search_s:.2f} s; found {len(found)} of "
          f"{copies} planted near-copies" + ("" if len(found) == copies else "  << MISMATCH") + check)


if __name__ == "__main__":
    main()
