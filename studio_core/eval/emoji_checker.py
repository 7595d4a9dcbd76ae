"""Reads an emoji picture back: which background, which cells are occupied, which emoji is where.

It never looks at the generator. Background and position are measured on the pixels (the border's
colour, the ink in each cell of the 3x3 grid); which emoji is drawn is read by a small CNN trained
on true renders of every emoji of the vocabulary, at every size and on every background, with a
light blur and pixel noise (a VQ decoder softens edges). Every emoji is read from a crop that
depends only on where it was asked to be: the whole picture for a bare name, the window around
its cell otherwise, so the classifier sees one of three scales (bare, large, small).

    python -m studio_core train-emoji-checker --out checkpoints/emoji-checker-v1
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import CheckpointError, require_model_dir, write_json
from ..data.emoji import (
    BACKGROUND_COLOURS, BARE, CELL, JITTER, POSITIONS, SIZES, EmojiDataset, EmojiObject,
    EmojiScene, vocabulary,
)

CONFIG_FILE, WEIGHTS_FILE, REPORT_FILE = "config.json", "model.safetensors", "training_report.json"
TRAIN_SEED = 41  # renders the checker learns from
REPORT_SEED = 42  # renders its accuracy is reported on
CROP = 24  # px around a cell centre: a cell (21.3 px) and a little margin
INPUT = 32  # every crop is resized to this before the CNN
INK_THRESHOLD = 30.0  # colour distance (0-441) from the background that counts as ink (grey
# emoji on the grey background reach 44 ink pixels at 30, 10 at 60)
MIN_INK_PIXELS = 30  # a cell with fewer ink pixels is empty: a neighbour spills up to 20 into it


# ---------------------------------------------------------------------------------------------
# Pixels: background and occupied cells


def read_background(image: np.ndarray) -> str:
    """The named background colour nearest to the median of the picture's outer ring."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
    median = np.median(ring, axis=0)
    names = list(BACKGROUND_COLOURS)
    distances = [np.linalg.norm(median - np.array(BACKGROUND_COLOURS[n], np.float32)) for n in names]
    return names[int(np.argmin(distances))]


def ink_mask(image: np.ndarray, background: str) -> np.ndarray:
    colour = np.array(BACKGROUND_COLOURS[background], np.float32)
    return np.linalg.norm(image.astype(np.float32) - colour, axis=-1) > INK_THRESHOLD


def cell_ink(image: np.ndarray, background: str) -> dict[str, int]:
    """Ink pixels in each of the 9 cells."""
    mask = ink_mask(image, background)
    bounds = [round(k * CELL) for k in range(4)]
    return {POSITIONS[r * 3 + c]: int(mask[bounds[r]:bounds[r + 1], bounds[c]:bounds[c + 1]].sum())
            for r in range(3) for c in range(3)}


def occupied_cells(image: np.ndarray, background: str | None = None) -> set[str]:
    ink = cell_ink(image, background or read_background(image))
    return {p for p, n in ink.items() if n >= MIN_INK_PIXELS}


# ---------------------------------------------------------------------------------------------
# Crops


def cell_window(image: np.ndarray, position: str) -> np.ndarray:
    """(CROP, CROP, 3) around a cell centre, edge-replicated past the picture's border."""
    row, col = divmod(POSITIONS.index(position), 3)
    top, left = round((row + 0.5) * CELL - CROP / 2), round((col + 0.5) * CELL - CROP / 2)
    pad = CROP
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return padded[top + pad:top + pad + CROP, left + pad:left + pad + CROP]


def crop_for(image: np.ndarray, obj: EmojiObject) -> np.ndarray:
    return image if obj.size == BARE else cell_window(image, obj.position)


def crops_to_tensor(crops: Sequence[np.ndarray]) -> torch.Tensor:
    """Crops of any size -> (B, 3, INPUT, INPUT) in [-1, 1] (area-averaged where they shrink)."""
    out = []
    for crop in crops:
        x = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float()[None].div(127.5).sub(1.0)
        mode = "area" if x.shape[-1] > INPUT else "bilinear"
        kwargs = {} if mode == "area" else {"align_corners": False}
        out.append(F.interpolate(x, size=(INPUT, INPUT), mode=mode, **kwargs))
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# The classifier


@dataclass(frozen=True)
class EmojiCheckerConfig:
    names: tuple[str, ...] = ()  # the classes, in the vocabulary's order
    channels: tuple[int, ...] = (32, 64, 128, 256)  # a stride-1 stem, then stride-2 stages
    norm_groups: int = 16

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "EmojiCheckerConfig":
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            return cls(names=tuple(payload["names"]), channels=tuple(payload["channels"]),
                       norm_groups=int(payload["norm_groups"]))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as err:
            raise CheckpointError(f"{path}: not a valid emoji checker config: {err}") from err


