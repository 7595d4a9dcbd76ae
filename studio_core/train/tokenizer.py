"""Train the VQ-GAN tokenizer: reconstruction + codebook losses, with dead-code restarts.

A freshly initialised codebook is tiny and the encoder maps everything onto a handful of codes;
those that no batch selects never receive gradient again. Every `restart_every` steps the codes
unused since the last restart are moved onto random encoder outputs of the current batch, which
keeps the whole codebook in play (usage is logged).

    python -m studio_core train-tokenizer --out runs/tokenizer --steps 1500
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.shapes import ShapesDataset
from ..tokenizer import ImageTokenizer, images_to_tensor, psnr, small_vqmodel, tensor_to_images


@dataclass(frozen=True)
class TokenizerTrainConfig:
    out: str = "runs/tokenizer"
    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-3
    min_lr: float = 1e-4
    codebook_size: int = 512
    channels: tuple[int, ...] = (16, 32, 64)
    embed_dim: int = 8
    restart_every: int = 25
    save_every: int = 250
    seed: int = 0
    data_folder: str | None = None  # a folder with metadata.jsonl, instead of the shapes
    norm_groups: int = 8
    report_images: int = 512


def batch_pixels(config: TokenizerTrainConfig, step: int, source) -> torch.Tensor:
    start = step * config.batch_size
    if isinstance(source, ShapesDataset):
        images = [source[i].image for i in range(start, start + config.batch_size)]
    else:
        images = [source[(start + i) % len(source)].image for i in range(config.batch_size)]
    return images_to_tensor(images)


def cosine_lr(config: TokenizerTrainConfig, step: int) -> float:
    progress = min(step / max(config.steps, 1), 1.0)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def restart_dead_codes(tokenizer: ImageTokenizer, used: torch.Tensor, latents: torch.Tensor) -> int:
    dead = (~used).nonzero().flatten()
    if len(dead) == 0:
        return 0
    vectors = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    picks = vectors[torch.randint(len(vectors), (len(dead),), device=vectors.device)]
    tokenizer.vq.quantize.embedding.weight[dead] = picks + 0.01 * torch.randn_like(picks)
    return len(dead)


@torch.no_grad()
def reconstruction_report(tokenizer: ImageTokenizer, n: int = 512, batch: int = 64) -> dict:
    """PSNR on n held-out pictures and the share of the codebook they use."""
    dataset = ShapesDataset(seed=12345, split="heldout")
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
    }


def train_tokenizer(config: TokenizerTrainConfig) -> dict:
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from ..data.folder import CaptionedImageFolder

    torch.manual_seed(config.seed)
    accelerator = Accelerator()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    source = (CaptionedImageFolder(config.data_folder) if config.data_folder
              else ShapesDataset(seed=config.seed, split="train"))
    tokenizer = ImageTokenizer(small_vqmodel(config.codebook_size, config.channels, config.embed_dim,
                                             config.norm_groups))
    tokenizer.vq.train()
    optimizer = torch.optim.Adam(tokenizer.vq.parameters(), lr=config.lr)
    vq, optimizer = accelerator.prepare(tokenizer.vq, optimizer)
    used = torch.zeros(config.codebook_size, dtype=torch.bool, device=accelerator.device)
    log = (out / "train_log.jsonl").open("a")
    started = time.time()
    bar = tqdm(range(config.steps), desc="tokenizer", disable=not accelerator.is_main_process)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(config, step)
        pixels = batch_pixels(config, step, source).to(accelerator.device)
        latents = tokenizer.continuous_latents(pixels)
        z_q, codebook_loss, tokens = tokenizer.quantize(latents)
        recon = tokenizer.vq.decode(z_q, force_not_quantize=True).sample
        mse = torch.mean((recon - pixels) ** 2)
        loss = mse + codebook_loss
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        used[tokens.ids.flatten()] = True
        if (step + 1) % config.restart_every == 0 and step < 0.9 * config.steps:
            restarted = restart_dead_codes(tokenizer, used, latents.detach())
            used.zero_()
        else:
            restarted = 0
        # PSNR of [-1,1] images: peak-to-peak is 2, so 10*log10(4/mse).
        train_psnr = 10 * math.log10(4.0 / max(mse.item(), 1e-10))
        bar.set_postfix(loss=f"{loss.item():.4f}", psnr=f"{train_psnr:.1f}")
        log.write(json.dumps({"step": step + 1, "loss": loss.item(), "mse": mse.item(),
                              "psnr": train_psnr, "restarted": restarted,
                              "elapsed_s": time.time() - started}) + "\n")
        log.flush()
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            accelerator.unwrap_model(vq).save_pretrained(str(out))
    tokenizer.vq.eval()
    report = reconstruction_report(tokenizer, config.report_images) | {
        "train_seconds": time.time() - started, "config": asdict(config)}
    (out / "tokenizer_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
