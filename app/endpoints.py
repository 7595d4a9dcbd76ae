"""What each button (and API endpoint) does: thin calls into the Studio and the session store.

Every public method here is one event handler; its parameter names are the names gradio_client
shows for the endpoint. Handlers take and return immutable `TabState`s and turn known problems
(bad input, a session of another browser, a database that cannot be used) into `gr.Error`
messages; the app keeps serving. Model work streams: a handler yields the page as frames are made
(at most once per `AppConfig.stream_interval_ms`), and every frame is in the database before a page
shows it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import gradio as gr
import numpy as np
from PIL import Image

from studio_core import (GenerationState, SettingsError, Studio, TokenFrame, generation_order_gif,
                         save_png, validate_prompt)
from studio_core.edit_examples import play as play_edit_example
from studio_core.store import (OpenedSession, SessionStore, StoreError, check_fits_model, owner_hash,
                               read_session_file, write_session_file)
from studio_core.store_rules import check_prompt_length

from .config import AppConfig
from .exports import ExportFolder
from .guards import shown_in_page
from .selection import box_of, count_line, layer_of, touched_pixels, with_enclosed
from .views import (PageRenderer, ThumbnailCache, examples_for, history_caption, prompt_placeholder, session_rows,
                    strategy_help)
from .workspace import StopSignals, TabState, Workspace

MAX_SEED = 2**31 - 1  # fits every widget and JSON reader
STOPPED = "stopped — press **Continue** to finish"

# ---------------------------------------------------------------------------------------------
# Reading the page's inputs


def whole_number(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number from a widget (which may send 3.0) or an API client, or a SettingsError."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SettingsError(f"{name} must be a whole number, got {value!r}")
    if not float(value).is_integer():
        raise SettingsError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise SettingsError(f"{name} must be between {low} and {high}, got {number}")
    return number


def real_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SettingsError(f"{name} must be a number, got {value!r}")
    return float(value)


def optional_text(value: object) -> str | None:
    """A free-text field that may be left empty (None means: keep what there is)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


# ---------------------------------------------------------------------------------------------


def studios_by_name(studios: Studio | Mapping[str, Studio] | Sequence[Studio]) -> dict[str, Studio]:
    """The models the app serves, by the name sessions record (one Studio, or several)."""
    if isinstance(studios, Studio):
        return {studios.model_name: studios}
    listed = list(studios.values()) if isinstance(studios, Mapping) else list(studios)
    names = [s.model_name for s in listed]
    if not listed or len(set(names)) != len(names):
        raise ValueError(f"the app needs one or more models with different names, got {names}")
    return dict(zip(names, listed))


