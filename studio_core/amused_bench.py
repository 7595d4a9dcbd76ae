"""aMUSEd's cost in the studio: `python -m studio_core bench --checkpoint random:amused-256` (or
random:amused-512, or an aMUSEd pipeline folder). The random sizes are built in memory from the
real configurations (amused_configs.py) and never written to disk (their code-colour table is kept
in $STUDIO_CACHE, as a downloaded model's is: amused_configs.random_colour_cache).

Per precision (float32, then bfloat16 for the transformer; the VQ and CLIP stay float32), one
model loaded at a time: a guided network pass, a picture at 12 and at 16 stages (with and without
the final decode), the first preview on screen, the final decode, the adapter's own overhead per
stage (a stage's time less the network passes inside it: drawing, ordering, frame bookkeeping)
and the code-colour table the previews use (once per model), with the process's peak memory.
"""

from __future__ import annotations

import gc
import math
import resource
import statistics
import time
from pathlib import Path

import torch

from .device import PRECISIONS, choose_placement
from .sampler import DRAWS

PROMPT = "a watercolour painting of a lighthouse on a cliff at sunset"


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class TimedPredictor:
    """The family's predictor, timing the network passes it makes."""

    def __init__(self, predictor):
        self.predictor, self.rules, self.seconds, self.calls = predictor, predictor.rules, 0.0, 0

    def __call__(self, ids, prompt):
        started = time.perf_counter()
        out = self.predictor(ids, prompt)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return out


def build_family(checkpoint: str, precision: str, cpu: bool):
    """A random real-size aMUSEd ("random:amused-256") or a pipeline folder, in `precision`."""
    from .amused import AmusedFamily, AmusedModels
    from .amused_configs import random_colour_cache, random_components
    from .family import load_family

    placement = choose_placement(cpu=cpu, precision=precision)
    if not checkpoint.startswith("random:"):
        return load_family(checkpoint, placement)
    size = checkpoint.split(":", 1)[1]
    parts = random_components(size)
    parts["transformer"].to(placement.device, placement.dtype)
    for name in ("vqvae", "text_encoder"):
        parts[name].to(placement.device)
    models = AmusedModels(vqvae=parts["vqvae"], transformer=parts["transformer"], text_encoder=parts["text_encoder"],
                          tokenizer=parts["tokenizer"], mask_id=int(parts["scheduler"].config.mask_token_id))
    return AmusedFamily(models, name=f"{size} (random weights)", colour_cache=random_colour_cache(size))


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def note(label: str, value: float) -> None:
    """Each figure as soon as it is measured (a slow machine still shows some)."""
    print(f"  {label}: {value:.3f}", flush=True)


