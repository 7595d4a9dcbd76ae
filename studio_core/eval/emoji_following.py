"""Does an emoji model draw what the prompt asks for? Judged by the emoji checker (pixels for
background and position, a classifier trained on true renders for which emoji), never by the
generator. `python -m studio_core evaluate --checkpoint checkpoints/emoji-v1` prints the table.

Prompt sets (all drawn with `EVAL_SEED`; nothing is tuned on them):
  * bare names: `bare` distinct emoji of the vocabulary, each asked for by its CLDR name alone;
  * one and two emoji placed on the grid, from the held-out (emoji, size, position, background)
    combinations training never shows, in the canonical phrasing;
  * bare names in held-out phrasings ("a picture of a carrot", "carrot icon"), reported beside.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data.emoji import (
    BARE, HELDOUT_TEMPLATES, EmojiDataset, EmojiObject, EmojiScene, bare_caption, emoji_scene_prompt,
    vocabulary,
)
from ..tokenizer import images_to_tensor, tensor_to_images
from .emoji_checker import EmojiClassifier, judge_many, summarise
from .prompt_following import load_reading, publish_report, reading_of_report

EVAL_SEED = 2024
TARGETS = {"bare_top1": 0.50, "bare_top5": 0.75, "placed_position": 0.90, "placed_background": 0.90,
           "placed_top5": 0.60}


def bare_name_scenes(count: int, seed: int = EVAL_SEED) -> list[EmojiScene]:
    """`count` distinct emoji of the vocabulary, in an order fixed by the seed."""
    names = [e.name for e in vocabulary()]
    order = np.random.default_rng([seed, 0]).permutation(len(names))[:count]
    return [EmojiScene((EmojiObject(names[int(i)], BARE, "center"),), "white") for i in order]


def heldout_phrasing_prompts(scenes: list[EmojiScene], seed: int = EVAL_SEED) -> list[str]:
    by_name = {e.name: e for e in vocabulary()}
    rng = np.random.default_rng([seed, 1])
    plain = {n: type(e)(e.char, e.name, e.group, (), e.keywords) for n, e in by_name.items()}
    return [bare_caption(plain[s.objects[0].name], rng, HELDOUT_TEMPLATES) for s in scenes]


def generate_and_judge(studio, settings, checker: EmojiClassifier, prompts: list[str],
                       scenes: list[EmojiScene], seed: int) -> dict:
    images = []
    for i, prompt in enumerate(prompts):
        state = studio.generate_image(prompt, seed + i, settings)
        images.append(studio.decode(state.current))
    return summarise(judge_many(checker, images, scenes))


def judge_through_tokenizer(tokenizer, checker: EmojiClassifier, examples: list, batch: int = 50) -> dict:
    """The scenes' true renders encoded and decoded by the model's own tokenizer, then judged: what
    a generator that picked every token right would score. A placed emoji is 13 to 20 pixels, 3 to
    5 tokens wide, and the tokenizer's reconstruction of its details is what the classifier sees."""
    images = np.stack([e.image for e in examples])
    decoded = [image for start in range(0, len(images), batch)
               for image in tensor_to_images(tokenizer.decode(
                   tokenizer.encode(images_to_tensor(images[start:start + batch])).ids))]
    return summarise(judge_many(checker, decoded, [e.scene for e in examples]))


def evaluate_emoji_studio(studio, settings, checker: EmojiClassifier, bare: int = 200, single: int = 200,
                          pairs: int = 100, phrasings: int = 100, seed: int = 0) -> dict:
    from ..train.tokenizer import reconstruction_report

    started = time.time()
    report = {"tokenizer": reconstruction_report(studio.models.tokenizer, dataset_name="emoji")}
    scenes = bare_name_scenes(bare)
    report["bare"] = generate_and_judge(studio, settings, checker, [emoji_scene_prompt(s) for s in scenes],
                                        scenes, seed)
    for key, count, num_objects in (("one", single, 1), ("two", pairs, 2)):
        if count:
            examples = EmojiDataset(seed=EVAL_SEED, split="heldout", num_objects=num_objects).take(count)
            placed = [e.scene for e in examples]
            report[key] = generate_and_judge(studio, settings, checker,
                                             [emoji_scene_prompt(s) for s in placed], placed, seed)
            report[key]["through_tokenizer"] = judge_through_tokenizer(studio.models.tokenizer, checker, examples)
    if phrasings:
        scenes = bare_name_scenes(phrasings)
        report["bare_heldout_phrasings"] = generate_and_judge(
            studio, settings, checker, heldout_phrasing_prompts(scenes), scenes, seed)
    report["settings"] = settings.to_dict()
    report["prompts"] = {"bare": bare, "one": single, "two": pairs, "phrasings": phrasings,
                         "eval_seed": EVAL_SEED}
    report["seconds"] = round(time.time() - started, 1)
    return report


