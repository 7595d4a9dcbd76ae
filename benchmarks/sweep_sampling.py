"""Choose sampling defaults on VALIDATION prompts (held-out combinations, but not the evaluation
prompts of `python -m studio_core evaluate`): prompt following for every combination of the given
strategies, guidance scales and temperatures, printed as a table. The winner goes into the
checkpoint's studio.json ("sampling"), where `Studio.load` picks it up.

    python benchmarks/sweep_sampling.py --prompts 100 --temperatures 1.0 0.7 0.5 0.3
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core.eval.prompt_following import VALIDATION_SEED, PromptSet, prompt_following  # noqa: E402
from studio_core.studio import Studio  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=100, help="single-object prompts (half as many pairs)")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--strategies", nargs="+", default=["qerror"])
    parser.add_argument("--guidance", type=float, nargs="+", default=[3.0])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0])
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None)
    args = parser.parse_args()
    studio = Studio.load(args.checkpoint, precision=args.precision)
    print(f"{args.prompts} single-object and {args.prompts // 2} two-object validation prompts a row; "
          f"other settings: the checkpoint's defaults, {studio.default_settings}\n")
    print("| strategy | guidance | temperature | colour | position | shape | size | single all | pairs all |")
    print("|---|---|---|---|---|---|---|---|---|")
    for strategy, guidance, temperature in itertools.product(args.strategies, args.guidance, args.temperatures):
        settings = studio.settings(strategy=strategy, guidance=guidance, temperature=temperature)
        one = prompt_following(studio, settings, PromptSet("single", 1, args.prompts), 0, VALIDATION_SEED)
        two = prompt_following(studio, settings, PromptSet("pairs", 2, args.prompts // 2), 0, VALIDATION_SEED)
        print(f"| {strategy} | {guidance} | {temperature} | {one['colour']:.2f} | {one['position']:.2f} | "
              f"{one['shape']:.2f} | {one['size']:.2f} | {one['all_objects']:.2f} | "
              f"{two['all_objects']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
