"""The captioned shapes dataset and the folder loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from studio_core.data import CaptionedImageFolder, Scene, ShapesDataset
from studio_core.data.shapes import (BACKGROUND_COLOURS, OBJECT_COLOURS, POSITIONS, SHAPES, SIZES,
                                     all_combinations, heldout_combinations, is_heldout)


def test_examples_are_deterministic_by_seed_and_index():
    a, b = ShapesDataset(seed=3)[17], ShapesDataset(seed=3)[17]
    assert (a.image == b.image).all() and a.caption == b.caption and a.scene == b.scene
    other = ShapesDataset(seed=4)
    assert any(other[i].caption != ShapesDataset(seed=3)[i].caption for i in range(10))


def test_pictures_are_64px_rgb_with_one_to_three_objects():
    for example in ShapesDataset(seed=0).take(200):
        assert example.image.shape == (64, 64, 3) and example.image.dtype == np.uint8
        assert 1 <= len(example.scene.objects) <= 3
        assert len({o.position for o in example.scene.objects}) == len(example.scene.objects)


def test_the_vocabulary_is_as_promised():
    assert {"red", "green", "blue", "yellow"} <= set(OBJECT_COLOURS) and len(OBJECT_COLOURS) >= 6
    assert {"circle", "square", "triangle"} <= set(SHAPES) and len(SHAPES) >= 4
    assert len(SIZES) >= 2 and len(BACKGROUND_COLOURS) >= 2
    assert POSITIONS == ("top left", "top", "top right", "left", "center", "right",
                         "bottom left", "bottom", "bottom right")


def test_captions_name_every_object_and_vary_in_phrasing():
    examples = ShapesDataset(seed=1, num_objects=1).take(300)
    for e in examples:
        obj = e.scene.objects[0]
        for word in (obj.colour, obj.shape, obj.size):
            assert word in e.caption
    same_scene = {}
    for e in examples:
        shape = e.scene.objects[0].shape
        same_scene.setdefault(e.scene.objects[0].position, set()).add(e.caption.split(shape)[-1])
    assert max(len(v) for v in same_scene.values()) >= 3  # several phrasings of a position


def test_heldout_combinations_never_appear_in_training():
    assert 0 < len(heldout_combinations()) < len(all_combinations())
    for e in ShapesDataset(seed=0, split="train").take(500):
        assert not any(is_heldout(o) for o in e.scene.objects)
    for e in ShapesDataset(seed=0, split="heldout").take(200):
        assert any(is_heldout(o) for o in e.scene.objects)


def test_scenes_round_trip_through_dicts():
    scene = ShapesDataset(seed=2)[5].scene
    assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        ShapesDataset(split="test")


def test_a_folder_of_captioned_images_loads_at_training_size(tmp_path):
    Image.new("RGB", (120, 80), (200, 10, 10)).save(tmp_path / "red.png")
    Image.new("RGB", (64, 64), (10, 10, 200)).save(tmp_path / "blue.jpg")
    (tmp_path / "metadata.jsonl").write_text(
        '{"file_name": "red.png", "text": "a red card"}\n\n{"file_name": "blue.jpg", "text": "blue"}\n')
    folder = CaptionedImageFolder(tmp_path)
    assert len(folder) == 2
    first = folder[0]
    assert first.image.shape == (64, 64, 3) and first.caption == "a red card"
    assert tuple(first.image[32, 32]) == (200, 10, 10)


def test_a_folder_without_metadata_or_with_a_bad_line_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.jsonl"):
        CaptionedImageFolder(tmp_path)
    (tmp_path / "metadata.jsonl").write_text('{"file_name": "x.png"}\n')
    with pytest.raises(ValueError, match="metadata.jsonl:1"):
        CaptionedImageFolder(tmp_path)
