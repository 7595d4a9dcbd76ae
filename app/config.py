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
    # In a person's own words: shapes-v1 reads them into its grammar (the status line says how).
    "make a tiny purple box up in the right-hand corner, please",
    "tiny teal rhombus lower-left & a huge orange ball upper right, grey bg",
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
    # a change in 16 ms and a person follows about ten a second, but each page costs the server
    # 10-15 ms (its row, its PNG, Gradio's handling, serving the file) and a gradio_client 23-35 ms
    # to download it: at 100 ms a bundled model's 0.3 s picture streamed 4 pages and finished
    # 0.1x later (app / in-process) than at 150 ms with 3 (benchmarks/app_latency.py, README).
    # Every stage stays on the timeline.
    stream_interval_ms: int = 150
    picture_size: int = 512  # pixels on screen for the model's picture, scaled by whole numbers
    view_size: int = 128  # pixels of each token view
    gif_size: int = 256  # pixels of the exported GIF
    thumbnail_size: int = 96
    history_limit: int = 48  # sessions shown in the history gallery
    # Limits on what one client can send or ask for (the store's own are StoreLimits). Each is
    # listed in the README's "Limits" table.
    # A session file: the store keeps at most 1000 frames a session, about 6.5 MB as JSON.
    max_import_bytes: int = 16 * 2**20
    # Any upload (Gradio's /upload: session files, brush layers); larger ones get HTTP 413.
    max_upload_bytes: int = 16 * 2**20
    # A brush layer (or background) by its declared size, checked before it is decoded: the
    # page's canvas is picture_size squared; 4 Mpx leaves room for any client's own canvas.
    max_selection_pixels: int = 2048 * 2048
    # Requests waiting in Gradio's queue over all events; more get "queue full" at once instead of
    # piling up memory and waiting forever.
    max_queue_size: int = 64
    # Frames of a generation-order GIF (a 16-stage picture has 16; edits and branches add a few).
    max_gif_frames: int = 300
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
        for name in ("max_import_bytes", "max_upload_bytes", "max_selection_pixels", "max_queue_size",
                     "max_gif_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
