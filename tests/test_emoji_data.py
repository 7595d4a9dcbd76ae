"""The captioned emoji data set: vocabulary, rendering, captions, held-out combinations and phrasings.

Needs the Noto Color Emoji font and the CLDR annotations (Debian packages fonts-noto-color-emoji
and unicode-cldr-core; `.ci/run` installs them); without them these tests are skipped, saying so.
"""

from __future__ import annotations


import numpy as np
import pytest

from studio_core.data.emoji import (
    BACKGROUND_COLOURS, BARE, CELL, HELDOUT_TEMPLATES, POSITIONS, SIZES, TRAIN_TEMPLATES, EmojiDataset,
    EmojiObject, EmojiScene, article, emoji_scene_prompt, font_available, is_heldout, parse_unicode_set,
    scene_words, vocabulary,
)
from studio_core.data.phrasing import can_say, normalise

pytestmark = pytest.mark.skipif(
    not font_available(),
    reason="Noto Color Emoji or the CLDR annotations are not installed "
           "(apt-get install fonts-noto-color-emoji unicode-cldr-core)")


def test_unicode_sets_parse_ranges_singles_and_strings():
    assert parse_unicode_set("[a-c x{xy}]") == ["a", "b", "c", "x", "xy"]


def test_the_vocabulary_is_what_people_type_and_names_are_unique():
    entries = vocabulary()
    names = [e.name for e in entries]
    assert 500 <= len(entries) <= 800
    assert len(set(names)) == len(names)
    assert {"cat face", "dog", "pizza", "red heart", "sun", "automobile", "carrot", "rainbow",
            "soccer ball", "grinning face", "rose", "snowman"} <= set(names)
    for e in entries:
        assert "\u200d" not in e.char, e  # no ZWJ sequences (families, professions)
        assert not any(0x1F3FB <= ord(c) <= 0x1F3FF for c in e.char), e  # no skin tones
        assert not any(0x1F1E6 <= ord(c) <= 0x1F1FF for c in e.char), e  # no flags
        assert e.name == e.name.lower() and e.name not in e.aliases


def test_examples_are_deterministic_by_seed_and_index():
    a, b = EmojiDataset(seed=3)[17], EmojiDataset(seed=3)[17]
    assert (a.image == b.image).all() and a.caption == b.caption and a.scene == b.scene
    other, first = EmojiDataset(seed=4), EmojiDataset(seed=3)
    assert any(other[i].caption != first[i].caption for i in range(10))


def test_the_mix_has_bare_names_and_one_or_two_placed_emoji():
    examples = EmojiDataset(seed=0).take(300)
    kinds = [0 if e.scene.is_bare else len(e.scene.objects) for e in examples]
    assert {0, 1, 2} == set(kinds)
    for e in examples:
        assert e.image.shape == (64, 64, 3) and e.image.dtype == np.uint8
        assert len({o.position for o in e.scene.objects}) == len(e.scene.objects)


def test_a_bare_name_is_the_emoji_alone_large_on_white():
    by_name = {x.name: x for x in vocabulary()}
    for e in EmojiDataset(seed=5, num_objects=0).take(30):
        assert e.scene.background == "white" and e.scene.objects[0].size == BARE
        ink = np.argwhere((e.image.astype(int) - 255).__abs__().sum(-1) > 30)
        extent = (ink.max(0) - ink.min(0) + 1).max()
        assert extent >= 56, (e.caption, extent)  # as large as the picture allows
        centre = (ink.max(0) + ink.min(0)) / 2
        assert np.abs(centre - 31.5).max() <= 6
        entry = by_name[e.scene.objects[0].name]
        assert any(w in e.caption.lower() for w in (entry.name, *entry.aliases)), e.caption


