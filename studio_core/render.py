"""Pictures of frames: the decoded image scaled up crisply, unplaced cells shown as a checker, and
optionally the tokens this frame placed (white outline), revised (red) and those locked (blue)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .state import TokenFrame

NEW_COLOUR = (255, 255, 255)
REVISED_COLOUR = (255, 40, 40)
LOCKED_COLOUR = (60, 140, 255)
GRID_COLOUR = (0, 0, 0)


def checker(size: int, cell: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    light = ((yy // max(cell // 2, 1) + xx // max(cell // 2, 1)) % 2).astype(bool)
    return np.where(light[..., None], 150, 110).astype(np.uint8).repeat(3, axis=-1)


def render_frame(image: np.ndarray, frame: TokenFrame, scale: int = 4, marks: bool = False,
                 grid: bool = False) -> Image.Image:
    """image: the decoded picture (S, S, 3) uint8; returns a PIL image S*scale pixels wide."""
    size = image.shape[0] * scale
    big = np.asarray(Image.fromarray(image).resize((size, size), Image.NEAREST)).copy()
    cell = size // frame.grid_size
    unknown = np.kron(~frame.known, np.ones((cell, cell), dtype=bool))
    big[unknown] = checker(size, cell)[unknown]
    picture = Image.fromarray(big)
    draw = ImageDraw.Draw(picture)
    if grid:
        for k in range(1, frame.grid_size):
            draw.line([(k * cell, 0), (k * cell, size)], fill=GRID_COLOUR, width=1)
            draw.line([(0, k * cell), (size, k * cell)], fill=GRID_COLOUR, width=1)
    if marks:
        for mask, colour in ((frame.locked, LOCKED_COLOUR), (frame.new, NEW_COLOUR), (frame.revised, REVISED_COLOUR)):
            for r, c in zip(*np.nonzero(mask)):
                draw.rectangle([c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1], outline=colour)
    return picture

