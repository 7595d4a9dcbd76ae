"""What the page shows for a tab: the picture, the status line, the token views and the frame's
data (streamed at every stage), and the controls that follow the latest frame (timeline, branch
list, brush canvas). Presentation only: pictures come from the Studio (decode) and
studio_core.render.

Both are typed records (`PageView`, `Controls`) whose field names are the names of the page's
components: ui.py builds each event's output list from the same names, so nothing depends on a
position in a tuple.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Mapping

import gradio as gr
import numpy as np
from PIL import Image

from studio_core import Studio, TokenFrame, png_metadata, render_frame, token_views
from studio_core.store import BranchInfo, SessionSummary

from .config import AppConfig
from .selection import count_line
from .workspace import TabState, Workspace


def _values(record) -> tuple:
    """A record's values in field order: the order of the outputs ui.py wires for it."""
    return tuple(getattr(record, f.name) for f in fields(record))


@dataclass(frozen=True)
class PageView:
    """The outputs of every event that changes what is on screen (streamed at every stage)."""
    tab: TabState
    picture: object  # a PIL image, None (nothing yet), or gr.skip()
    status: str
    view_placed: object
    view_confidence: object
    view_revised: object
    view_locked: object
    seed: object  # the seed of the picture on screen, shown in the Seed box; gr.skip() when none
    frame_data: dict | None  # last, for every endpoint: API clients take it as the last output

    def values(self) -> tuple:
        return _values(self)


@dataclass(frozen=True)
class Controls:
    """The controls that follow the latest frame, refreshed once after an action ends (chained
    event): Gradio rebuilds a component for each slider or dropdown update (measured: about as
    costly as sending the picture), and streaming into the canvas (gr.ImageEditor) at every stage
    leaves it showing a stale frame (it loads images asynchronously and an older load can finish
    last), so the stages stream into a plain gr.Image and these follow at the end."""
    timeline: object
    branches: object
    selection: object
    selection_count: str
    branch_seed: object

    def values(self) -> tuple:
        return _values(self)


PAGE_OUTPUTS = tuple(f.name for f in fields(PageView))
CONTROL_OUTPUTS = tuple(f.name for f in fields(Controls))

WELCOME = "Type a prompt and press **Generate**: the picture appears stage by stage, coarse to fine."
EVENT_NAMES = {"start": "blank start", "stage": "generated", "lock": "locked", "unlock": "unlocked",
               "repaint": "repainted", "revise": "revised"}


def status_line(work: Workspace, note: str | None = None, read_as: str | None = None) -> str:
    frame, frames, stages = work.frame, len(work.state.frames), len(work.state.plan)
    head = f"**Stage {frame.stage} / {stages}**" + (" · finished" if frame.done else "")
    if frame.event not in ("stage", "start"):
        head += f" · {EVENT_NAMES.get(frame.event, frame.event)}"
    parts = [head, f"frame {work.frame_index} of {frames - 1}", f"seed {frame.seed}",
             f"branch {work.branch_number}", f"session `{work.session_id[:8]}`"]
    if read_as is not None:  # what the model was asked for, where it read the words another way
        parts.insert(1, f"read as *{read_as}*")
    if note:
        parts.insert(1, note)
    if work.viewing is not None:
        parts.append("viewing an earlier frame (edits apply to the latest; **Branch** continues from here)")
    return " · ".join(parts)


def examples_for(studio: Studio, config) -> tuple[str, ...]:
    """The example prompts the page offers with a model: its own (studio.json "examples"), else
    the app's (AppConfig.examples, in the shapes model's words)."""
    return studio.examples or tuple(config.examples)


def prompt_placeholder(studio: Studio, config) -> str:
    """What the empty prompt box shows: the model's first example prompt."""
    return next(iter(examples_for(studio, config)), "")


def example_prompt(sample: list) -> str:
    """The prompt of an example the page's list was clicked on (a Dataset sample: [prompt])."""
    return sample[0]


def reading_of(studio: Studio, prompt: str) -> str | None:
    """The model's reading of a prompt where it differs from the words typed (prompt_reader.py),
    and whether it draws the things region by region (regions.py) and from drafts (drafts.py)."""
    read = studio.read_prompt(prompt)
    several = bool(studio.prompt_regions(prompt))
    ways = ["each drawn in its own cell from its own words"] if several else []
    if studio.drafts_things(prompt):
        ways.append(("each " if several else "") + "drafted at full size, then shrunk into its cell")
    if ways:
        return ", ".join([read, *ways])
    return None if " ".join(read.lower().split()) == " ".join(prompt.lower().split()) else read


