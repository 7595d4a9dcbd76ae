"""FD-eval: the Fréchet distance between two picture sets in the scene evaluator's feature space.

This is FID's formula (Heusel et al. 2017) with the evaluator of ``evaluator.py`` in place of
Inception: each set's features are summarised by their mean and covariance, and

    FD = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2).

It is a *small-sample FID analogue*, not FID: 144 feature dimensions instead of 2048, and
hundreds of pictures instead of 50,000. Estimated from N pictures the distance is biased upwards,
so two sets of true renders do not score 0: always report that floor next to a model's figure,
and compare methods at the same N and on the same prompts.

Use matched prompts. Two sets of *different* random scenes are far apart in this feature space
(the floor for 500 vs 500 unmatched held-out pictures is in the thousands), and that sampling
noise would drown a generator's errors. Generate one picture per held-out prompt and compare
with the true renders of the same scenes (``frechet_to_true_renders``); the floor is then the
distance to the same scenes re-rendered with other jitter (``same_scene_floor``), an order of
magnitude lower, and wrong shapes or colours stand far above it (``reference_figures`` measures
all of this; the model card lists the figures).

What it reads is what is drawn: the evaluator was trained to ignore a 1-px blur and mild pixel
noise, so FD-eval barely moves for those; pixel fidelity is the tokenizer's PSNR.

    python -m studio_core.eval.frechet --count 500   # floors, tokenizer, sensitivity
"""

from __future__ import annotations

import argparse
import json
from typing import Sequence

import numpy as np
import torch

from ..data.shapes import JITTER, OBJECT_COLOURS, SHAPES, Example, Scene, ShapeObject, ShapesDataset, render_scene
from .evaluator import SceneEvaluator, attribute_accuracy, format_accuracy, images_to_pixels

REFERENCE_SEED = 33  # held-out renders used for the reference figures (not the evaluation prompts)


@torch.no_grad()
def features(evaluator: SceneEvaluator, images: np.ndarray | Sequence[np.ndarray],
             batch_size: int = 250) -> np.ndarray:
    """Evaluator features of uint8 (N, S, S, 3) pictures: float64 (N, feature_dim)."""
    evaluator.eval()
    pixels = images_to_pixels(images)
    parts = [evaluator.features(pixels[i:i + batch_size].to(evaluator.device)).double().cpu().numpy()
             for i in range(0, len(pixels), batch_size)]
    return np.concatenate(parts)


