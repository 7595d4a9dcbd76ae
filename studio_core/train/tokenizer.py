"""Train the VQ-GAN tokenizer: reconstruction + commitment loss, codebook learnt by EMA k-means.

Plain gradient-trained codebooks learn slowly and collapse: a fresh codebook is tiny, the encoder
maps everything onto a handful of codes, and codes no batch selects never move again. Three
standard remedies (VQ-VAE-2, Jukebox, ViT-VQGAN), all applied from outside the diffusers model so
the result is an ordinary `VQModel`:
  1. a short warm-up as a plain autoencoder (no quantization), so the latents mean something;
  2. the codebook then starts as a sample of real encoder outputs, and follows the latents
     assigned to each code by an exponential moving average (online k-means) instead of by SGD;
  3. codes unused for a while are restarted on random encoder outputs of the current batch.
Codebook usage is logged and reported.

    python -m studio_core train-tokenizer --out runs/tokenizer --steps 2000
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..data.shapes import ShapesDataset
from ..tokenizer import ImageTokenizer, images_to_tensor, psnr, small_vqmodel, tensor_to_images


@dataclass(frozen=True)
class TokenizerTrainConfig:
    out: str = "runs/tokenizer"
    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 1e-4
    codebook_size: int = 512
    # MoVQ's spatial normalisation in the decoder: group norm alone washes out flat colours (its
    # statistics depend on how much of the picture an object covers); SpatialNorm re-injects the
    # quantized latents after every normalisation. It fixes 32 groups, hence 32-channel stages.
    channels: tuple[int, ...] = (32, 32, 64)
    embed_dim: int = 8
    restart_every: int = 25
    autoencoder_warmup: int = 100  # steps without quantization before the codebook starts
    ema_decay: float = 0.99
    commitment: float = 0.25
    save_every: int = 250
    seed: int = 0
    data_folder: str | None = None  # a folder with metadata.jsonl, instead of the shapes
    norm_groups: int = 32
    norm_type: str = "spatial"
    report_images: int = 512
    dataset: str = "shapes"  # "shapes" or "emoji" (the built-in procedural sets)
    threads: int | None = None  # torch CPU threads (None: torch's default)
    # Train on random `crop`-pixel squares of the pictures (the model is fully convolutional: no
    # attention), a quarter of the cost a step at 32 of 64 px, except the last `full_share` of the
    # steps, on whole pictures, so the normalisation layers settle on the size they will see.
    crop: int | None = None
    full_share: float = 0.1


DATASETS = ("shapes", "emoji")


def builtin_dataset(name: str, seed: int, split: str):
    """One of the procedural sets by name; both have the same interface (index -> example)."""
    if name == "shapes":
        return ShapesDataset(seed=seed, split=split)
    if name == "emoji":
        from ..data.emoji import EmojiDataset

        return EmojiDataset(seed=seed, split=split)
    raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")


def batch_pixels(config: TokenizerTrainConfig, step: int, source) -> torch.Tensor:
    start = step * config.batch_size
    if not hasattr(source, "__len__"):  # an unlimited procedural set
        images = [source[i].image for i in range(start, start + config.batch_size)]
    else:
        images = [source[(start + i) % len(source)].image for i in range(config.batch_size)]
    pixels = images_to_tensor(images)
    if config.crop and step < (1 - config.full_share) * config.steps and config.crop < pixels.shape[-1]:
        pixels = random_crops(pixels, config.crop, np.random.default_rng([config.seed, step, 5]))
    return pixels


def random_crops(pixels: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """One random size x size square of each picture (positions on the token grid's 4-px lattice,
    so a crop's tokens are the picture's tokens)."""
    limit = (pixels.shape[-1] - size) // 4
    offsets = rng.integers(0, limit + 1, size=(len(pixels), 2)) * 4
    return torch.stack([p[:, y:y + size, x:x + size] for p, (y, x) in zip(pixels, offsets)])


def cosine_lr(config: TokenizerTrainConfig, step: int) -> float:
    progress = min(step / max(config.steps, 1), 1.0)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


class EmaCodebook:
    """Online k-means over the encoder's outputs, written into the VQModel's embedding."""

    def __init__(self, embedding: torch.nn.Embedding, decay: float, reduce=None):
        # `reduce` sums statistics across processes (accelerate's), so every GPU keeps one codebook.
        self.embedding, self.decay = embedding, decay
        self.reduce = reduce or (lambda tensor, reduction: tensor)
        embedding.weight.requires_grad_(False)
        k, d = embedding.weight.shape
        self.cluster_size = torch.zeros(k, device=embedding.weight.device)
        self.embed_sum = torch.zeros(k, d, device=embedding.weight.device)

    @torch.no_grad()
    def initialise(self, latents: torch.Tensor) -> None:
        vectors = flat_latents(latents)
        picks = vectors[torch.randint(len(vectors), (len(self.cluster_size),), device=vectors.device)]
        self.embedding.weight.copy_(picks)
        self.cluster_size.fill_(1.0)
        self.embed_sum.copy_(picks)

    @torch.no_grad()
    def update(self, latents: torch.Tensor, ids: torch.Tensor) -> None:
        vectors, ids = flat_latents(latents), ids.reshape(-1)
        counts = self.reduce(torch.bincount(ids, minlength=len(self.cluster_size)).float(), "sum")
        sums = self.reduce(torch.zeros_like(self.embed_sum).index_add_(0, ids, vectors), "sum")
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (total + len(self.cluster_size) * 1e-5) * total
        self.embedding.weight.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(self, latents: torch.Tensor, used: torch.Tensor) -> int:
        dead = (~used).nonzero().flatten()
        if len(dead):
            vectors = flat_latents(latents)
            picks = vectors[torch.randint(len(vectors), (len(dead),), device=vectors.device)]
            self.embedding.weight[dead] = picks
            self.embed_sum[dead] = picks
            self.cluster_size[dead] = 1.0
        return len(dead)


def flat_latents(latents: torch.Tensor) -> torch.Tensor:
    return latents.detach().permute(0, 2, 3, 1).reshape(-1, latents.shape[1])


@torch.no_grad()
def reconstruction_report(tokenizer: ImageTokenizer, n: int = 512, batch: int = 64,
                          dataset_name: str = "shapes") -> dict:
    """PSNR on n held-out pictures and the share of the codebook they use."""
    dataset = builtin_dataset(dataset_name, 12345, "heldout")
    originals, recons, used = [], [], torch.zeros(tokenizer.codebook_size, dtype=torch.bool)
    for start in range(0, n, batch):
        images = np.stack([dataset[i].image for i in range(start, min(start + batch, n))])
        tokens = tokenizer.encode(images_to_tensor(images))
        used[tokens.ids.flatten().cpu()] = True
        originals.append(images)
        recons.append(tensor_to_images(tokenizer.decode(tokens.ids)))
    return {
        "psnr_db": psnr(np.concatenate(originals), np.concatenate(recons)),
        "codebook_usage": float(used.float().mean()),
        "images": n,
        "dataset": dataset_name,
    }


class TokenizerTrainingStep(torch.nn.Module):
    """The training forward pass as one module, so that `accelerate` (DDP on several GPUs) sees a
    forward call and synchronises gradients."""

    def __init__(self, tokenizer: ImageTokenizer, commitment: float):
        super().__init__()
        self.tokenizer, self.vq, self.commitment = tokenizer, tokenizer.vq, commitment

    def forward(self, pixels: torch.Tensor, quantizing: bool):
        latents = self.tokenizer.continuous_latents(pixels)
        if quantizing:
            z_q, _, tokens = self.tokenizer.quantize(latents)
            commitment = self.commitment * torch.mean((latents - z_q.detach()) ** 2)
            ids = tokens.ids
        else:  # autoencoder warm-up: the decoder sees the continuous latents
            z_q, commitment, ids = latents, torch.zeros((), device=latents.device), None
        recon = self.vq.decode(z_q, force_not_quantize=True).sample
        return recon, latents, ids, commitment


def save_tokenizer(accelerator, tokenizer: ImageTokenizer, out: Path) -> None:
    weight = tokenizer.vq.quantize.embedding.weight
    weight.requires_grad_(True)  # saved and reloaded as an ordinary VQModel
    if accelerator.is_main_process:
        tokenizer.vq.save_pretrained(str(out))
    weight.requires_grad_(False)


STATE_FILE = "train_state.pt"


def write_state(out: Path, step: int, vq, optimizer, **extra: torch.Tensor) -> None:
    """Everything a later run needs to continue at `step`: weights, optimizer and `extra`
    (written atomically, so a run stopped mid-write keeps the state before)."""
    state = {"step": step, "model": vq.state_dict(), "optimizer": optimizer.state_dict(), **extra}
    torch.save(state, out / (STATE_FILE + ".tmp"))
    (out / (STATE_FILE + ".tmp")).replace(out / STATE_FILE)


def read_state(out: Path, vq, optimizer) -> dict | None:
    """The saved state with weights and optimizer restored, or None for a new run."""
    if not (out / STATE_FILE).exists():
        return None
    state = torch.load(out / STATE_FILE, weights_only=True)
    vq.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state


def save_train_state(out: Path, step: int, tokenizer: ImageTokenizer, optimizer, codebook: EmaCodebook,
                     used: torch.Tensor) -> None:
    write_state(out, step, tokenizer.vq, optimizer, cluster_size=codebook.cluster_size,
                embed_sum=codebook.embed_sum, used=used)


def load_train_state(out: Path, tokenizer: ImageTokenizer, optimizer, codebook: EmaCodebook,
                     used: torch.Tensor) -> int:
    """The step to continue from: 0 for a new run, else the saved step with every state restored."""
    state = read_state(out, tokenizer.vq, optimizer)
    if state is None:
        return 0
    codebook.cluster_size.copy_(state["cluster_size"])
    codebook.embed_sum.copy_(state["embed_sum"])
    used.copy_(state["used"])
    return int(state["step"])


def train_tokenizer(config: TokenizerTrainConfig) -> dict:
    """Train (or continue: the out folder keeps a resumable state) the tokenizer."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from ..data.folder import CaptionedImageFolder

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    accelerator = Accelerator()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    source = (CaptionedImageFolder(config.data_folder) if config.data_folder
              else builtin_dataset(config.dataset, config.seed, "train"))
    tokenizer = ImageTokenizer(small_vqmodel(config.codebook_size, config.channels, config.embed_dim,
                                             config.norm_groups, norm_type=config.norm_type))
    tokenizer.vq.train()
    codebook = EmaCodebook(tokenizer.vq.quantize.embedding, config.ema_decay, accelerator.reduce)
    step_module = TokenizerTrainingStep(tokenizer, config.commitment)
    optimizer = torch.optim.Adam([p for p in tokenizer.vq.parameters() if p.requires_grad], lr=config.lr)
    step_module, optimizer = accelerator.prepare(step_module, optimizer)
    used = torch.zeros(config.codebook_size, dtype=torch.bool, device=accelerator.device)
    start_step = load_train_state(out, tokenizer, optimizer, codebook, used)
    log = (out / "train_log.jsonl").open("a")
    started = time.time()
    bar = tqdm(range(start_step, config.steps), initial=start_step, total=config.steps, desc="tokenizer",
               disable=not accelerator.is_main_process)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(config, step)
        pixels = batch_pixels(config, step, source).to(accelerator.device)
        quantizing = step >= config.autoencoder_warmup
        if step == config.autoencoder_warmup:
            with torch.no_grad():
                codebook.initialise(tokenizer.continuous_latents(pixels))
        recon, latents, ids, commitment = step_module(pixels, quantizing)
        mse = torch.mean((recon - pixels) ** 2)
        loss = mse + commitment
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        restarted = 0
        if quantizing:
            codebook.update(latents, ids)
            used[ids.flatten()] = True
            if (step + 1) % config.restart_every == 0 and step < 0.9 * config.steps:
                restarted = codebook.restart_dead(latents, used)
                used.zero_()
        # PSNR of [-1,1] images: peak-to-peak is 2, so 10*log10(4/mse).
        train_psnr = 10 * math.log10(4.0 / max(mse.item(), 1e-10))
        bar.set_postfix(loss=f"{loss.item():.4f}", psnr=f"{train_psnr:.1f}")
        log.write(json.dumps({"step": step + 1, "loss": loss.item(), "mse": mse.item(),
                              "psnr": train_psnr, "quantized": quantizing, "restarted": restarted,
                              "elapsed_s": time.time() - started}) + "\n")
        log.flush()
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            save_tokenizer(accelerator, tokenizer, out)
            if accelerator.is_main_process:
                save_train_state(out, step + 1, tokenizer, optimizer, codebook, used)
    tokenizer.vq.eval()
    dataset_name = "shapes" if config.data_folder else config.dataset
    report = reconstruction_report(tokenizer, config.report_images, dataset_name=dataset_name) | {
        "train_seconds_this_run": time.time() - started, "first_step_this_run": start_step,
        "config": asdict(config)}
    report["train_seconds"] = report["train_seconds_this_run"]
    (out / "tokenizer_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


# ---------------------------------------------------------------------------------------------
# Fine-tuning the decoder alone. Encoder, quant_conv and codebook stay frozen, so every picture
# keeps the very token ids it had: a transformer trained on the old tokenizer's codes draws with
# the new decoder unchanged. Only the codes' rendering into pixels gets sharper.


@dataclass(frozen=True)
class DecoderFinetuneConfig:
    init_from: str  # a trained VQModel directory (its encoder and codebook are kept)
    out: str = "runs/tokenizer-decoder"
    steps: int = 600
    batch_size: int = 16
    lr: float = 5e-4
    min_lr: float = 2e-5
    dataset: str = "emoji"
    crop: int | None = 32  # as in training: random squares on the token lattice, the last steps whole
    full_share: float = 0.1
    save_every: int = 50
    seed: int = 1  # other pictures than the tokenizer's own training (seed 0)
    threads: int | None = None
    report_images: int = 512


def decoder_parameters(vq) -> list[torch.nn.Parameter]:
    """What maps codes to pixels: post_quant_conv and the decoder."""
    return [*vq.post_quant_conv.parameters(), *vq.decoder.parameters()]


def crop_codes(ids: torch.Tensor, pixels: torch.Tensor, size: int, rng: np.random.Generator,
               scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random square of each picture's code grid and of its pixels (`scale` px a code)."""
    cells = size // scale
    offsets = rng.integers(0, ids.shape[-1] - cells + 1, size=(len(ids), 2))
    codes = torch.stack([g[y:y + cells, x:x + cells] for g, (y, x) in zip(ids, offsets)])
    crops = torch.stack([p[:, y * scale:(y + cells) * scale, x * scale:(x + cells) * scale]
                         for p, (y, x) in zip(pixels, offsets)])
    return codes, crops


def decoder_batch(config: DecoderFinetuneConfig, step: int, source, tokenizer: ImageTokenizer):
    """(codes, pixels) of a step: the frozen encoder's ids of whole pictures, then the same crop of
    both (on the token lattice) except in the last `full_share` of the steps."""
    pixels = batch_pixels(replace(config, crop=None), step, source)
    ids = tokenizer.encode(pixels).ids
    if config.crop and step < (1 - config.full_share) * config.steps and config.crop < pixels.shape[-1]:
        scale = tokenizer.image_size // tokenizer.grid_size
        ids, pixels = crop_codes(ids, pixels, config.crop, np.random.default_rng([config.seed, step, 5]), scale)
    return ids, pixels


def finetune_decoder(config: DecoderFinetuneConfig) -> dict:
    """Train the decoder on reconstruction (MSE) from frozen codes; resumable from `out`."""
    from tqdm.auto import tqdm

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    tokenizer = ImageTokenizer.from_pretrained(config.init_from)  # a bad folder is named before `out` is made
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    vq = tokenizer.vq
    vq.requires_grad_(False)
    trained = decoder_parameters(vq)
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(trained, lr=config.lr)
    state = read_state(out, vq, optimizer)
    start_step = 0 if state is None else int(state["step"])
    source = builtin_dataset(config.dataset, config.seed, "train")
    started = time.time()
    vq.decoder.train()
    with (out / "train_log.jsonl").open("a") as log:
        for step in tqdm(range(start_step, config.steps), initial=start_step, total=config.steps, desc="decoder"):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(config, step)
            ids, pixels = decoder_batch(config, step, source, tokenizer)
            mse = torch.mean((tokenizer.codes_to_pixels(ids) - pixels) ** 2)
            optimizer.zero_grad(set_to_none=True)
            mse.backward()
            optimizer.step()
            log.write(json.dumps({"step": step + 1, "mse": mse.item(),
                                  "psnr": 10 * math.log10(4.0 / max(mse.item(), 1e-10)),
                                  "elapsed_s": time.time() - started}) + "\n")
            log.flush()
            if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
                vq.save_pretrained(str(out))
                write_state(out, step + 1, vq, optimizer)
    vq.eval()
    report = reconstruction_report(tokenizer, config.report_images, dataset_name=config.dataset) | {
        "train_seconds_this_run": time.time() - started, "first_step_this_run": start_step,
        "decoder_only": True, "config": asdict(config)}
    (out / "tokenizer_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
