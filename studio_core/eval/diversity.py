"""Diversity across seeds: how different are N pictures generated for one prompt?

Two measures of the same set, both the mean over all N (N - 1) / 2 unordered pairs:
  * ``feature_distance``: Euclidean distance between scene-evaluator features (the FD-eval space).
    It moves with what the picture shows (where an unstated detail went, which shade of a shape),
    and barely with pixel noise, which the evaluator was trained to ignore.
  * ``pixel_l1``: mean absolute pixel difference, in [0, 1] units (0 = identical, 1 = black vs
    white everywhere). Model-free, but it also counts noise and edge jitter as diversity.
Identical pictures score 0 on both. A prompt pins colour, shape, size and position of every
object, so on this dataset most of the legitimate variety is jitter, background (when the prompt
does not name one) and decoder detail; compare models on the same prompts and N. The true
renders' own variety is the yardstick: `diversity(evaluator, frechet.rerender([scene] * n, seed))`
(jitter only), which `checkpoints/evaluator-v1/README.md` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .evaluator import SceneEvaluator
from .frechet import features


@dataclass(frozen=True)
class Diversity:
    feature_distance: float  # mean pairwise Euclidean distance of evaluator features
    pixel_l1: float  # mean pairwise mean absolute pixel difference, [0, 1] units
    pictures: int


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n < 2:
        raise ValueError(f"diversity needs at least 2 pictures, got {n}")
    return np.triu_indices(n, k=1)


def mean_pairwise_feature_distance(feats: np.ndarray) -> float:
    i, j = pair_indices(len(feats))
    return float(np.linalg.norm(feats[i] - feats[j], axis=1).mean())


def mean_pairwise_pixel_l1(images: np.ndarray) -> float:
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1) / 255.0
    i, j = pair_indices(len(flat))
    return float(np.abs(flat[i] - flat[j]).mean())


def diversity(evaluator: SceneEvaluator, images: np.ndarray | Sequence[np.ndarray]) -> Diversity:
    """Both diversity measures of N >= 2 uint8 pictures (N, S, S, 3) of one prompt."""
    array = np.asarray(images if isinstance(images, np.ndarray) else np.stack(list(images)))
    return Diversity(feature_distance=mean_pairwise_feature_distance(features(evaluator, array)),
                     pixel_l1=mean_pairwise_pixel_l1(array), pictures=len(array))


def diversity_across_seeds(generate: Callable[[str, int], np.ndarray], prompt: str,
                           seeds: Sequence[int], evaluator: SceneEvaluator) -> Diversity:
    """Diversity of one prompt's pictures, one per seed. `generate(prompt, seed)` returns a uint8
    (S, S, 3) picture, so any model fits, e.g. for a Studio:
    ``lambda p, s: studio.decode(studio.generate_image(p, s, settings).current)``."""
    return diversity(evaluator, np.stack([generate(prompt, seed) for seed in seeds]))


def true_render_diversity(evaluator: SceneEvaluator, scenes: Sequence, pictures: int = 8,
                          seed: int = 0) -> Diversity:
    """The yardstick: mean over scenes of the diversity of `pictures` true re-renders of each
    (jitter only), i.e. what a perfect generator shows for a prompt that names the background."""
    from .frechet import rerender

    per_scene = [diversity(evaluator, rerender([scene] * pictures, seed + i)) for i, scene in enumerate(scenes)]
    return Diversity(feature_distance=float(np.mean([d.feature_distance for d in per_scene])),
                     pixel_l1=float(np.mean([d.pixel_l1 for d in per_scene])), pictures=pictures)


def main(argv: list[str] | None = None) -> None:
    import argparse

    import torch

    from ..checkpoints import REPO_ROOT
    from ..data.shapes import ShapesDataset
    from .frechet import REFERENCE_SEED

    parser = argparse.ArgumentParser(prog="python -m studio_core.eval.diversity",
                                     description="diversity of true re-renders of one scene (the yardstick)")
    parser.add_argument("--evaluator", default=str(REPO_ROOT / "checkpoints" / "evaluator-v1"))
    parser.add_argument("--scenes", type=int, default=20, help="held-out scenes averaged over")
    parser.add_argument("--pictures", type=int, default=8, help="re-renders per scene")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    scenes = [e.scene for e in ShapesDataset(REFERENCE_SEED, "heldout").take(args.scenes)]
    result = true_render_diversity(SceneEvaluator.from_pretrained(args.evaluator), scenes, args.pictures)
    print(f"true re-renders, {args.pictures} per scene, mean over {args.scenes} held-out scenes: "
          f"feature distance {result.feature_distance:.3f}, pixel L1 {result.pixel_l1:.4f}")


if __name__ == "__main__":
    main()
