"""Model families: what the sampler, hooks, renderer, store and app need from a model.

Two families implement it: the bundled progressive models (`progressive.py`: VQ-GAN, MiniLM text
encoder, progressive transformer with quantization-error and importance heads) and aMUSEd
(`amused.py`: diffusers' VQModel and UVit2DModel, CLIP-L with projection). The Studio talks to
a family only through `ModelFamily`; `load_family` decides which one a checkpoint argument names:

- a studio checkpoint (a folder with `studio.json`), the bundled one by default;
- a diffusers aMUSEd pipeline folder (a folder with `model_index.json`);
- a model hub id such as `amused/amused-256`, fetched with `from_pretrained` where the machine is
  online; offline, one error that names the id and what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .checkpoints import BUNDLED_CHECKPOINT, CheckpointError
from .device import Placement, choose_placement
from .sampler import FamilyRules, Prediction, Predictor, SettingsError
from .state import GenerationState, SamplerSettings

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelFamily(Protocol):
    name: str  # shown in the app, recorded with sessions and exports
    kind: str  # "progressive" | "amused"
    rules: FamilyRules  # strategies offered, how a stage draws and revises
    sampling: SamplerSettings  # the family's (or checkpoint's) default settings
    grid_size: int
    codebook_size: int
    mask_id: int
    image_size: int  # pixels a side of a decoded picture

    @property
    def device(self) -> torch.device: ...

    @property
    def precision(self) -> str: ...

    def predictor(self, settings: SamplerSettings, seed: int | None = None) -> Predictor:
        """Guided logits (N, codebook) and the scores the family has, for one picture (`seed`: the
        picture's, for a family whose predictions depend on it: the bundled models' drafts)."""

    def batch_predictions(self, states: list[GenerationState]) -> list[Prediction]:
        """The next stage's predictions for several pictures in one network pass."""

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """Token ids (H, W), every cell a code, -> the picture, uint8 (S, S, 3)."""

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 pictures (B, S, S, 3) -> token ids (B, H, W)."""

    def code_colours(self) -> np.ndarray:
        """Each code's mean colour, uint8 (codebook, 3), computed once (for previews)."""

    def forget_prompts(self) -> None:
        """Drop cached text conditioning (benchmarks time a prompt's first use)."""

    def warm_up(self) -> None:
        """Compute what every first request would otherwise wait for, once per model (the app calls
        it at start)."""

    def read_prompt(self, prompt: str) -> str:
        """The words the text encoder is given for a prompt: as typed, or said again in the words
        a bundled model was trained on (prompt_reader.py)."""


def check_strategy(family: ModelFamily, settings: SamplerSettings) -> SamplerSettings:
    """A strategy or revision mode the family cannot run is refused, naming what it offers."""
    offered = family.rules.strategies
    if settings.strategy not in offered:
        raise SettingsError(f"strategy {settings.strategy!r} is not offered by the model {family.name!r} "
                            f"({family.kind}); it offers: {', '.join(offered)}")
    if settings.revision_mode not in family.rules.revision_modes:
        raise SettingsError(f"revision_mode {settings.revision_mode!r} is not offered by the model "
                            f"{family.name!r}; it offers: {', '.join(family.rules.revision_modes)}")
    return settings


