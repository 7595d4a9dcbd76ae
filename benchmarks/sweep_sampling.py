"""Choose sampling defaults on VALIDATION prompts (held-out combinations, but not the evaluation
prompts of `python -m studio_core evaluate`): prompt following for a few guidance scales and
strategies, printed as a table.

    python benchmarks/sweep_sampling.py --prompts 60
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core.eval.prompt_following import VALIDATION_SEED, PromptSet, prompt_following  # noqa: E402
from studio_core.studio import Studio  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 3.0, 5.0])
    parser.add_argument("--strategies", nargs="+", default=["qerror"])
    args = parser.parse_args()
    studio = Studio.load(args.checkpoint)
    print("| strategy | guidance | colour | position | shape | size | single all | pairs all |")
    print("|---|---|---|---|---|---|---|---|")
    for strategy in args.strategies:
        for guidance in args.guidance:
            settings = studio.settings(guidance=guidance, strategy=strategy)
            one = prompt_following(studio, settings, PromptSet("single", 1, args.prompts), 0, VALIDATION_SEED)
            two = prompt_following(studio, settings, PromptSet("pairs", 2, args.prompts // 2), 0,
                                   VALIDATION_SEED)
            print(f"| {strategy} | {guidance} | {one['colour']:.2f} | {one['position']:.2f} | "
                  f"{one['shape']:.2f} | {one['size']:.2f} | {one['all_objects']:.2f} | "
                  f"{two['all_objects']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