def measure_one(checkpoint: str, precision: str, cpu: bool, runs: int, quick: bool = False,
                stages: tuple[int, ...] = (12, 16)) -> dict:
    from . import sampler
    from .amused import AmusedPredictor
    from .studio import Studio

    built = time.perf_counter()
    studio = Studio(build_family(checkpoint, precision, cpu))
    row = {"precision": studio.precision, "build_s": time.perf_counter() - built, "grid": studio.grid_size,
           "image_size": studio.image_size, "model": studio.model_name}
    print(f"{studio.model_name}, transformer {studio.precision}:", flush=True)
    note("model built (s)", row["build_s"])
    settings12 = studio.settings(stages=12)
    blank = studio.start(PROMPT, 0, settings12)
    # The reference pass: the prompt's row and the negative one, computed (a blank grid's first
    # stage takes its negative row from a cache: timed below as the first stage's pass).
    predictor = AmusedPredictor(studio.family, float(settings12.guidance), reuse_blank=False)
    ids = torch.from_numpy(blank.current.ids.reshape(-1))
    predictor(ids, PROMPT)  # warm-up: first calls allocate, and the prompt is encoded and cached
    row["forward_s"] = statistics.median(seconds(lambda: predictor(ids, PROMPT)) for _ in range(max(runs, 3)))
    note("guided pass (s)", row["forward_s"])
    studio.family.blank_unconditional()  # once per model (the app's warm_up at start)

    def picture(settings, seed: int) -> tuple[float, float, "object"]:
        """(seconds of the stages, seconds of the network passes in them, the last state)."""
        state = studio.start(PROMPT, seed, settings)
        timed = TimedPredictor(studio.predictor(state))
        started = time.perf_counter()
        for state in sampler.run_to_end(state, timed):
            pass
        return time.perf_counter() - started, timed.seconds, state

    pictures, overheads, decodes = {}, [], []
    one_stage = {draws: [] for draws in DRAWS}
    plans = [(n, studio.settings(stages=n)) for n in stages] if not quick else []
    for run in range(runs):
        for n, settings in plans:
            loop, passes, state = picture(settings, run)
            decode = seconds(lambda: studio.decode(state.current))
            pictures.setdefault(n, []).append((loop, loop + decode))
            overheads.append((loop - passes) / n)
            decodes.append(decode)
            note(f"picture, {n} stages (s)", loop)
            note("full decode (s)", decode)
        # The worst case for the overhead, every cell drawn at once: a one-stage picture, with the
        # default draws and with the pipeline's (the draws before "fast" existed), in alternation.
        for draws in DRAWS:
            loop, passes, state = picture(studio.settings(stages=1, draws=draws), run)
            one_stage[draws].append(loop - passes)
            note(f"one-stage picture's overhead, {draws} draws (s)", loop - passes)
        if quick:
            decodes.append(seconds(lambda: studio.decode(state.current)))
            note("full decode (s)", decodes[-1])
    for n, times in pictures.items():
        row[f"picture_{n}_s"] = statistics.median(t for t, _ in times)
        row[f"picture_{n}_decoded_s"] = statistics.median(t for _, t in times)
    row.update({"decode_s": statistics.median(decodes),
                "overhead_per_stage_s": statistics.median(overheads) if overheads else math.nan})
    note("adapter overhead per stage (s)", row["overhead_per_stage_s"])
    for draws in DRAWS:
        row[f"overhead_1_{draws}_s"] = statistics.median(one_stage[draws])
    cache = studio.family.colour_cache
    row["colour_table_cached"] = cache is not None and cache.is_file()
    row["colour_table_s"] = seconds(studio.family.code_colours)  # once per model (the app: at start)
    note("code-colour table (s)" + (", read from the cache" if row["colour_table_cached"] else ""),
         row["colour_table_s"])
    studio.family.warm_up()  # as the app does at start: the negative prompt, the blank grid's row

    def new_prompt_text() -> float:
        studio.forget_prompts()
        return seconds(lambda: studio.family.text(PROMPT))

    first_stage = studio.predictor(blank)  # the default settings: the blank row from the cache

    def first_preview(settings) -> float:
        # A new prompt's text encoding is part of the first preview; the empty negative prompt and
        # the blank grid's unconditional row are computed once per model (warm_up, at the app's start).
        studio.forget_prompts()
        started = time.perf_counter()
        state = studio.step(studio.start(PROMPT, 1, settings))
        studio.picture(state.current, scale=1, preview=True)
        return time.perf_counter() - started

    # Each first preview beside a guided pass timed just before it: on a shared machine the load
    # changes from minute to minute, and the target is relative to a pass. Beside them, in
    # alternation: the parts of the first preview (a new prompt's text encoding, the first stage's
    # pass), and the first preview with the pipeline's draws (every row by torch.multinomial, both
    # rows of the first pass computed: the path before "fast" draws and the cached blank row).
    settings_pipeline = studio.settings(stages=12, draws="pipeline")
    rounds = [{"pass": seconds(lambda: predictor(ids, PROMPT)), "text": new_prompt_text(),
               "first_pass": seconds(lambda: first_stage(ids, PROMPT)),
               "fast": first_preview(settings12), "pipeline": first_preview(settings_pipeline)}
              for _ in range(max(runs, 3))]
    row["text_s"] = statistics.median(r["text"] for r in rounds)
    row["first_pass_s"] = statistics.median(r["first_pass"] for r in rounds)
    note("a new prompt's text encoding (s)", row["text_s"])
    note("first stage's network pass (s)", row["first_pass_s"])
    for draws in DRAWS:
        row[f"first_preview_{draws}_s"] = statistics.median(r[draws] for r in rounds)
        row[f"preview_beyond_pass_{draws}_s"] = statistics.median(r[draws] - r["pass"] for r in rounds)
        note(f"first preview, {draws} draws (s)", row[f"first_preview_{draws}_s"])
        note(f"first preview less the pass timed just before it, {draws} draws (s)",
             row[f"preview_beyond_pass_{draws}_s"])
    row["peak_memory_mb"] = peak_memory_mb()
    del studio, predictor, first_stage
    gc.collect()
    return row