class StudioEndpoints:
    """The app's handlers over the served models (Studios, by name) and one SessionStore (shared
    by every tab). A new session runs on the model the request names; every later action on it
    runs on the model that made it (its state records the name).

    Handlers return `PageView.values()` (or `Controls.values()`): records named like the page's
    components, in the order ui.py wires them. Every edit takes one path: sync the tab with the
    database, apply the edit to the latest frame, save the new frames, show the page (`edited` for
    one-shot edits, `streamed` for those that run stages)."""

    def __init__(self, studio: Studio | Mapping[str, Studio] | Sequence[Studio], store: SessionStore,
                 config: AppConfig):
        self.studios, self.store, self.config = studios_by_name(studio), store, config
        default = config.default_model or next(iter(self.studios))
        if default not in self.studios:
            raise ValueError(f"default model {default!r} is not served (served: {', '.join(self.studios)})")
        self.studio = self.studios[default]  # the model a page opens on
        self.exports = ExportFolder(config.exports_dir, config.max_exports)
        self.stops = StopSignals()
        self.renders = {name: PageRenderer(s, config) for name, s in self.studios.items()}
        self.render = self.renders[default]
        self.thumbnails = {name: ThumbnailCache(s, config.thumbnail_size, capacity=4 * config.history_limit)
                           for name, s in self.studios.items()}

    # -- which model ---------------------------------------------------------------------------------
    def named_studio(self, model: object) -> Studio:
        """The model a request names (empty: the default)."""
        if model is None or (isinstance(model, str) and not model.strip()):
            return self.studio
        if model not in self.studios:
            raise SettingsError(f"model {model!r} is not served here; choose one of: {', '.join(self.studios)}")
        return self.studios[model]

    def studio_for(self, state: GenerationState) -> Studio:
        """The model that made a session (one saved before sessions named their model: the default,
        whose check of the grid then decides)."""
        if not state.model:
            return self.studio
        if state.model not in self.studios:
            raise SettingsError(f"this session was made by the model {state.model!r}, which this app does not "
                                f"serve (it serves: {', '.join(self.studios)}); start the app with its checkpoint")
        return self.studios[state.model]

    def studio_of_tab(self, tab: TabState | None) -> Studio:
        return self.studio_for(tab.work.state) if tab is not None and tab.work is not None else self.studio

    def renderer_of(self, tab: TabState | None) -> PageRenderer:
        return self.renders[self.studio_of_tab(tab).model_name]

    @shown_in_page
    def model_controls(self, model):
        """The settings a model offers and its example prompts, for the page when the model picker
        changes (private). The prompt typed stays; its placeholder is the model's first example."""
        studio = self.named_studio(model)
        d = studio.default_settings
        examples = examples_for(studio, self.config)
        edits = [[e.description] for e in studio.edit_examples]
        return (gr.Dropdown(choices=list(studio.strategies), value=d.strategy, info=strategy_help(studio.strategies)),
                gr.Slider(maximum=min(64, studio.grid_size ** 2), value=d.stages), gr.Slider(value=d.guidance),
                gr.Slider(value=d.temperature), gr.Slider(value=d.revision),
                gr.Dataset(samples=[[p] for p in examples]), gr.Textbox(placeholder=prompt_placeholder(studio, self.config)),
                gr.Dataset(samples=edits, visible=bool(edits)))

    # -- the one path of every action ------------------------------------------------------------
    @staticmethod
    def require_work(tab: TabState | None) -> Workspace:
        if tab is None or tab.work is None:
            raise ValueError("nothing to work on yet: generate a picture first (or open one from the history)")
        return tab.work

    def synced_tab(self, tab: TabState | None, owner: str) -> TabState:
        """The tab, its branch as the database has it. They differ only when a generation was cut
        off between writing a frame and showing it (a cancelled request), or another tab wrote to
        the same branch; the database is the truth."""
        work = self.require_work(tab)
        length = self.store.branch_length(work.session_id, work.branch_id, owner)
        if length == len(work.state.frames):
            return tab
        return replace(tab, work=self.workspace(self.store.load(work.session_id, owner, work.branch_id)))

    def workspace(self, opened: OpenedSession) -> Workspace:
        self.check_fits_model(opened.state)
        return Workspace(opened.session_id, opened.branch_id, opened.state, opened.branches)

    def check_fits_model(self, state: GenerationState) -> None:
        """A session made by another model cannot be shown or continued by this one: the core says
        so, naming both, instead of failing inside the decoder; and the session file's checks
        (settings the sampler takes, the plan they make, every grid's shape) say what else is off."""
        studio = self.studio_for(state)
        studio.check_fits(state)
        check_fits_model(state, studio.spec)

    def owned_work(self, tab: TabState | None, owner: str) -> Workspace:
        """The tab's session, only for the browser that owns it. A tab's state is found by Gradio's
        session hash alone, which a client chooses; the owner token is what proves the browser."""
        work = self.require_work(tab)
        self.store.branch_length(work.session_id, work.branch_id, owner)  # SessionNotFound otherwise
        return work

    def prompt_text(self, text: str, argument: str) -> str:
        """A prompt the model takes and the store keeps (not empty, within the length limit)."""
        return check_prompt_length(validate_prompt(text, argument), self.store.limits, argument)

    def save(self, tab: TabState, owner: str, state: GenerationState) -> TabState:
        """Write the frames `state` added to the tab's branch, then move the tab on to it."""
        work = tab.work
        new = state.frames[len(work.state.frames):]
        if new:
            self.store.append_frames(work.session_id, work.branch_id, owner, new, at=len(work.state.frames))
        return replace(tab, work=work.advanced(state))

    def show(self, tab: TabState, note: str | None = None, streaming: bool = False) -> tuple:
        return self.renderer_of(tab).page(tab, note, streaming).values()

    def edited(self, tab: TabState, owner: str, edit: Callable[[GenerationState], GenerationState]) -> tuple:
        """A one-shot edit of the latest frame: sync, apply, save, show."""
        tab = self.synced_tab(tab, owner)
        return self.show(self.save(tab, owner, edit(tab.work.state)))

    def streamed(self, tab: TabState, owner: str, run: Callable[[GenerationState], Iterator[GenerationState]],
                 tab_key: str, synced: bool = False) -> Iterator[tuple]:
        """An action that runs stages: sync, then save the frames as they are made and show them;
        end early when /stop is called for this tab.

        The page is shown at most once per `config.stream_interval_ms` (the first stage at once,
        the last always): stages that come faster than that are not drawn, sent and downloaded.
        Every frame is saved, and saved before any page shows it: the frames made since the last
        page shown are written together, in one transaction, just before the next page (one write
        per page instead of one per stage: each write costs 2-3 ms of a 16-stage picture's ~20 ms
        stages on SQLite). The generator only pauses at a `yield`, right after such a write, so a
        client that goes away mid-stream (the generator closed there) leaves nothing unsaved; a
        run that fails between two pages has what it made saved before the error is raised.
        Stages on their way are sent cheaply (see PageRenderer.page); the finished picture in full."""
        tab = tab if synced else self.synced_tab(tab, owner)
        interval = self.config.stream_interval_ms / 1000
        shown_at = None
        made: GenerationState | None = None  # the newest state the run made that is not saved yet

        def saved() -> TabState:
            nonlocal made
            unsaved, made = made, None  # a failed write is not retried by the `finally` below
            return tab if unsaved is None else self.save(tab, owner, unsaved)

        try:
            with self.stops.running(tab_key) as stop:
                for state in run(tab.work.state):
                    made = state
                    if stop.is_set():
                        tab = saved()
                        yield self.show(tab, STOPPED if state.stages_left else None)
                        return
                    done = state.current.done
                    if done or shown_at is None or time.monotonic() - shown_at >= interval:
                        tab = saved()
                        yield self.show(tab, streaming=not done)
                        shown_at = time.monotonic()
                if made is not None:  # the run ended on a frame that was not shown yet
                    tab = saved()
                    yield self.show(tab)
        finally:
            if made is not None:  # the run failed between two pages: keep what it made
                saved()

    # -- reading the inputs ----------------------------------------------------------------------
    def settings(self, stages, guidance, temperature, strategy, revision, studio: Studio | None = None):
        return (studio or self.studio).settings(
            stages=whole_number(stages, "stages"), guidance=real_number(guidance, "guidance"),
            temperature=real_number(temperature, "temperature"), strategy=strategy,
            revision=real_number(revision, "revision"))

    @staticmethod
    def seed(seed: object, randomize: bool) -> int:
        if randomize:
            return secrets.randbelow(MAX_SEED + 1)
        if seed is None or (isinstance(seed, str) and not seed.strip()):
            raise SettingsError("seed is empty: type a whole number, or tick 'randomize'")
        return whole_number(seed, "seed", 0, MAX_SEED)

    def new_session(self, tab: TabState | None, owner: str, prompt: str, seed: int, settings,
                    studio: Studio | None = None) -> TabState:
        state = (studio or self.studio).start(prompt, seed, settings)  # checks prompt and settings first
        ref = self.store.create_session(owner, state)
        opened = OpenedSession(ref.session_id, ref.branch_id,
                               self.store.list_branches(ref.session_id, owner), state)
        return replace(tab or TabState(), work=self.workspace(opened))

    @staticmethod
    def chosen_session(session_id: object) -> str:
        if not isinstance(session_id, str) or not session_id.strip():
            raise ValueError("no session chosen: click a picture in the history (API: pass its id)")
        return session_id.strip()

    def selected_cells(self, editor_value: object, tab: TabState | None = None) -> np.ndarray:
        """Every cell the brush touched, and the inside of closed strokes (on the tab's model's grid)."""
        return with_enclosed(self.studio_of_tab(tab).mask(touched_pixels(editor_value), "brush mask"))

    # -- generation (these run the transformer: the "model" queue) --------------------------------
    @shown_in_page
    def generate(self, prompt, seed, randomize_seed, stages, guidance, temperature, strategy, revision,
                 owner, tab, request: gr.Request, model=None):
        """A new session on `model` (empty: the default): every stage streamed as it is made.
        Returns the page (the Seed box shows the seed used)."""
        studio = self.named_studio(model)
        tab = self.new_session(tab, owner, prompt, self.seed(seed, randomize_seed),
                               self.settings(stages, guidance, temperature, strategy, revision, studio), studio)
        yield from self.streamed(tab, owner, studio.resume, request.session_hash, synced=True)

    @shown_in_page
    def step(self, prompt, seed, randomize_seed, stages, guidance, temperature, strategy, revision, owner, tab,
             model=None):
        """One stage of the open picture; when there is none, or it is finished, the first stage of
        a new one (from the prompt and settings, on `model`)."""
        work = tab.work if tab else None
        if work is None or work.state.stages_left == 0:
            studio = self.named_studio(model)
            tab = self.new_session(tab, owner, prompt, self.seed(seed, randomize_seed),
                                   self.settings(stages, guidance, temperature, strategy, revision, studio), studio)
        return self.edited(tab, owner, lambda state: self.studio_for(state).step(state))

    @shown_in_page
    def edit_example(self, example, owner, tab, request: gr.Request, model=None):
        """Play one of `model`'s edit examples (its studio.json "edit_examples", by index) as a new
        session: the picture streamed stage by stage, then the lock, then the repaint."""
        studio = self.named_studio(model)
        examples = studio.edit_examples
        index = whole_number(example, "edit example")
        if not 0 <= index < len(examples):
            raise ValueError(f"the model {studio.model_name!r} has {len(examples)} edit examples; "
                             f"there is no number {index}")
        chosen = examples[index]
        tab = self.new_session(tab, owner, chosen.prompt, chosen.seed, studio.default_settings, studio)
        yield from self.streamed(tab, owner, lambda state: play_edit_example(studio, state, chosen),
                                 request.session_hash, synced=True)

    @shown_in_page
    def continue_generation(self, owner, tab, request: gr.Request):
        """The remaining stages of the open picture (after Step, Stop or an edit), streamed."""
        tab = self.synced_tab(tab, owner)
        if tab.work.state.stages_left == 0:
            raise ValueError("nothing left to generate: the picture is finished "
                             "(Branch continues from an earlier frame)")
        yield from self.streamed(tab, owner, lambda state: self.studio_for(state).resume(state),
                                 request.session_hash, synced=True)

    @shown_in_page
    def repaint(self, selection, region_prompt, owner, tab, request: gr.Request):
        """Generate the brushed cells again (locked ones excepted), optionally from another prompt."""
        tab = self.synced_tab(tab, owner)
        region = self.selected_cells(selection, tab)
        prompt = optional_text(region_prompt)
        if prompt is not None:
            prompt = self.prompt_text(prompt, "region prompt")
        if not (region & ~tab.work.state.current.locked).any():
            raise ValueError("nothing to repaint: every selected cell is locked (unlock it first)")
        before = tab.work.state.current
        shown = None
        for shown in self.streamed(tab, owner, lambda state: self.studio_for(state).repaint(state, region, prompt),
                                   request.session_hash, synced=True):
            yield shown
        if shown is not None:
            self.warn_if_unchanged(before, shown[0].work.state.current, region & ~before.locked, "Repaint")

    @staticmethod
    def warn_if_unchanged(before: TokenFrame, after: TokenFrame, region: np.ndarray, action: str) -> None:
        """Say so when an edit drew the very same tokens again: a selection this thin is filled
        back from its surroundings (a toast in the page; API clients see the frame data)."""
        if not region.any() or (after.ids[region] != before.ids[region]).any() or not before.known[region].all():
            return
        cells = int(region.sum())
        gr.Warning(f"{action} drew the same tokens again for the {cells} selected cell{'s' * (cells != 1)}: "
                   f"a selection this thin is filled back from its surroundings. Select a larger region "
                   f"(or, for Repaint, give a region prompt).")

    @shown_in_page
    def revise(self, selection, owner, tab):
        """Re-predict the brushed cells from their surroundings, even where the model was sure."""
        self.require_work(tab)
        region = self.selected_cells(selection, tab)

        def revised(state: GenerationState) -> GenerationState:
            frame = state.current
            if not (region & frame.known & ~frame.locked).any():
                raise ValueError("nothing to revise: select cells that are placed and not locked")
            after = self.studio_for(state).force_revise(state, region)
            self.warn_if_unchanged(frame, after.current, region & ~frame.locked, "Force revise")
            return after
        return self.edited(tab, owner, revised)

    @shown_in_page
    def branch(self, frame_index, branch_seed, branch_prompt, owner, tab, request: gr.Request):
        """A new branch from a frame of the timeline, generated to the end with a new seed (random
        when empty) and optionally a new prompt; the branch it came from stays as it is."""
        work = self.synced_tab(tab, owner).work
        index = whole_number(frame_index, "frame_index")
        rewound = Studio.rewind(work.state, index)
        if rewound.stages_left == 0:
            raise ValueError(f"frame {index} is a finished picture: pick an earlier frame on the timeline")
        seed = self.seed(branch_seed, randomize=optional_text(branch_seed) is None)  # empty: a new random seed
        prompt = optional_text(branch_prompt)
        if prompt is not None:
            prompt = self.prompt_text(prompt, "branch prompt")
        branch_id = self.store.new_branch(work.session_id, owner, work.branch_id, index)
        work = Workspace(work.session_id, branch_id, rewound, self.store.list_branches(work.session_id, owner))
        yield from self.streamed(replace(tab, work=work), owner,
                                 lambda state: self.studio_for(state).resume(state, prompt, seed), request.session_hash,
                                 synced=True)

    def stop(self, request: gr.Request) -> None:
        """End this tab's running generation after the stage in progress (what is made is kept)."""
        self.stops.stop(request.session_hash)

    # -- edits without the transformer -----------------------------------------------------------
    @shown_in_page
    def lock(self, selection, owner, tab):
        """Lock the brushed cells that are placed: nothing changes them again until unlocked."""
        self.require_work(tab)
        region = self.selected_cells(selection, tab)

        def locked(state: GenerationState) -> GenerationState:
            frame = state.current
            if not (region & frame.known & ~frame.locked).any():
                raise ValueError("nothing to lock: select placed cells that are not locked yet "
                                 "(the checkered cells are not placed)")
            return self.studio_for(state).lock(state, region)
        return self.edited(tab, owner, locked)

    @shown_in_page
    def unlock(self, selection, owner, tab):
        self.require_work(tab)
        region = self.selected_cells(selection, tab)

        def unlocked(state: GenerationState) -> GenerationState:
            if not (region & state.current.locked).any():
                raise ValueError("nothing to unlock: none of the selected cells is locked")
            return self.studio_for(state).unlock(state, region)
        return self.edited(tab, owner, unlocked)

    # -- the selection (no database, no model) --------------------------------------------------
    def count_selected(self, selection, tab=None):
        """"N cells selected", after every stroke (private to the page)."""
        if not (isinstance(selection, dict) and selection.get("layers")):
            # The canvas loading a new background (no layer yet): the count the refresh set stands;
            # an order of events where this came last would otherwise reset a tool's count.
            return gr.skip()
        try:
            return count_line(self.selected_cells(selection, tab))
        except ValueError:
            return count_line(None)

    @shown_in_page
    def select_cells(self, tool, selection, tab):
        """A selection tool: "all", "invert", "clear", or "box" (the rectangle spanning what is
        selected). Returns the canvas with the new selection and its count."""
        work = self.require_work(tab)
        try:
            current = self.selected_cells(selection, tab)
        except ValueError:  # nothing brushed yet
            current = np.zeros_like(work.state.current.known)
        tools = {"all": lambda: np.ones_like(current), "invert": lambda: ~current,
                 "clear": lambda: np.zeros_like(current), "box": lambda: box_of(current)}
        if tool not in tools:
            raise ValueError(f"tool must be one of {sorted(tools)}, got {tool!r}")
        cells = tools[tool]()
        canvas = self.renderer_of(tab).selection_canvas(work)
        canvas["layers"] = [layer_of(cells, canvas["background"].size[0])]
        return canvas, count_line(cells)

    # -- looking ---------------------------------------------------------------------------------
    @shown_in_page
    def view_frame(self, frame_index, owner, tab):
        """Show frame `frame_index` of the branch (0 = the blank start); the last follows new frames."""
        work = self.owned_work(tab, owner)
        last = len(work.state.frames) - 1
        index = whole_number(frame_index, "frame_index", 0, last)
        return self.show(replace(tab, work=replace(work, viewing=None if index == last else index)))

    @shown_in_page
    def set_display(self, show_grid, show_marks, show_views, owner, tab):
        """Draw the token grid and/or outline the new (white), revised (red) and locked (blue)
        tokens; send the four token views with each finished page (or not)."""
        if tab is not None and tab.work is not None:
            self.owned_work(tab, owner)
        return self.show(replace(tab or TabState(), show_grid=bool(show_grid), show_marks=bool(show_marks),
                                 show_views=bool(show_views)))

    # -- sessions --------------------------------------------------------------------------------
    def thumbnail(self, summary):
        """Drawn by the model that made the session; one this app does not serve gets a blank."""
        cache = self.thumbnails.get(summary.model or self.studio.model_name)
        if cache is None or summary.last_frame.ids.shape != (cache.studio.grid_size,) * 2:
            return Image.new("RGB", (self.config.thumbnail_size,) * 2, (60, 60, 60))
        return cache.get(summary)

    @shown_in_page
    def list_sessions(self, owner):
        """This browser's sessions, newest first: the gallery and the same as data."""
        summaries = self.store.list_sessions(owner, self.config.history_limit)
        gallery = [(self.thumbnail(s), history_caption(s)) for s in summaries]
        return gallery, session_rows(summaries)

    @shown_in_page
    def open_session(self, session_id, owner, tab):
        """Open a session of this browser exactly as it was saved, on its current branch."""
        opened = self.store.load(self.chosen_session(session_id), owner)
        return self.show(replace(tab or TabState(), work=self.workspace(opened)))

    @shown_in_page
    def open_branch(self, branch_id, owner, tab):
        """Switch the open session to another of its branches."""
        work = self.require_work(tab)
        number = whole_number(branch_id, "branch_id")
        self.store.set_current_branch(work.session_id, number, owner)
        return self.show(replace(tab, work=self.workspace(self.store.load(work.session_id, owner, number))))

    @shown_in_page
    def delete_session(self, session_id, owner, tab):
        """Delete a session of this browser (all its branches)."""
        session_id = self.chosen_session(session_id)
        self.store.delete(session_id, owner)
        tab = tab or TabState()
        if tab.work is not None and tab.work.session_id == session_id:
            tab = replace(tab, work=None)
        return self.show(tab)  # the page refreshes the history after this (ui.py)

    @shown_in_page
    def refresh_controls(self, tab):
        """The timeline, the branch list and the brush canvas, following the latest frame (chained
        after every action in the page)."""
        return self.renderer_of(tab).controls(tab).values()

    @staticmethod
    def pick_session(rows, evt: gr.SelectData):
        """The id of the session clicked in the history gallery (the page then opens it)."""
        if not rows or evt.index is None or not 0 <= evt.index < len(rows):
            raise gr.Error("that picture is no longer in the history: press Refresh", print_exception=False)
        return rows[evt.index]["id"]

    @staticmethod
    def ask_delete(session_id, rows):
        """The question Delete asks first, naming the session (private to the page)."""
        if not isinstance(session_id, str) or not session_id.strip():
            raise gr.Error("no session chosen: click a picture in the history first", print_exception=False)
        row = next((r for r in rows or [] if r.get("id") == session_id.strip()), None)
        what = f"“{row['prompt']}” ({row['updated'].replace('T', ' ')})" if row else f"session {session_id[:8]}"
        return gr.Row(visible=True), f"Delete {what} and all its branches? This cannot be undone."

    @staticmethod
    def ensure_owner(token):
        """This browser's token: kept if it is one, made once otherwise (kept in local storage)."""
        try:
            owner_hash(token)
            return token
        except StoreError:
            return secrets.token_urlsafe(32)

    # -- files -----------------------------------------------------------------------------------
    def export_path(self, kind: str, work: Workspace) -> Path:
        return self.exports.new_path(kind)

    def finished_export(self, path: Path) -> str:
        self.exports.prune(keep=path)
        return str(path)

    @shown_in_page
    def export_gif(self, owner, tab):
        """The branch's generation order: one GIF frame per frame after the blank start (for a plain
        generation, one per stage), new tokens outlined white, revised red; the last frame held."""
        work = self.owned_work(tab, owner)
        if len(work.state.frames) < 2:
            raise ValueError("nothing to export yet: generate at least one stage first")
        if len(work.state.frames) - 1 > self.config.max_gif_frames:
            raise ValueError(f"this branch has {len(work.state.frames) - 1} frames; a GIF takes at most "
                             f"{self.config.max_gif_frames}: export a PNG, or branch from an earlier frame")
        scale = self.renderer_of(tab).scale_for(self.config.gif_size)
        studio = self.studio_for(work.state)
        path = self.export_path("gif", work)
        generation_order_gif(work.state, lambda f: studio.picture(f, scale=scale, marks=True), path)
        return self.finished_export(path)

    @shown_in_page
    def export_png(self, owner, tab):
        """The frame on screen as a PNG, with prompt, seed and settings in its metadata."""
        work = self.owned_work(tab, owner)
        if not work.frame.known.any():
            raise ValueError("nothing to export yet: this frame is blank")
        path = self.export_path("png", work)
        image = self.studio_for(work.state).picture(work.frame, scale=self.renderer_of(tab).picture_scale)
        save_png(image, work.state.rewind(work.frame_index), path)
        return self.finished_export(path)

    @shown_in_page
    def export_json(self, owner, tab):
        """The whole session (every branch) as JSON that Import reads back."""
        work = self.require_work(tab)
        export = self.store.export_session(work.session_id, owner)
        return self.finished_export(write_session_file(export, self.export_path("json", work)))

    @shown_in_page
    def import_json(self, session_file, owner, tab):
        """A session file exported by this app becomes a new session of this browser, opened."""
        if not session_file:
            raise ValueError("no file: choose a session JSON exported by Progressive Studio")
        path = Path(session_file)
        if path.stat().st_size > self.config.max_import_bytes:
            raise ValueError(f"{path.name} is larger than {self.config.max_import_bytes // 2**20} MB: "
                             f"not a session file of this app")
        export = read_session_file(path.read_bytes(), self.store.limits)
        studio = self.studio_for(export.branches[0].state)  # the model the file names, if served
        for branch in export.branches:
            studio.check_fits(branch.state)
        # All or nothing: the store checks the file against this model, writes it in one
        # transaction and commits only once the page renders from what it wrote.
        shown: list[tuple] = []

        def renders(opened: OpenedSession) -> None:
            shown.append(self.show(replace(tab or TabState(), work=self.workspace(opened))))
        self.store.import_session(owner, export, studio.spec, accept=renders)
        return shown[0]
