"""What revision does and costs, per model: tokens it changes per picture and time per stage, with
revision off, "visible" (judge placed tokens by the logits where they stand: the bundled models,
trained to score visible tokens too) and "hidden" (hide the weakest placed tokens, re-predict
them, replace those the model now finds unlikely: the only meaningful judgement for a model
trained on masked tokens alone, such as aMUSEd; one extra network pass per stage with a budget).

    python benchmarks/revision_cost.py [--pictures 8] [--checkpoint DIR ...]

Default models: the bundled checkpoint and a tiny random aMUSEd built here (diffusers' test sizes).
The modes are timed in alternation, picture by picture, so they share the machine's noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core import SettingsError, Studio  # noqa: E402
from studio_core.amused_configs import save_random_pipeline  # noqa: E402

PROMPTS = ["a large red circle in the center", "a small blue square at the top", "a green triangle on the left",
           "a yellow star at the bottom right"]


def modes_for(studio: Studio) -> list[str]:
    return ["off"] + list(studio.family.rules.revision_modes)


def settings_for(studio: Studio, mode: str, strength: float, threshold: float):
    base = studio.default_settings
    if mode == "off":
        return replace(base, revision=0.0)
    return replace(base, revision=strength, revision_mode=mode, revision_threshold=threshold)


def measure(studio: Studio, pictures: int, strength: float, threshold: float) -> dict[str, dict]:
    modes = modes_for(studio)
    changed = {m: [] for m in modes}
    per_stage = {m: [] for m in modes}
    for i in range(pictures):
        for mode in modes:
            settings = settings_for(studio, mode, strength, threshold)
            started = time.perf_counter()
            state = studio.generate_image(PROMPTS[i % len(PROMPTS)], i, settings)
            per_stage[mode].append((time.perf_counter() - started) / len(state.plan))
            changed[mode].append(sum(int(f.revised.sum()) for f in state.frames))
    base = statistics.median(per_stage["off"])
    return {m: {"changed": statistics.mean(changed[m]), "stage_ms": 1000 * statistics.median(per_stage[m]),
                "extra": statistics.median(per_stage[m]) / base - 1} for m in modes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pictures", type=int, default=8)
    parser.add_argument("--checkpoint", action="append", default=None,
                        help="models to measure (default: the bundled one and a tiny random aMUSEd)")
    parser.add_argument("--strength", type=float, default=0.5, help="revision strength when on")
    parser.add_argument("--threshold", type=float, default=0.1, help="revision threshold when on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        checkpoints = args.checkpoint or [None, str(save_random_pipeline("tiny", Path(scratch) / "tiny-amused"))]
        print("| model | revision | tokens changed per picture | ms per stage | extra cost per stage |")
        print("|---|---|---|---|---|")
        for checkpoint in checkpoints:
            studio = Studio.load(checkpoint, cpu=True)
            try:
                rows = measure(studio, args.pictures, args.strength, args.threshold)
            except SettingsError as err:
                print(f"| {studio.model_name} | error: {err} | | | |")
                continue
            for mode, row in rows.items():
                extra = "-" if mode == "off" else f"{100 * row['extra']:+.0f} %"
                print(f"| {studio.model_name} ({studio.grid_size}x{studio.grid_size}, {studio.precision}) | {mode} | "
                      f"{row['changed']:.1f} | {row['stage_ms']:.1f} | {extra} |")
    print(f"\n{args.pictures} pictures per row at each model's default settings, revision strength "
          f"{args.strength}, threshold {args.threshold} when on; medians of ms per stage")


if __name__ == "__main__":
    main()
