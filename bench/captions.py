"""Caption-model throughput: generated tokens/s and clips/s at batch 1 against larger batches, same run.

Runs the ``transformers`` backend (our batching, left padding, chat template, decode) over HF ``generate`` on a
random-weight Llama-architecture model built in memory, so no weights are needed:

    python bench/captions.py                                   # CPU, tiny shape: batch 1 vs 8, in seconds
    python bench/captions.py --device cuda --shape 7b          # a 7B-shaped model in bf16: batch 1, 16, 64

Each request has ``--prompt-tokens`` prompt tokens (exact: a word-level tokenizer, one token per word) and
generates exactly ``--new-tokens`` tokens (no early stop). A clip of up to 30 s costs the caption stage two such
requests (its segment's caption and the refine step), so clips/s = requests/s / 2 for those clips.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REQUESTS_PER_CLIP = 2

DEFAULTS = {  # shape -> (batch sizes, prompt tokens, new tokens, generate calls timed per batch size)
    "tiny": ("1,8", 256, 32, 3),
    "7b": ("1,16,64", 1500, 128, 1),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--shape", choices=sorted(DEFAULTS), default="tiny")
    parser.add_argument("--batches", help="comma-separated batch sizes; the first is the baseline")
    parser.add_argument("--prompt-tokens", type=int)
    parser.add_argument("--new-tokens", type=int)
    parser.add_argument("--rounds", type=int, help="generate calls timed per batch size (tiny 3, 7b 1)")
    args = parser.parse_args()
    batches_text, prompt_tokens, new_tokens, rounds = DEFAULTS[args.shape]
    rounds = args.rounds or rounds
    batches = [int(b) for b in (args.batches or batches_text).split(",")]
    prompt_tokens = args.prompt_tokens or prompt_tokens
    new_tokens = args.new_tokens or new_tokens

    import numpy as np
    import torch
    import transformers

    from lvd2m_builder.config import ModelConfig
    from lvd2m_builder.models.hf import TransformersBackend, resolve_device
    from lvd2m_builder.models.interface import Request
    from lvd2m_builder.testing.tiny_models import random_llm

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    started = time.perf_counter()
    net, tokenizer = random_llm(args.shape, device)
    net.generation_config.eos_token_id = None  # every request generates exactly new_tokens
    params = sum(p.numel() for p in net.parameters())
    print(f"model: random {args.shape} Llama shape, {params / 1e6:,.1f}M parameters, {next(net.parameters()).dtype}, "
          f"on {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}); "
          f"built in {time.perf_counter() - started:.1f}s; attention {net.config._attn_implementation}")
    print(f"requests: {prompt_tokens} prompt tokens, {new_tokens} new tokens, greedy")

    rng = np.random.default_rng(0)
    vocab = len(tokenizer) - 10

    def requests(count: int) -> list[Request]:
        return [Request(" ".join(f"w{i}" for i in rng.integers(0, vocab, prompt_tokens)), max_new_tokens=new_tokens)
                for _ in range(count)]

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    rows = []
    for batch in batches:
        backend = TransformersBackend(ModelConfig(model=f"random-{args.shape}", batch_size=batch, device=device),
                                      (net, tokenizer, False))
        backend.generate(requests(batch))  # one untimed call of the same shape: kernel choice, allocator growth
        work = requests(batch * rounds)
        sync()
        t0 = time.perf_counter()
        replies = backend.generate(work)
        sync()
        seconds = time.perf_counter() - t0
        tokens = sum(r.tokens for r in replies)
        rows.append((batch, len(work), seconds, len(work) / seconds, tokens / seconds))
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

    base = rows[0][4]
    print(f"\n{'batch':>6} {'requests':>9} {'seconds':>9} {'clips/s':>9} {'gen tok/s':>10} {'vs batch ' + str(batches[0]):>11}")
    for batch, count, seconds, per_s, tok_s in rows:
        print(f"{batch:>6} {count:>9} {seconds:>9.2f} {per_s / REQUESTS_PER_CLIP:>9.2f} {tok_s:>10.1f} {tok_s / base:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