def conv_block(c_in: int, c_out: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                         nn.GroupNorm(min(groups, c_out), c_out), nn.SiLU())


class EmojiClassifier(nn.Module):
    """(B, 3, 32, 32) in [-1, 1] -> logits over the vocabulary."""

    def __init__(self, config: EmojiCheckerConfig):
        super().__init__()
        self.config = config
        c = config.channels
        layers = [conv_block(3, c[0], 1, config.norm_groups)]
        layers += [conv_block(a, b, 2, config.norm_groups) for a, b in zip(c[:-1], c[1:])]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c[-1], len(config.names))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(pixels).mean(dim=(2, 3)))

    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.config.save(path / CONFIG_FILE)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "EmojiClassifier":
        from safetensors.torch import load_file

        directory = require_model_dir(path, "emoji checker", (CONFIG_FILE, WEIGHTS_FILE))
        model = cls(EmojiCheckerConfig.load(directory / CONFIG_FILE))
        try:
            model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        except RuntimeError as err:
            raise CheckpointError(f"{directory}: weights do not fit its config: {err}") from err
        return model.eval()


@torch.no_grad()
def rank_of(model: EmojiClassifier, crops: Sequence[np.ndarray], names: Sequence[str],
            batch: int = 256) -> np.ndarray:
    """For each crop, the rank (0 = top-1) the classifier gives the wanted emoji's name."""
    index = {n: i for i, n in enumerate(model.config.names)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise CheckpointError(f"the emoji checker does not know {unknown[:3]}: it was trained on another "
                              "vocabulary; train it again (python -m studio_core train-emoji-checker)")
    ranks = []
    for start in range(0, len(crops), batch):
        logits = model(crops_to_tensor(crops[start:start + batch]))
        wanted = torch.tensor([index[n] for n in names[start:start + batch]])
        ranks.append((logits > logits.gather(1, wanted[:, None])).sum(dim=1))
    return torch.cat(ranks).numpy() if ranks else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Judging a picture against the scene it was asked for


@dataclass(frozen=True)
class EmojiJudgement:
    bare: bool
    background: bool
    # per wanted emoji: its cell has ink and no cell that was not asked for has any (a picture
    # smeared over the whole grid fills every cell; that is no emoji in the right place)
    positions: tuple[bool, ...]
    ranks: tuple[int, ...]  # per wanted emoji: the classifier's rank of its name in its crop


def judge_emoji(model: EmojiClassifier, image: np.ndarray, scene: EmojiScene) -> EmojiJudgement:
    return judge_many(model, [image], [scene])[0]


def judge_many(model: EmojiClassifier, images: Sequence[np.ndarray],
               scenes: Sequence[EmojiScene]) -> list[EmojiJudgement]:
    crops, names = [], []
    for image, scene in zip(images, scenes):
        for obj in scene.objects:
            crops.append(crop_for(image, obj))
            names.append(obj.name)
    ranks = iter(rank_of(model, crops, names).tolist())
    judgements = []
    for image, scene in zip(images, scenes):
        background = read_background(image)
        cells = occupied_cells(image, background)
        clean = cells <= {o.position for o in scene.objects}
        judgements.append(EmojiJudgement(
            bare=scene.is_bare, background=background == scene.background,
            positions=tuple(scene.is_bare or (clean and o.position in cells) for o in scene.objects),
            ranks=tuple(next(ranks) for _ in scene.objects)))
    return judgements


def summarise(judgements: Sequence[EmojiJudgement]) -> dict[str, float]:
    """Shares over wanted emoji (position, top-1, top-5) and over pictures (background)."""
    ranks = np.array([r for j in judgements for r in j.ranks])
    positions = np.array([p for j in judgements for p in j.positions])
    return {
        "top1": float((ranks < 1).mean()), "top5": float((ranks < 5).mean()),
        "position": float(positions.mean()),
        "background": float(np.mean([j.background for j in judgements])),
        "pictures": len(judgements), "emoji": int(len(ranks)),
    }


# ---------------------------------------------------------------------------------------------
# Training on true renders


@dataclass(frozen=True)
class EmojiCheckerTrainConfig:
    out: str = "checkpoints/emoji-checker-v1"
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    min_lr: float = 5e-5
    warmup: int = 50
    weight_decay: float = 1e-4
    blur_probability: float = 0.4
    max_noise: float = 8.0
    seed: int = 0
    report_pictures: int = 600
    log_every: int = 100
    model: EmojiCheckerConfig = field(default_factory=EmojiCheckerConfig)


def learning_rate(config: EmojiCheckerTrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min((step - config.warmup) / max(config.steps - config.warmup, 1), 1.0)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def random_render(dataset: EmojiDataset, rng: np.random.Generator) -> tuple[np.ndarray, EmojiObject]:
    """One emoji at a random size (bare a third of the time), cell, background and offset, and
    sometimes a second emoji in another cell (it must not be read in place of the first)."""
    names = dataset.names
    size = str(rng.choice([BARE, "large", "small"]))
    if size == BARE:
        obj = EmojiObject(str(rng.choice(names)), BARE, "center")
        return dataset.render(EmojiScene((obj,), "white")), obj
    cells = rng.choice(len(POSITIONS), size=2, replace=False)
    obj = EmojiObject(str(rng.choice(names)), size, POSITIONS[int(cells[0])])
    objects = [obj]
    if rng.random() < 0.5:
        objects.append(EmojiObject(str(rng.choice(names)), str(rng.choice(list(SIZES))), POSITIONS[int(cells[1])]))
    offsets = [tuple(int(v) for v in rng.integers(-JITTER, JITTER + 1, 2)) for _ in objects]
    scene = EmojiScene(tuple(objects), str(rng.choice(list(BACKGROUND_COLOURS))))
    return dataset.render(scene, offsets), obj


def degrade(pixels: torch.Tensor, config: EmojiCheckerTrainConfig, generator: torch.Generator) -> torch.Tensor:
    b = len(pixels)
    blurred = F.avg_pool2d(F.pad(pixels, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    chosen = torch.rand(b, 1, 1, 1, generator=generator) < config.blur_probability
    pixels = torch.where(chosen, 0.5 * (blurred + pixels), pixels)
    sigma = torch.rand(b, 1, 1, 1, generator=generator) * (config.max_noise / 127.5)
    return (pixels + sigma * torch.randn(pixels.shape, generator=generator)).clamp(-1, 1)


def training_batch(dataset: EmojiDataset, step: int, config: EmojiCheckerTrainConfig):
    rng = np.random.default_rng([TRAIN_SEED, config.seed, step])
    crops, labels = [], []
    index = {n: i for i, n in enumerate(dataset.names)}
    for _ in range(config.batch_size):
        image, obj = random_render(dataset, rng)
        crops.append(crop_for(image, obj))
        labels.append(index[obj.name])
    return crops_to_tensor(crops), torch.tensor(labels)


def report_on_true_renders(model: EmojiClassifier, dataset_seed: int, pictures: int,
                           entries=None) -> dict:
    """The checker on true renders it never trained on: bare names, and held-out placed scenes."""
    report = {}
    for label, num_objects in (("bare", 0), ("one", 1), ("two", 2)):
        split = "train" if num_objects == 0 else "heldout"
        dataset = EmojiDataset(seed=dataset_seed, split=split, num_objects=num_objects,
                               entries=tuple(entries or vocabulary()))
        examples = dataset.take(pictures)
        report[label] = summarise(judge_many(model, [e.image for e in examples], [e.scene for e in examples]))
    return report


def train_emoji_checker(config: EmojiCheckerTrainConfig, verbose: bool = True,
                        dataset: EmojiDataset | None = None) -> dict:
    """Train from scratch on true renders (of `dataset`'s vocabulary: the whole one by default),
    save the model and training_report.json in config.out, return the report."""
    started = time.time()
    torch.manual_seed(config.seed)
    dataset = dataset or EmojiDataset(seed=TRAIN_SEED)
    model_config = config.model if config.model.names else EmojiCheckerConfig(
        names=tuple(dataset.names), channels=config.model.channels, norm_groups=config.model.norm_groups)
    model = EmojiClassifier(model_config)
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    losses = []
    model.train()
    for step in range(config.steps):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        pixels, labels = training_batch(dataset, step, config)
        loss = F.cross_entropy(model(degrade(pixels, config, generator)), labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if verbose and (step + 1) % config.log_every == 0:
            print(f"step {step + 1}/{config.steps}  loss {np.mean(losses[-config.log_every:]):.4f}  "
                  f"{time.time() - started:.0f} s", flush=True)
    model.eval()
    train_seconds = time.time() - started
    report = {
        "true_renders": report_on_true_renders(model, REPORT_SEED, config.report_pictures, dataset.entries),
        "report_seed": REPORT_SEED, "train_seed": TRAIN_SEED,
        "train_seconds": round(train_seconds, 1),
        "final_loss": float(np.mean(losses[-min(100, len(losses)):])),
        "loss_by_step": {str(s): round(float(np.mean(losses[max(0, s - 100):s])), 4)
                         for s in range(100, config.steps + 1, 100)},
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch_threads": torch.get_num_threads(),
        "config": {k: v for k, v in asdict(config).items() if k != "model"},
    }
    out = Path(config.out)
    model.save_pretrained(out)
    write_json(out / REPORT_FILE, report)
    return report


def format_report(report: dict) -> str:
    return "; ".join(f"{k}: " + ", ".join(f"{m} {100 * v:.1f} %" for m, v in r.items()
                                           if m in ("top1", "top5", "position", "background"))
                     for k, r in report.items())
