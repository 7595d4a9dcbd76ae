"""The cells a person selected on the brush canvas, and the selection tools (all, invert, clear,
box) that write a selection back into the canvas as a brush layer.

A selection is a boolean grid, one cell per token. From a brush layer it is every cell the brush
touched plus every cell a closed stroke encloses: a loop drawn around a shape means its inside.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from studio_core import MaskError

# The colour the page's brush paints (ui.py gives the editor the same), so a layer written by a
# tool looks like one painted by hand.
BRUSH_RGBA = (255, 0, 255, 140)


def touched_pixels(editor_value: object) -> np.ndarray:
    """The pixels the brush touched: the alpha of the editor's layers (all of them, should a
    client send several). Raises MaskError when there is no layer at all."""
    layers = editor_value.get("layers") if isinstance(editor_value, dict) else None
    layers = [np.asarray(layer) for layer in (layers or []) if layer is not None]
    if not layers:
        raise MaskError("no cells selected: brush over the picture first")
    shapes = {layer.shape[:2] for layer in layers}
    if len(shapes) > 1:
        raise MaskError(f"the brush layers differ in size ({sorted(shapes)}); send one layer")
    touched = np.zeros(layers[0].shape[:2], dtype=bool)
    for layer in layers:
        if layer.ndim == 3 and layer.shape[-1] in (2, 4):  # LA / RGBA: the alpha is the stroke
            touched |= layer[..., -1] > 0
        elif layer.ndim in (2, 3):  # L / RGB without alpha: any non-black pixel
            touched |= (layer if layer.ndim == 2 else layer.max(axis=-1)) > 0
        else:
            raise MaskError(f"a brush layer must be an image, got an array of shape {layer.shape}")
    return touched


def with_enclosed(cells: np.ndarray) -> np.ndarray:
    """The cells plus every cell they enclose: those that cannot reach the picture's edge through
    unselected cells (4-connected, so a diagonal gap in a drawn loop still closes it)."""
    outside = np.zeros_like(cells, dtype=bool)
    h, w = cells.shape
    queue = deque((r, c) for r in range(h) for c in range(w)
                  if (r in (0, h - 1) or c in (0, w - 1)) and not cells[r, c])
    for r, c in queue:
        outside[r, c] = True
    while queue:
        r, c = queue.popleft()
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < h and 0 <= cc < w and not cells[rr, cc] and not outside[rr, cc]:
                outside[rr, cc] = True
                queue.append((rr, cc))
    return ~outside


def box_of(cells: np.ndarray) -> np.ndarray:
    """The smallest rectangle of cells holding the selection (two dots or a diagonal stroke span
    a rectangle)."""
    box = np.zeros_like(cells, dtype=bool)
    rows, cols = np.nonzero(cells)
    if rows.size:
        box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    return box


def layer_of(cells: np.ndarray, size: int) -> np.ndarray:
    """A brush layer (size x size RGBA) painting exactly `cells`, for the canvas."""
    cell = size // cells.shape[0]
    painted = np.kron(cells, np.ones((cell, cell), dtype=bool))
    layer = np.zeros((size, size, 4), dtype=np.uint8)
    layer[: painted.shape[0], : painted.shape[1]][painted] = BRUSH_RGBA
    return layer


def count_line(cells: np.ndarray | None) -> str:
    """What the page says under the canvas."""
    n = 0 if cells is None else int(cells.sum())
    total = 0 if cells is None else cells.size
    if n == 0:
        return "**0 cells selected**: brush over the picture, draw a loop around a shape, or use **All**"
    return f"**{n} of {total} cells selected**"
