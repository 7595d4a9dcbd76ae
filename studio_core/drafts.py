"""Drafts: a placed emoji drawn at full size first, then shrunk into its cell.

emoji-v1 draws an emoji well where it fills the picture (a bare name: the right emoji top-1 85 %)
and poorly where it is placed small in a scene (13 to 20 pixels, 3 to 5 tokens across: the right
emoji among the checker's top five 47 %). So where the prompt reader reads placed emoji, each is
first drawn by its bare name, with the scene's seed (the very picture typing that name gives), cut
from its white ground, shrunk to its size and set at its cell's centre on the scene's background;
the tokenizer encodes that composite. During the scene's stages the composite's tokens are the
prediction in each drafted cell, certain: they appear in the order the model's scores place them,
among the tokens it draws around them, and the rest of the picture is the model's own. On
validation scenes (seed 7; `benchmarks/sweep_emoji_sampling.py --bare 0 --placed 100 --pairs 50
--drafts off on`), one emoji: position 88 -> 93 %, top-5 48 -> 64 %; two: 89 -> 90 %, 47 -> 63 %
(through the tokenizer, true renders reach 72 to 75 %: the ceiling of any token choice).

First tried as a first frame of known tokens: the model, trained to see an emoji's detail only
after the plain background around it (quantization-error order), copied the emoji across the
whole picture (position 0 % on 40 validation scenes). Held as certain predictions instead, the
drafted tokens come in the model's own order.

A checkpoint opts in with ``"drafts": true`` in its studio.json (its prompt reader must read
placed things: the emoji reader).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import sampler
from .data.emoji import BACKGROUND_COLOURS, IMAGE_SIZE, SIZES, cell_centre
from .prompt_reader import POSITIONS, Reading
from .regions import cell_tokens

# How far from pure white (0-255, largest channel) a pixel joined to the border may be and still
# count as the drafted picture's ground: the decoder leaves the white of a bare name's ground
# within a few levels of 255 (the border pixels of 8 bare pictures: median 3, 90th percentile 20,
# the rest the emoji's own ink), and an emoji's outline is far darker.
GROUND_TOLERANCE = 24
# A certain prediction: the drafted token's logit this far above every other code. At the highest
# temperature the sampler allows (10) every other code's probability is exp(-1000): zero in float32.
CERTAIN = 1e4


@dataclass(frozen=True)
class Draft:
    """The tokens a scene's drafts hold: `ids` (N,) the composite's codes, `cells` (N,) bool where
    they are held (each drafted emoji's cell)."""

    ids: np.ndarray
    cells: np.ndarray


def drafted_things(reading: Reading) -> tuple:
    """The placed things of a reading (every thing has a size and a position: see
    prompt_reader.placed_scene)."""
    return tuple(t for t in reading.things if t.position is not None and t.size in SIZES)


def ground_mask(image: np.ndarray, tolerance: int = GROUND_TOLERANCE) -> np.ndarray:
    """(H, W) bool: the near-white pixels joined to the picture's border, the drafted emoji's white
    ground. White inside the emoji (a ghost, a cloud's face, an eye) is not joined to the border
    through near-white pixels and stays with the emoji."""
    near_white = (255 - image.astype(np.int16)).max(axis=-1) <= tolerance
    ground = np.zeros_like(near_white)
    ground[0], ground[-1], ground[:, 0], ground[:, -1] = (near_white[0], near_white[-1],
                                                          near_white[:, 0], near_white[:, -1])
    while True:  # grow the border's near-white pixels through their near-white neighbours
        grown = ground.copy()
        grown[1:] |= ground[:-1]
        grown[:-1] |= ground[1:]
        grown[:, 1:] |= ground[:, :-1]
        grown[:, :-1] |= ground[:, 1:]
        grown &= near_white
        if np.array_equal(grown, ground):
            return ground
        ground = grown


def cut_out(image: np.ndarray, extent: int, tolerance: int = GROUND_TOLERANCE) -> Image.Image | None:
    """The emoji of a bare-name picture (H, W, 3) uint8 without its white ground, cropped to its ink
    and shrunk so that its longer side is `extent` pixels, as RGBA; None where the picture is all
    ground (nothing was drawn)."""
    ground = ground_mask(image, tolerance)
    ys, xs = np.nonzero(~ground)
    if len(ys) == 0:
        return None
    alpha = np.where(ground, 0, 255).astype(np.uint8)
    sprite = Image.fromarray(np.dstack([image, alpha]), "RGBA").crop(
        (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    scale = extent / max(sprite.size)
    size = (max(1, round(sprite.width * scale)), max(1, round(sprite.height * scale)))
    # Pillow resizes RGBA premultiplied, so the cut-away ground's white does not bleed into the edges.
    return sprite.resize(size, Image.LANCZOS)


def compose(reading: Reading, pictures: list[np.ndarray], image_size: int) -> np.ndarray:
    """The scene's composite, (S, S, 3) uint8: each drafted thing's picture cut out, shrunk to its
    size and centred in its cell, as the emoji data places it (data/emoji.py, scaled from its 64 px
    to the model's picture size), on the scene's background (white where unsaid)."""
    scale = image_size / IMAGE_SIZE
    canvas = Image.new("RGBA", (image_size, image_size), BACKGROUND_COLOURS[reading.background or "white"] + (255,))
    for thing, picture in zip(drafted_things(reading), pictures, strict=True):
        sprite = cut_out(picture, max(1, round(SIZES[thing.size] * scale)))
        if sprite is not None:
            cx, cy = (c * scale for c in cell_centre(thing.position))
            canvas.alpha_composite(sprite, (round(cx - sprite.width / 2), round(cy - sprite.height / 2)))
    return np.array(canvas.convert("RGB"), dtype=np.uint8)  # writable: torch.from_numpy takes it


def drafted_cells(reading: Reading, grid_size: int) -> np.ndarray:
    """(N,) bool: the tokens of every drafted thing's cell (regions.cell_tokens)."""
    cells = np.zeros(grid_size * grid_size, dtype=bool)
    for thing in drafted_things(reading):
        cells |= cell_tokens(thing.position, POSITIONS, grid_size)
    return cells


def hold_drafts(prediction: sampler.Prediction, draft: Draft) -> sampler.Prediction:
    """The prediction with every drafted cell's token certain; scores are the model's, so the
    drafted tokens are placed when the model's order reaches them."""
    rows = torch.from_numpy(np.flatnonzero(draft.cells))
    logits = prediction.logits.clone()
    logits[rows] = -CERTAIN
    logits[rows, torch.from_numpy(draft.ids)[rows]] = 0.0
    return sampler.Prediction(logits, prediction.qerror, prediction.importance)
