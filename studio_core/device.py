"""Device and dtype are decided here, once, for the whole library.

Models are placed through `accelerate` (its `Accelerator`/`PartialState` knows about CUDA, MPS,
several GPUs and `accelerate launch`), so the CLI, the app and the training scripts agree.

The transformer's precision for inference: on a CPU with bf16 matrix units (Intel AMX, which the
machines this project is built on have) the transformer runs in bfloat16, about 1.8x faster per
network pass than float32 here (`python -m studio_core bench` times both side by side); elsewhere, and
for the tokenizer and text encoder always, float32. Training keeps float32 weights; it runs under
bf16 autocast only when asked (`train-transformer --mixed-precision bf16`: 1.33x a step on an AMX
CPU, `benchmarks/train_step.py`), since a run's precision belongs to its recipe, not to the machine.
`STUDIO_PRECISION=fp32|bf16|auto` overrides the inference choice.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
PRECISION_VARIABLE = "STUDIO_PRECISION"


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype  # of the transformer; the tokenizer and text encoder stay float32


@functools.cache
def cpu_has_bf16_matrix_units() -> bool:
    """Intel AMX (`amx_bf16`): bf16 matrix products at several times the fp32 rate. Without it
    (AVX-512 alone) oneDNN emulates bf16 and gains little, so we do not guess beyond this flag."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def resolve_precision(precision: str | None, device: torch.device) -> torch.dtype:
    """`precision` (None: $STUDIO_PRECISION, else "auto") -> the transformer's dtype on `device`."""
    name = (precision or os.environ.get(PRECISION_VARIABLE) or "auto").strip().lower()
    if name == "auto":
        name = "bf16" if device.type == "cpu" and cpu_has_bf16_matrix_units() else "fp32"
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of auto, {', '.join(PRECISIONS)} "
                         f"(argument or ${PRECISION_VARIABLE}), got {name!r}")
    return PRECISIONS[name]


def choose_placement(cpu: bool = False, precision: str | None = None) -> Placement:
    """Where inference runs: accelerate's choice of device, and the transformer's dtype for it."""
    from accelerate import PartialState

    state = PartialState(cpu=cpu)
    return Placement(device=state.device, dtype=resolve_precision(precision, state.device))


def dtype_for_architecture(architecture: str, progressive_dtype: torch.dtype) -> torch.dtype:
    """The raster AR baseline steps one token at a time: products that small gain nothing from bf16
    units and pay for the casts (timed side by side here: 1.16 s a picture in bf16, 0.74 s in float32),
    so it stays float32, its fastest, and the comparison is against the strongest baseline."""
    return torch.float32 if architecture == "raster-ar" else progressive_dtype


def precision_name(dtype: torch.dtype) -> str:
    return next(name for name, d in PRECISIONS.items() if d == dtype)
