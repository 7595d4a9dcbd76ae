"""Pictures of frames: the decoded image scaled up crisply, unplaced cells shown as a checker, and
optionally the tokens this frame placed (white outline), revised (red) and those locked (blue)."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

from .state import TokenFrame

NEW_COLOUR = (255, 255, 255)
REVISED_COLOUR = (255, 40, 40)
LOCKED_COLOUR = (60, 140, 255)
# Grid lines: dark over light pixels, light over dark ones, so the grid shows on any picture.
GRID_ON_LIGHT = (0, 0, 0)
GRID_ON_DARK = (235, 235, 235)
LIGHT_LEVEL = 110  # mean of R, G, B above which a pixel counts as light (the checker's darker grey is 110)


@functools.lru_cache(maxsize=8)
def checker(size: int, cell: int) -> np.ndarray:
    """The pattern painted where no token is placed yet. Cached: the app draws every stage at the
    same size, and the array is only read (it is made read-only to keep it so)."""
    yy, xx = np.mgrid[0:size, 0:size]
    light = ((yy // max(cell // 2, 1) + xx // max(cell // 2, 1)) % 2).astype(bool)
    pattern = np.where(light[..., None], 150, 110).astype(np.uint8).repeat(3, axis=-1)
    pattern.flags.writeable = False
    return pattern


def render_frame(image: np.ndarray, frame: TokenFrame, scale: int = 4, marks: bool = False,
                 grid: bool = False) -> Image.Image:
    """image: the decoded picture (S, S, 3) uint8; returns a PIL image S*scale pixels wide."""
    size = image.shape[0] * scale
    big = np.asarray(Image.fromarray(image).resize((size, size), Image.NEAREST)).copy()
    cell = size // frame.grid_size
    unknown = np.kron(~frame.known, np.ones((cell, cell), dtype=bool))
    big[unknown] = checker(size, cell)[unknown]
    if grid:
        draw_grid(big, cell)
    picture = Image.fromarray(big)
    draw = ImageDraw.Draw(picture)
    if marks:
        for mask, colour in ((frame.locked, LOCKED_COLOUR), (frame.new, NEW_COLOUR), (frame.revised, REVISED_COLOUR)):
            for r, c in zip(*np.nonzero(mask)):
                draw.rectangle([c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1], outline=colour)
    return picture


def draw_grid(big: np.ndarray, cell: int) -> None:
    """One-pixel lines between the cells (in place), each pixel contrasting with the one under it."""
    lines = np.zeros(big.shape[:2], dtype=bool)
    lines[:, cell::cell] = True
    lines[cell::cell, :] = True
    light = big.mean(axis=-1) > LIGHT_LEVEL
    big[lines & light] = GRID_ON_LIGHT
    big[lines & ~light] = GRID_ON_DARK



# ---------------------------------------------------------------------------------------------
# Token views: small pictures of the token state, one cell per token.

UNPLACED_COLOUR = (40, 40, 40)
# Stops of matplotlib's viridis: perceptually even and readable by colour-blind people, without
# pulling matplotlib in for five numbers.
RAMP_STOPS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=np.float32)


def ramp(values: np.ndarray) -> np.ndarray:
    """Colours (..., 3) uint8 for values in [0, 1] (clipped), dark violet (0) to yellow (1)."""
    x = np.clip(np.nan_to_num(values.astype(np.float32)), 0.0, 1.0) * (len(RAMP_STOPS) - 1)
    low = np.clip(np.floor(x).astype(int), 0, len(RAMP_STOPS) - 2)
    t = (x - low)[..., None]
    return np.round(RAMP_STOPS[low] * (1 - t) + RAMP_STOPS[low + 1] * t).astype(np.uint8)


def cells_image(colours: np.ndarray, size: int) -> Image.Image:
    """A (grid, grid, 3) array of cell colours drawn `size` pixels wide, cells kept square and sharp."""
    return Image.fromarray(colours).resize((size, size), Image.NEAREST)


def placed_stage_view(frame: TokenFrame, stages: int, size: int = 128) -> Image.Image:
    """When each token was placed: early stages dark, late ones bright; unplaced cells grey. Tokens
    placed by an edit after the plan ended count as the last stage."""
    colours = ramp(frame.placed_stage / max(stages - 1, 1))
    colours[~frame.known] = UNPLACED_COLOUR
    return cells_image(colours, size)


def confidence_view(frame: TokenFrame, size: int = 128) -> Image.Image:
    """The model's probability of each token when it was drawn: bright = sure."""
    colours = ramp(frame.confidence)
    colours[~frame.known] = UNPLACED_COLOUR
    return cells_image(colours, size)


def highlight_view(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int], size: int = 128) -> Image.Image:
    """The picture dimmed, with the cells in `mask` filled with `colour`: where a set of tokens is."""
    picture = np.asarray(Image.fromarray(image).resize((size, size), Image.NEAREST)).astype(np.float32)
    cell = size // mask.shape[0]
    cells = np.kron(mask, np.ones((cell, cell), dtype=bool))
    out = picture * 0.35
    out[cells] = 0.3 * picture[cells] + 0.7 * np.asarray(colour, dtype=np.float32)
    return Image.fromarray(out.astype(np.uint8))


def token_views(image: np.ndarray, frame: TokenFrame, stages: int, size: int = 128) -> dict[str, Image.Image]:
    """The four views the studio shows next to the picture. `size` should be a multiple of the grid."""
    return {
        "placed": placed_stage_view(frame, stages, size),
        "confidence": confidence_view(frame, size),
        "revised": highlight_view(image, frame.revised, REVISED_COLOUR, size),
        "locked": highlight_view(image, frame.locked, LOCKED_COLOUR, size),
    }
