"""The page: its layout (`layout`) and its event wiring (`wire`). What each event does is in
endpoints.py.

Every action is a named API endpoint (api_name), so gradio_client can do all that the page does.
Events that run the transformer share one queue ("model") whose concurrency limit is set in
AppConfig.model_concurrency (1 by default: see the reason there); everything else runs in the
"light" group so viewing, history and exports never wait behind a generation.

The layout is built around the picture: on a laptop the prompt and settings sit left, and the
picture, its status line, the timeline with the branch controls and the edit tools sit together
on the right; on a phone (one column) the prompt and Generate come first, then the picture and
everything that acts on it, then settings, examples and history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import gradio as gr

from studio_core import Studio
from studio_core.store import SessionStore

from .config import AppConfig
from .endpoints import MAX_SEED, StudioEndpoints
from .guards import bounded_editor
from .selection import BRUSH_RGBA
from .views import (CONTROL_OUTPUTS, PAGE_OUTPUTS, WELCOME, example_prompt, examples_for, model_choices,
                    prompt_placeholder, strategy_help)
from .workspace import TabState

# The browser token lives in local storage under a fixed key, so it survives reloads and restarts
# of the server. BrowserState's "secret" is sent to the page with the rest of the config, so it
# hides nothing; a fixed one keeps stored tokens readable after a restart. What keeps a token
# private is the browser's same-origin rule for local storage.
OWNER_STORAGE_KEY = "progressive-studio-owner"
OWNER_STORAGE_SECRET = "progressive-studio"

NEW_TOKEN_JS = """(token) => (typeof token === "string" && token.length >= 16) ? token :
    Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0")).join("")"""
SCROLL_TO_PICTURE_JS = """() => { document.getElementById("picture")?.scrollIntoView({block: "start"}); }"""

MAX_FRAME_INDEX = 1_000_000

# The picture is sent small while it streams and the browser scales it (pixelated: each token's
# pixels stay square and sharp), at most as tall as leaves its status line and the timeline in
# view on a laptop screen. On a phone (one column), the page's blocks are reordered so the picture
# follows the prompt and Generate.
CSS = """
#picture img, #selection canvas, .token-view img, #history img { image-rendering: pixelated; }
#picture img { width: 100%; height: 100%; max-height: min(54vh, 560px); object-fit: contain; }
#picture { min-height: min(54vh, 280px); }
.token-view { min-width: 110px !important; }
#title h1 { margin: 0; font-size: 1.4em; }
.legend { font-size: 0.85em; }
.ramp { display: inline-block; width: 80px; height: 0.8em; vertical-align: middle;
        background: linear-gradient(90deg, #440154, #3b528b, #21918c, #5ec962, #fde725); }
@media (max-width: 760px) {
  #main { flex-direction: column; }
  #compose { display: contents; }
  #compose-top { order: 1; }
  #stage { order: 2; }
  #compose-more { order: 3; }
  #picture img { max-height: 70vh; }
  #title p { display: none; }
}
"""

INTRO = ("# Progressive Studio\nText to image, **coarse to fine**: structure first, detail last; steer it "
         "between stages (select cells, then **Lock**, **Repaint** or **Force revise**; go back on the "
         "timeline and **Branch**).")

LEGEND = """<div class="legend">
<b>Placed at stage</b> and <b>Confidence</b>: <span class="ramp"></span> early / unsure → late / sure;
dark grey: not placed yet. <b>Revised last</b>: red cells were redrawn at this frame.
<b>Locked</b>: blue cells never change until unlocked.</div>"""


# Events answered at once in the page (no queue, no progress, not part of the API).
INSTANT = dict(queue=False, show_progress="hidden", api_visibility="private")


def launch_options(config: AppConfig) -> dict:
    """What `demo.launch` needs besides host and port (Gradio 6 takes css and theme at launch)."""
    # show_error stays off: a gr.Error's message always reaches the page, while an unexpected
    # exception's text (paths, internals) should not reach a public Space.
    # max_file_size bounds every upload (Gradio answers 413 past it, before storing anything).
    return {"css": CSS, "allowed_paths": [str(config.exports_dir)], "max_file_size": config.max_upload_bytes}