def colour_cells(vq_config) -> int:
    """The grid side a code is decoded alone on for its colour: 1 when every group norm of the
    decoder sees at least two values per group at one cell, else 2 (tiny decoders: one channel
    per group). 1x1 costs a quarter of 2x2: for 8192 codes at 16x up-sampling that is minutes."""
    groups = vq_config.norm_num_groups
    return 1 if all(c // groups >= 2 for c in vq_config.block_out_channels) else 2


def mean_code_colours(decode_batch, codebook_size: int, cells: int = 1, chunk: int = 256) -> np.ndarray:
    """Each code decoded alone on a `cells` x `cells` grid of itself, its pixels averaged: a
    (codebook, 3) uint8 table. `decode_batch(ids (B, cells, cells))` -> pixels (B, 3, s, s) in [0, 1]. A code's colour in context
    differs a little (the decoder's receptive field spans neighbours); for a preview it is enough,
    and it turns a preview into one table lookup instead of a decoder pass."""
    colours = []
    with torch.no_grad():
        for first in range(0, codebook_size, chunk):
            ids = torch.arange(first, min(first + chunk, codebook_size))[:, None, None].expand(-1, cells, cells)
            pixels = decode_batch(ids).float().clamp(0, 1)
            colours.append(pixels.mean(dim=(2, 3)).mul(255).round().to(torch.uint8).cpu().numpy())
    return np.concatenate(colours)


def colour_cache_file(weights: Path) -> Path:
    """Where a model's code-colour table is kept between runs: keyed by its VQ weights file (path,
    size, modification time), under $STUDIO_CACHE (default ~/.cache/progressive-studio)."""
    import hashlib

    stat = weights.stat()
    key = hashlib.sha1(f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    return colour_cache_root() / f"{key}.npy"


def colour_cache_root() -> Path:
    return Path(os.environ.get("STUDIO_CACHE") or Path.home() / ".cache" / "progressive-studio") / "code-colours"


def cached_colours(cache: Path | None, codebook_size: int, compute) -> np.ndarray:
    """The table from `cache` when it is there and fits; else computed and (best effort) saved.
    At aMUSEd's size the table costs about as much as 32 full decodes: minutes on a CPU, once."""
    if cache is not None and cache.is_file():
        try:
            table = np.load(cache)
            if table.shape == (codebook_size, 3) and table.dtype == np.uint8:
                return table
        except (OSError, ValueError):
            pass  # a damaged cache file is computed again
    table = compute()
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, table)
        except OSError:
            pass  # a read-only home: computed again next time, nothing lost
    return table


# ---------------------------------------------------------------------------------------------
# Which family a checkpoint argument names


def is_hub_id(checkpoint: str | Path) -> bool:
    text = str(checkpoint)
    return not Path(text).exists() and not text.startswith((".", "/", "~")) and bool(HUB_ID.match(text))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def offline_hub_message(hub_id: str, reason: str) -> str:
    folder = hub_id.split("/")[-1]
    return (f"{hub_id}: a model hub id, and {reason}. Download it on a machine with internet "
            f"(`huggingface-cli download {hub_id} --local-dir {folder}`) and pass the folder "
            f"(--checkpoint ./{folder}), or run with HF_HUB_OFFLINE=0 where the hub can be reached")


def fetch_hub_folder(hub_id: str) -> Path:
    """The local folder of a hub model: the cache's copy, or a download where the machine is online."""
    if hub_offline():
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(hub_id, local_files_only=True))
        except Exception:  # not in the cache: say what to do, not how the hub client failed
            raise CheckpointError(offline_hub_message(hub_id, "this machine is offline (HF_HUB_OFFLINE=1) "
                                                              "and it is not in the local cache")) from None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id))
    except Exception as err:
        raise CheckpointError(offline_hub_message(hub_id, f"it could not be fetched ({type(err).__name__})")) from None


def checkpoint_kind(directory: Path) -> str:
    if (directory / "studio.json").is_file():
        return "progressive"
    if (directory / "model_index.json").is_file():
        return "amused"
    if (directory / "transformer").is_dir() and (directory / "tokenizer").is_dir():  # a studio checkpoint's layout
        raise CheckpointError(f"{directory}: studio checkpoint is incomplete, missing studio.json")
    raise CheckpointError(f"{directory}: neither a studio checkpoint (missing studio.json) nor a diffusers "
                          f"aMUSEd pipeline folder (missing model_index.json)")


def load_family(checkpoint: str | Path | None = None, placement: Placement | None = None) -> ModelFamily:
    """The model family a checkpoint argument names, loaded onto the placement device.py picks."""
    placement = placement or choose_placement()
    checkpoint = BUNDLED_CHECKPOINT if checkpoint is None else checkpoint
    name = None
    if is_hub_id(checkpoint):
        name, checkpoint = str(checkpoint), fetch_hub_folder(str(checkpoint))
    directory = Path(checkpoint)
    if not directory.exists():
        raise CheckpointError(f"{directory}: checkpoint not found (no such directory)")
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: a checkpoint must be a directory, found a file")
    if checkpoint_kind(directory) == "amused":
        from .amused import load_amused

        return load_amused(directory, placement, name=name)
    from .progressive import ProgressiveFamily, load_models

    return ProgressiveFamily(load_models(directory, placement), name=name)
