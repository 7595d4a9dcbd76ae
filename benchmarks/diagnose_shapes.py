"""Where are shapes lost? The checker's shape accuracy, by size, on three pictures of the same
held-out single-object prompts: the true render, the tokenizer's reconstruction of it, and the
model's generation. If reconstructions are right and generations are not, the transformer is the
limit, not the tokenizer; the confusion table says what a wrong shape became.

    python benchmarks/diagnose_shapes.py --prompts 100 [--checkpoint DIR] [--temperature T]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core.data.shapes import ShapesDataset  # noqa: E402
from studio_core.eval.checker import detect_objects, match_objects  # noqa: E402
from studio_core.eval.prompt_following import EVAL_SEED  # noqa: E402
from studio_core.studio import Studio  # noqa: E402
from studio_core.tokenizer import images_to_tensor, tensor_to_images  # noqa: E402


def found_shape(image, scene) -> str | None:
    match = match_objects(scene.objects, detect_objects(image))[0]
    return match.shape if match else None


def reconstruction(studio: Studio, image):
    tokenizer = studio.models.tokenizer
    return tensor_to_images(tokenizer.decode(tokenizer.encode(images_to_tensor([image])).ids))[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--temperature", type=float, default=None, help="default: the checkpoint's")
    args = parser.parse_args()
    studio = Studio.load(args.checkpoint)
    settings = studio.settings(temperature=args.temperature)
    dataset = ShapesDataset(seed=EVAL_SEED, split="heldout", num_objects=1)
    right, count, confusion = Counter(), Counter(), Counter()
    for i in range(args.prompts):
        example = dataset[i]
        wanted = example.scene.objects[0]
        pictures = {"true render": example.image, "reconstruction": reconstruction(studio, example.image),
                    "generation": studio.decode(studio.generate_image(example.caption, i, settings).current)}
        count[wanted.size] += 1
        for kind, picture in pictures.items():
            shape = found_shape(picture, example.scene)
            right[kind, wanted.size] += shape == wanted.shape
            if kind == "generation" and shape != wanted.shape:
                confusion[wanted.shape, shape] += 1
    print(f"{args.prompts} held-out single-object prompts (the first of `evaluate`'s), settings "
          f"{settings}\n")
    print("| picture | shape right, small | shape right, large |")
    print("|---|---|---|")
    for kind in ("true render", "reconstruction", "generation"):
        print(f"| {kind} | " + " | ".join(f"{100 * right[kind, s] / max(count[s], 1):.1f} % ({count[s]})"
                                          for s in ("small", "large")) + " |")
    print("\nwrong shapes in the generations, wanted -> read as:",
          ", ".join(f"{w} -> {g}: {n}" for (w, g), n in confusion.most_common()) or "none")


if __name__ == "__main__":
    main()
