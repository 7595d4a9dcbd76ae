"""Device and dtype are decided here, once, for the whole library.

Models are placed through `accelerate` (its `Accelerator`/`PartialState` knows about CUDA, MPS,
several GPUs and `accelerate launch`), so the CLI, the app and the training scripts agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype


def choose_placement(cpu: bool = False) -> Placement:
    """Where inference runs: accelerate's choice of device, float32 (these models are tiny; fp16
    on a CPU is slower, and bf16 costs accuracy for no gain at this size)."""
    from accelerate import PartialState

    state = PartialState(cpu=cpu)
    return Placement(device=state.device, dtype=torch.float32)
