"""The emoji checker on true renders: background and occupied cells from the pixels, and a small
classifier (trained here on a few emoji, seconds) that reads which emoji a crop shows.

Needs the Noto Color Emoji font and the CLDR annotations (skipped, saying so, where missing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio_core.data.emoji import (
    BACKGROUND_COLOURS, BARE, EmojiDataset, EmojiObject, EmojiScene, font_available, vocabulary,
)
from studio_core.eval.emoji_checker import (
    EmojiCheckerConfig, EmojiCheckerTrainConfig, EmojiClassifier, judge_many, occupied_cells,
    read_background, summarise, train_emoji_checker,
)

pytestmark = pytest.mark.skipif(
    not font_available(),
    reason="Noto Color Emoji or the CLDR annotations are not installed "
           "(apt-get install fonts-noto-color-emoji unicode-cldr-core)")

FEW = ("dog", "pizza", "sun", "red heart", "automobile", "rose")
BUNDLED_CHECKER = Path(__file__).resolve().parent.parent / "checkpoints" / "emoji-checker-v1"


def few_entries():
    by_name = {e.name: e for e in vocabulary()}
    return tuple(by_name[n] for n in FEW)


def test_background_and_occupied_cells_are_read_from_true_renders():
    dataset = EmojiDataset(seed=11, split="heldout", num_objects=2)
    for example in dataset.take(80):
        assert read_background(example.image) == example.scene.background
        assert occupied_cells(example.image) == {o.position for o in example.scene.objects}
    empty = np.full((64, 64, 3), BACKGROUND_COLOURS["pink"], np.uint8)
    assert read_background(empty) == "pink" and occupied_cells(empty) == set()


def test_a_picture_without_the_asked_emoji_fails_position_and_background():
    dataset = EmojiDataset(seed=12, entries=few_entries())
    scene = EmojiScene((EmojiObject("dog", "large", "top left"),), "blue")
    drawn = dataset.render(EmojiScene((EmojiObject("dog", "large", "bottom right"),), "green"))
    model = EmojiClassifier(EmojiCheckerConfig(names=FEW, channels=(8, 16)))
    judgement = judge_many(model, [drawn], [scene])[0]
    assert not judgement.background and judgement.positions == (False,)
    both = dataset.render(EmojiScene((EmojiObject("dog", "large", "top left"),
                                      EmojiObject("sun", "large", "bottom right")), "blue"))
    assert judge_many(model, [both], [scene])[0].positions == (False,)  # an emoji where none was asked
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for ring in (noise[0], noise[-1], noise[:, 0], noise[:, -1]):
        ring[:] = BACKGROUND_COLOURS["blue"]
    assert judge_many(model, [noise], [scene])[0].positions == (False,)  # ink everywhere is no place


def test_a_small_classifier_trained_on_true_renders_reads_them_back(tmp_path):
    config = EmojiCheckerTrainConfig(out=str(tmp_path / "checker"), steps=120, batch_size=32, lr=3e-3,
                                     warmup=10, report_pictures=40, log_every=1000,
                                     model=EmojiCheckerConfig(channels=(16, 32, 64)))
    report = train_emoji_checker(config, verbose=False, dataset=EmojiDataset(seed=41, entries=few_entries()))
    bare = report["true_renders"]["bare"]
    assert bare["top1"] >= 0.9 and bare["top5"] == 1.0  # six emoji: top-5 of 6 is nearly free
    placed = report["true_renders"]["one"]
    assert placed["top1"] >= 0.6 and placed["position"] >= 0.95 and placed["background"] == 1.0
    reloaded = EmojiClassifier.from_pretrained(tmp_path / "checker")
    assert reloaded.config.names == FEW
    dataset = EmojiDataset(seed=99, num_objects=0, entries=few_entries())
    examples = dataset.take(30)
    wrong = [EmojiScene((EmojiObject(FEW[(FEW.index(e.scene.objects[0].name) + 1) % len(FEW)], BARE,
                                     "center"),), "white") for e in examples]
    right = summarise(judge_many(reloaded, [e.image for e in examples], [e.scene for e in examples]))
    swapped = summarise(judge_many(reloaded, [e.image for e in examples], wrong))
    assert right["top1"] >= 0.9 and swapped["top1"] <= 0.1  # it reads the picture, not the prompt


@pytest.mark.skipif(not BUNDLED_CHECKER.is_dir(), reason="checkpoints/emoji-checker-v1 not trained yet")
def test_the_bundled_checker_reads_true_renders_of_the_whole_vocabulary():
    model = EmojiClassifier.from_pretrained(BUNDLED_CHECKER)
    assert model.config.names == tuple(e.name for e in vocabulary())
    for num_objects, top5 in ((0, 0.9), (1, 0.75)):
        split = "train" if num_objects == 0 else "heldout"
        examples = EmojiDataset(seed=77, split=split, num_objects=num_objects).take(60)
        figures = summarise(judge_many(model, [e.image for e in examples], [e.scene for e in examples]))
        assert figures["top5"] >= top5 and figures["position"] >= 0.95 and figures["background"] == 1.0
