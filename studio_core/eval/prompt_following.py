"""Does the picture show what the prompt says? Held-out prompts, judged by the attribute checker
(colour segmentation and shape features: it never looks at the generator), plus the tokenizer's
reconstruction quality. `python -m studio_core evaluate` prints the table."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..data.shapes import ShapesDataset
from .checker import accuracy, judge

EVAL_SEED = 2024  # the held-out prompts used for evaluation; nothing is tuned on them
VALIDATION_SEED = 77  # other held-out prompts, on which sampling defaults are chosen


@dataclass(frozen=True)
class PromptSet:
    name: str
    num_objects: int
    count: int


def prompt_following(studio, settings, prompt_set: PromptSet, seed: int = 0,
                     dataset_seed: int = EVAL_SEED) -> dict:
    dataset = ShapesDataset(seed=dataset_seed, split="heldout", num_objects=prompt_set.num_objects)
    judgements, sizes = [], []
    for i in range(prompt_set.count):
        example = dataset[i]
        state = studio.generate_image(example.caption, seed + i, settings)
        judgements.append(judge(studio.decode(state.current), example.scene))
        sizes.append(example.scene.objects[0].size)
    report = accuracy(judgements)
    if prompt_set.num_objects == 1:  # small shapes span about 3x3 tokens, large ones 5x5
        report["shape_by_size"] = {size: accuracy([j for j, s in zip(judgements, sizes) if s == size])["shape"]
                                   for size in sorted(set(sizes))}
    return report


def evaluate_studio(studio, settings, single: int, pairs: int, seed: int = 0) -> dict:
    from ..train.tokenizer import reconstruction_report

    started = time.time()
    report = {"tokenizer": reconstruction_report(studio.models.tokenizer)}
    report["single"] = prompt_following(studio, settings, PromptSet("single", 1, single), seed)
    if pairs:
        report["pairs"] = prompt_following(studio, settings, PromptSet("pairs", 2, pairs), seed)
    report["settings"] = settings.to_dict()
    report["prompts"] = {"single": single, "pairs": pairs, "split": "heldout", "eval_seed": EVAL_SEED}
    report["seconds"] = round(time.time() - started, 1)
    return report


def markdown_report(report: dict) -> str:
    tok = report["tokenizer"]
    lines = [
        "| measure | value | target |", "|---|---|---|",
        f"| tokenizer PSNR, {tok['images']} held-out pictures | {tok['psnr_db']:.2f} dB | >= 28 dB |",
        f"| codebook usage on them | {100 * tok['codebook_usage']:.1f} % | reported |",
    ]
    single = report["single"]
    n1 = report["prompts"]["single"]
    for key, target in (("colour", 90), ("position", 85), ("shape", 70), ("size", None), ("all_objects", None)):
        label = "everything right" if key == "all_objects" else key
        lines.append(f"| single object ({n1} prompts): {label} | {100 * single[key]:.1f} % | "
                     f"{'>= %d %%' % target if target else 'reported'} |")
    for size, value in single.get("shape_by_size", {}).items():
        lines.append(f"| single object: shape, {size} ones | {100 * value:.1f} % | reported |")
    if "pairs" in report:
        lines.append(f"| two objects ({report['prompts']['pairs']} prompts): both right | "
                     f"{100 * report['pairs']['all_objects']:.1f} % | >= 60 % |")
    return "\n".join(lines)


def evaluate_checkpoint(checkpoint, overrides: dict, single: int, pairs: int, seed: int,
                        json_path: str | None, cpu: bool = False, precision: str | None = None) -> dict:
    from ..studio import Studio

    studio = Studio.load(checkpoint, cpu=cpu, precision=precision)
    settings = studio.settings(**overrides)
    report = {**evaluate_studio(studio, settings, single, pairs, seed), "precision": studio.precision}
    print(markdown_report(report))
    print(f"\n{report['seconds']} s, transformer in {studio.precision}; settings: "
          f"{json.dumps(report['settings'], sort_keys=True)}")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report
