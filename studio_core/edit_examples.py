"""A checkpoint's edit examples (studio.json "edit_examples"): a picture, a lock and a repaint that
show what the hooks do with this model, as the page offers them under *Try an edit*.

    {"description": "Lock the dog, repaint the sun's cell with a rainbow",
     "prompt": "a large dog in the top left and a small sun on the right on a blue background",
     "seed": 0, "lock": "top left",
     "repaint": {"box_tokens": [11, 5, 16, 11],
                 "prompt": "a large dog in the top left and a small rainbow on the right on a blue background"}}

`lock` is "everything" or a cell of the 3x3 grid; the repaint box (tokens: left, top, right,
bottom, the last two excluded) is never locked, so "lock everything, repaint the mouth" keeps the
rest of the face and redraws the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .checkpoints import CheckpointError
from .prompt_reader import POSITIONS
from .regions import cell_tokens

EVERYTHING = "everything"


@dataclass(frozen=True)
class EditExample:
    description: str
    prompt: str
    seed: int
    lock: str  # EVERYTHING or a cell of the 3x3 grid (POSITIONS)
    repaint_box: tuple[int, int, int, int]  # tokens: left, top, right, bottom (right, bottom excluded)
    repaint_prompt: str

    def repaint_mask(self, grid_size: int) -> np.ndarray:
        """(grid, grid) bool: the tokens the repaint draws again."""
        left, top, right, bottom = self.repaint_box
        mask = np.zeros((grid_size, grid_size), dtype=bool)
        mask[top:bottom, left:right] = True
        return mask

    def lock_mask(self, grid_size: int) -> np.ndarray:
        """(grid, grid) bool: the tokens locked before the repaint (never the repaint box)."""
        locked = (np.ones((grid_size, grid_size), dtype=bool) if self.lock == EVERYTHING
                  else cell_tokens(self.lock, POSITIONS, grid_size).reshape(grid_size, grid_size))
        return locked & ~self.repaint_mask(grid_size)


def read_edit_examples(entries: object, manifest: Path, grid_size: int) -> tuple[EditExample, ...]:
    """The manifest's "edit_examples", checked against the model's grid; a bad one names the file."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{manifest}: \"edit_examples\": {why}")

    if not isinstance(entries, list):
        raise bad(f"must be a list, got {entries!r}")
    examples = []
    for i, entry in enumerate(entries):
        try:
            repaint = entry["repaint"]
            example = EditExample(entry["description"], entry["prompt"], entry["seed"], entry["lock"],
                                  tuple(repaint["box_tokens"]), repaint["prompt"])
        except (KeyError, TypeError) as err:
            raise bad(f"entry {i} needs description, prompt, seed, lock and repaint (box_tokens, prompt): "
                      f"{err!r}") from err
        texts = (example.description, example.prompt, example.repaint_prompt)
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise bad(f"entry {i}: description, prompt and repaint prompt must be text")
        if isinstance(example.seed, bool) or not isinstance(example.seed, int) or example.seed < 0:
            raise bad(f"entry {i}: seed must be a whole number, got {example.seed!r}")
        if example.lock != EVERYTHING and example.lock not in POSITIONS:
            raise bad(f"entry {i}: lock must be {EVERYTHING!r} or one of {list(POSITIONS)}, got {example.lock!r}")
        box = example.repaint_box
        if len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box) or not (
                0 <= box[0] < box[2] <= grid_size and 0 <= box[1] < box[3] <= grid_size):
            raise bad(f"entry {i}: box_tokens must be [left, top, right, bottom] inside the {grid_size}x{grid_size} "
                      f"grid, got {list(example.repaint_box)}")
        examples.append(example)
    return tuple(examples)


def play(studio, state, example: EditExample) -> Iterator:
    """The example on a new session's blank state: every stage, then the lock, then the repaint's
    frames, as they are made (the page streams them into the session)."""
    for state in studio.resume(state):
        yield state
    state = studio.lock(state, example.lock_mask(studio.grid_size))
    yield state
    yield from studio.repaint(state, example.repaint_mask(studio.grid_size), example.repaint_prompt)
