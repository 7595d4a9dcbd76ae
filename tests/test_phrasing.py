"""Free phrasings: held-out phrasings are never training phrasings, training captions still name
what is drawn, the original grammar stays inside the training language, twins swap attributes."""

from __future__ import annotations

import numpy as np
import pytest

from studio_core.data import phrasing
from studio_core.data.phrasing import (SHAPE_NOUNS, SIZE_WORDS, SceneWords, ThingWords, can_say, caption,
                                       grammar, heldout_slots, normalise, sample)
from studio_core.data.shapes import (ShapesDataset, caption_scene, free_caption, scene_words,
                                     swapped_twin)


def shapes_scenes(n: int, num_objects: int, split: str = "train"):
    return [e.scene for e in ShapesDataset(seed=5, split=split, num_objects=num_objects).take(n)]


# Things a caption may name that are not shapes: an emoji-like noun, with or without colour,
# size, position or background, so the grammar is checked where the emoji set will use it.
OTHER_SCENES = [
    SceneWords((ThingWords(("carrot",)),)),
    SceneWords((ThingWords(("beer mug", "mug"), size="large", position="top right"),), "yellow"),
    SceneWords((ThingWords(("apple",), colour="green", position="center"),
                ThingWords(("owl",), size="small", position="bottom left")), "gray"),
]


def all_test_scenes():
    return ([scene_words(s) for n, count in ((1, 6), (2, 4), (3, 2)) for s in shapes_scenes(count, n, "heldout")]
            + OTHER_SCENES)


def test_heldout_phrasings_are_never_training_phrasings():
    rng = np.random.default_rng(0)
    for scene in all_test_scenes():
        for _ in range(25):
            text = caption(scene, rng, "heldout")
            assert not can_say(scene, text, "train"), text


def test_every_heldout_slot_alone_leaves_the_training_language():
    """Each slot's held-out forms are enough on their own: a held-out phrasing is new however
    little of it is held out."""
    rng = np.random.default_rng(1)
    for scene in all_test_scenes():
        compiled = phrasing._language(scene, "train")
        for slot in heldout_slots(scene):
            for _ in range(10):
                text = phrasing._join(sample(grammar(scene, "heldout", slot), rng))
                assert compiled.fullmatch(" " + normalise(text)) is None, (slot, text)


def test_training_captions_are_in_the_training_language():
    """The membership test is the grammar's own language: everything it samples matches (so the
    held-out test above can fail), and a caption of another scene does not."""
    rng = np.random.default_rng(2)
    scenes = all_test_scenes()
    for scene in scenes:
        for _ in range(25):
            assert can_say(scene, caption(scene, rng, "train"), "train")
    one, other = scene_words(shapes_scenes(2, 1)[0]), scene_words(shapes_scenes(2, 1)[1])
    assert one != other and not can_say(one, caption(other, rng, "train"), "train")


def test_the_original_grammar_is_part_of_the_training_language():
    """The prompts the bundled model was first trained (and is evaluated) on stay training
    phrasings, so no held-out phrasing is an old-grammar caption either."""
    rng = np.random.default_rng(3)
    for n, count in ((1, 5), (2, 3), (3, 2)):
        for scene in shapes_scenes(count, n):
            for _ in range(10):
                assert can_say(scene_words(scene), caption_scene(scene, rng), "train")


def words_of(text: str) -> str:
    return " " + normalise(text) + " "


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_free_captions_name_every_object(split):
    rng = np.random.default_rng(4)
    for n in (1, 2, 3):
        for scene in shapes_scenes(20, n):
            text = words_of(free_caption(scene, rng, split))
            for obj in scene.objects:
                assert f" {obj.colour} " in text, text
                sizes = SIZE_WORDS[obj.size][0] + SIZE_WORDS[obj.size][1]
                assert any(f" {w} " in text for w in sizes), text
                nouns = SHAPE_NOUNS[obj.shape][0] + SHAPE_NOUNS[obj.shape][1]
                assert any(f" {w} " in text for w in nouns), text


def test_training_phrasings_vary_as_people_type():
    rng = np.random.default_rng(5)
    scene = scene_words(shapes_scenes(1, 1)[0])
    texts = [caption(scene, rng, "train") for _ in range(400)]
    assert len(set(texts)) > 200
    assert any(t[:1].isupper() for t in texts) and any(t.isupper() for t in texts)
    assert any(t.rstrip(".!").endswith("please") for t in texts)
    leads = {lead for lead in phrasing.LEADS[0] for t in texts if normalise(t).startswith(lead + " ")}
    assert {"draw", "make", "show me", "can you draw"} <= leads


def test_captions_are_deterministic_by_seed():
    scene = scene_words(shapes_scenes(1, 2)[0])
    a = [caption(scene, np.random.default_rng(9), split) for split in ("train", "heldout")]
    b = [caption(scene, np.random.default_rng(9), split) for split in ("train", "heldout")]
    assert a == b


def test_free_captions_keep_the_pictures_and_scenes():
    grammar_set, free_set = ShapesDataset(seed=8), ShapesDataset(seed=8, captions="free")
    for i in range(20):
        g, f = grammar_set[i], free_set[i]
        assert g.scene == f.scene and (g.image == f.image).all()
    assert sum(grammar_set[i].caption != free_set[i].caption for i in range(20)) >= 10


def test_twins_differ_only_in_which_object_has_which_attribute():
    data = ShapesDataset(seed=6, captions="free", twins=True)
    checked = 0
    for k in range(0, 60, 2):
        base, twin = data[k].scene, data[k + 1].scene
        if swapped_twin(base) != twin:  # one object, or the twin would be a held-out combination
            continue
        checked += 1
        a, b = base.objects[:2]
        changed = [attr for attr in ("colour", "shape", "size") if getattr(a, attr) != getattr(b, attr)][0]
        assert [o.position for o in twin.objects] == [o.position for o in base.objects]
        assert getattr(twin.objects[0], changed) == getattr(b, changed)
        assert getattr(twin.objects[1], changed) == getattr(a, changed)
        assert twin.objects[2:] == base.objects[2:] and twin.background == base.background
    assert checked >= 10


def test_bad_words_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="size"):
        ThingWords(("ball",), size="medium")
    with pytest.raises(ValueError, match="position"):
        ThingWords(("ball",), position="upstairs")
    with pytest.raises(ValueError, match="noun"):
        ThingWords(())
    with pytest.raises(ValueError, match="split"):
        caption(OTHER_SCENES[0], np.random.default_rng(0), "test")
    with pytest.raises(ValueError, match="captions"):
        ShapesDataset(captions="poetry")