@dataclass(frozen=True)
class PageLayout:
    """Every component the wiring uses, by name. Page outputs and controls are looked up by the
    field names of views.PageView and views.Controls."""
    tab: gr.State
    owner: gr.BrowserState
    prompt: gr.Textbox
    seed: gr.Number
    randomize: gr.Checkbox
    generate_btn: gr.Button
    stop_btn: gr.Button
    step_btn: gr.Button
    continue_btn: gr.Button
    stages: gr.Slider
    guidance: gr.Slider
    temperature: gr.Slider
    strategy: gr.Dropdown
    revision: gr.Slider
    model: gr.Dropdown
    examples: gr.Dataset
    edit_examples: gr.Dataset
    picture: gr.Image
    status: gr.Markdown
    show_grid: gr.Checkbox
    show_marks: gr.Checkbox
    show_views: gr.Checkbox
    views_box: gr.Accordion
    timeline: gr.Slider
    branch_seed: gr.Textbox
    branch_prompt: gr.Textbox
    branch_btn: gr.Button
    branches: gr.Dropdown
    tools: gr.Tabs
    selection: gr.ImageEditor
    selection_count: gr.Markdown
    select_all_btn: gr.Button
    select_invert_btn: gr.Button
    select_box_btn: gr.Button
    select_clear_btn: gr.Button
    region_prompt: gr.Textbox
    lock_btn: gr.Button
    unlock_btn: gr.Button
    repaint_btn: gr.Button
    revise_btn: gr.Button
    view_placed: gr.Image
    view_confidence: gr.Image
    view_revised: gr.Image
    view_locked: gr.Image
    gif_btn: gr.Button
    png_btn: gr.Button
    json_btn: gr.Button
    import_btn: gr.UploadButton
    download: gr.File
    frame_data: gr.JSON
    history: gr.Gallery
    history_rows: gr.JSON
    session_id: gr.Textbox
    delete_btn: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    confirm_delete_btn: gr.Button
    cancel_delete_btn: gr.Button
    refresh_btn: gr.Button

    def outputs(self, names: tuple[str, ...]) -> list:
        return [getattr(self, name) for name in names]

    @property
    def settings(self) -> list:
        return [self.stages, self.guidance, self.temperature, self.strategy, self.revision]

    @property
    def busy_buttons(self) -> list:
        """The buttons that start model work: disabled while a generation runs (a double click
        makes one session)."""
        return [self.generate_btn, self.step_btn, self.continue_btn, self.repaint_btn, self.branch_btn]


