"""Tile a segment's frames into one image: the paper's 2 x 3 grid, read left to right, top to bottom.

One image per segment lets an image VLM see a 30 s segment at once; white borders keep the tiles apart so the
model does not read neighbouring frames as one picture.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

WHITE = 255


def tile_size(height: int, width: int, tile_width: int) -> tuple[int, int]:
    """(height, width) of one tile: ``tile_width`` wide with the frame's aspect kept (even, at least 2 px)."""
    tile_height = max(2, int(round(height * tile_width / width / 2)) * 2)
    return tile_height, tile_width


def fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` resized to (height, width) ``size``; a new array, so the decoder's chunk can be freed."""
    height, width = size
    if frame.shape[:2] == (height, width):
        return frame.copy()
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def tile(frames: Sequence[np.ndarray], cols: int = 2, rows: int = 3, border: int = 8) -> np.ndarray:
    """Frames of one size in a ``cols`` x ``rows`` grid on white, row-major (frame i at row i // cols)."""
    if len(frames) != cols * rows:
        raise ValueError(f"a {cols}x{rows} grid needs {cols * rows} frames, got {len(frames)}")
    height, width = frames[0].shape[:2]
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError("grid frames differ in size")
    out = np.full((rows * height + (rows + 1) * border, cols * width + (cols + 1) * border, 3), WHITE, np.uint8)
    for i, frame in enumerate(frames):
        row, col = divmod(i, cols)
        top = border + row * (height + border)
        left = border + col * (width + border)
        out[top : top + height, left : left + width] = frame
    return out