def test_placed_emoji_stay_in_their_cells_on_the_named_background():
    for e in EmojiDataset(seed=6, num_objects=1).take(60):
        obj = e.scene.objects[0]
        background = np.array(BACKGROUND_COLOURS[e.scene.background])
        assert (e.image[0, 0] == background).all()
        ink = np.argwhere(np.abs(e.image.astype(int) - background).sum(-1) > 40)
        row, col = divmod(POSITIONS.index(obj.position), 3)
        cy, cx = (row + 0.5) * CELL, (col + 0.5) * CELL
        half = SIZES[obj.size] / 2 + 2
        assert (np.abs(ink[:, 0] - cy + 0.5) <= half).all() and (np.abs(ink[:, 1] - cx + 0.5) <= half).all()
        assert len(ink) > SIZES[obj.size] ** 2 / 4  # something is drawn, not a dot


def test_placed_captions_name_every_emoji_its_size_place_and_the_background():
    by_name = {x.name: x for x in vocabulary()}
    for e in EmojiDataset(seed=7, num_objects=2).take(100):
        words = scene_words(e.scene, by_name)
        # exact membership in the training language of exactly this scene: every emoji by one of
        # its names, with its size and place (and the background when said)
        assert can_say(words, e.caption, "train"), e.caption
        text = normalise(e.caption)
        for obj in e.scene.objects:
            entry = by_name[obj.name]
            assert any(w in text for w in (entry.name, *entry.aliases)), (e.caption, obj)
    swapped = EmojiScene((EmojiObject("dog", "large", "top left"),), "pink")
    assert not can_say(scene_words(swapped, by_name), "a large dog in the bottom right on a pink background")


def test_heldout_combinations_never_appear_in_training_scenes():
    train = EmojiDataset(seed=8, split="train").take(400)
    assert not any(is_heldout(o, e.scene.background) for e in train for o in e.scene.objects)
    heldout = EmojiDataset(seed=8, split="heldout", num_objects=1).take(100)
    assert all(is_heldout(e.scene.objects[0], e.scene.background) for e in heldout)
    # about 1 in 8 combinations is held out, so both splits are drawn from the whole vocabulary
    combos = [EmojiObject(n, s, p) for n in ("dog", "pizza", "sun") for s in SIZES for p in POSITIONS]
    share = np.mean([is_heldout(o, b) for o in combos for b in BACKGROUND_COLOURS])
    assert 0.05 < share < 0.25
    assert not is_heldout(EmojiObject("dog", BARE, "center"), "white")


def template_fillings(entry, templates) -> set[str]:
    """Every caption the given bare-name templates can make for one emoji."""
    keywords = entry.keywords or (entry.group.split("-")[-1],)
    return {t.format(a=article(n), n=n, k=k) for t in templates for n in (entry.name, *entry.aliases)
            for k in keywords}


def test_heldout_phrasings_are_never_training_captions():
    by_name = {x.name: x for x in vocabulary()}
    heldout = EmojiDataset(seed=9, split="heldout", templates="heldout").take(300)
    assert {0, 1, 2} == {0 if e.scene.is_bare else len(e.scene.objects) for e in heldout}
    for e in heldout:
        assert not can_say(scene_words(e.scene, by_name), e.caption, "train"), e.caption
        if e.scene.is_bare:
            assert e.caption not in template_fillings(by_name[e.scene.objects[0].name], TRAIN_TEMPLATES)
    for e in EmojiDataset(seed=9, num_objects=0).take(300):  # training bare names: one or the other
        entry = by_name[e.scene.objects[0].name]
        assert (e.caption in template_fillings(entry, TRAIN_TEMPLATES)
                or can_say(scene_words(e.scene, by_name), e.caption, "train")), e.caption
        assert e.caption not in template_fillings(entry, HELDOUT_TEMPLATES)
    assert set(TRAIN_TEMPLATES).isdisjoint(HELDOUT_TEMPLATES)


def test_evaluation_prompts_are_plain_names_and_full_descriptions():
    assert emoji_scene_prompt(EmojiScene((EmojiObject("pizza", BARE, "center"),), "white")) == "pizza"
    scene = EmojiScene((EmojiObject("dog", "large", "top left"), EmojiObject("sun", "small", "right")), "pink")
    prompt = emoji_scene_prompt(scene)
    assert "large dog" in prompt and "small sun" in prompt and "pink" in prompt and "top left" in prompt
    assert can_say(scene_words(scene, {x.name: x for x in vocabulary()}), prompt, "train")
    assert article("apple") == "an" and article("dog") == "a"
