"""Captioned shapes: a procedural, unlimited, seed-deterministic text-to-image dataset.

Every example is a 64x64 RGB picture of 1-3 flat-coloured shapes on a plain background, placed on
the cells of a 3x3 grid, with a caption drawn from a small grammar (several phrasings per scene)
and the scene description it was rendered from, so that an evaluator can judge a generated image
against the prompt without ever looking at the generator.

A fixed set of attribute combinations (colour, shape, size, position) is held out: training scenes
never contain one, held-out scenes contain at least one. The split is a pure function of the
combination, so it is the same on every machine and in every process.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from . import phrasing
from .unlimited import UnlimitedDataset

IMAGE_SIZE = 64

OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
    "cyan": (40, 215, 225),
    "white": (240, 240, 240),
}
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "gray": (110, 110, 110),
    "navy": (25, 30, 80),
    "brown": (95, 65, 40),
}
SHAPES = ("circle", "square", "triangle", "diamond")
# Half-extent of a shape in pixels; a grid cell is 64/3 ~ 21 px wide, so a large shape fills most
# of its cell and shapes in different cells never touch.
SIZES: dict[str, int] = {"small": 5, "large": 9}
POSITIONS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)
CELL = IMAGE_SIZE / 3
JITTER = 2  # pixels a shape may move off its cell centre, so positions are not 9 exact points

Split = Literal["train", "heldout"]
Captions = Literal["grammar", "free"]
# With free captions, this share of training captions still comes from the original grammar, so
# the prompts the bundled model was first trained on stay as common as any other phrasing.
GRAMMAR_SHARE = 0.3
HELDOUT_FRACTION = 1 / 8


@dataclass(frozen=True)
class ShapeObject:
    colour: str
    shape: str
    size: str
    position: str

    @property
    def combination(self) -> tuple[str, str, str, str]:
        return (self.colour, self.shape, self.size, self.position)

    def phrase(self, with_size: bool) -> str:
        size = f"{self.size} " if with_size else ""
        return f"{_article(size or self.colour)} {size}{self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]
    background: str

    def to_dict(self) -> dict:
        return {
            "background": self.background,
            "objects": [o.__dict__.copy() for o in self.objects],
        }

    @staticmethod
    def from_dict(d: dict) -> "Scene":
        return Scene(tuple(ShapeObject(**o) for o in d["objects"]), d["background"])


@dataclass(frozen=True)
class Example:
    image: np.ndarray  # (64, 64, 3) uint8
    caption: str
    scene: Scene


def is_heldout(obj: ShapeObject) -> bool:
    """Whether a combination belongs to the held-out set (a stable hash, not Python's hash())."""
    digest = hashlib.sha256("|".join(obj.combination).encode()).digest()
    return digest[0] < 256 * HELDOUT_FRACTION


def all_combinations() -> list[ShapeObject]:
    return [
        ShapeObject(c, s, z, p)
        for c in OBJECT_COLOURS for s in SHAPES for z in SIZES for p in POSITIONS
    ]


def heldout_combinations() -> list[ShapeObject]:
    return [o for o in all_combinations() if is_heldout(o)]


# ---------------------------------------------------------------------------------------------
# Rendering


def cell_centre(position: str) -> tuple[float, float]:
    row, col = divmod(POSITIONS.index(position), 3)
    return (col + 0.5) * CELL, (row + 0.5) * CELL


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    """Vertices of a polygonal shape, or None for a circle (drawn as an ellipse)."""
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":  # apex up
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if shape == "circle":
        return None
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def render_scene(scene: Scene, offsets: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Draw a scene without anti-aliasing: flat colours keep the VQ tokens crisp."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND_COLOURS[scene.background])
    draw = ImageDraw.Draw(image)
    for i, obj in enumerate(scene.objects):
        cx, cy = cell_centre(obj.position)
        dx, dy = offsets[i] if offsets else (0, 0)
        cx, cy, r = cx + dx - 0.5, cy + dy - 0.5, SIZES[obj.size]
        colour = OBJECT_COLOURS[obj.colour]
        polygon = shape_polygon(obj.shape, cx, cy, r)
        if polygon is None:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            draw.polygon(polygon, fill=colour)
    return np.asarray(image, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Captions


_POSITION_PHRASES = {
    "top left": ["in the top left", "at the top left", "in the top left corner"],
    "top": ["at the top", "in the top middle", "at the top centre"],
    "top right": ["in the top right", "at the top right", "in the top right corner"],
    "left": ["on the left", "at the left", "in the middle left"],
    "center": ["in the center", "in the middle", "at the centre"],
    "right": ["on the right", "at the right", "in the middle right"],
    "bottom left": ["in the bottom left", "at the bottom left", "in the bottom left corner"],
    "bottom": ["at the bottom", "in the bottom middle", "at the bottom centre"],
    "bottom right": ["in the bottom right", "at the bottom right", "in the bottom right corner"],
}
_BACKGROUND_PHRASES = ["on a {} background", "over a {} background", "with a {} background"]


def _article(word: str) -> str:
    return "an" if word.strip()[0] in "aeiou" else "a"


def caption_scene(scene: Scene, rng: np.random.Generator) -> str:
    """One of several phrasings of a scene. Size is always said: it is part of the scene."""
    parts = []
    for obj in scene.objects:
        where = str(rng.choice(_POSITION_PHRASES[obj.position]))
        what = obj.phrase(with_size=True)
        parts.append(f"{where}, {what}" if rng.random() < 0.25 else f"{what} {where}")
    if len(parts) == 1:
        text = parts[0]
    else:
        text = ", ".join(parts[:-1]) + " and " + parts[-1]
    if rng.random() < 0.5:
        text += " " + str(rng.choice(_BACKGROUND_PHRASES)).format(scene.background)
    return text


def _grammar_pattern() -> re.Pattern:
    """Everything `caption_scene` can say, as one regular expression (lower case, single spaces)."""
    alternatives = lambda words: "(?:" + "|".join(re.escape(w) for w in words) + ")"
    where = alternatives([p for phrases in _POSITION_PHRASES.values() for p in phrases])
    what = f"an? {alternatives(SIZES)} {alternatives(OBJECT_COLOURS)} {alternatives(SHAPES)}"
    thing = f"(?:{where}, {what}|{what} {where})"
    things = f"{thing}(?:(?:, {thing})* and {thing})?"
    background = f"(?: (?:on|over|with) a {alternatives(BACKGROUND_COLOURS)} background)?"
    return re.compile(f"{things}{background}")


GRAMMAR_PATTERN = _grammar_pattern()


def is_grammar_caption(text: str) -> bool:
    """Whether `caption_scene` could have said `text` (letter case and spacing aside)."""
    return GRAMMAR_PATTERN.fullmatch(" ".join(text.lower().split())) is not None


def scene_words(scene: Scene) -> phrasing.SceneWords:
    """What a free phrasing of the scene has to say (see `studio_core.data.phrasing`)."""
    return phrasing.SceneWords(
        tuple(phrasing.shape_thing(o.colour, o.shape, o.size, o.position) for o in scene.objects),
        scene.background)


def free_caption(scene: Scene, rng: np.random.Generator, split: phrasing.PhrasingSplit = "train") -> str:
    """A phrasing as people type it: synonyms, word orders, a leading verb, capitals, "please".
    ``split="heldout"`` gives one that training never produces (for evaluation)."""
    return phrasing.caption(scene_words(scene), rng, split)


def training_caption(scene: Scene, rng: np.random.Generator, captions: Captions) -> str:
    if captions == "grammar" or rng.random() < GRAMMAR_SHARE:
        return caption_scene(scene, rng)
    return free_caption(scene, rng, "train")


# ---------------------------------------------------------------------------------------------
# Sampling


def sample_scene(rng: np.random.Generator, split: Split, num_objects: int | None = None) -> Scene:
    """A random scene of the split. Held-out scenes contain at least one held-out combination."""
    n = num_objects if num_objects is not None else int(rng.integers(1, 4))
    while True:
        cells = rng.choice(len(POSITIONS), size=n, replace=False)
        objects = tuple(
            ShapeObject(
                colour=str(rng.choice(list(OBJECT_COLOURS))),
                shape=str(rng.choice(SHAPES)),
                size=str(rng.choice(list(SIZES))),
                position=POSITIONS[int(c)],
            )
            for c in sorted(cells)
        )
        heldout = any(is_heldout(o) for o in objects)
        if heldout == (split == "heldout"):
            return Scene(objects, str(rng.choice(list(BACKGROUND_COLOURS))))


def swapped_twin(scene: Scene) -> Scene | None:
    """The scene with its first two objects' colours exchanged (their shapes where the colours
    are the same, else their sizes): a picture that differs from the scene only in which object
    has which attribute. None for one object, or two objects alike in all three."""
    if len(scene.objects) < 2:
        return None
    a, b = scene.objects[:2]
    for attribute in ("colour", "shape", "size"):
        if getattr(a, attribute) != getattr(b, attribute):
            a2 = ShapeObject(**{**a.__dict__, attribute: getattr(b, attribute)})
            b2 = ShapeObject(**{**b.__dict__, attribute: getattr(a, attribute)})
            return Scene((a2, b2) + scene.objects[2:], scene.background)
    return None


class ShapesDataset(UnlimitedDataset[Example]):
    """Example i of (seed, split) is always the same picture and caption; the set is unlimited.

    ``captions="free"`` phrases training captions as people type them (`free_caption`, with a
    `GRAMMAR_SHARE` of the original grammar); the pictures and scenes are the same as with the
    grammar's captions. ``twins=True`` makes every odd example the `swapped_twin` of the one
    before (same places, attributes exchanged between two objects) where that twin belongs to the
    split, so that a batch holding both shows the model which object each word is bound to.
    """

    def __init__(self, seed: int = 0, split: Split = "train", num_objects: int | None = None,
                 captions: Captions = "grammar", twins: bool = False):
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        if captions not in ("grammar", "free"):
            raise ValueError(f"captions must be 'grammar' or 'free', got {captions!r}")
        self.seed, self.split, self.num_objects = seed, split, num_objects
        self.captions, self.twins = captions, twins

    def _scene(self, index: int) -> tuple[Scene, list[tuple[int, int]], np.random.Generator]:
        split_id = 0 if self.split == "train" else 1
        rng = np.random.default_rng([self.seed, split_id, index])
        scene = sample_scene(rng, self.split, self.num_objects)
        offsets = [tuple(int(v) for v in rng.integers(-JITTER, JITTER + 1, 2)) for _ in scene.objects]
        return scene, offsets, rng

    def __getitem__(self, index: int) -> Example:
        scene, offsets, rng = self._scene(index)
        if self.twins and index % 2 == 1:
            base, base_offsets, _ = self._scene(index - 1)
            twin = swapped_twin(base)
            if twin is not None and any(map(is_heldout, twin.objects)) == (self.split == "heldout"):
                scene, offsets = twin, base_offsets
        return Example(render_scene(scene, offsets), training_caption(scene, rng, self.captions), scene)



def scene_prompt(scene: Scene) -> str:
    """The canonical phrasing of a scene, used for evaluation prompts."""
    return caption_scene(scene, np.random.default_rng(0))
