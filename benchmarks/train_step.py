"""Seconds a training step of the progressive transformer takes, float32 against bf16 autocast
(`train-transformer --mixed-precision bf16`), timed in alternation in one run. Prints a table.

    python benchmarks/train_step.py [--width 192] [--depth 5] [--heads 6] [--batch-size 32] [--steps 8]

The step is the training loop's own (`make_batch`, `training_loss`, backward, clip, AdamW) on
random tokens and text states of the emoji model's shapes (16x16 grid, 1024 codes, 48 text
tokens of width 384), so only the arithmetic differs between the columns. On a CPU without bf16
matrix units (AMX) autocast has nothing to gain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core.device import cpu_has_bf16_matrix_units  # noqa: E402
from studio_core.train.cache import EncodedDataset  # noqa: E402
from studio_core.train.transformer import (TransformerTrainConfig, autocast_for, make_batch,  # noqa: E402
                                           model_config_for, model_for, training_loss)


def random_data(n: int, grid: int, codebook: int, text_tokens: int, text_dim: int) -> EncodedDataset:
    g = torch.Generator().manual_seed(0)
    return EncodedDataset(
        ids=torch.randint(codebook, (n, grid * grid), generator=g).short(),
        qerror=torch.rand(n, grid * grid, generator=g).half(),
        text=torch.randn(n, text_tokens, text_dim, generator=g).half(),
        text_mask=torch.ones(n, text_tokens, dtype=torch.bool),
        empty_text=torch.zeros(2, text_dim), empty_mask=torch.ones(2, dtype=torch.bool))


class Stepper:
    """One model and optimizer; `step(autocast)` runs one training step and returns its seconds."""

    def __init__(self, config: TransformerTrainConfig, data: EncodedDataset, codebook: int):
        self.config, self.data = config, data
        self.model_config = model_config_for(config, data, codebook, "benchmark")
        self.model = model_for(self.model_config).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.generator = torch.Generator().manual_seed(1)

    def step(self, autocast: bool) -> float:
        start = time.perf_counter()
        index = torch.randint(len(self.data), (self.config.batch_size,), generator=self.generator)
        batch = make_batch(self.data, index, self.config, self.model_config, self.generator)
        # the training loop's own autocast, so the column is what `--mixed-precision bf16` runs
        config = replace(self.config, mixed_precision="bf16" if autocast else "no")
        with autocast_for(config, torch.device("cpu")):
            loss, _ = training_loss(self.model, batch, config)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per column (after one warm-up each)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    config = TransformerTrainConfig(batch_size=args.batch_size, width=args.width, depth=args.depth,
                                    heads=args.heads, late_share=0.5, loss_mean="example")
    data = random_data(256, grid=16, codebook=1024, text_tokens=48, text_dim=384)
    stepper = Stepper(config, data, codebook=1024)
    times: dict[bool, list[float]] = {False: [], True: []}
    for autocast in (False, True):  # warm-up: first calls set up kernels
        stepper.step(autocast)
    for _ in range(args.steps):
        for autocast in (False, True):  # alternate, so both columns share the machine's noise
            times[autocast].append(stepper.step(autocast))

    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print(f"Training step, width {args.width}, depth {args.depth}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads, AMX {'yes' if cpu_has_bf16_matrix_units() else 'no'}, "
          f"median of {args.steps} steps each, alternating:\n")
    print("| float32 | bf16 autocast (float32 weights) | float32 / bf16 |")
    print("|---|---|---|")
    print(f"| {fp32:.3f} s | {bf16:.3f} s | {fp32 / bf16:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
