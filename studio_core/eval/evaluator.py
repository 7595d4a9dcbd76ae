"""A small CNN that reads a shapes picture back into its scene, trained on true renders only.

It plays two parts in the quality measures:
  * its penultimate vector (``feature_dim`` numbers) is the feature space of the Fréchet distance
    (``frechet.py``) and of the feature diversity (``diversity.py``), as Inception's pool layer is
    for FID; a feature space learnt to tell colour, shape, size, position and count apart measures
    exactly what these pictures are about, which ImageNet features would not;
  * its attribute read-out is checked on the held-out split, so a reader can see that the features
    carry the scene (a feature space blind to shape would give a Fréchet distance blind to shape).

Targets, one set per picture:
  * per grid cell (3x3, in ``POSITIONS`` order): colour (empty + 8), shape (empty + 4), size
    (empty + 2). Position is which cells are occupied, so it needs no head of its own.
  * object count (1-3) and background (4).
Attributes are predicted by separate heads, not as one joint (colour, shape, size) class per cell:
the held-out split is made of unseen *combinations*, and a joint class that training never shows
could never be predicted, whereas factored heads can compose a red triangle from "red" and
"triangle" seen apart. For the same reason every cell is read by one shared CNN from a crop
around its centre (see `SceneEvaluator`): a held-out combination is a colour, shape and size
that training showed together in other cells.

Training draws unlimited fresh renders of the train split (never a held-out combination), with a
light 1-px blur and pixel noise on some of them, so the read-out stays right on decoded pictures
(a VQ decoder softens edges); the pictures are still true renders of true scenes.

    python -m studio_core train-evaluator --out checkpoints/evaluator-v1 --steps 1200
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import CheckpointError, require_model_dir, write_json
from ..data.shapes import (
    BACKGROUND_COLOURS, IMAGE_SIZE, OBJECT_COLOURS, POSITIONS, SHAPES, SIZES, Example, Scene,
    ShapeObject, ShapesDataset, is_heldout,
)

# Class 0 of every per-cell head is "empty".
CELL_CLASSES: dict[str, tuple[str, ...]] = {
    "colour": ("empty", *OBJECT_COLOURS),
    "shape": ("empty", *SHAPES),
    "size": ("empty", *SIZES),
}
COUNTS = (1, 2, 3)
BACKGROUNDS = tuple(BACKGROUND_COLOURS)
NUM_CELLS = len(POSITIONS)

TRAIN_DATA_SEED = 31  # train-split renders the evaluator learns from
REPORT_SEED = 32  # held-out renders its accuracy is reported on (never seen in training)
CONFIG_FILE, WEIGHTS_FILE, REPORT_FILE = "config.json", "model.safetensors", "training_report.json"


@dataclass(frozen=True)
class EvaluatorConfig:
    image_size: int = IMAGE_SIZE
    crop_size: int = 24  # px around each cell centre: a cell (21.3 px) plus a pixel of margin
    channels: tuple[int, ...] = (16, 32, 64)  # a stride-1 stem, then one stride-2 stage each
    hidden: int = 64
    cell_dim: int = 16  # per cell; the picture feature is the 9 cells' features side by side
    norm_groups: int = 8

    @property
    def feature_dim(self) -> int:
        """Length of the picture feature (FD-eval's space): 9 x cell_dim = 144 by default, small
        enough that 500 pictures estimate its covariance."""
        return NUM_CELLS * self.cell_dim

    @property
    def final_map_size(self) -> int:
        size = self.crop_size
        for _ in self.channels[1:]:
            size = (size + 1) // 2  # a 3x3 stride-2 convolution with padding 1
        return size

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "EvaluatorConfig":
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            payload["channels"] = tuple(payload["channels"])
            return cls(**payload)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as err:
            raise CheckpointError(f"{path}: not a valid evaluator config: {err}") from err


def conv_block(c_in: int, c_out: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                         nn.GroupNorm(min(groups, c_out), c_out), nn.SiLU())


def cell_crops(pixels: torch.Tensor, crop_size: int) -> torch.Tensor:
    """(B, 3, S, S) -> (B * 9, 3, crop, crop): a square around each grid cell's centre, in
    POSITIONS order, edge-replicated where it reaches past the picture."""
    size = pixels.shape[-1]
    cell = size / 3
    starts = [round((k + 0.5) * cell - crop_size / 2) for k in range(3)]
    pad = max(0, -min(starts), max(starts) + crop_size - size)
    padded = F.pad(pixels, (pad, pad, pad, pad), mode="replicate") if pad else pixels
    crops = [padded[:, :, r + pad:r + pad + crop_size, c + pad:c + pad + crop_size]
             for r in starts for c in starts]
    return torch.stack(crops, dim=1).flatten(0, 1)


class SceneEvaluator(nn.Module):
    """Pictures (B, 3, S, S) in [-1, 1] -> picture features (B, 9 * cell_dim) -> attribute logits.

    Every cell is read by the same small CNN from a crop around its centre, and the per-cell
    heads are shared too: a red triangle looks the same to the evaluator wherever it is, so the
    held-out (colour, shape, size, position) combinations are read by weights trained on the
    same colour, shape and size elsewhere on the grid. (A first version read the whole picture
    into one 128-number vector; it reached only 71 % shape accuracy on training pictures and
    57 % on held-out ones.) Count and background are read from all nine cells together.
    """

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.config = config
        # The stem keeps full resolution: a small shape is 10 px wide, and a diamond's tips and a
        # circle's rim differ by a pixel or two.
        layers, c_in = [conv_block(3, config.channels[0], 1, config.norm_groups)], config.channels[0]
        for c_out in config.channels[1:]:
            layers += [conv_block(c_in, c_out, 2, config.norm_groups),
                       conv_block(c_out, c_out, 1, config.norm_groups)]
            c_in = c_out
        self.cell_reader = nn.Sequential(
            *layers, nn.Flatten(),  # flattened, not pooled: where edges are tells the shape
            nn.Linear(c_in * config.final_map_size ** 2, config.hidden), nn.SiLU(),
            # No activation after the last layer: the cell feature stays a full linear code
            # (no dead units in the 16 numbers the heads and FD-eval read).
            nn.Linear(config.hidden, config.cell_dim),
        )
        self.cell_heads = nn.ModuleDict({
            name: nn.Linear(config.cell_dim, len(classes)) for name, classes in CELL_CLASSES.items()
        })
        self.count_head = nn.Linear(config.feature_dim, len(COUNTS))
        self.background_head = nn.Linear(config.feature_dim, len(BACKGROUNDS))

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The picture feature (B, 9 * cell_dim): every head below is linear in it."""
        if pixels.shape[-2:] != (self.config.image_size, self.config.image_size):
            raise ValueError(f"the evaluator reads {self.config.image_size}x{self.config.image_size} "
                             f"pictures, got {tuple(pixels.shape[-2:])}")
        cells = self.cell_reader(cell_crops(pixels, self.config.crop_size))
        return cells.view(len(pixels), self.config.feature_dim)

    def heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits: per-cell heads (B, 9, classes); count and background (B, classes)."""
        cells = features.view(len(features), NUM_CELLS, self.config.cell_dim)
        out = {name: head(cells) for name, head in self.cell_heads.items()}
        out["count"] = self.count_head(features)
        out["background"] = self.background_head(features)
        return out

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.features(pixels))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- files -----------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_FILE)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "SceneEvaluator":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = require_model_dir(path, "scene evaluator", (CONFIG_FILE, WEIGHTS_FILE))
        model = cls(EvaluatorConfig.load(directory / CONFIG_FILE))
        try:
            model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        except (SafetensorError, RuntimeError, OSError) as err:
            raise CheckpointError(f"{directory / WEIGHTS_FILE}: damaged or not matching "
                                  f"{CONFIG_FILE}: {str(err)[:300]}") from err
        return model.eval()


# ---------------------------------------------------------------------------------------------
# Pictures and targets


def images_to_pixels(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 (B, S, S, 3) -> float (B, 3, S, S) in [-1, 1]. Anything but uint8 RGB is refused: a
    float picture in [0, 1] would be read silently as nearly black."""
    array = np.asarray(images if isinstance(images, np.ndarray) else np.stack(list(images)))
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected uint8 pictures shaped (B, H, W, 3), got {array.dtype} {array.shape}")
    if not array.flags.writeable:  # renders come from PIL read-only; torch wants to own a copy
        array = array.copy()
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def scene_targets(scene: Scene) -> dict[str, np.ndarray]:
    """Class indices of every head for one scene (0 = empty cell)."""
    cells = {name: np.zeros(NUM_CELLS, dtype=np.int64) for name in CELL_CLASSES}
    for obj in scene.objects:
        cell = POSITIONS.index(obj.position)
        for name, classes in CELL_CLASSES.items():
            cells[name][cell] = classes.index(getattr(obj, name))
    cells["count"] = np.array(COUNTS.index(len(scene.objects)), dtype=np.int64)
    cells["background"] = np.array(BACKGROUNDS.index(scene.background), dtype=np.int64)
    return cells


def batch_targets(scenes: Sequence[Scene]) -> dict[str, torch.Tensor]:
    per_scene = [scene_targets(s) for s in scenes]
    return {k: torch.from_numpy(np.stack([t[k] for t in per_scene])) for k in per_scene[0]}


def evaluator_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy (per cell for the cell heads)."""
    return sum(F.cross_entropy(logits[k].reshape(-1, logits[k].shape[-1]), targets[k].reshape(-1))
               for k in logits)


# ---------------------------------------------------------------------------------------------
# Reading pictures


@torch.no_grad()
def predict_labels(evaluator: SceneEvaluator, images: np.ndarray | Sequence[np.ndarray],
                   batch_size: int = 250) -> dict[str, np.ndarray]:
    """Most likely class index of every head: cell heads (N, 9), count and background (N,)."""
    evaluator.eval()
    pixels = images_to_pixels(images)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(pixels), batch_size):
        logits = evaluator(pixels[start:start + batch_size].to(evaluator.device))
        for k, v in logits.items():
            parts.setdefault(k, []).append(v.argmax(-1).cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def labels_to_scene(labels: dict[str, np.ndarray], i: int) -> Scene:
    """The scene of picture i; a cell is occupied where the colour head does not say empty."""
    objects = tuple(
        # Where the shape or size head says "empty" in a cell the colour head fills, the word
        # "empty" is kept: a judge then counts that attribute wrong instead of guessing one.
        ShapeObject(colour=CELL_CLASSES["colour"][labels["colour"][i, c]],
                    shape=CELL_CLASSES["shape"][labels["shape"][i, c]],
                    size=CELL_CLASSES["size"][labels["size"][i, c]],
                    position=POSITIONS[c])
        for c in range(NUM_CELLS) if labels["colour"][i, c] != 0
    )
    return Scene(objects, BACKGROUNDS[labels["background"][i]])


def read_scenes(evaluator: SceneEvaluator, images: np.ndarray | Sequence[np.ndarray]) -> list[Scene]:
    """What the evaluator sees in each picture, as scenes."""
    labels = predict_labels(evaluator, images)
    return [labels_to_scene(labels, i) for i in range(len(labels["count"]))]


def attribute_accuracy(evaluator: SceneEvaluator, examples: Sequence[Example]) -> dict[str, float]:
    """Accuracy of each read-out against the true scenes.

    occupancy: cells rightly said empty or occupied (all 9 cells of every picture);
    colour, shape, size: over the occupied cells only (empty cells would inflate them);
    count, background: per picture; scene: every head right on the whole picture;
    novel_objects: objects of a held-out combination with colour, shape and size all right (NaN
    when there are none: on the train split).
    """
    labels = predict_labels(evaluator, [e.image for e in examples])
    truth = {k: v.numpy() for k, v in batch_targets([e.scene for e in examples]).items()}
    occupied = truth["colour"] != 0
    right = {k: labels[k] == truth[k] for k in truth}
    object_right = right["colour"] & right["shape"] & right["size"]
    novel = np.array([[any(is_heldout(o) and o.position == p for o in e.scene.objects) for p in POSITIONS]
                      for e in examples])
    scene_right = (right["colour"].all(1) & right["shape"].all(1) & right["size"].all(1)
                   & right["count"] & right["background"])
    return {
        "occupancy": float(((labels["colour"] != 0) == occupied).mean()),
        "colour": float(right["colour"][occupied].mean()),
        "shape": float(right["shape"][occupied].mean()),
        "size": float(right["size"][occupied].mean()),
        "count": float(right["count"].mean()),
        "background": float(right["background"].mean()),
        "scene": float(scene_right.mean()),
        "novel_objects": float(object_right[novel].mean()) if novel.any() else float("nan"),
    }


# ---------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class EvaluatorTrainConfig:
    out: str = "checkpoints/evaluator-v1"
    steps: int = 1200
    batch_size: int = 32
    lr: float = 3e-3
    min_lr: float = 1e-4
    warmup: int = 50
    weight_decay: float = 1e-4
    blur_probability: float = 0.3  # of a 1-px box blur, as a VQ decoder softens edges
    max_noise: float = 6.0  # pixel noise sigma (0-255 scale) drawn uniformly up to this
    seed: int = 0
    report_images: int = 2000  # held-out pictures the accuracy is measured on
    log_every: int = 100
    model: EvaluatorConfig = EvaluatorConfig()


def learning_rate(config: EvaluatorTrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to min_lr."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min((step - config.warmup) / max(config.steps - config.warmup, 1), 1.0)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def degrade_pixels(pixels: torch.Tensor, config: EvaluatorTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """A 1-px box blur on some pictures and Gaussian noise of a random strength on all."""
    b = len(pixels)
    if config.blur_probability > 0:
        blurred = F.avg_pool2d(F.pad(pixels, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        chosen = torch.rand(b, 1, 1, 1, generator=generator) < config.blur_probability
        pixels = torch.where(chosen, blurred, pixels)
    if config.max_noise > 0:
        sigma = torch.rand(b, 1, 1, 1, generator=generator) * (config.max_noise / 127.5)
        pixels = pixels + sigma * torch.randn(pixels.shape, generator=generator)
    return pixels.clamp(-1, 1)


def training_batch(dataset: ShapesDataset, step: int, batch_size: int) -> list[Example]:
    """Fresh renders every step: the dataset is unlimited, so no picture is seen twice."""
    start = step * batch_size
    return [dataset[i] for i in range(start, start + batch_size)]


def train_steps(model: SceneEvaluator, config: EvaluatorTrainConfig, dataset: ShapesDataset,
                log=None) -> list[float]:
    """AdamW on fresh train-split renders for config.steps steps; the loss of every step."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    losses = []
    model.train()
    for step in range(config.steps):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        examples = training_batch(dataset, step, config.batch_size)
        pixels = degrade_pixels(images_to_pixels([e.image for e in examples]), config, generator)
        loss = evaluator_loss(model(pixels.to(model.device)),
                              {k: v.to(model.device) for k, v in batch_targets([e.scene for e in examples]).items()})
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if log and (step + 1) % config.log_every == 0:
            log(step + 1, float(np.mean(losses[-config.log_every:])))
    return losses


def train_evaluator(config: EvaluatorTrainConfig, verbose: bool = True) -> dict:
    """Train from scratch, save model + config + training_report.json in config.out, return the
    report (held-out accuracy per attribute, time, loss)."""
    started = time.time()
    torch.manual_seed(config.seed)  # the initial weights too, so a run can be repeated
    model = SceneEvaluator(config.model)

    def log(step: int, loss: float) -> None:
        if verbose:
            print(f"step {step}/{config.steps}  loss {loss:.4f}  {time.time() - started:.0f} s", flush=True)

    losses = train_steps(model, config, ShapesDataset(TRAIN_DATA_SEED, "train"), log)
    train_seconds = time.time() - started
    heldout = ShapesDataset(REPORT_SEED, "heldout").take(config.report_images)
    report = {
        "heldout_accuracy": attribute_accuracy(model, heldout),
        "heldout_images": config.report_images,
        "heldout_seed": REPORT_SEED,
        "train_seed": TRAIN_DATA_SEED,
        "train_seconds": round(train_seconds, 1),
        "final_loss": float(np.mean(losses[-min(50, len(losses)):])),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch_threads": torch.get_num_threads(),
        "config": asdict(config),
    }
    out = Path(config.out)
    model.save_pretrained(out)
    write_json(out / REPORT_FILE, report)
    return report


def format_accuracy(accuracy: dict[str, float]) -> str:
    return ", ".join(f"{k} {100 * v:.1f} %" for k, v in accuracy.items())
