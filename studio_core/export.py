"""Exports: the generation-order GIF and a PNG that carries its prompt, seed and settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from .state import GenerationState, TokenFrame

PROGRESS_HEIGHT = 6


def with_progress_bar(picture: Image.Image, done: int, total: int) -> np.ndarray:
    """A strip under the picture showing frame k of n. It also keeps consecutive GIF frames
    distinct: Pillow merges identical neighbours, which would drop stages from the GIF."""
    w, h = picture.size
    canvas = Image.new("RGB", (w, h + PROGRESS_HEIGHT), (30, 30, 30))
    canvas.paste(picture, (0, 0))
    ImageDraw.Draw(canvas).rectangle([0, h + 1, max(int(w * done / total) - 1, 0), h + PROGRESS_HEIGHT - 2],
                                     fill=(120, 220, 120))
    return np.asarray(canvas)


def generation_order_gif(state: GenerationState, picture: Callable[[TokenFrame], Image.Image],
                         path: str | Path, frame_ms: int = 250, hold_ms: int = 2000) -> int:
    """One GIF frame per frame after the blank start (for a plain generation: one per stage), with
    the tokens each placed and revised outlined; the last frame is held. Returns the frame count."""
    import imageio.v3 as iio

    frames = state.frames[1:]
    if not frames:
        raise ValueError("nothing to export yet: generate at least one stage first")
    images = [with_progress_bar(picture(f), i + 1, len(frames)) for i, f in enumerate(frames)]
    durations = [frame_ms] * (len(images) - 1) + [hold_ms]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.stack(images), extension=".gif", duration=durations, loop=0,
                comment=gif_comment(state).encode("utf-8"))
    return len(images)


def gif_comment(state: GenerationState) -> str:
    """The GIF's comment block: which model made it, from which prompt and seed."""
    frame = state.current
    return f"Progressive Studio; model: {state.model or 'unknown'}; prompt: {frame.prompt}; seed: {frame.seed}"


def png_metadata(state: GenerationState) -> dict[str, str]:
    frame = state.current
    return {"prompt": frame.prompt, "seed": str(frame.seed), "model": state.model or "unknown",
            "settings": json.dumps(state.settings.to_dict(), sort_keys=True),
            "software": "Progressive Studio"}


def save_png(image: Image.Image, state: GenerationState, path: str | Path) -> None:
    info = PngInfo()
    for key, value in png_metadata(state).items():
        info.add_text(key, value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=info)
