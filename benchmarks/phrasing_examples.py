"""A few prompts in a person's own words, each generated with several seeds by each checkpoint and
judged by the shapes checker: how often the picture shows the scene the prompt describes.

    python benchmarks/phrasing_examples.py --checkpoints checkpoints/shapes-v1 runs/shapes-v2 --seeds 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from studio_core.data.shapes import Scene, ShapeObject
from studio_core.eval.checker import judge

EXAMPLES = (
    # the example: "up in the" is a held-out phrasing, never in training captions
    ("make a tiny purple box up in the right-hand corner",
     Scene((ShapeObject("purple", "square", "small", "top right"),), "black")),
    ("Can you draw a big yellow ball in the middle on a navy background, please?",
     Scene((ShapeObject("yellow", "circle", "large", "center"),), "navy")),
    ("tiny teal rhombus lower-left & a huge crimson ball upper right, grey bg",
     Scene((ShapeObject("cyan", "diamond", "small", "bottom left"),
            ShapeObject("red", "circle", "large", "top right")), "gray")),
)


def main() -> None:
    import torch

    from studio_core.studio import Studio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", default=["checkpoints/shapes-v1"])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompt-reader", default=None,
                        help="read prompts this way instead of as each checkpoint says (e.g. none: as typed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| checkpoint | prompt | everything right | position | shape | size |\n|---|---|---|---|---|---|")
    for checkpoint in args.checkpoints:
        studio = Studio.load(checkpoint)
        if args.prompt_reader is not None:
            studio = studio.with_prompt_reader(args.prompt_reader)
        settings = studio.settings()
        for text, scene in EXAMPLES:
            js = [judge(studio.decode(studio.generate_image(text, s, settings).current), scene)
                  for s in range(args.seeds)]
            counts = [sum(getattr(j, k) for j in js) for k in ("all_objects", "position", "shape", "size")]
            print(f"| {checkpoint} | {text} | " + " | ".join(f"{c}/{args.seeds}" for c in counts) + " |")


if __name__ == "__main__":
    main()
