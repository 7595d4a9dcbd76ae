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