def benchmark_amused(checkpoint: str, runs: int = 2, cpu: bool = False, precisions: tuple[str, ...] = ("fp32", "bf16"),
                     quick: bool = False, stages: tuple[int, ...] = (12, 16)) -> list[dict]:
    """`quick`: one-stage pictures only (for a slow machine); else pictures of each of `stages`
    (12 and 16 unless told) too."""
    rows = []
    for precision in precisions:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        rows.append(measure_one(checkpoint, precision, cpu, runs, quick, stages))
        print(markdown_table(rows[-1:]), flush=True)  # each as soon as measured: a slow machine shows some
    print(markdown_table(rows))
    first = rows[0]
    print(f"\n{first['model']}: {first['grid']}x{first['grid']} tokens, {first['image_size']} px; guidance 10, "
          f"medians of {max(runs, 3)} network passes and {runs} pictures per row, on {torch.get_num_threads()} "
          f"threads; one precision loaded at a time (peak memory is the process's so far)")
    return rows


def markdown_table(rows: list[dict]) -> str:
    def ms(value: float) -> str:
        return "not timed" if math.isnan(value) else f"{1000 * value:,.0f} ms"

    def overhead(r: dict, key: str) -> str:
        value = r[key]
        return ms(value) if math.isnan(value) else f"{1000 * value:.1f} ms: {100 * value / r['forward_s']:.2f} % of a pass"

    measures = [
        ("one guided network pass (batch 2)", lambda r: ms(r["forward_s"])),
        ("first preview on screen (new prompt's text encoding, 1 stage, code colours)",
         lambda r: ms(r["first_preview_fast_s"])),
        ("  less a pass timed just before it (target <= 50 ms)", lambda r: ms(r["preview_beyond_pass_fast_s"])),
        ("  in it: a new prompt's text encoding", lambda r: ms(r["text_s"])),
        ("  in it: the first stage's pass (the prompt's row; the blank negative row cached)",
         lambda r: ms(r["first_pass_s"])),
        ("  the same with --draws pipeline (multinomial, both rows computed)", lambda r: ms(r["first_preview_pipeline_s"])),
        ("  less a pass timed just before it", lambda r: ms(r["preview_beyond_pass_pipeline_s"])),
        *[row for n in sorted({int(k.split("_")[1]) for r in rows for k in r if k.startswith("picture_")})
          for row in ((f"picture, {n} stages (stages only)", lambda r, n=n: ms(r.get(f"picture_{n}_s", math.nan))),
                      (f"picture, {n} stages, with the final decode",
                       lambda r, n=n: ms(r.get(f"picture_{n}_decoded_s", math.nan))))],
        ("full VQ decode", lambda r: ms(r["decode_s"])),
        ("adapter overhead per stage (beside the passes), over those pictures", lambda r: overhead(r, "overhead_per_stage_s")),
        ("adapter overhead of a one-stage picture (every cell drawn)", lambda r: overhead(r, "overhead_1_fast_s")),
        ("  the same with --draws pipeline", lambda r: overhead(r, "overhead_1_pipeline_s")),
        ("code-colour table (once per model)", lambda r: ms(r["colour_table_s"])
         + (" (read from $STUDIO_CACHE)" if r["colour_table_cached"] else "")),
        ("random model built in memory", lambda r: ms(r["build_s"])),
        ("peak memory of the process so far", lambda r: f"{r['peak_memory_mb']:,.0f} MB"),
    ]
    lines = ["| measure | " + " | ".join(f"transformer {r['precision']}" for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    lines += [f"| {name} | " + " | ".join(cell(r) for r in rows) + " |" for name, cell in measures]
    return "\n".join(lines)


def is_amused_checkpoint(checkpoint: str | Path | None) -> bool:
    from .family import is_hub_id

    if checkpoint is None:
        return False
    text = str(checkpoint)
    return text.startswith("random:") or is_hub_id(text) or (Path(text) / "model_index.json").is_file()