def placed_figures(report: dict) -> dict:
    """One and two emoji together: shares over every placed emoji (position, top-5) and picture
    (background)."""
    parts = [report[k] for k in ("one", "two") if k in report]
    emoji = sum(p["emoji"] for p in parts)
    pictures = sum(p["pictures"] for p in parts)
    return {
        "position": sum(p["position"] * p["emoji"] for p in parts) / emoji,
        "top5": sum(p["top5"] * p["emoji"] for p in parts) / emoji,
        "top1": sum(p["top1"] * p["emoji"] for p in parts) / emoji,
        "background": sum(p["background"] * p["pictures"] for p in parts) / pictures,
        "emoji": emoji, "pictures": pictures,
    }


def markdown_emoji_report(report: dict) -> str:
    def row(label: str, value: float, target: float | None) -> str:
        mark = "reported" if target is None else f">= {100 * target:.0f} % ({'met' if value >= target else 'missed'})"
        return f"| {label} | {100 * value:.1f} % | {mark} |"

    tok = report["tokenizer"]
    b, n = report["bare"], report["prompts"]
    lines = ["| measure | value | target |", "|---|---|---|",
             f"| tokenizer PSNR, {tok['images']} held-out pictures | {tok['psnr_db']:.2f} dB | >= 26 dB "
             f"({'met' if tok['psnr_db'] >= 26 else 'missed'}) |",
             f"| codebook usage on them | {100 * tok['codebook_usage']:.1f} % | reported |",
             row(f"bare names ({n['bare']} emoji): right emoji top-1", b["top1"], TARGETS["bare_top1"]),
             row(f"bare names ({n['bare']} emoji): right emoji top-5", b["top5"], TARGETS["bare_top5"])]
    if "one" in report or "two" in report:
        p = placed_figures(report)
        label = f"placed ({p['pictures']} scenes, {p['emoji']} emoji)"
        lines += [row(f"{label}: position", p["position"], TARGETS["placed_position"]),
                  row(f"{label}: background", p["background"], TARGETS["placed_background"]),
                  row(f"{label}: right emoji top-5", p["top5"], TARGETS["placed_top5"]),
                  row(f"{label}: right emoji top-1", p["top1"], None)]
        for key, words in (("one", "one emoji"), ("two", "two emoji")):
            if key in report:
                r = report[key]
                lines.append(f"| {words} ({r['pictures']} scenes): position / background / top-5 | "
                             f"{100 * r['position']:.1f} / {100 * r['background']:.1f} / {100 * r['top5']:.1f} % | reported |")
                if "through_tokenizer" in r:
                    t = r["through_tokenizer"]
                    lines.append(f"| {words}, true renders through the tokenizer alone: position / top-1 / top-5 | "
                                 f"{100 * t['position']:.1f} / {100 * t['top1']:.1f} / {100 * t['top5']:.1f} % "
                                 "| reported (the generator's ceiling) |")
    if "bare_heldout_phrasings" in report:
        h = report["bare_heldout_phrasings"]
        lines.append(f"| bare names in held-out phrasings ({h['pictures']}): top-1 / top-5 | "
                     f"{100 * h['top1']:.1f} / {100 * h['top5']:.1f} % | reported |")
    return "\n".join(lines)


def evaluate_emoji_checkpoint(checkpoint, checker_dir: str | Path, overrides: dict, bare: int, single: int,
                              pairs: int, phrasings: int, seed: int, json_path: str | None, cpu: bool = False,
                              precision: str | None = None, prompt_reader: str | None = None,
                              regions: str | None = None, drafts: str | None = None) -> dict:
    """`prompt_reader`, `regions`, `drafts`: see prompt_following.load_reading (e.g. reader none, to
    measure the model on the words as typed; regions off, on a whole scene's words at once; drafts
    off, the model drawing placed emoji at their size itself)."""
    checker = EmojiClassifier.from_pretrained(checker_dir)
    studio = load_reading(checkpoint, cpu, precision, prompt_reader, regions, drafts)
    settings = studio.settings(**overrides)
    report = {**evaluate_emoji_studio(studio, settings, checker, bare, single, pairs, phrasings, seed),
              "checker": str(checker_dir), **reading_of_report(studio)}
    return publish_report(report, markdown_emoji_report(report), json_path)