def frame_data(work: Workspace, read_as: str | None = None, names_nothing: bool = False) -> dict:
    """The frame on screen as data, for API clients: the token grid and its masks, and where it is,
    and how the model read the frame's prompt ("read_as", None where as typed; "names_nothing",
    true where the model's reader found nothing it draws)."""
    return {"session_id": work.session_id, "branch_id": work.branch_id, "frame_index": work.frame_index,
            "frames": len(work.state.frames), "stages": len(work.state.plan),
            "branches": [{"id": b.id, "number": b.number, "parent_id": b.parent_id, "fork_index": b.fork_index}
                         for b in work.branches],
            "settings": work.state.settings.to_dict(), "read_as": read_as, "names_nothing": names_nothing,
            **work.frame.to_dict()}


def branch_label(branch: BranchInfo, branches: tuple[BranchInfo, ...]) -> str:
    if branch.parent_id is None:
        return f"Branch {branch.number} (first)"
    parent = next((b.number for b in branches if b.id == branch.parent_id), "?")
    return f"Branch {branch.number} · from frame {branch.fork_index} of branch {parent}"


def history_caption(summary: SessionSummary) -> str:
    """What the history says under a picture: sessions of the same prompt differ by when they
    were last changed (the server's clock), how far they got and how many branches they have."""
    when = datetime.fromtimestamp(summary.updated).strftime("%Y-%m-%d %H:%M:%S")
    frame = summary.last_frame
    progress = "finished" if frame.done else f"stage {frame.stage}"
    branches = f" · {summary.branches} branches" if summary.branches > 1 else ""
    return f"{summary.prompt} · {when} · {progress}{branches}"


def session_rows(summaries: list[SessionSummary]) -> list[dict]:
    """The history as data (what the gallery shows, with ids for /open_session and /delete_session)."""
    return [{"id": s.id, "prompt": s.prompt, "updated": datetime.fromtimestamp(s.updated).isoformat(timespec="seconds"),
             "branches": s.branches, "stage": s.last_frame.stage, "finished": s.last_frame.done,
             "model": s.model}
            for s in summaries]


STRATEGY_HELP = {"qerror": "lowest predicted quantization error first",
                 "qerror-high": "highest predicted error first", "importance": "learned, re-scored every stage",
                 "confidence": "the model's confidence (MaskGIT; aMUSEd's own order)", "random": "random order",
                 "raster": "reading order"}


def strategy_help(strategies: tuple[str, ...]) -> str:
    """The strategies this model offers, each in a few words (a model without the paper's heads,
    such as aMUSEd, offers fewer)."""
    return "; ".join(f"{name}: {STRATEGY_HELP.get(name, name)}" for name in strategies)


def model_choices(studios: Mapping[str, Studio]) -> list[tuple[str, str]]:
    """The model picker's (label, value) pairs: each model's name, with its checkpoint's note
    ("in training", say) beside it, so nobody mistakes an unfinished model for a finished one."""
    return [(f"{name} ({studio.model_note})" if studio.model_note else name, name)
            for name, studio in studios.items()]


