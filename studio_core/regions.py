"""Regional prompts: a scene of several placed things drawn with each thing's own words in its cell.

Asked for two placed emoji in one caption, emoji-v1 often drew one of them in a cell next to the
one asked for, or a blend of both (two-emoji scenes: position 34 %, right emoji top-5 9.5 %),
while it places a single emoji well (86.5 %). So where the prompt reader reads a scene of several
placed things, every stage predicts the picture once per thing, each time from the words of that
thing alone (with the scene's background): the tokens of a later thing's cell take their logits
and scores from its own words, every other token from the first thing's words. All passes share
one network call, and the sampler does not know: locks, repaint, revision and rewind work as
before. On 40 validation pairs (seed 7) this took two-emoji position from 33.8 to 87.5 % and
top-5 from 10.0 to 35.0 % (`benchmarks/sweep_emoji_sampling.py --bare 0 --placed 0 --pairs 40
--regions off on`); on the evaluation's 100 pairs, 34.0 to 90.0 % and 9.5 to 30.5 % (fourth
session's weights).

A checkpoint opts in with ``"regional_prompts": true`` in its studio.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

GRID_CELLS = 3  # the scenes' 3x3 grid of places (data.shapes.POSITIONS, data.emoji.POSITIONS)


@dataclass(frozen=True)
class RegionWords:
    """The words for one region of the picture: `position` a cell of the 3x3 grid, or None for
    every token no other region claims."""

    words: str
    position: str | None = None


def cell_tokens(position: str, positions: tuple[str, ...], grid_size: int) -> np.ndarray:
    """(grid * grid,) bool: the tokens that any pixel of the cell falls on. A 16-token grid has
    5.3 tokens to a cell, so the tokens on a border belong to both cells; a large emoji fills its
    cell, and with them it has room to the cell's edge."""
    row, col = divmod(positions.index(position), GRID_CELLS)
    span = grid_size / GRID_CELLS

    def tokens(k: int) -> slice:
        return slice(math.floor(k * span), math.ceil((k + 1) * span))

    mask = np.zeros((grid_size, grid_size), dtype=bool)
    mask[tokens(row), tokens(col)] = True
    return mask.reshape(-1)


def region_masks(regions: tuple[RegionWords, ...], positions: tuple[str, ...], grid_size: int
                 ) -> list[torch.Tensor]:
    """One (N,) bool mask per region, in order; a later region takes the tokens it shares with an
    earlier one, and the region without a position takes whatever is left."""
    masks = [torch.from_numpy(cell_tokens(r.position, positions, grid_size)) if r.position else None
             for r in regions]
    claimed = torch.zeros(grid_size * grid_size, dtype=torch.bool)
    for i in reversed(range(len(masks))):
        if masks[i] is not None:
            masks[i] = masks[i] & ~claimed
            claimed |= masks[i]
    return [~claimed if m is None else m for m in masks]


def merge_by_region(values: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """values (R, N, ...) of R regions' passes -> (N, ...): each token from its region's pass."""
    out = values[0].clone()
    for i, mask in enumerate(masks):
        out[mask] = values[i][mask]
    return out
