"""Judge a generated image against the scene its prompt described, without the generator.

The shapes dataset draws flat-coloured shapes from a small known palette on a plain background, so
what a picture shows can be read back with plain image analysis, no neural network:

1. Background: the per-channel median of all pixels. The background covers most of every picture
   (three large shapes fill about a quarter of it), so the median is the background colour even
   with noise or a few stray pixels.
2. Colour labels: a blurred edge pixel is a blend of the background and an object colour, so each
   pixel is explained as ``background + alpha * (colour - background)`` for every palette colour;
   the colour whose blend line passes nearest the pixel is its label, and ``alpha`` is how much of
   that colour it holds. A pixel is foreground when it is at least half object colour
   (``alpha >= 0.5``) and clearly away from the background. Thresholding at one half keeps a
   shape's outline where it was before a small blur, whatever the contrast with the background.
3. Objects: 8-connected components of same-label foreground pixels. A component too big for one
   shape is two same-colour objects in neighbouring cells that touch (a large shape plus jitter
   can reach a pixel over its cell's edge); it is cut at its narrowest row or column near a grid
   line. Components smaller than ``MIN_COMPONENT`` pixels are noise and dropped.
4. Attributes of a component: colour is its label; position is the 3x3 grid cell holding its
   centroid; shape and size come from fitting the four ideal shapes (circle, square, apex-up
   triangle, diamond), centred near the bounding-box centre at a few half-extents around half the
   box side, and keeping the one with the highest intersection-over-union; size is small or large
   by the fitted half-extent (drawn at 5 and 9 px). Simpler features such as the fill ratio
   (area / bounding-box area) were not robust enough: a 1-px blur trims a diamond's tips, which
   shrinks its box and lifts its fill ratio into a small circle's range, whereas the fit simply
   picks a slightly smaller diamond.

Because the checker reads only pixels and the scene description, it measures a generator from the
outside: the same checker judges every model and every checkpoint, and can be validated on the
dataset's own renders (where it should be right nearly always).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator, Sequence

import numpy as np

from studio_core.data.shapes import CELL, OBJECT_COLOURS, POSITIONS, SHAPES, Scene, ShapeObject

MIN_COMPONENT = 8  # pixels; smaller components are speckles of noise
MIN_ALPHA = 0.5  # a foreground pixel is at least this much object colour
MIN_CONTRAST = 40.0  # and at least this far (RGB distance) from the background
MAX_EXTENT = 26  # px; a component wider or taller is several touching objects (one is <= ~21)
LARGE_RADIUS = 7.0  # fitted half-extent in pixels: small shapes are drawn at 5, large at 9

_COLOUR_NAMES = tuple(OBJECT_COLOURS)
_PALETTE = np.array([OBJECT_COLOURS[c] for c in _COLOUR_NAMES], dtype=np.float64)  # (K, 3)
_ATTRIBUTES = ("colour", "shape", "size", "position")


@dataclass(frozen=True)
class DetectedObject:
    colour: str
    shape: str
    size: str
    position: str
    area: int


@dataclass(frozen=True)
class Judgement:
    colour: bool
    shape: bool
    size: bool
    position: bool
    count: bool
    all_objects: bool


# ---------------------------------------------------------------------------------------------
# Segmentation


def estimate_background(image: np.ndarray) -> np.ndarray:
    """The background colour: the per-channel median of all pixels, as float RGB."""
    return np.median(image.reshape(-1, 3).astype(np.float64), axis=0)


def label_colours(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Per-pixel palette index, or -1 for background, by nearest background-to-colour blend."""
    pixels = image.reshape(-1, 3).astype(np.float64) - background  # (N, 3)
    directions = _PALETTE - background  # (K, 3)
    lengths_sq = np.maximum((directions ** 2).sum(axis=1), 1e-6)  # (K,)
    alpha = np.clip(pixels @ directions.T / lengths_sq, 0.0, 1.0)  # (N, K)
    residual = pixels[:, None, :] - alpha[:, :, None] * directions[None, :, :]
    labels = np.argmin((residual ** 2).sum(axis=2), axis=1)
    chosen_alpha = alpha[np.arange(len(labels)), labels]
    contrast = np.sqrt((pixels ** 2).sum(axis=1))
    foreground = (chosen_alpha >= MIN_ALPHA) & (contrast > MIN_CONTRAST)
    return np.where(foreground, labels, -1).reshape(image.shape[:2])


