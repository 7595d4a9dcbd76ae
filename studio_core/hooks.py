"""The user's hooks are masks over the token grid. This module turns what a person gives (a grid of
cells, or a brush mask over the picture at any multiple of the grid size) into a token mask, and
says clearly what is wrong when it cannot."""

from __future__ import annotations

import numpy as np

from .errors import StudioError


class MaskError(StudioError, ValueError):
    pass


def token_mask(mask: object, grid_size: int, argument: str = "mask") -> np.ndarray:
    """A (grid, grid) bool mask from a token mask or a pixel mask.

    A pixel mask (H, W) or (H, W, C) whose sides are a multiple of the grid selects every cell that
    any of its pixels touches: a brush stroke that grazes a cell selects that cell.
    """
    if isinstance(mask, (str, bytes)) or mask is None:
        raise MaskError(f"{argument} must be an array of 0/1 or booleans, got {type(mask).__name__}")
    try:
        array = np.asarray(mask)
    except Exception as err:  # ragged lists and the like
        raise MaskError(f"{argument} could not be read as an array: {err}") from err
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise MaskError(f"{argument} must hold numbers or booleans, got dtype {array.dtype}")
    if array.ndim == 3:  # an RGBA/RGB/L brush layer: any non-zero channel counts
        array = array.any(axis=-1)
    if array.ndim != 2:
        raise MaskError(f"{argument} must be 2-D (grid {grid_size}x{grid_size} or a pixel mask), "
                        f"got shape {array.shape}")
    h, w = array.shape
    if h != w or h % grid_size:
        raise MaskError(f"{argument} has shape {array.shape}; expected ({grid_size}, {grid_size}) tokens "
                        f"or a square pixel mask whose side is a multiple of {grid_size}")
    cell = h // grid_size
    selected = array.astype(bool).reshape(grid_size, cell, grid_size, cell)
    return selected.any(axis=(1, 3))