class PageRenderer:
    # Frames whose decoded picture is kept: an action's page and the canvas the chained refresh
    # draws right after it (and the timeline moving back and forth) decode the same frames; a
    # decode costs 13-14 ms on the bundled models. A few tabs' worth; 12 KB each at 64 px.
    decoded_kept = 16

    def __init__(self, studio: Studio, config: AppConfig):
        self.studio, self.config = studio, config
        self.image_size = studio.image_size
        self.picture_scale = self.scale_for(config.picture_size)
        grid = studio.grid_size
        self.view_size = grid * max(1, config.view_size // grid)  # whole pixels per cell
        self._decoded: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._decoded_lock = threading.Lock()  # one renderer serves every tab's threads

    def decoded(self, frame: TokenFrame) -> np.ndarray:
        """The frame's full decode (read-only), from the last few decoded when it is one of them.
        A picture depends only on the placed tokens, so they are the key (locks and marks are
        drawn over it later)."""
        key = np.where(frame.known, frame.ids, -1).tobytes()
        with self._decoded_lock:
            if key in self._decoded:
                self._decoded.move_to_end(key)
                return self._decoded[key]
        image = self.studio.decode(frame)  # outside the lock: two tabs decode at once
        image.setflags(write=False)  # shared between pages: nothing may draw into it
        with self._decoded_lock:
            self._decoded[key] = image
            while len(self._decoded) > self.decoded_kept:
                self._decoded.popitem(last=False)
        return image

    def scale_for(self, size: int) -> int:
        """Whole-number scale that brings the model's picture closest to `size` pixels: nearest-
        neighbour scaling by a whole number keeps every token's pixels square and sharp."""
        return max(1, round(size / self.image_size))

    def empty(self, tab: TabState, status: str = WELCOME) -> PageView:
        return PageView(tab=tab, picture=None, status=status, view_placed=None, view_confidence=None,
                        view_revised=None, view_locked=None, frame_data=None, seed=gr.skip())

    def page(self, tab: TabState, note: str | None = None, streaming: bool = False) -> PageView:
        """The page for the frame on screen. `streaming`: a stage on its way, sent cheaply: the
        picture at the model's own size (the browser scales it up, pixelated, so it looks the
        same), painted in its codes' mean colours instead of decoded (a table lookup; a full
        decode of the bundled 64 px models costs 13-14 ms, most of a stage, and aMUSEd's more than
        a stage), no token views (they follow with the finished picture, when the tab shows them).
        Any page not streaming (the finished picture, a stopped run, a frame picked on the
        timeline) is the full decode."""
        work = tab.work
        if work is None:
            return self.empty(tab)
        frame = work.frame
        image = self.studio.preview_image(frame) if streaming else self.decoded(frame)
        overlays = tab.show_marks or tab.show_grid  # lines need the full size to stay one pixel thin
        scale = 1 if streaming and not overlays else self.picture_scale
        picture = render_frame(image, frame, scale=scale, marks=tab.show_marks, grid=tab.show_grid)
        # The picture's own download button saves this image: give it Export PNG's metadata.
        picture.info.update(png_metadata(work.state.rewind(work.frame_index)))
        if not tab.show_views:
            # Nobody looks at them: nothing drawn, sent or downloaded. None, not gr.skip(), even
            # while streaming: Gradio answers every skip by rebuilding the output's component
            # (about 1 ms of the server's Python each, measured, four per page), None costs nothing.
            views = dict.fromkeys(("placed", "confidence", "revised", "locked"))
        elif streaming:  # the views on screen stay until the finished page
            views = dict.fromkeys(("placed", "confidence", "revised", "locked"), gr.skip())
        else:
            views = token_views(image, frame, len(work.state.plan), self.view_size)
        read_as = reading_of(self.studio, frame.prompt)
        unknown = self.studio.unknown_words_note(frame.prompt)
        note = " · ".join(n for n in (note, unknown) if n) or None
        return PageView(
            tab=tab, picture=picture, status=status_line(work, note, read_as), view_placed=views["placed"],
            view_confidence=views["confidence"], view_revised=views["revised"], view_locked=views["locked"],
            frame_data=frame_data(work, read_as, unknown is not None), seed=frame.seed)

    def controls(self, tab: TabState | None) -> Controls:
        """The timeline (every frame of the branch, at the latest), the branch list and the brush
        canvas."""
        work = tab.work if tab else None
        if work is None:
            return Controls(timeline=gr.Slider(minimum=0, maximum=1, value=0, step=1, interactive=False,
                                               label="Timeline", visible=False),
                            branches=gr.Dropdown(choices=[], value=None), selection=None,
                            selection_count=count_line(None), branch_seed=gr.skip())
        last = len(work.state.frames) - 1
        timeline = gr.Slider(minimum=0, maximum=max(last, 1), value=last, step=1, interactive=last > 0,
                             label=f"Timeline: {last + 1} frames (0 = the blank start)", visible=True)
        branches = gr.Dropdown(choices=[(branch_label(b, work.branches), b.id) for b in work.branches],
                               value=work.branch_id)
        # The seed this branch used, shown where a person types the next one.
        branch_seed = gr.Textbox(label=f"Branch seed (this branch: {work.state.current.seed})")
        return Controls(timeline=timeline, branches=branches, selection=self.selection_canvas(work),
                        selection_count=count_line(None), branch_seed=branch_seed)

    def selection_canvas(self, work: Workspace) -> dict:
        """The brush canvas: the latest frame (edits apply to it) with the token grid drawn and the
        locked cells outlined, a fresh empty brush layer on top."""
        frame = work.state.current
        none = np.zeros_like(frame.known)
        canvas = render_frame(self.decoded(frame), replace(frame, new=none, revised=none),
                              scale=self.picture_scale, marks=True, grid=True)
        return {"background": canvas, "layers": [], "composite": canvas}


class ThumbnailCache:
    """Gallery thumbnails, decoded once per session version (id, last change), least recently used
    dropped first. Owned by the app instance; shared by its threads."""

    def __init__(self, studio: Studio, size: int, capacity: int):
        self.studio, self.capacity = studio, capacity
        self.scale = max(1, -(-size // studio.image_size))
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, float], Image.Image] = OrderedDict()

    def get(self, summary: SessionSummary) -> Image.Image:
        key = (summary.id, summary.updated)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        # outside the lock: the slow part (code colours where a full decode costs seconds)
        thumbnail = self.studio.picture(summary.last_frame, scale=self.scale, preview=self.studio.decode_is_costly)
        with self._lock:
            self._items[key] = thumbnail
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return thumbnail