def build_app(studio: Studio | Mapping[str, Studio] | Sequence[Studio], store: SessionStore,
              config: AppConfig) -> gr.Blocks:
    """The studio page over one or several loaded models (Studios; the page opens on
    `config.default_model`) and a session store. Builds only; nothing runs."""
    endpoints = StudioEndpoints(studio, store, config)
    with gr.Blocks(title=config.title, analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        page = layout(endpoints.studio, config, endpoints.studios)
        wire(demo, page, endpoints, config)
    demo.queue(default_concurrency_limit=config.light_concurrency, max_size=config.max_queue_size)
    return demo


def layout(studio: Studio, config: AppConfig, studios: Mapping[str, Studio] | None = None) -> PageLayout:
    """The page's components, placed (inside an open gr.Blocks); `studio` is the model the page
    opens on, `studios` every model served (the picker offers them)."""
    studios = studios or {studio.model_name: studio}
    # Every strategy any served model offers: the API validates against these; the page narrows
    # the list to the picked model's, and the core refuses one the model does not offer.
    all_strategies = list(dict.fromkeys(s for m in studios.values() for s in m.strategies))
    defaults = studio.default_settings
    tokens = studio.grid_size ** 2
    canvas = studio.image_size * max(1, round(config.picture_size / studio.image_size))
    c: dict = {"tab": gr.State(TabState()),
               "owner": gr.BrowserState(None, storage_key=OWNER_STORAGE_KEY, secret=OWNER_STORAGE_SECRET)}
    gr.Markdown(INTRO, elem_id="title")

    with gr.Row(equal_height=False, elem_id="main"):
        with gr.Column(scale=2, min_width=300, elem_id="compose"):
            with gr.Column(elem_id="compose-top"):
                c["prompt"] = gr.Textbox(label="Prompt", lines=2, max_lines=4, elem_id="prompt",
                                         placeholder=prompt_placeholder(studio, config))
                c["model"] = gr.Dropdown(model_choices(studios), value=studio.model_name, label="Model",
                                         visible=len(studios) > 1, elem_id="model",
                                         info="new pictures use it; an opened session keeps the model that made it")
                with gr.Row():
                    c["generate_btn"] = gr.Button("Generate", variant="primary", elem_id="generate", scale=2,
                                                  min_width=100)
                    c["stop_btn"] = gr.Button("Stop", variant="stop", elem_id="stop", min_width=60)
                    c["step_btn"] = gr.Button("Step", min_width=60)
                    c["continue_btn"] = gr.Button("Continue", min_width=80)
            with gr.Column(elem_id="compose-more"):
                with gr.Row():
                    c["seed"] = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=MAX_SEED, scale=2)
                    c["randomize"] = gr.Checkbox(label="Randomize seed", value=True, scale=1)
                with gr.Accordion("Advanced settings", open=False):
                    c["stages"] = gr.Slider(1, min(64, tokens), value=defaults.stages, step=1, label="Stages")
                    c["guidance"] = gr.Slider(0, 10, value=defaults.guidance, step=0.5, label="Guidance")
                    c["temperature"] = gr.Slider(0.1, 3, value=defaults.temperature, step=0.05,
                                                 label="Temperature")
                    c["strategy"] = gr.Dropdown(
                        all_strategies, value=defaults.strategy, label="Scoring strategy",
                        info=strategy_help(studio.strategies))
                    c["revision"] = gr.Slider(0, 2, value=defaults.revision, step=0.05, label="Revision strength",
                                              info="share of a stage's tokens that may be revised (0 = never)")
                # The picked model's own examples (the picker swaps them): a Dataset, not gr.Examples,
                # whose samples are fixed when the page is built.
                c["examples"] = gr.Dataset(components=[c["prompt"]], label="Example prompts", elem_id="examples",
                                           samples=[[p] for p in examples_for(studio, config)], samples_per_page=12)
                # The model's edit examples: a click plays one as a new session (picture, lock, repaint).
                edits = [[e.description] for e in studio.edit_examples]
                c["edit_examples"] = gr.Dataset(components=["textbox"], label="Try an edit (draws, locks, repaints)",
                                                elem_id="edit-examples", samples=edits, type="index",
                                                visible=bool(edits))

        with gr.Column(scale=3, min_width=340, elem_id="stage"):
            with gr.Tabs(selected="view") as c["tools"]:
                with gr.Tab("Picture", id="view"):
                    c["picture"] = gr.Image(label="Picture", format="png", interactive=False, elem_id="picture",
                                            buttons=["download", "fullscreen"], show_label=False)
                with gr.Tab("Select cells", id="select"):
                    # Selecting on the same picture: the canvas is the latest frame (edits apply to
                    # it) with the token grid and the locked cells drawn.
                    c["selection"] = gr.ImageEditor(
                        label="Select cells: brush over them, or draw a loop around a shape", type="numpy",
                        image_mode="RGBA", format="png", sources=(), transforms=(), layers=False,
                        elem_id="selection", canvas_size=(canvas, canvas), fixed_canvas=True,
                        brush=gr.Brush(colors=["rgba({}, {}, {}, {:.2f})".format(*BRUSH_RGBA[:3], BRUSH_RGBA[3] / 255)],
                                       color_mode="fixed", default_size=max(4, canvas // 40)),
                        buttons=[], interactive=True,
                        # as tall as the canvas shows on this screen: its width on a phone
                        height=f"min({min(canvas, 420) + 70}px, calc(100vw - 10px))")
                    bounded_editor(c["selection"], config.max_selection_pixels)
                    with gr.Row():
                        c["select_all_btn"] = gr.Button("All", size="sm", min_width=60)
                        c["select_invert_btn"] = gr.Button("Invert", size="sm", min_width=60)
                        c["select_box_btn"] = gr.Button("Box", size="sm", min_width=60)
                        c["select_clear_btn"] = gr.Button("Clear", size="sm", min_width=60)
                    c["selection_count"] = gr.Markdown("", elem_id="selection-count")
                    c["region_prompt"] = gr.Textbox(label="Region prompt (optional, for Repaint)", lines=1)
                    with gr.Row():
                        c["lock_btn"] = gr.Button("Lock", size="sm", min_width=70)
                        c["unlock_btn"] = gr.Button("Unlock", size="sm", min_width=70)
                        c["repaint_btn"] = gr.Button("Repaint", size="sm", min_width=70)
                        c["revise_btn"] = gr.Button("Force revise", size="sm", min_width=70)
            c["status"] = gr.Markdown(WELCOME, elem_id="status")
            # Hidden until there is a picture. The page sets the slider's range to the branch after
            # each action; the API range is wide open and the handlers check an index against the
            # branch (their message says how many frames there are).
            c["timeline"] = gr.Slider(0, MAX_FRAME_INDEX, value=0, step=1, label="Timeline", interactive=False,
                                      visible=False, elem_id="timeline")
            with gr.Row(equal_height=True):
                # A text box, not a number box: a number box shows (and sends) 0 when empty.
                c["branch_seed"] = gr.Textbox(label="Branch seed", value="", placeholder="random", min_width=100)
                c["branch_prompt"] = gr.Textbox(label="Branch prompt", placeholder="same prompt", lines=1,
                                                min_width=140)
                c["branch_btn"] = gr.Button("Branch from this frame", min_width=120)
            # Custom values allowed for the same reason as the timeline: the store checks the id.
            c["branches"] = gr.Dropdown(choices=[], label="Branches of this session", interactive=True,
                                        allow_custom_value=True)
            with gr.Row():
                c["show_grid"] = gr.Checkbox(label="Token grid", value=False)
                c["show_marks"] = gr.Checkbox(label="Mark new (white) / revised (red) / locked (blue)", value=False)
            with gr.Accordion("Token views", open=False) as c["views_box"]:
                # Whether the views are open: the views are made only then (see TabState).
                c["show_views"] = gr.Checkbox(value=False, visible=False)
                gr.HTML(LEGEND)
                with gr.Row():
                    view_kwargs = dict(format="png", interactive=False, height=config.view_size + 40,
                                       elem_classes="token-view", buttons=[])
                    c["view_placed"] = gr.Image(label="Placed at stage", **view_kwargs)
                    c["view_confidence"] = gr.Image(label="Confidence", **view_kwargs)
                    c["view_revised"] = gr.Image(label="Revised last", **view_kwargs)
                    c["view_locked"] = gr.Image(label="Locked", **view_kwargs)
            with gr.Row():
                c["gif_btn"] = gr.Button("Export GIF", size="sm")
                c["png_btn"] = gr.Button("Export PNG", size="sm")
                c["json_btn"] = gr.Button("Export session JSON", size="sm")
                c["import_btn"] = gr.UploadButton("Import session JSON", file_types=[".json"], size="sm")
            # Shown once there is a file (an empty file box is a large blank area).
            c["download"] = gr.File(label="Exported file", interactive=False, elem_id="download", visible=False)
            with gr.Accordion("Frame data (JSON)", open=False):
                c["frame_data"] = gr.JSON(label="Frame on screen")

    with gr.Accordion("History: this browser's sessions (click one to open it)", open=True):
        c["history"] = gr.Gallery(label="Sessions", columns=6, height=240, allow_preview=False, fit_columns=False,
                                  object_fit="contain", format="png", elem_id="history")
        c["history_rows"] = gr.JSON(visible=False)
        with gr.Row(equal_height=True):
            c["session_id"] = gr.Textbox(label="Session id", placeholder="click a picture above (Enter opens)",
                                         scale=3)
            c["refresh_btn"] = gr.Button("Refresh", scale=1)
            c["delete_btn"] = gr.Button("Delete…", variant="stop", scale=1, elem_id="delete")
        with gr.Row(visible=False, elem_id="confirm-delete") as c["confirm_row"]:
            c["confirm_text"] = gr.Markdown("")
            c["confirm_delete_btn"] = gr.Button("Yes, delete it", variant="stop", scale=0)
            c["cancel_delete_btn"] = gr.Button("Keep it", scale=0)
    return PageLayout(**c)


def busy(*_):
    return [gr.Button(interactive=False)] * 5


def idle(*_):
    return [gr.Button(interactive=True)] * 5


def wire(demo: gr.Blocks, ui: PageLayout, endpoints: StudioEndpoints, config: AppConfig) -> None:
    """The page's events (inside the gr.Blocks that holds `ui`)."""
    page = ui.outputs(PAGE_OUTPUTS)
    controls = ui.outputs(CONTROL_OUTPUTS)
    owner, tab = ui.owner, ui.tab
    # No progress overlay on the outputs: the status line says which stage is on screen, and an
    # error is one toast, not a red pill on every output of the event.
    model = dict(concurrency_id="model", concurrency_limit=config.model_concurrency, show_progress="hidden")
    light = dict(concurrency_id="light", concurrency_limit=config.light_concurrency, show_progress="hidden")
    instant = INSTANT
    # After a generation, an import, a page load: the gallery follows (private: /list_sessions
    # is the public way; a private event still takes an api name, hence its own).
    refresh_history = dict(fn=endpoints.list_sessions, inputs=[owner], outputs=[ui.history, ui.history_rows],
                           api_name="refresh_history", api_visibility="private", **light)
    # After any action that changes the latest frame: the controls follow it (see views.py).
    refresh_controls = dict(fn=endpoints.refresh_controls, inputs=[tab], outputs=controls,
                            api_name="refresh_controls", api_visibility="private", **light)

    def model_work(triggers, fn, inputs, api_name):
        """A model event: the start buttons go grey at once (in the browser, so a second click
        finds them disabled), the work streams, then the buttons come back and the controls follow."""
        started = gr.on(triggers, busy, None, ui.busy_buttons, **instant)
        running = started.then(fn, inputs, page, api_name=api_name, **model)
        running.then(idle, None, ui.busy_buttons, **instant)
        running.failure(idle, None, ui.busy_buttons, **instant)
        running.then(**refresh_controls)
        return running

    generating = model_work([ui.generate_btn.click, ui.prompt.submit], endpoints.generate,
                            [ui.prompt, ui.seed, ui.randomize, *ui.settings, owner, tab, ui.model], "generate")
    stepping = model_work([ui.step_btn.click], endpoints.step,
                          [ui.prompt, ui.seed, ui.randomize, *ui.settings, owner, tab, ui.model], "step")
    # Picking a model offers its strategies and its default settings (private: the API names the
    # model in /generate and /step).
    model_controls = dict(fn=endpoints.model_controls, inputs=[ui.model],
                          outputs=[ui.strategy, *ui.settings[:3], ui.revision, ui.examples, ui.prompt,
                                   ui.edit_examples],
                          api_visibility="private", **light)
    ui.examples.click(example_prompt, ui.examples, ui.prompt, api_visibility="private", **light)
    ui.model.change(**model_controls)
    if len(endpoints.studios) > 1:  # the page opens with the default model's strategies only
        demo.load(**model_controls)
    model_work([ui.continue_btn.click], endpoints.continue_generation, [owner, tab], "continue")
    playing = model_work([ui.edit_examples.click], endpoints.edit_example, [ui.edit_examples, owner, tab, ui.model],
                         "edit_example")
    model_work([ui.repaint_btn.click], endpoints.repaint,
               [ui.selection, ui.region_prompt, owner, tab], "repaint")
    branching = model_work([ui.branch_btn.click], endpoints.branch,
                           [ui.timeline, ui.branch_seed, ui.branch_prompt, owner, tab], "branch")
    revising = ui.revise_btn.click(endpoints.revise, [ui.selection, owner, tab], page, api_name="revise", **model)
    # Repaint and Force revise change the picture: show it (the canvas follows when they end).
    gr.on([ui.repaint_btn.click, ui.revise_btn.click], lambda: gr.Tabs(selected="view"), None, ui.tools, **instant)
    # Stop: the endpoint ends a streaming run cooperatively after its current stage (works for
    # gradio_client too; the run's last page says "stopped — press Continue"). The one-shot model
    # events have no stages to stop between: `cancels` drops them (running or still queued).
    ui.stop_btn.click(endpoints.stop, None, None, api_name="stop", concurrency_limit=None,
                      cancels=[stepping, revising]).then(idle, None, ui.busy_buttons, **instant)

    locking = ui.lock_btn.click(endpoints.lock, [ui.selection, owner, tab], page, api_name="lock", **light)
    unlocking = ui.unlock_btn.click(endpoints.unlock, [ui.selection, owner, tab], page, api_name="unlock", **light)

    # The selection: its count after every stroke, and the tools.
    # (A stroke is an `input`; the canvas's own refreshes reset the count with the controls.)
    ui.selection.input(endpoints.count_selected, [ui.selection, tab], [ui.selection_count], api_visibility="private",
                       trigger_mode="always_last", **light)
    for button, tool in ((ui.select_all_btn, "all"), (ui.select_invert_btn, "invert"),
                         (ui.select_box_btn, "box"), (ui.select_clear_btn, "clear")):
        button.click(endpoints.select_cells, [gr.State(tool), ui.selection, tab],
                     [ui.selection, ui.selection_count], api_visibility="private", **light)

    # The picture follows the timeline however a person moves it (drag, arrow keys, a typed
    # number): `input` and `release` are a person's moves only, so the refresh that sets the
    # timeline to the newest frame after an action does not draw that frame a second time.
    gr.on([ui.timeline.input, ui.timeline.release], endpoints.view_frame, [ui.timeline, owner, tab], page,
          api_name="view_frame", trigger_mode="always_last", **light)
    ui.views_box.expand(lambda: True, None, ui.show_views, **instant)
    ui.views_box.collapse(lambda: False, None, ui.show_views, **instant)
    gr.on([ui.show_grid.change, ui.show_marks.change, ui.show_views.change], endpoints.set_display,
          [ui.show_grid, ui.show_marks, ui.show_views, owner, tab], page, api_name="set_display", **light)

    for button, fn, name in ((ui.gif_btn, endpoints.export_gif, "export_gif"),
                             (ui.png_btn, endpoints.export_png, "export_png"),
                             (ui.json_btn, endpoints.export_json, "export_json")):
        button.click(fn, [owner, tab], ui.download, api_name=name, **light).success(
            lambda: gr.File(visible=True), None, ui.download, **instant)
    importing = ui.import_btn.upload(endpoints.import_json, [ui.import_btn, owner, tab], page,
                                     api_name="import_json", **light)

    # History: one click on a picture opens it and brings the picture into view.
    ui.refresh_btn.click(endpoints.list_sessions, [owner], [ui.history, ui.history_rows], api_name="list_sessions",
                         **light)
    picking = ui.history.select(endpoints.pick_session, [ui.history_rows], ui.session_id, api_visibility="private",
                                **light)
    opening = picking.success(endpoints.open_session, [ui.session_id, owner, tab], page, api_name="open_session",
                              **light)
    opening_typed = ui.session_id.submit(endpoints.open_session, [ui.session_id, owner, tab], page,
                                         api_visibility="private", **light)
    for event in (opening, opening_typed):
        event.then(lambda: gr.Tabs(selected="view"), None, ui.tools, **instant).then(None, js=SCROLL_TO_PICTURE_JS)
    # Delete asks first (in the page: the question names the session).
    ui.delete_btn.click(endpoints.ask_delete, [ui.session_id, ui.history_rows], [ui.confirm_row, ui.confirm_text],
                        api_visibility="private", **light)
    ui.cancel_delete_btn.click(lambda: gr.Row(visible=False), None, ui.confirm_row, **instant)
    deleting = ui.confirm_delete_btn.click(endpoints.delete_session, [ui.session_id, owner, tab], page,
                                           api_name="delete_session", **light)
    deleting.then(lambda: gr.Row(visible=False), None, ui.confirm_row, **instant)
    switching = ui.branches.input(endpoints.open_branch, [ui.branches, owner, tab], page, api_name="open_branch",
                                  **light)

    for event in (revising, locking, unlocking, importing, opening, opening_typed, deleting, switching):
        event.then(**refresh_controls)
    for event in (generating, stepping, playing, branching, importing, deleting):
        event.then(**refresh_history)

    # A first visit makes this browser's token, in the browser (no round trip, so it exists
    # before anyone can click; getRandomValues also works on plain-http LAN addresses, where
    # crypto.randomUUID does not); the server checks it, then the history is filled in.
    demo.load(None, [owner], [owner], js=NEW_TOKEN_JS, api_visibility="private").then(
        endpoints.ensure_owner, [owner], [owner], api_visibility="private", **light).then(**refresh_history)
