"""Does the picture show what the prompt says? Held-out prompts, judged by the attribute checker
(colour segmentation and shape features: it never looks at the generator), plus the tokenizer's
reconstruction quality. `python -m studio_core evaluate` prints the table.

Every scene is asked for twice: in the grammar's own words (the captions training was built on)
and in a held-out free phrasing (`studio_core.data.phrasing`, words and orders training never
produces), with the same sampling seed, so the two rows differ only in the wording. Two-object
prompts also report attribute binding: how often a colour, shape or size went to the other
object."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..data.shapes import Example, ShapesDataset, free_caption
from .checker import accuracy, attribute_bindings, binding_rates, judge

EVAL_SEED = 2024  # the held-out prompts used for evaluation; nothing is tuned on them
VALIDATION_SEED = 77  # other held-out prompts, on which sampling defaults are chosen
PHRASING_SEED = 31  # which held-out phrasing each evaluation scene is asked in

Wording = Literal["grammar", "free"]


@dataclass(frozen=True)
class PromptSet:
    name: str
    num_objects: int
    count: int
    wording: Wording = "grammar"  # "free": a held-out phrasing of the same scenes


def prompt_for(example: Example, index: int, wording: Wording) -> str:
    """The prompt that asks for the example's scene: its grammar caption, or a held-out phrasing
    (deterministic by index, never a training phrasing)."""
    if wording == "grammar":
        return example.caption
    rng = np.random.default_rng([PHRASING_SEED, len(example.scene.objects), index])
    return free_caption(example.scene, rng, "heldout")


def prompt_following(studio, settings, prompt_set: PromptSet, seed: int = 0,
                     dataset_seed: int = EVAL_SEED) -> dict:
    dataset = ShapesDataset(seed=dataset_seed, split="heldout", num_objects=prompt_set.num_objects)
    judgements, sizes, bindings = [], [], []
    for i in range(prompt_set.count):
        example = dataset[i]
        state = studio.generate_image(prompt_for(example, i, prompt_set.wording), seed + i, settings)
        image = studio.decode(state.current)
        judgements.append(judge(image, example.scene))
        sizes.append(example.scene.objects[0].size)
        if prompt_set.num_objects >= 2:
            bindings.append(attribute_bindings(image, example.scene))
    report = accuracy(judgements)
    if prompt_set.num_objects == 1:  # small shapes span about 3x3 tokens, large ones 5x5
        report["shape_by_size"] = {size: accuracy([j for j, s in zip(judgements, sizes) if s == size])["shape"]
                                   for size in sorted(set(sizes))}
    if bindings:
        report["binding"] = binding_rates(bindings)
    return report


def evaluate_studio(studio, settings, single: int, pairs: int, seed: int = 0, free: bool = True) -> dict:
    """Tokenizer quality and prompt following; with `free`, the same scenes again in held-out
    phrasings ("single_free", "pairs_free")."""
    from ..train.tokenizer import reconstruction_report

    started = time.time()
    report = {"tokenizer": reconstruction_report(studio.models.tokenizer)}
    wordings: tuple[Wording, ...] = ("grammar", "free") if free else ("grammar",)
    for wording in wordings:
        suffix = "" if wording == "grammar" else "_free"
        report["single" + suffix] = prompt_following(studio, settings, PromptSet("single", 1, single, wording), seed)
        if pairs:
            report["pairs" + suffix] = prompt_following(studio, settings, PromptSet("pairs", 2, pairs, wording), seed)
    report["settings"] = settings.to_dict()
    report["prompts"] = {"single": single, "pairs": pairs, "split": "heldout", "eval_seed": EVAL_SEED,
                         "wordings": list(wordings), "phrasing_seed": PHRASING_SEED}
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
        lines += binding_lines(report["pairs"]["binding"], "two objects")
    if "single_free" in report:
        lines += free_phrasing_lines(report)
    return "\n".join(lines)


def binding_lines(binding: dict, label: str) -> list[str]:
    lines = [f"| {label}: some attribute swapped between them | {100 * binding['any_swapped']:.1f} % | reported |"]
    for attribute in ("colour", "shape", "size"):
        row = binding[attribute]
        if row["prompts"]:
            lines.append(f"| {label}: {attribute} swapped / on the wrong object ({row['prompts']} prompts "
                         f"that differ in it) | {100 * row['swapped']:.1f} / {100 * row['borrowed']:.1f} % | reported |")
    return lines


def free_phrasing_lines(report: dict) -> list[str]:
    """The same scenes in held-out phrasings, beside the grammar's figure (target: within 10 points)."""
    lines = []
    for key in ("colour", "position", "shape", "size", "all_objects"):
        label = "everything right" if key == "all_objects" else key
        grammar, free = report["single"][key], report["single_free"][key]
        lines.append(f"| single object, held-out phrasings: {label} | {100 * free:.1f} % "
                     f"({100 * (free - grammar):+.1f} points) | within 10 points |")
    if "pairs_free" in report:
        grammar, free = report["pairs"]["all_objects"], report["pairs_free"]["all_objects"]
        lines.append(f"| two objects, held-out phrasings: both right | {100 * free:.1f} % "
                     f"({100 * (free - grammar):+.1f} points) | within 10 points |")
        lines += binding_lines(report["pairs_free"]["binding"], "two objects, held-out phrasings")
    return lines


def load_reading(checkpoint, cpu: bool, precision: str | None, prompt_reader: str | None = None,
                 regions: str | None = None, drafts: str | None = None):
    """The checkpoint's studio, reading prompts as asked: `prompt_reader` a name in
    prompt_reader.READERS, `regions` "on" or "off" (regional prompts, regions.py), `drafts` "on"
    or "off" (drafts.py); None keeps the checkpoint's own, so the model can be measured with and
    without them, side by side."""
    from ..studio import Studio

    studio = Studio.load(checkpoint, cpu=cpu, precision=precision)
    if prompt_reader is not None:
        studio = studio.with_prompt_reader(prompt_reader)
    if regions is not None:
        studio = studio.with_regional_prompts(regions == "on")
    if drafts is not None:
        studio = studio.with_drafts(drafts == "on")
    return studio


def reading_of_report(studio) -> dict:
    return {"precision": studio.precision, "prompt_reader": studio.models.prompt_reader,
            "regional_prompts": bool(getattr(studio.family, "draws_by_region", False)),
            "drafts": bool(getattr(studio.family, "draws_drafts", False))}


def evaluate_checkpoint(checkpoint, overrides: dict, single: int, pairs: int, seed: int,
                        json_path: str | None, cpu: bool = False, precision: str | None = None,
                        free: bool = True, prompt_reader: str | None = None, regions: str | None = None,
                        drafts: str | None = None) -> dict:
    studio = load_reading(checkpoint, cpu, precision, prompt_reader, regions, drafts)
    settings = studio.settings(**overrides)
    report = {**evaluate_studio(studio, settings, single, pairs, seed, free), **reading_of_report(studio)}
    return publish_report(report, markdown_report(report), json_path)


def publish_report(report: dict, table: str, json_path: str | Path | None) -> dict:
    """Print an evaluation's table with its time, precision and settings; save it as JSON if asked."""
    print(table)
    print(f"\n{report['seconds']} s, transformer in {report['precision']}, prompt reader "
          f"{report['prompt_reader']}, regional prompts {'on' if report.get('regional_prompts') else 'off'}, drafts "
          f"{'on' if report.get('drafts') else 'off'}; settings: "
          f"{json.dumps(report['settings'], sort_keys=True)}")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report
