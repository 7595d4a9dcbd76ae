"""The web app's settings: one frozen record, made by app.py (or a test) and handed to build_app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Prompts in the bundled model's language (the shapes dataset's grammar): one object, two objects,
# a background, and a paraphrase, so a first visitor sees what the model can and cannot do.
EXAMPLE_PROMPTS = (
    "a large red circle in the top left and a small blue square at the bottom right",
    "a large yellow triangle in the center on a navy background",
    "a small green diamond on the right",
    "in the top right corner, a large purple square with a gray background",
    "a large white circle at the bottom and a small orange triangle at the top",
)


@dataclass(frozen=True)
class AppConfig:
    exports_dir: Path
    # Exported files kept; older ones are deleted when a new one is written, so the folder cannot
    # fill a disk however long the app runs.
    max_exports: int = 100
    # How many generations (any event that runs the transformer) run at once. One: a single
    # generation already keeps every core busy (torch's intra-op threads), so two at once each
    # take twice as long and the one in front of the queue waits for nothing; queueing keeps the
    # total throughput and gives each person the fastest first stage the machine can.
    model_concurrency: int = 1
    # Everything else (viewing frames, exports, history) is light and must not wait behind a
    # generation; it still has a bound so a burst of requests cannot start hundreds of threads.
    light_concurrency: int = 8
    # While a picture streams, the page is shown at most this often (the first stage at once, the
    # last always); stages in between are saved but not drawn, sent and downloaded. A screen shows
    # a change in 16 ms, a person follows about ten a second; each shown stage costs a decode, a
    # PNG and a download, which at the bundled model's speed would cost more than the stage.
    stream_interval_ms: int = 100
    picture_size: int = 512  # pixels on screen for the model's picture, scaled by whole numbers
    view_size: int = 128  # pixels of each token view
    gif_size: int = 256  # pixels of the exported GIF
    thumbnail_size: int = 96
    history_limit: int = 48  # sessions shown in the history gallery
    max_import_bytes: int = 32 * 2**20
    examples: tuple[str, ...] = EXAMPLE_PROMPTS
    title: str = "Progressive Studio"
    # The model a page opens on when the app serves several (None: the first one given).
    default_model: str | None = None

    def __post_init__(self):
        if self.max_exports < 1:
            raise ValueError(f"max_exports must be at least 1, got {self.max_exports}")
        if self.stream_interval_ms < 0:
            raise ValueError(f"stream_interval_ms must be 0 or more, got {self.stream_interval_ms}")
        if self.model_concurrency < 1 or self.light_concurrency < 1:
            raise ValueError("concurrency limits must be at least 1")
