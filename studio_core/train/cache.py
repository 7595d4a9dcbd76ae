"""Pre-encoded training data: token grids, their quantization errors and the captions' text states.

The tokenizer and the text encoder are frozen while the transformer trains, so encoding every
example once (instead of once per epoch) takes the two largest costs out of the training step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..text_encoder import TextEncoder
from ..tokenizer import ImageTokenizer, images_to_tensor


@dataclass(frozen=True)
class EncodedDataset:
    ids: torch.Tensor  # (N, H*W) int16
    qerror: torch.Tensor  # (N, H*W) float16
    text: torch.Tensor  # (N, L, D) float16
    text_mask: torch.Tensor  # (N, L) bool
    empty_text: torch.Tensor  # (L0, D) float32: the unconditional prompt, for text dropout
    empty_mask: torch.Tensor  # (L0,) bool

    def __len__(self) -> int:
        return self.ids.shape[0]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.__dict__, path)

    @classmethod
    def load(cls, path: Path) -> "EncodedDataset":
        return cls(**torch.load(path, weights_only=True))


def examples_of(source, n: int) -> list:
    return [source[i % len(source)] if hasattr(source, "__len__") else source[i] for i in range(n)]


def encode_texts(encoder: TextEncoder, captions: list[str], batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """All captions padded to one length (the longest after truncation)."""
    chunks = []
    for start in tqdm(range(0, len(captions), batch), desc="text"):
        out = encoder.encode(captions[start:start + batch], warn_truncation=False)
        chunks.append((out.states.half().cpu(), out.mask.cpu()))
    length = max(states.shape[1] for states, _ in chunks)
    states = torch.cat([torch.nn.functional.pad(s, (0, 0, 0, length - s.shape[1])) for s, _ in chunks])
    masks = torch.cat([torch.nn.functional.pad(m, (0, length - m.shape[1])) for _, m in chunks])
    return states, masks


@torch.no_grad()
def encode_images(tokenizer: ImageTokenizer, images: list[np.ndarray], batch: int = 256):
    ids, errors = [], []
    for start in tqdm(range(0, len(images), batch), desc="images"):
        tokens = tokenizer.encode(images_to_tensor(np.stack(images[start:start + batch])))
        ids.append(tokens.ids.flatten(1).to(torch.int16).cpu())
        errors.append(tokens.qerror.flatten(1).half().cpu())
    return torch.cat(ids), torch.cat(errors)


def build_encoded_dataset(tokenizer: ImageTokenizer, encoder: TextEncoder, source, n: int,
                          text_cache: Path | None = None) -> EncodedDataset:
    examples = examples_of(source, n)
    if text_cache is not None and text_cache.exists():
        text, text_mask = torch.load(text_cache, weights_only=True)
    else:
        text, text_mask = encode_texts(encoder, [e.caption for e in examples])
        if text_cache is not None:
            text_cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save((text, text_mask), text_cache)
    ids, qerror = encode_images(tokenizer, [e.image for e in examples])
    empty = encoder.encode_empty()
    return EncodedDataset(ids=ids, qerror=qerror, text=text[:n], text_mask=text_mask[:n],
                          empty_text=empty.states[0].float().cpu(), empty_mask=empty.mask[0].cpu())
