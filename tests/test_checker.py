"""The scene checker reads the dataset's own renders right, also when noised and blurred, and
says no to pictures that do not show the scene."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from studio_core.data.shapes import (
    BACKGROUND_COLOURS, IMAGE_SIZE, Scene, ShapeObject, ShapesDataset, render_scene,
)
from studio_core.eval.checker import (
    DetectedObject, Judgement, accuracy, connected_components, detect_objects, judge,
)

SEED = 3


def degrade(image: np.ndarray, rng: np.random.Generator, sigma: float = 8.0) -> np.ndarray:
    """A 3x3 box blur (1 px) then Gaussian noise: roughly what a VQ decoder does to edges."""
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    windows = [padded[i:i + IMAGE_SIZE, j:j + IMAGE_SIZE] for i in range(3) for j in range(3)]
    blurred = sum(windows) / 9
    noisy = blurred + rng.normal(0.0, sigma, blurred.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def examples(split: str, num_objects: int, n: int):
    return ShapesDataset(SEED, split, num_objects).take(n)


def judge_all(items, transform=None) -> dict[str, float]:
    return accuracy([judge(transform(e.image) if transform else e.image, e.scene) for e in items])


def assert_all_at_least(scores: dict[str, float], floor: float) -> None:
    low = {k: v for k, v in scores.items() if v < floor}
    assert not low, f"below {floor}: {low} (all: {scores})"


@pytest.mark.parametrize("split, num_objects, n", [
    ("train", 1, 300), ("heldout", 1, 200), ("train", 2, 100), ("train", 3, 100),
])
def test_clean_renders_are_read_right(split, num_objects, n):
    assert_all_at_least(judge_all(examples(split, num_objects, n)), 0.95)


@pytest.mark.parametrize("split, num_objects, n", [
    ("train", 1, 200), ("heldout", 1, 100), ("train", 3, 100),
])
def test_blurred_noisy_renders_are_read_right(split, num_objects, n):
    rng = np.random.default_rng(0)
    scores = judge_all(examples(split, num_objects, n), lambda image: degrade(image, rng))
    assert_all_at_least(scores, 0.9)


def test_detects_each_attribute_of_one_shape():
    for shape in ("circle", "square", "triangle", "diamond"):
        for size in ("small", "large"):
            wanted = ShapeObject("orange", shape, size, "bottom left")
            image = render_scene(Scene((wanted,), "navy"))
            (found,) = detect_objects(image)
            assert (found.colour, found.shape, found.size, found.position) == wanted.combination
            assert found.area > 0


def test_touching_shapes_of_one_colour_are_told_apart():
    """Large shapes jittered towards each other can touch across a cell edge."""
    objects = (ShapeObject("red", "square", "large", "top left"),
               ShapeObject("red", "circle", "large", "top"),
               ShapeObject("red", "triangle", "large", "center"))
    scene = Scene(objects, "gray")
    image = render_scene(scene, [(2, 0), (-2, 2), (0, -2)])
    red = (image == (220, 40, 40)).all(axis=2)
    assert len(connected_components(red)) == 1  # they do touch
    assert judge(image, scene).all_objects
    assert judge(degrade(image, np.random.default_rng(0)), scene).all_objects


def test_a_different_scene_is_judged_wrong():
    image = render_scene(Scene((ShapeObject("red", "circle", "large", "center"),), "black"))
    other = Scene((ShapeObject("blue", "square", "large", "center"),), "black")
    verdict = judge(image, other)
    assert not verdict.colour and not verdict.shape and not verdict.all_objects
    assert verdict.size and verdict.position and verdict.count


def test_wrong_position_and_size_are_judged_wrong():
    image = render_scene(Scene((ShapeObject("green", "triangle", "small", "top right"),), "gray"))
    other = Scene((ShapeObject("green", "triangle", "large", "bottom"),), "gray")
    verdict = judge(image, other)
    assert verdict.colour and verdict.shape
    assert not verdict.size and not verdict.position and not verdict.all_objects


def test_an_empty_picture_has_nothing_in_it():
    scene = Scene((ShapeObject("yellow", "diamond", "large", "left"),), "brown")
    blank = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8) + np.uint8(BACKGROUND_COLOURS["brown"])
    assert detect_objects(blank) == []
    verdict = judge(blank, scene)
    assert verdict == Judgement(False, False, False, False, False, False)


def test_a_missing_object_fails_count_and_all_objects():
    shown = ShapeObject("cyan", "square", "small", "top left")
    missing = ShapeObject("purple", "circle", "large", "bottom right")
    image = render_scene(Scene((shown,), "black"))
    verdict = judge(image, Scene((shown, missing), "black"))
    assert not verdict.count and not verdict.all_objects
    assert not verdict.colour  # the purple circle has no match at all


def test_each_detected_object_is_used_once():
    wanted = ShapeObject("white", "circle", "large", "center")
    image = render_scene(Scene((wanted,), "navy"))
    twin = ShapeObject("white", "circle", "large", "right")
    verdict = judge(image, Scene((wanted, twin), "navy"))
    assert not verdict.all_objects and not verdict.colour  # the twin is left without a match


def test_accuracy_is_the_fraction_true_per_field():
    yes = Judgement(True, True, True, True, True, True)
    no = Judgement(False, True, False, True, False, False)
    scores = accuracy([yes, no, yes, yes])
    assert scores == {"colour": 0.75, "shape": 1.0, "size": 0.75, "position": 1.0,
                      "count": 0.75, "all_objects": 0.75}
    assert set(scores) == {f.name for f in dataclasses.fields(Judgement)}
    with pytest.raises(ValueError):
        accuracy([])


def test_rejects_images_that_are_not_rgb():
    with pytest.raises(ValueError):
        detect_objects(np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8))


def test_detected_object_is_a_frozen_record():
    found = DetectedObject("red", "circle", "small", "top", 80)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.colour = "blue"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Attribute binding (two-object prompts)


def two_object_examples(n: int = 100):
    return ShapesDataset(SEED, "heldout", 2).take(n)


def test_true_renders_show_no_swapped_attribute():
    from studio_core.eval.checker import attribute_bindings, binding_rates

    bindings = [attribute_bindings(e.image, e.scene) for e in two_object_examples()]
    rates = binding_rates(bindings)
    assert rates["any_swapped"] == 0.0
    for attribute in ("colour", "shape", "size"):
        assert rates[attribute]["prompts"] > 10  # random pairs differ in each attribute often
        assert rates[attribute]["swapped"] == 0.0 and rates[attribute]["borrowed"] == 0.0


def test_a_render_of_the_swapped_twin_is_read_as_a_swap():
    """The measurement can fail: drawing each object with the other's attribute is a swap of
    exactly that attribute, and giving both one colour is a borrowed colour but no swap."""
    from studio_core.data.shapes import swapped_twin
    from studio_core.eval.checker import attribute_bindings

    checked = 0
    for e in two_object_examples(40):
        twin = swapped_twin(e.scene)
        if twin is None or len(e.scene.objects) != 2:
            continue
        swapped = {b.attribute for b in attribute_bindings(render_scene(twin), e.scene) if b.swapped}
        a, b = e.scene.objects
        first_difference = next(k for k in ("colour", "shape", "size") if getattr(a, k) != getattr(b, k))
        assert swapped == {first_difference}
        checked += 1
    assert checked >= 20
    a, b = ShapeObject("red", "square", "large", "top left"), ShapeObject("blue", "circle", "small", "bottom")
    same_colour = Scene((a, ShapeObject("red", "circle", "small", "bottom")), "black")
    colour = next(x for x in attribute_bindings(render_scene(same_colour), Scene((a, b), "black"))
                  if x.attribute == "colour")
    assert colour.borrowed and not colour.swapped


def test_binding_needs_two_objects():
    from studio_core.eval.checker import attribute_bindings

    e = ShapesDataset(SEED, "train", 1)[0]
    with pytest.raises(ValueError, match="two objects"):
        attribute_bindings(e.image, e.scene)