def connected_components(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected components of a boolean mask, each as an (n, 2) array of (row, col)."""
    height, width = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    components = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        stack, members = [start], []
        while stack:
            r, c = stack.pop()
            members.append((r, c))
            for rr in (r - 1, r, r + 1):
                for cc in (c - 1, c, c + 1):
                    if 0 <= rr < height and 0 <= cc < width and mask[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        stack.append((rr, cc))
        components.append(np.array(members, dtype=np.int64))
    return components


def neck(coords: np.ndarray) -> int | None:
    """The row (or column) near a grid line that the fewest of ``coords`` fall on, strictly
    inside their span: where two touching objects in neighbouring cells meet. None if none."""
    low, high = int(coords.min()), int(coords.max())
    counts = np.bincount(coords - low, minlength=high - low + 1)
    candidates = [
        (int(counts[line - low]), abs(line - grid), line)
        for grid in (CELL, 2 * CELL)
        for line in range(int(grid) - 4, int(grid) + 5)
        if low < line < high
    ]
    return min(candidates)[2] if candidates else None


def split_oversized(pixels: np.ndarray) -> list[np.ndarray]:
    """Split a component too big for one shape (same-colour objects in neighbouring cells that
    touch) at its narrowest row or column near a grid line, recursively; the neck line is
    dropped."""
    _, _, height, width = bounding_box(pixels)
    if max(height, width) <= MAX_EXTENT:
        return [pixels]
    axis = 0 if height >= width else 1
    cut = neck(pixels[:, axis])
    if cut is None:
        return [pixels]
    parts = (pixels[pixels[:, axis] < cut], pixels[pixels[:, axis] > cut])
    return [piece for part in parts if len(part) for piece in split_oversized(part)]


# ---------------------------------------------------------------------------------------------
# Attributes of one component


def classify_position(pixels: np.ndarray) -> str:
    """The 3x3 grid cell holding the component's centroid."""
    row_c, col_c = pixels.mean(axis=0) + 0.5  # pixel centres
    row = min(int(row_c // CELL), 2)
    col = min(int(col_c // CELL), 2)
    return POSITIONS[3 * row + col]


def bounding_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a component."""
    top, left = pixels.min(axis=0)
    bottom, right = pixels.max(axis=0)
    return int(top), int(left), int(bottom - top + 1), int(right - left + 1)


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Whether offsets (dx, dy) from a centre lie inside the ideal shape of half-extent r."""
    if shape == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= r
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if shape == "triangle":  # apex up, like the renderer's
        return (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)
    raise ValueError(f"unknown shape {shape!r}")


def component_window(pixels: np.ndarray, pad: int = 3) -> np.ndarray:
    """The component as a boolean mask over its bounding box with ``pad`` empty pixels around."""
    top, left, height, width = bounding_box(pixels)
    window = np.zeros((height + 2 * pad, width + 2 * pad), dtype=bool)
    window[pixels[:, 0] - top + pad, pixels[:, 1] - left + pad] = True
    return window


def candidate_frames(window: np.ndarray, pad: int = 3):
    """Offsets (dx, dy) of every window pixel centre from each candidate centre, and each
    candidate's half-extent, shaped (candidates, 1, 1) or (candidates, H, W).

    Centres are the box centre and half a pixel either way; half-extents go from one pixel under
    to a pixel and a half over half the box side, so a blur that trims a pointed tip (shrinking
    the box) or rounds a corner still finds its shape.
    """
    height, width = window.shape[0] - 2 * pad, window.shape[1] - 2 * pad
    ys, xs = np.mgrid[0:window.shape[0], 0:window.shape[1]] + 0.5
    shifts = np.array([-0.5, 0.0, 0.5])
    radii = max(height, width) / 2 + np.arange(-1.0, 2.0, 0.5)
    sx, sy, rr = (a.reshape(-1, 1, 1) for a in np.meshgrid(shifts, shifts, radii, indexing="ij"))
    dx = xs[None] - (pad + width / 2 + sx)
    dy = ys[None] - (pad + height / 2 + sy)
    return dx, dy, rr


def fit_shape(pixels: np.ndarray) -> tuple[str, float, float]:
    """The ideal shape best overlapping the component: (shape, half-extent, IoU)."""
    window = component_window(pixels)
    dx, dy, radii = candidate_frames(window)
    best = ("circle", float(radii.min()), -1.0)
    for shape in SHAPES:
        masks = shape_mask(shape, dx, dy, radii)
        inter = (masks & window[None]).sum(axis=(1, 2))
        union = (masks | window[None]).sum(axis=(1, 2))
        iou = inter / np.maximum(union, 1)
        k = int(np.argmax(iou))
        if iou[k] > best[2]:
            best = (shape, float(radii.ravel()[k]), float(iou[k]))
    return best


def classify_size(radius: float) -> str:
    return "large" if radius >= LARGE_RADIUS else "small"


def describe_component(colour: str, pixels: np.ndarray) -> DetectedObject:
    shape, radius, _ = fit_shape(pixels)
    return DetectedObject(colour=colour, shape=shape, size=classify_size(radius),
                          position=classify_position(pixels), area=len(pixels))


def object_regions(labels: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """(colour, pixels) of every object-sized region of one colour label."""
    for index in np.unique(labels[labels >= 0]):
        for component in connected_components(labels == index):
            for pixels in split_oversized(component):
                if len(pixels) >= MIN_COMPONENT:
                    yield _COLOUR_NAMES[int(index)], pixels


def detect_objects(image: np.ndarray) -> list[DetectedObject]:
    """Every flat-coloured object in a (64, 64, 3) RGB image, largest first."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    labels = label_colours(image, estimate_background(image))
    found = [describe_component(colour, pixels) for colour, pixels in object_regions(labels)]
    return sorted(found, key=lambda o: -o.area)


# ---------------------------------------------------------------------------------------------
# Judging


def agreement(wanted: ShapeObject, found: DetectedObject) -> tuple[bool, ...]:
    """Whether each of colour, shape, size and position agree."""
    return tuple(getattr(wanted, a) == getattr(found, a) for a in _ATTRIBUTES)


def match_objects(wanted: Sequence[ShapeObject],
                  found: Sequence[DetectedObject]) -> list[DetectedObject | None]:
    """Greedy one-to-one matching: the pairs agreeing on most attributes first (position breaks
    ties, then the larger object). Entry i is the match of wanted[i], or None."""
    pairs = []
    for i, w in enumerate(wanted):
        for j, f in enumerate(found):
            agree = agreement(w, f)
            pairs.append((-sum(agree), not agree[3], -f.area, i, j))
    matches: list[DetectedObject | None] = [None] * len(wanted)
    used = set()
    for *_, i, j in sorted(pairs):
        if matches[i] is None and j not in used:
            matches[i] = found[j]
            used.add(j)
    return matches


def judge(image: np.ndarray, scene: Scene) -> Judgement:
    """Whether the image shows the scene: per attribute, whether every requested object's match
    has it right; count, whether as many objects were found as requested; all_objects, whether
    every requested object was found with all four attributes right."""
    found = detect_objects(image)
    matches = match_objects(scene.objects, found)
    per_attribute = [
        all(m is not None and agreement(w, m)[k] for w, m in zip(scene.objects, matches))
        for k in range(len(_ATTRIBUTES))
    ]
    exact = all(m is not None and all(agreement(w, m)) for w, m in zip(scene.objects, matches))
    return Judgement(*per_attribute, count=len(found) == len(scene.objects), all_objects=exact)


def accuracy(judgements: Sequence[Judgement]) -> dict[str, float]:
    """The fraction of judgements with each field True."""
    if not judgements:
        raise ValueError("accuracy needs at least one judgement")
    return {f.name: float(np.mean([getattr(j, f.name) for j in judgements]))
            for f in fields(Judgement)}


# ---------------------------------------------------------------------------------------------
# Attribute binding in two-object prompts

BOUND_ATTRIBUTES = ("colour", "shape", "size")


@dataclass(frozen=True)
class Binding:
    """How one attribute of a two-object prompt was bound, read at the two requested places.
    `swapped`: each object shows the other's value (a red square and a blue circle asked, a blue
    square and a red circle drawn); `borrowed`: at least one object shows the other's value (a
    swap, or both drawn in one colour)."""

    attribute: str
    swapped: bool
    borrowed: bool


def object_at(found: Sequence[DetectedObject], position: str) -> DetectedObject | None:
    """The largest detected object whose centroid lies in the cell, or None."""
    here = [f for f in found if f.position == position]
    return max(here, key=lambda f: f.area) if here else None


def attribute_bindings(image: np.ndarray, scene: Scene) -> list[Binding]:
    """For the first two objects of the scene, every attribute in which they differ: whether the
    picture bound it to the wrong object. Position anchors each object (it is right in nearly
    every generation), so a swap is read where each object was asked for."""
    if len(scene.objects) < 2:
        raise ValueError("attribute binding needs a scene with at least two objects")
    a, b = scene.objects[:2]
    found = detect_objects(image)
    fa, fb = object_at(found, a.position), object_at(found, b.position)
    bindings = []
    for attribute in BOUND_ATTRIBUTES:
        va, vb = getattr(a, attribute), getattr(b, attribute)
        if va == vb:
            continue
        ga = getattr(fa, attribute) if fa is not None else None
        gb = getattr(fb, attribute) if fb is not None else None
        bindings.append(Binding(attribute, swapped=ga == vb and gb == va, borrowed=ga == vb or gb == va))
    return bindings


def binding_rates(bindings_per_prompt: Sequence[Sequence[Binding]]) -> dict:
    """Per attribute, the share of prompts (among those whose two objects differ in it) with the
    attribute swapped and borrowed; `any_swapped`: the share of all prompts with some swap."""
    if not bindings_per_prompt:
        raise ValueError("binding_rates needs at least one prompt")
    report: dict = {}
    for attribute in BOUND_ATTRIBUTES:
        rows = [b for prompt in bindings_per_prompt for b in prompt if b.attribute == attribute]
        report[attribute] = {
            "prompts": len(rows),
            "swapped": float(np.mean([b.swapped for b in rows])) if rows else 0.0,
            "borrowed": float(np.mean([b.borrowed for b in rows])) if rows else 0.0,
        }
    report["any_swapped"] = float(np.mean([any(b.swapped for b in p) for p in bindings_per_prompt]))
    return report