def mean_and_covariance(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"need features shaped (N >= 2, dim), got {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition. Round-off
    makes the smallest eigenvalues of a rank-deficient covariance slightly negative; they are
    clipped to 0 instead of turning into NaNs."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """Tr((S_a S_b)^1/2), computed as Tr((S_a^1/2 S_b S_a^1/2)^1/2): the inner matrix is symmetric
    PSD, so only symmetric eigendecompositions are needed (no general, complex-valued sqrtm)."""
    root_a = symmetric_sqrt(cov_a)
    inner = root_a @ cov_b @ root_a
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N_a, dim) and (N_b, dim)."""
    mu_a, cov_a = mean_and_covariance(feats_a)
    mu_b, cov_b = mean_and_covariance(feats_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sets differ in dimension: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    distance = (float(((mu_a - mu_b) ** 2).sum()) + float(np.trace(cov_a) + np.trace(cov_b))
                - 2.0 * trace_sqrt_product(cov_a, cov_b))
    # Identical sets give 0 up to round-off, which can land a hair below it.
    return max(distance, 0.0)


def frechet_to_true_renders(evaluator: SceneEvaluator, images: np.ndarray | Sequence[np.ndarray],
                            reference_images: np.ndarray | Sequence[np.ndarray]) -> float:
    """FD-eval of a picture set (e.g. generated) against true renders (e.g. of the same prompts)."""
    return frechet_distance(features(evaluator, images), features(evaluator, reference_images))


def true_renders(count: int, seed: int = REFERENCE_SEED, split: str = "heldout", start: int = 0) -> np.ndarray:
    """uint8 (count, 64, 64, 3) true renders of the dataset."""
    return np.stack([e.image for e in ShapesDataset(seed, split).take(count, start)])


def rerender(scenes: Sequence[Scene], seed: int) -> np.ndarray:
    """True renders of the given scenes with fresh jitter: another picture of the same prompt,
    exactly as the dataset would draw it."""
    rng = np.random.default_rng(seed)
    return np.stack([
        render_scene(scene, [tuple(int(v) for v in rng.integers(-JITTER, JITTER + 1, 2)) for _ in scene.objects])
        for scene in scenes
    ])


def same_scene_floor(evaluator: SceneEvaluator, examples: Sequence[Example], seed: int = 1) -> float:
    """FD-eval of a perfect generator on these prompts at this N: the examples' renders against
    re-renders of their scenes."""
    return frechet_to_true_renders(evaluator, rerender([e.scene for e in examples], seed),
                                   np.stack([e.image for e in examples]))


# ---------------------------------------------------------------------------------------------
# Reference figures: what FD-eval reads for pictures as good as it gets, and for known errors


_NEXT_VALUE = {"shape": SHAPES, "colour": tuple(OBJECT_COLOURS)}


def with_wrong_attribute(scene: Scene, attribute: str, fraction: float, rng: np.random.Generator) -> Scene:
    """The scene with `attribute` (shape or colour) of each object changed to the next value,
    with probability `fraction`: a generator that gets that attribute wrong that often."""
    values = _NEXT_VALUE[attribute]

    def changed(obj: ShapeObject) -> ShapeObject:
        if rng.random() >= fraction:
            return obj
        new = values[(values.index(getattr(obj, attribute)) + 1) % len(values)]
        return ShapeObject(**{**obj.__dict__, attribute: new})

    return Scene(tuple(changed(o) for o in scene.objects), scene.background)


def box_blur(images: np.ndarray) -> np.ndarray:
    """A 3x3 box blur (1 px), edges replicated."""
    size = images.shape[1]
    padded = np.pad(images.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    blurred = sum(padded[:, i:i + size, j:j + size] for i in range(3) for j in range(3)) / 9
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


def tokenizer_reconstructions(tokenizer, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Pictures after an encode-decode round trip through the VQ tokenizer: the best any model
    generating in its token space can do."""
    from ..tokenizer import images_to_tensor, tensor_to_images

    parts = []
    for i in range(0, len(images), batch_size):
        ids = tokenizer.encode(images_to_tensor(images[i:i + batch_size])).ids
        parts.append(tensor_to_images(tokenizer.decode(ids)))
    return np.concatenate(parts)


def candidate_sets(examples: Sequence[Example], tokenizer, seed: int) -> dict[str, np.ndarray]:
    """Picture sets for the same scenes as `examples` (each freshly jittered), from perfect to
    wrong, plus one of other scenes."""
    scenes = [e.scene for e in examples]
    rng = np.random.default_rng(seed)
    same = rerender(scenes, seed + 1)
    return {
        "same scenes, other jitter (floor)": same,
        "tokenizer reconstructions of those": tokenizer_reconstructions(tokenizer, same),
        "1-px blur of those": box_blur(same),
        "pixel noise sigma 12 on those": np.clip(np.rint(same + rng.normal(0, 12, same.shape)), 0, 255).astype(np.uint8),
        "half of the shapes wrong": rerender([with_wrong_attribute(s, "shape", 0.5, rng) for s in scenes], seed + 2),
        "every shape wrong": rerender([with_wrong_attribute(s, "shape", 1.0, rng) for s in scenes], seed + 3),
        "every colour wrong": rerender([with_wrong_attribute(s, "colour", 1.0, rng) for s in scenes], seed + 4),
        "other scenes (unmatched floor)": true_renders(len(examples), REFERENCE_SEED + 1, "heldout"),
    }


def reference_figures(evaluator_dir: str, tokenizer_dir: str, count: int = 500,
                      seed: int = REFERENCE_SEED) -> dict:
    """FD-eval of `count` true held-out renders against each candidate set, and the evaluator's
    attribute accuracy on the true renders and on their tokenizer reconstructions."""
    from ..tokenizer import ImageTokenizer

    evaluator = SceneEvaluator.from_pretrained(evaluator_dir)
    tokenizer = ImageTokenizer.from_pretrained(tokenizer_dir)
    examples = ShapesDataset(seed, "heldout").take(count)
    reference = features(evaluator, np.stack([e.image for e in examples]))
    sets = candidate_sets(examples, tokenizer, seed)
    decoded = sets["tokenizer reconstructions of those"]  # of the same scenes, so judged by them
    decoded_examples = [Example(image=img, caption=e.caption, scene=e.scene) for e, img in zip(examples, decoded)]
    return {
        "count_per_set": count,
        "seed": seed,
        "split": "heldout",
        "fd_eval": {name: frechet_distance(reference, features(evaluator, images)) for name, images in sets.items()},
        "accuracy_true": attribute_accuracy(evaluator, examples),
        "accuracy_tokenizer": attribute_accuracy(evaluator, decoded_examples),
    }


def main(argv: list[str] | None = None) -> None:
    from ..checkpoints import BUNDLED_CHECKPOINT, REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m studio_core.eval.frechet",
                                     description="FD-eval reference figures: floors, tokenizer, known errors")
    parser.add_argument("--evaluator", default=str(REPO_ROOT / "checkpoints" / "evaluator-v1"))
    parser.add_argument("--tokenizer", default=str(BUNDLED_CHECKPOINT / "tokenizer"))
    parser.add_argument("--count", type=int, default=500, help="pictures per set")
    parser.add_argument("--seed", type=int, default=REFERENCE_SEED)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    figures = reference_figures(args.evaluator, args.tokenizer, args.count, args.seed)
    n = figures["count_per_set"]
    print(f"FD-eval of {n} true held-out renders (seed {figures['seed']}) against {n} pictures of:")
    width = max(map(len, figures["fd_eval"]))
    for name, value in figures["fd_eval"].items():
        print(f"  {name:<{width}}  {value:9.2f}")
    print(f"evaluator accuracy on true renders: {format_accuracy(figures['accuracy_true'])}")
    print(f"evaluator accuracy on reconstructions: {format_accuracy(figures['accuracy_tokenizer'])}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
