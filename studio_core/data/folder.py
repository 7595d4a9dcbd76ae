"""A user's own captioned images: a folder with `metadata.jsonl` next to the pictures.

Each line of metadata.jsonl is `{"file_name": "cat.png", "text": "a cat on a sofa"}` (the
Hugging Face imagefolder convention), so the same training scripts run on real data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class CaptionedImage:
    image: np.ndarray  # (S, S, 3) uint8
    caption: str


class CaptionedImageFolder:
    def __init__(self, root: str | Path, image_size: int = 64):
        self.root = Path(root)
        self.image_size = image_size
        metadata = self.root / "metadata.jsonl"
        if not metadata.is_file():
            raise FileNotFoundError(f"{metadata}: no metadata.jsonl (one JSON object per line "
                                    "with 'file_name' and 'text')")
        self.records: list[tuple[Path, str]] = []
        for n, line in enumerate(metadata.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self.records.append((self.root / record["file_name"], str(record["text"])))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{metadata}:{n}: expected {{'file_name', 'text'}}: {err}") from err
        if not self.records:
            raise ValueError(f"{metadata}: no records")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> CaptionedImage:
        path, caption = self.records[index]
        with Image.open(path) as im:
            return CaptionedImage(center_crop_resize(im.convert("RGB"), self.image_size), caption)


def center_crop_resize(image: Image.Image, size: int) -> np.ndarray:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    return np.asarray(image, dtype=np.uint8)
