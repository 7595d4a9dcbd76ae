"""ImageTokenizer: pictures <-> VQ-GAN token grids, over any diffusers `VQModel`.

Besides the token ids, `encode` returns each token's quantization error ||z - e_q||: the distance
between the encoder's continuous output at that position and the codeword that replaced it. That
error is the training order of the progressive model (low error = well represented, structural,
placed first; high error = detail, placed last).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoints import CheckpointError, require_model_dir


@dataclass(frozen=True)
class TokenizedImages:
    ids: torch.LongTensor  # (B, H, W) codebook indices
    qerror: torch.Tensor  # (B, H, W) float, ||z - e_q|| per token


def small_vqmodel(codebook_size: int = 512, channels: tuple[int, ...] = (16, 32, 64),
                  embed_dim: int = 8, norm_groups: int = 8, image_size: int = 64,
                  norm_type: str = "group"):
    """A VQModel whose grid is image_size / 2**(len(channels)-1); (16,32,64) gives 16x16 at 64 px.

    The mid-block attention is left out: at 16x16 it costs a third of the step on a CPU and flat
    shapes do not need global context to be reconstructed.
    """
    from diffusers import VQModel

    n = len(channels)
    return VQModel(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=channels, layers_per_block=1, latent_channels=embed_dim,
        num_vq_embeddings=codebook_size, vq_embed_dim=embed_dim, norm_num_groups=norm_groups,
        sample_size=image_size, mid_block_add_attention=False, norm_type=norm_type,
    )


def images_to_tensor(images: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1], the range the VQModel is trained on."""
    array = np.asarray(images if isinstance(images, np.ndarray) else np.stack(images))
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3)."""
    x = x.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return x.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()


class ImageTokenizer:
    def __init__(self, vq):
        self.vq = vq.eval()
        # diffusers returns flat indices unless asked; the grid shape is what every caller wants.
        self.vq.quantize.sane_index_shape = True

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path) -> "ImageTokenizer":
        from diffusers import VQModel

        directory = require_model_dir(path, "VQModel tokenizer", ("config.json",))
        try:
            vq = VQModel.from_pretrained(str(directory), local_files_only=True)
        except Exception as err:  # diffusers raises several types for a damaged directory
            raise CheckpointError(f"{directory}: not a loadable diffusers VQModel: {err}") from err
        return cls(vq)

    def save_pretrained(self, path: str | Path) -> None:
        self.vq.save_pretrained(str(path))

    # -- geometry -----------------------------------------------------------------------------
    @property
    def codebook_size(self) -> int:
        return self.vq.config.num_vq_embeddings

    @property
    def image_size(self) -> int:
        return self.vq.config.sample_size

    @property
    def grid_size(self) -> int:
        return self.image_size // 2 ** (len(self.vq.config.block_out_channels) - 1)

    @property
    def device(self) -> torch.device:
        # Not `self.vq.device`: diffusers walks every submodule looking for offloading hooks (about
        # 1.5 ms here), and the sampler asks for the device at every stage.
        return self.vq.quantize.embedding.weight.device

    def to(self, device: torch.device | str) -> "ImageTokenizer":
        self.vq.to(device)
        return self

    # -- the two directions -------------------------------------------------------------------
    def continuous_latents(self, pixels: torch.Tensor) -> torch.Tensor:
        """Encoder output after quant_conv, before quantization: (B, C, H, W)."""
        return self.vq.encode(pixels.to(self.device)).latents

    def quantize(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, TokenizedImages]:
        """(z_q, codebook loss, tokens). Wraps diffusers' tuple `(z_q, loss, (_, _, ids))` once."""
        z_q, loss, (_, _, ids) = self.vq.quantize(latents)
        codewords = self.vq.quantize.embedding.weight[ids]  # (B, H, W, C)
        qerror = (latents.permute(0, 2, 3, 1) - codewords).norm(dim=-1)
        return z_q, loss, TokenizedImages(ids=ids, qerror=qerror)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> TokenizedImages:
        _, _, tokens = self.quantize(self.continuous_latents(pixels))
        return tokens

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, H, W) -> pixels (B, 3, S, S) in [-1, 1]."""
        return self.codes_to_pixels(ids)

    def codes_to_pixels(self, ids: torch.Tensor) -> torch.Tensor:
        """`decode` with gradients, for training the decoder (`finetune-decoder`)."""
        ids = ids.to(self.device)
        b, h, w = ids.shape
        z_q = self.vq.quantize.get_codebook_entry(ids.reshape(-1), (b, h, w, self.vq.config.vq_embed_dim))
        return self.vq.decode(z_q, force_not_quantize=True).sample

    def decode_images(self, ids: torch.Tensor) -> list[Image.Image]:
        return [Image.fromarray(a) for a in tensor_to_images(self.decode(ids))]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 image batches."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
