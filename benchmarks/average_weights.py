"""The mean of two transformers' weights (a "model soup", Wortsman et al. 2022): two runs that
share their starting point lie in one basin, and their average often keeps what each learned.

    python benchmarks/average_weights.py checkpoints/emoji-v1/transformer runs/emoji-v9-out/transformer runs/emoji-v9soup/transformer
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"


def average_weights(first: Path, second: Path, out: Path) -> None:
    a, b = load_file(str(first / WEIGHTS)), load_file(str(second / WEIGHTS))
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise SystemExit(f"{first} and {second} are not the same architecture: nothing to average")
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: ((a[k].float() + b[k].float()) / 2).to(a[k].dtype) if a[k].is_floating_point() else b[k]
               for k in a}, str(out / WEIGHTS))
    shutil.copy(second / "config.json", out / "config.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("first", "second", "out"):
        parser.add_argument(name, type=Path)
    args = parser.parse_args()
    average_weights(args.first, args.second, args.out)
    print(f"wrote the mean of {args.first} and {args.second} to {args.out}")
