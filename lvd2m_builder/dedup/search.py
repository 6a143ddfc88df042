"""Near-duplicate search over unit embeddings: exact, in blocks, so memory stays linear in the row count.

Greedy in a fixed preference order: a row is a duplicate when its cosine with a row already kept is at least
``threshold``, and then it names the most similar kept row; otherwise it is kept. So every rejected row is truly
close to the row it names (no chains through intermediate rows), and the result depends only on the order and
the vectors, not on the block size or on how the rows were sharded. Rows are compared ``block`` at a time
against the kept rows, ``block`` x ``block`` similarities at once (on the GPU when one is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Duplicate:
    index: int  # the duplicate row (an index into the input)
    kept: int  # the kept row it is closest to
    similarity: float


def find_duplicates(vectors: np.ndarray, order: np.ndarray, threshold: float, block: int = 4096,
                    device: str = "cpu") -> list[Duplicate]:
    """Duplicates among ``vectors`` (N x D), keeping rows earlier in ``order`` (a permutation of range(N))."""
    import torch

    order = np.asarray(order, dtype=np.int64)
    if len(order) == 0:
        return []
    rows = torch.nn.functional.normalize(torch.as_tensor(np.asarray(vectors)[order], dtype=torch.float32), dim=1)
    rows = rows.to(device)
    kept: list[tuple[torch.Tensor, np.ndarray]] = []  # (vectors, positions in ``order``) kept so far, per block
    found: list[Duplicate] = []
    for lo in range(0, len(rows), block):
        chunk = rows[lo : lo + block]
        best, best_at = _best_kept(chunk, kept)
        inner = chunk @ chunk.T
        local = (inner >= threshold).tril_(-1).any(dim=1).cpu().numpy()  # close to an earlier row of the block
        kept_here = np.ones(len(chunk), dtype=bool)
        settle = np.flatnonzero(local | (best >= threshold))
        rows_needed = torch.as_tensor(settle, device=chunk.device)
        inner_rows = inner[rows_needed].cpu().numpy() if local.any() else None
        for n, i in enumerate(settle.tolist()):
            sim, at = best[i], best_at[i]
            if local[i]:
                mine = np.where(kept_here[:i], inner_rows[n, :i], -np.inf)
                j = int(np.argmax(mine))
                if mine[j] > sim:
                    sim, at = mine[j], lo + j
            if sim >= threshold:
                kept_here[i] = False
                found.append(Duplicate(int(order[lo + i]), int(order[at]), float(sim)))
        kept.append((chunk[torch.as_tensor(kept_here, device=chunk.device)], lo + np.flatnonzero(kept_here)))
    return found


def _best_kept(chunk, kept: list) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``chunk``: the highest cosine with any kept row (earlier blocks), and that row's position."""
    best = np.full(len(chunk), -np.inf, dtype=np.float32)
    best_at = np.full(len(chunk), -1, dtype=np.int64)
    for vectors, positions in kept:
        if not len(positions):
            continue
        value, index = (chunk @ vectors.T).max(dim=1)
        value, index = value.float().cpu().numpy(), index.cpu().numpy()
        better = value > best
        best[better] = value[better]
        best_at[better] = positions[index[better]]
    return best, best_at
