"""Choose an emoji model's sampling defaults on VALIDATION prompts (other emoji and scenes than
`python -m studio_core evaluate` uses): prompt following for every combination of the given
guidance scales, temperatures, top-k, revision shares and stage counts, judged by the emoji checker,
printed as a table. The winner goes into the checkpoint's studio.json ("sampling").

    python benchmarks/sweep_emoji_sampling.py --checkpoint checkpoints/emoji-v1 --guidance 3 6 --temperatures 1.0 0.7 \
        [--top-k 0 16] [--revision 0.5 1.0] [--stages 16 24] [--strategies qerror confidence] \
        [--regions off on] [--drafts off on] [--schedules cosine uniform] [--pairs 40]
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core.checkpoints import evaluation_entry  # noqa: E402
from studio_core.data.emoji import EmojiDataset, emoji_scene_prompt  # noqa: E402
from studio_core.eval.emoji_checker import EmojiClassifier  # noqa: E402
from studio_core.eval.emoji_following import bare_name_scenes, generate_and_judge  # noqa: E402
from studio_core.studio import Studio  # noqa: E402

VALIDATION_SEED = 7  # not evaluate's EVAL_SEED


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/emoji-v1")
    parser.add_argument("--bare", type=int, default=40, help="bare-name prompts (distinct emoji)")
    parser.add_argument("--placed", type=int, default=20, help="one-emoji scenes (held-out combinations)")
    parser.add_argument("--pairs", type=int, default=0, help="two-emoji scenes (held-out combinations)")
    # Every setting left out keeps the checkpoint's default (its studio.json "sampling").
    parser.add_argument("--guidance", type=float, nargs="+", default=[None])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[None])
    parser.add_argument("--top-k", type=int, nargs="+", default=[None], help="0: the whole codebook")
    parser.add_argument("--revision", type=float, nargs="+", default=[None])
    parser.add_argument("--stages", type=int, nargs="+", default=[None])
    parser.add_argument("--strategies", nargs="+", default=[None], help="which tokens a stage places: "
                        "qerror, importance, confidence, random, raster")
    parser.add_argument("--schedules", nargs="+", default=[None], help="how many tokens each stage places: "
                        "cosine, uniform, ... (schedules.PLANS)")
    parser.add_argument("--regions", choices=("off", "on"), nargs="+", default=[None],
                        help="regional prompts (studio_core/regions.py) off or on")
    parser.add_argument("--drafts", choices=("off", "on"), nargs="+", default=[None],
                        help="drafts (studio_core/drafts.py) off or on")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    studio = Studio.load(args.checkpoint)
    checker = EmojiClassifier.from_pretrained(evaluation_entry(args.checkpoint)["checker"])
    bare = bare_name_scenes(args.bare, seed=VALIDATION_SEED)
    placed = [e.scene for e in EmojiDataset(seed=VALIDATION_SEED, split="heldout", num_objects=1).take(args.placed)]
    pairs = [e.scene for e in EmojiDataset(seed=VALIDATION_SEED, split="heldout", num_objects=2).take(args.pairs)]
    print(f"{args.bare} bare names, {args.placed} placed emoji and {args.pairs} pairs a row (validation seed "
          f"{VALIDATION_SEED}); other settings: the checkpoint's defaults, {studio.default_settings}\n")
    print("| regions | drafts | schedule | strategy | guidance | temperature | top-k | revision | stages | bare top-1 | bare top-5 | placed position "
          "| placed background | placed top-5 | pairs position | pairs top-5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for regions, drafts, schedule, strategy, guidance, temperature, top_k, revision, stages in itertools.product(
            args.regions, args.drafts, args.schedules, args.strategies, args.guidance, args.temperatures, args.top_k,
            args.revision, args.stages):
        drawing = studio if regions is None else studio.with_regional_prompts(regions == "on")
        drawing = drawing if drafts is None else drawing.with_drafts(drafts == "on")
        settings = studio.settings(schedule=schedule, strategy=strategy, guidance=guidance, temperature=temperature, top_k=top_k,
                                   revision=revision, stages=stages)  # None keeps the checkpoint's default
        b, p, two = (judged(drawing, settings, checker, scenes) for scenes in (bare, placed, pairs))
        print(f"| {'on' if drawing.family.draws_by_region else 'off'} | "
              f"{'on' if drawing.family.draws_drafts else 'off'} | {settings.schedule} | {settings.strategy} | {settings.guidance} | {settings.temperature} | {settings.top_k} | {settings.revision} | {settings.stages} | "
              f"{b['top1']} | {b['top5']} | {p['position']} | {p['background']} | {p['top5']} | "
              f"{two['position']} | {two['top5']} |", flush=True)


def judged(studio, settings, checker, scenes) -> dict[str, str]:
    """The checker's shares on these scenes as percentages ("-" where there are none)."""
    if not scenes:
        return defaultdict(lambda: "-")
    shares = generate_and_judge(studio, settings, checker, [emoji_scene_prompt(s) for s in scenes], scenes, 0)
    return {k: f"{100 * v:.1f} %" for k, v in shares.items()}


if __name__ == "__main__":
    main()
