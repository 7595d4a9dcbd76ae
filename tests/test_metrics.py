"""Quality metrics on tiny inputs with known answers: FD-eval, diversity, and the scene evaluator
they rest on (tiny ones built here; the trained one is never trained in tests).

The template checker's accuracy on true renders (>= 95 %) is tested in tests/test_checker.py
(test_clean_renders_are_read_right), not repeated here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from studio_core.__main__ import main
from studio_core.checkpoints import CheckpointError
from studio_core.data.shapes import POSITIONS, Scene, ShapeObject, ShapesDataset, render_scene
from studio_core.eval.diversity import diversity, diversity_across_seeds, true_render_diversity
from studio_core.eval.evaluator import (
    CELL_CLASSES, COUNTS, BACKGROUNDS, EvaluatorConfig, EvaluatorTrainConfig, SceneEvaluator,
    attribute_accuracy, batch_targets, cell_crops, evaluator_loss, images_to_pixels, labels_to_scene,
    learning_rate, scene_targets, train_steps,
)
from studio_core.eval.checker import judge
from studio_core.eval.frechet import (
    features, frechet_distance, frechet_to_true_renders, rerender, with_wrong_attribute,
)

TINY = EvaluatorConfig(channels=(4, 8), hidden=16, cell_dim=4, norm_groups=4)


def tiny_evaluator(seed: int = 0) -> SceneEvaluator:
    torch.manual_seed(seed)
    return SceneEvaluator(TINY).eval()


def renders(n: int, seed: int = 0, split: str = "train") -> np.ndarray:
    return np.stack([e.image for e in ShapesDataset(seed, split).take(n)])


def gaussian(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim))


# ---------------------------------------------------------------------------------------------
# Fréchet distance


def test_identical_sets_are_at_distance_zero():
    feats = gaussian(300, 8, 0)
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(feats, feats[::-1].copy()) == pytest.approx(0.0, abs=1e-9)  # order-free


def test_a_mean_shift_costs_its_squared_length():
    """Same covariance, means delta apart: FD = |delta|^2 exactly."""
    feats = gaussian(300, 8, 1)
    for shift, expected in ((0.5, 8 * 0.25), (2.0, 8 * 4.0)):
        assert frechet_distance(feats, feats + shift) == pytest.approx(expected, rel=1e-8)


def test_a_larger_shift_is_a_larger_distance():
    feats, other = gaussian(400, 8, 2), gaussian(400, 8, 3)
    distances = [frechet_distance(feats, other + s) for s in (0.0, 0.3, 1.0, 3.0)]
    assert distances[1] > 0.5  # clearly positive (the sampling floor alone is about 0.2 here)
    assert distances == sorted(distances) and len(set(distances)) == 4


def test_a_scaled_set_matches_the_closed_form():
    """b = 2a: S_b = 4 S_a, so FD = |mu_a|^2 + Tr(S_a + 4 S_a - 2 * 2 S_a) = |mu_a|^2 + Tr(S_a)."""
    feats = gaussian(500, 6, 4) @ np.diag([1.0, 2.0, 0.5, 3.0, 1.0, 0.1]) + 0.7
    expected = float((feats.mean(0) ** 2).sum() + np.trace(np.cov(feats, rowvar=False)))
    assert frechet_distance(feats, 2 * feats) == pytest.approx(expected, rel=1e-8)


def test_distance_is_symmetric():
    a, b = gaussian(200, 8, 5), gaussian(150, 8, 6) * 1.5 + 0.2
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_fewer_samples_than_dimensions_stay_finite():
    """Rank-deficient covariances (N < dim) must not turn the square root into NaNs."""
    a, b = gaussian(10, 32, 7), gaussian(10, 32, 8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert math.isfinite(frechet_distance(a, b)) and frechet_distance(a, b) > 0


def test_bad_feature_sets_are_refused():
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance(gaussian(20, 4, 0), gaussian(20, 5, 0))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(gaussian(1, 4, 0), gaussian(20, 4, 0))


def test_fd_to_true_renders_is_zero_for_the_same_pictures_and_grows_with_damage():
    evaluator, pictures = tiny_evaluator(), renders(40)
    inverted = 255 - pictures
    assert frechet_to_true_renders(evaluator, pictures, pictures) == pytest.approx(0.0, abs=1e-6)
    assert frechet_to_true_renders(evaluator, inverted, pictures) > 1e-3


def test_rerenders_show_the_same_scenes_with_fresh_jitter():
    scenes = [e.scene for e in ShapesDataset(4, "heldout").take(10)]
    first, again, other = rerender(scenes, 1), rerender(scenes, 1), rerender(scenes, 2)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert all(judge(image, scene).all_objects for image, scene in zip(other, scenes))


def test_wrong_attributes_change_what_they_say_and_nothing_else():
    scene = ShapesDataset(5, "train", num_objects=3)[0].scene
    rng = np.random.default_rng(0)
    wrong = with_wrong_attribute(scene, "shape", 1.0, rng)
    assert all(w.shape != o.shape and (w.colour, w.size, w.position) == (o.colour, o.size, o.position)
               for w, o in zip(wrong.objects, scene.objects))
    assert with_wrong_attribute(scene, "colour", 0.0, rng) == scene


# ---------------------------------------------------------------------------------------------
# Features and the evaluator


def test_features_are_batched_without_gradients_and_batch_size_free():
    evaluator, pictures = tiny_evaluator(), renders(7)
    whole = features(evaluator, pictures)
    assert whole.shape == (7, TINY.feature_dim) and whole.dtype == np.float64
    assert np.allclose(whole, features(evaluator, list(pictures), batch_size=3), atol=1e-6)


def test_each_cell_is_read_from_a_crop_around_its_own_centre():
    """A small object shows in its own cell's crop only; a large one mostly there (crops have a
    pixel of margin, so a large shape's edge may reach a neighbour's crop)."""
    for position in ("top left", "center", "bottom right"):
        for size in ("small", "large"):
            image = render_scene(Scene((ShapeObject("white", "square", size, position),), "black"))
            bright = (cell_crops(images_to_pixels(image[None]), 24) > 0.5).flatten(1).sum(1)
            assert int(bright.argmax()) == POSITIONS.index(position)
            if size == "small":
                assert int((bright > 0).sum()) == 1, (position, bright)


def test_the_picture_feature_is_nine_cell_features_and_refuses_other_sizes():
    evaluator = tiny_evaluator()
    assert features(evaluator, renders(2)).shape == (2, 9 * TINY.cell_dim)
    with pytest.raises(ValueError, match="64x64"):
        features(evaluator, np.zeros((2, 32, 32, 3), np.uint8))


def test_pictures_that_are_not_uint8_rgb_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        images_to_pixels(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        images_to_pixels(np.zeros((2, 64, 64), np.uint8))


def test_targets_name_each_cell_and_the_count():
    scene = Scene((ShapeObject("red", "triangle", "small", "top left"),
                   ShapeObject("white", "diamond", "large", "bottom right")), "navy")
    t = scene_targets(scene)
    assert t["colour"].tolist() == [CELL_CLASSES["colour"].index("red"), 0, 0, 0, 0, 0, 0, 0,
                                    CELL_CLASSES["colour"].index("white")]
    assert t["shape"][0] == CELL_CLASSES["shape"].index("triangle") and t["shape"][4] == 0
    assert t["size"][8] == CELL_CLASSES["size"].index("large")
    assert COUNTS[int(t["count"])] == 2 and BACKGROUNDS[int(t["background"])] == "navy"


def test_labels_read_back_into_the_same_scene():
    scenes = [e.scene for e in ShapesDataset(1, "heldout").take(20)]
    labels = {k: v.numpy() for k, v in batch_targets(scenes).items()}
    assert [labels_to_scene(labels, i) for i in range(len(scenes))] == scenes


class OracleEvaluator(torch.nn.Module):
    """Answers with the true scene of each known picture (one-hot logits), optionally with every
    shape replaced by the next one: attribute_accuracy must read 100 % and 0 % shape."""

    def __init__(self, examples, wrong_shape: bool = False):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.truth = {images_to_pixels(e.image[None]).numpy().tobytes(): scene_targets(e.scene) for e in examples}
        self.wrong_shape = wrong_shape
        self.device = torch.device("cpu")

    def forward(self, pixels):
        targets = [self.truth[p[None].numpy().tobytes()] for p in pixels]
        sizes = {**{k: len(v) for k, v in CELL_CLASSES.items()}, "count": len(COUNTS), "background": len(BACKGROUNDS)}
        out = {}
        for k, n in sizes.items():
            index = torch.from_numpy(np.stack([t[k] for t in targets]))
            if k == "shape" and self.wrong_shape:
                index = torch.where(index > 0, index % (n - 1) + 1, index)
            out[k] = torch.nn.functional.one_hot(index, n).float()
        return out


@pytest.mark.parametrize("wrong_shape", [False, True])
def test_attribute_accuracy_counts_what_is_right(wrong_shape):
    examples = ShapesDataset(2, "heldout").take(12)
    scores = attribute_accuracy(OracleEvaluator(examples, wrong_shape), examples)
    assert scores["shape"] == (0.0 if wrong_shape else 1.0)
    assert scores["scene"] == (0.0 if wrong_shape else 1.0)
    assert scores["novel_objects"] == (0.0 if wrong_shape else 1.0)
    others = ("occupancy", "colour", "size", "count", "background")
    assert all(scores[k] == 1.0 for k in others), scores


def test_a_few_training_steps_lower_the_loss():
    config = EvaluatorTrainConfig(steps=20, batch_size=12, lr=1e-2, warmup=3, model=TINY)
    model = SceneEvaluator(TINY)
    held = ShapesDataset(9, "heldout").take(32)
    pixels, targets = images_to_pixels([e.image for e in held]), batch_targets([e.scene for e in held])

    def held_loss() -> float:
        with torch.no_grad():
            return float(evaluator_loss(model.eval()(pixels), targets))

    before = held_loss()
    losses = train_steps(model, config, ShapesDataset(0, "train"))
    after = held_loss()
    assert len(losses) == 20 and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert after < 0.8 * before, (before, after)


def test_learning_rate_warms_up_then_decays():
    config = EvaluatorTrainConfig(steps=100, lr=1e-3, min_lr=1e-5, warmup=10)
    rates = [learning_rate(config, s) for s in range(100)]
    assert rates[0] < rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:])) and rates[-1] < 1e-4


def test_save_and_load_round_trip_is_bit_identical(tmp_path):
    evaluator = tiny_evaluator(3)
    evaluator.save_pretrained(tmp_path / "ev")
    loaded = SceneEvaluator.from_pretrained(tmp_path / "ev")
    assert loaded.config == TINY and not loaded.training
    for (name, a), (_, b) in zip(evaluator.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    pictures = renders(5)
    assert np.array_equal(features(evaluator, pictures), features(loaded, pictures))
    assert json.loads((tmp_path / "ev" / "config.json").read_text())["cell_dim"] == TINY.cell_dim


def test_a_missing_or_damaged_evaluator_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="scene evaluator not found"):
        SceneEvaluator.from_pretrained(tmp_path / "absent")
    directory = tmp_path / "ev"
    tiny_evaluator().save_pretrained(directory)
    weights = directory / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:100])
    with pytest.raises(CheckpointError, match="model.safetensors: damaged"):
        SceneEvaluator.from_pretrained(directory)
    weights.write_bytes(good)
    (directory / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid evaluator config"):
        SceneEvaluator.from_pretrained(directory)
    (directory / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        SceneEvaluator.from_pretrained(directory)


def test_train_evaluator_command_writes_a_loadable_model_and_its_report(tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["train-evaluator", "--out", str(out), "--steps", "2", "--batch-size", "4",
                 "--report-images", "8"]) == 0
    report = json.loads((out / "training_report.json").read_text())
    assert report["heldout_images"] == 8 and report["config"]["steps"] == 2
    assert set(report["heldout_accuracy"]) >= {"colour", "shape", "size", "occupancy", "count"}
    assert "held-out accuracy" in capsys.readouterr().out
    SceneEvaluator.from_pretrained(out)


# ---------------------------------------------------------------------------------------------
# Diversity


def test_identical_pictures_have_no_diversity():
    picture = renders(1)[0]
    result = diversity(tiny_evaluator(), np.stack([picture] * 4))
    # features of one picture in different batch rows may differ in the last float32 bit
    assert result.feature_distance == pytest.approx(0.0, abs=1e-6)
    assert result.pixel_l1 == 0.0 and result.pictures == 4


def test_different_pictures_have_positive_diversity():
    result = diversity(tiny_evaluator(), renders(4))
    assert result.feature_distance > 0 and result.pixel_l1 > 0 and result.pictures == 4


def test_pixel_l1_is_the_mean_absolute_difference():
    black, white = np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)
    # pairs: (black, white) 1, (black, black) 0, (white, black) 1 -> mean 2/3
    assert diversity(tiny_evaluator(), [black, white, black]).pixel_l1 == pytest.approx(2 / 3)


def test_diversity_across_seeds_calls_the_generator_once_per_seed():
    scene = Scene((ShapeObject("red", "circle", "large", "center"),), "black")
    calls = []

    def jittered(prompt: str, seed: int) -> np.ndarray:
        calls.append((prompt, seed))
        return render_scene(scene, [(seed - 1, 0)])

    result = diversity_across_seeds(jittered, "a large red circle in the center", [0, 1, 2], tiny_evaluator())
    assert calls == [("a large red circle in the center", s) for s in (0, 1, 2)] and result.pixel_l1 > 0
    constant = diversity_across_seeds(lambda p, s: render_scene(scene), "x", [0, 1, 2], tiny_evaluator())
    assert constant.feature_distance == pytest.approx(0.0, abs=1e-6) and constant.pixel_l1 == 0


def test_true_render_diversity_averages_jitter_only_variety():
    scene = Scene((ShapeObject("red", "circle", "large", "center"),), "black")
    result = true_render_diversity(tiny_evaluator(), [scene, scene], pictures=6)
    assert result.pictures == 6 and 0 < result.pixel_l1 < 0.05 and result.feature_distance > 0


def test_diversity_needs_two_pictures():
    with pytest.raises(ValueError, match="at least 2"):
        diversity(tiny_evaluator(), renders(1))
