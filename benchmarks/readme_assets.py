"""Make the pictures the README shows, with the bundled models: a grid of held-out prompts (true
render beside the generated picture), generation-order GIFs, prompts in a person's own words (with
how shapes-v1 read them) and the emoji model's pictures.

    python benchmarks/readme_assets.py                      # writes every asset
    python benchmarks/readme_assets.py --parts words emoji  # only those
"""

from __future__ import annotations

import argparse
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


def captioned(image: np.ndarray, text: str, scale: int = 3, width: int = 200, max_lines: int = 3) -> Image.Image:
    tile = Image.new("RGB", (width, image.shape[0] * scale + 4 + 10 * max_lines), (255, 255, 255))
    tile.paste(Image.fromarray(image).resize((image.shape[0] * scale,) * 2, Image.NEAREST), (0, 0))
    draw = ImageDraw.Draw(tile)
    words, line, lines = text.split(), "", []
    for word in words:
        if len(line) + len(word) > 30 + (width - 200) // 6:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line)
    for i, text_line in enumerate(lines[:max_lines]):
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


# Written apart from the training grammars, as people type them.
PEOPLE_WORDS = (
    "make a tiny purple box up in the right-hand corner, please",
    "top-right: crimson ball",
    "Can you draw two blue discs on black?",
    "tiny teal rhombus lower-left & a huge orange ball upper right, grey bg",
)
EMOJI_PROMPTS = ("cat face", "pizza", "red heart", "rainbow", "a large rocket in the center on a black background",
                 "draw a small penguin in the top right corner on blue",
                 "a large dog in the top left and a small sun on the right on a blue background",
                 "two cats on pink")
EMOJI_GIF = ("order_emoji.gif", "grinning face")
# A placed scene: its emoji drafted at full size first (drafts.py), their tokens coming in the
# model's order among the background's.
EMOJI_PLACED_GIF = ("order_emoji_placed.gif", "a large fox in the top left and a large rainbow at the bottom right "
                                              "on a green background")


def row(tiles: list[Image.Image]) -> Image.Image:
    w, h = tiles[0].size
    strip = Image.new("RGB", (w * len(tiles), h), (255, 255, 255))
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * w, 0))
    return strip


def words_row(studio: Studio, prompts=PEOPLE_WORDS) -> Image.Image:
    """Each prompt as typed, what the model was asked for (its reading), and the picture (seed 0)."""
    tiles = []
    for prompt in prompts:
        read = studio.read_prompt(prompt)
        image = studio.decode(studio.generate_image(prompt, 0).current)
        said = f'"{prompt}" read as: {read}' if read != prompt else prompt
        tiles.append(captioned(image, said, width=240, max_lines=6))
    return row(tiles)


def emoji_row(studio: Studio, prompts=EMOJI_PROMPTS) -> Image.Image:
    return row([captioned(studio.decode(studio.generate_image(p, 0).current), p) for p in prompts])


def gif(studio: Studio, name: str, prompt: str) -> None:
    state = studio.generate_image(prompt, 0)
    generation_order_gif(state, lambda f: studio.picture(f, scale=4, marks=True), ASSETS / name)
    studio.picture(state.current, scale=4).save(ASSETS / name.replace(".gif", ".png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("heldout", "gifs", "words", "emoji"),
                        default=["heldout", "gifs", "words", "emoji"])
    parser.add_argument("--emoji-checkpoint", default="checkpoints/emoji-v1")
    args = parser.parse_args()
    ASSETS.mkdir(exist_ok=True)
    studio = Studio.load()
    if "heldout" in args.parts:
        heldout_grid(studio).save(ASSETS / "heldout_samples.png")
    if "gifs" in args.parts:
        for name, prompt in GIF_PROMPTS.items():
            gif(studio, name, prompt)
    if "words" in args.parts:
        words_row(studio).save(ASSETS / "people_words.png")
    if "emoji" in args.parts:
        emoji = Studio.load(args.emoji_checkpoint)
        emoji_row(emoji).save(ASSETS / "emoji_samples.png")
        gif(emoji, *EMOJI_GIF)
        gif(emoji, *EMOJI_PLACED_GIF)
    print("wrote", sorted(p.name for p in ASSETS.iterdir()))


if __name__ == "__main__":
    main()
