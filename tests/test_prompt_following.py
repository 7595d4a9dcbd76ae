"""The evaluate command's report, on the tiny studio: what it counts, not how good the model is."""

from __future__ import annotations

import pytest

from studio_core.data.shapes import ShapesDataset
from studio_core.eval.prompt_following import EVAL_SEED, evaluate_studio, markdown_report


@pytest.fixture(scope="module")
def report(tiny_studio):
    return evaluate_studio(tiny_studio, tiny_studio.settings(stages=4), single=8, pairs=2)


def test_shape_by_size_splits_the_single_object_prompts(report):
    sizes = [ShapesDataset(seed=EVAL_SEED, split="heldout", num_objects=1)[i].scene.objects[0].size
             for i in range(8)]
    by_size = report["single"]["shape_by_size"]
    assert set(by_size) == set(sizes)
    # every prompt is counted in exactly one size row: the rows average back to the whole
    whole = sum(by_size[s] * sizes.count(s) for s in by_size) / len(sizes)
    assert whole == pytest.approx(report["single"]["shape"])
    assert "shape_by_size" not in report["pairs"]


def test_the_markdown_report_names_every_figure(report):
    text = markdown_report(report)
    for size in report["single"]["shape_by_size"]:
        assert f"shape, {size} ones" in text
    assert "two objects (2 prompts): both right" in text
    assert report["settings"]["stages"] == 4


def test_heldout_phrasings_ask_for_the_same_scenes_in_new_words():
    from studio_core.data.phrasing import can_say
    from studio_core.data.shapes import scene_words
    from studio_core.eval.prompt_following import prompt_for

    for num_objects in (1, 2):
        dataset = ShapesDataset(seed=EVAL_SEED, split="heldout", num_objects=num_objects)
        for i in range(10):
            example = dataset[i]
            free = prompt_for(example, i, "free")
            assert free == prompt_for(example, i, "free") != prompt_for(example, i, "grammar")
            assert not can_say(scene_words(example.scene), free, "train")


def test_free_phrasing_rows_cover_the_same_prompts(report):
    assert set(report["single_free"]) == set(report["single"])
    assert set(report["pairs_free"]) == set(report["pairs"])
    assert report["prompts"]["wordings"] == ["grammar", "free"]


def test_binding_rows_add_up(report):
    """Each attribute is counted over exactly the pair prompts whose two objects differ in it,
    a swap is also a borrowing, and a prompt with any swap is counted once."""
    scenes = [ShapesDataset(seed=EVAL_SEED, split="heldout", num_objects=2)[i].scene for i in range(2)]
    for key in ("pairs", "pairs_free"):
        binding = report[key]["binding"]
        for attribute in ("colour", "shape", "size"):
            differing = sum(getattr(s.objects[0], attribute) != getattr(s.objects[1], attribute) for s in scenes)
            row = binding[attribute]
            assert row["prompts"] == differing
            assert 0.0 <= row["swapped"] <= row["borrowed"] <= 1.0
        swaps = [binding[a]["swapped"] * binding[a]["prompts"] for a in ("colour", "shape", "size")]
        assert max(swaps) / len(scenes) <= binding["any_swapped"] <= sum(swaps) / len(scenes)


def test_the_markdown_report_puts_free_phrasing_beside_the_grammar(report):
    text = markdown_report(report)
    free, grammar = report["single_free"]["all_objects"], report["single"]["all_objects"]
    assert f"single object, held-out phrasings: everything right | {100 * free:.1f} % " \
           f"({100 * (free - grammar):+.1f} points)" in text
    assert "two objects, held-out phrasings: both right" in text
    assert "two objects: some attribute swapped between them" in text
