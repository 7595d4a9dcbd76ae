"""Make the pictures the README shows, with the bundled model: a grid of held-out prompts (true
render beside the generated picture) and generation-order GIFs.

    python benchmarks/readme_assets.py            # writes assets/*.png and assets/*.gif
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio_core.data.shapes import ShapesDataset  # noqa: E402
from studio_core.eval.prompt_following import EVAL_SEED  # noqa: E402
from studio_core.export import generation_order_gif  # noqa: E402
from studio_core.studio import Studio  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "assets"
GIF_PROMPTS = {
    "order_red_circle.gif": "a large red circle in the top left and a small blue square at the bottom right",
    "order_yellow_triangle.gif": "a large yellow triangle in the center on a navy background",
}


def captioned(image: np.ndarray, text: str, scale: int = 3, width: int = 200) -> Image.Image:
    tile = Image.new("RGB", (width, image.shape[0] * scale + 34), (255, 255, 255))
    tile.paste(Image.fromarray(image).resize((image.shape[0] * scale,) * 2, Image.NEAREST), (0, 0))
    draw = ImageDraw.Draw(tile)
    words, line, lines = text.split(), "", []
    for word in words:
        if len(line) + len(word) > 30:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line)
    for i, text_line in enumerate(lines[:3]):
        draw.text((2, image.shape[0] * scale + 2 + 10 * i), text_line.strip(), fill=(0, 0, 0))
    return tile


def heldout_grid(studio: Studio, count: int = 8) -> Image.Image:
    """Row 1: true renders of held-out prompts; row 2: what the model made from the prompt."""
    examples = ShapesDataset(seed=EVAL_SEED, split="heldout").take(count)
    truth = [captioned(e.image, e.caption) for e in examples]
    made = [captioned(studio.decode(studio.generate_image(e.caption, i).current), f"generated, seed {i}")
            for i, e in enumerate(examples)]
    w, h = truth[0].size
    grid = Image.new("RGB", (w * count, 2 * h), (255, 255, 255))
    for i, (a, b) in enumerate(zip(truth, made)):
        grid.paste(a, (i * w, 0))
        grid.paste(b, (i * w, h))
    return grid


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    studio = Studio.load()
    heldout_grid(studio).save(ASSETS / "heldout_samples.png")
    for name, prompt in GIF_PROMPTS.items():
        state = studio.generate_image(prompt, 0)
        generation_order_gif(state, lambda f: studio.picture(f, scale=4, marks=True), ASSETS / name)
        studio.picture(state.current, scale=4).save(ASSETS / name.replace(".gif", ".png"))
    print("wrote", sorted(p.name for p in ASSETS.iterdir()))


if __name__ == "__main__":
    main()
