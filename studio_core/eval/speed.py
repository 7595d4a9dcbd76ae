"""How fast one picture is made on this machine, with the model loaded: the whole picture (all
stages and the final decode) and the first stage on screen (encode the prompt, one stage, decode).
Medians over repeated runs; peak resident memory of the process (both precisions loaded when two
are compared). `python -m studio_core bench`."""

from __future__ import annotations

import resource
import statistics
import time

import torch


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def time_whole_picture(studio, settings, prompt: str, seed: int) -> float:
    started = time.perf_counter()
    state = studio.generate_image(prompt, seed, settings)
    studio.decode(state.current)
    return time.perf_counter() - started


def time_first_stage(studio, settings, prompt: str, seed: int) -> float:
    started = time.perf_counter()
    state = studio.step(studio.start(prompt, seed, settings))
    studio.picture(state.current)
    return time.perf_counter() - started


def benchmark_prompts(checkpoint) -> list[str]:
    """Four prompts of the checkpoint's own world (the cost does not depend on the words, but a
    reader of the table should not wonder what an emoji model made of "a red circle"). The emoji
    model's are bare names: a placed emoji is drafted first (drafts.py) and timed in a row of its own."""
    from ..checkpoints import evaluation_entry

    if evaluation_entry(checkpoint)["dataset"] == "emoji":
        return ["cat face", "pizza", "red apple", "rainbow"]
    return [f"a large {c} circle in the center" for c in ("red", "blue", "green", "yellow")]


REGIONAL_PROMPT = "a large cat face in the top left and a large pizza in the bottom right on a blue background"
DRAFTED_PROMPT = "a large pizza in the center on a blue background"


def regional_prompt(studio) -> str | None:
    """A scene of two placed emoji where the model draws it region by region (regions.py: one more
    row in each stage's pass), else None."""
    return REGIONAL_PROMPT if studio.prompt_regions(REGIONAL_PROMPT) else None


def drafted_prompt(studio) -> str | None:
    """A scene of one placed emoji where the model drafts it at full size first (drafts.py: a
    bare-name picture before the scene's stages), else None."""
    return DRAFTED_PROMPT if studio.drafts_things(DRAFTED_PROMPT) else None


def benchmark_generation(checkpoint, overrides: dict, runs: int = 20, cpu: bool = False,
                         precision: str | None = None) -> dict:
    """The chosen precision (default: device.py's choice) and, where that is not float32, float32
    too, loaded side by side and timed in alternation, so the two rows share the machine's noise."""
    from ..studio import Studio

    load_started = time.perf_counter()
    chosen = Studio.load(checkpoint, cpu=cpu, precision=precision)
    load_seconds = time.perf_counter() - load_started
    studios = [chosen] if chosen.precision == "fp32" else [chosen, Studio.load(checkpoint, cpu=cpu, precision="fp32")]
    settings = chosen.settings(**overrides)
    prompts = benchmark_prompts(checkpoint)
    for studio in studios:
        time_whole_picture(studio, settings, prompts[0], 0)  # warm-up: first calls allocate
    whole = {s.precision: [] for s in studios}
    first = {s.precision: [] for s in studios}
    two_things, regional = regional_prompt(chosen), []
    drafted, drafted_whole, drafted_first = drafted_prompt(chosen), [], []
    for i in range(runs):
        if two_things:
            regional.append(time_whole_picture(chosen, settings, two_things, i))
        if drafted:  # a new seed each run: its draft is drawn anew, as for a new picture in the app
            drafted_whole.append(time_whole_picture(chosen, settings, drafted, i))
            drafted_first.append(time_first_stage(chosen, settings, drafted, runs + i))
        for studio in studios:
            # The whole picture reuses a cached prompt (as the app does on a re-run); the first
            # stage is timed with the cache emptied, so it includes the prompt's text-encoder pass.
            whole[studio.precision].append(time_whole_picture(studio, settings, prompts[i % len(prompts)], i))
            studio.forget_prompts()
            first[studio.precision].append(time_first_stage(studio, settings, prompts[i % len(prompts)], i))
    result = {
        "device": str(chosen.device), "threads": torch.get_num_threads(), "runs": runs,
        "stages": settings.stages, "guidance": settings.guidance, "precision": chosen.precision,
        "whole_picture_median_s": statistics.median(whole[chosen.precision]),
        "first_stage_median_s": statistics.median(first[chosen.precision]),
        "by_precision": {p: {"whole_picture_median_s": statistics.median(whole[p]),
                             "first_stage_median_s": statistics.median(first[p])} for p in whole},
        "peak_memory_mb": peak_memory_mb(), "load_s": load_seconds,
    }
    if regional:
        result["regional_whole_picture_median_s"] = statistics.median(regional)
        result["regional_drafted"] = chosen.drafts_things(two_things)
    if drafted:
        result["drafted_whole_picture_median_s"] = statistics.median(drafted_whole)
        result["drafted_first_stage_median_s"] = statistics.median(drafted_first)
    print(markdown_table(result, settings))
    print(f"\n{runs} runs on {result['device']} with {result['threads']} threads, transformer in "
          f"{chosen.precision}{' (float32 timed beside it)' if len(studios) > 1 else ''}; model load "
          f"{result['load_s']:.1f} s")
    return result


def markdown_table(result: dict, settings) -> str:
    chosen = result["precision"]
    lines = ["| measure | median | target |", "|---|---|---|",
             f"| whole picture, {settings.stages} stages, guidance {settings.guidance} | "
             f"{1000 * result['whole_picture_median_s']:.0f} ms | <= 500 ms |",
             f"| first stage on screen (text encoding, 1 stage, decode) | "
             f"{1000 * result['first_stage_median_s']:.0f} ms | <= 100 ms |",
             f"| peak memory of the process | {result['peak_memory_mb']:.0f} MB | <= 1500 MB |"]
    if "drafted_whole_picture_median_s" in result:
        lines[3:3] = [f"| whole picture of one placed emoji, drafted at full size first (drafts.py) | "
                      f"{1000 * result['drafted_whole_picture_median_s']:.0f} ms | |",
                      f"| first stage on screen of that picture (its draft drawn first) | "
                      f"{1000 * result['drafted_first_stage_median_s']:.0f} ms | |"]
    if "regional_whole_picture_median_s" in result:
        lines.insert(3, f"| whole picture of two placed things, drawn by region (regions.py)"
                        f"{' and drafted' if result.get('regional_drafted') else ''} | "
                        f"{1000 * result['regional_whole_picture_median_s']:.0f} ms | |")
    for precision, times in result["by_precision"].items():
        if precision != chosen:
            lines += [f"| whole picture, transformer in {precision} (for comparison) | "
                      f"{1000 * times['whole_picture_median_s']:.0f} ms | |",
                      f"| first stage on screen, transformer in {precision} | "
                      f"{1000 * times['first_stage_median_s']:.0f} ms | |"]
    return "\n".join(lines)
