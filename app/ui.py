"""The page: layout and event wiring. What each event does is in endpoints.py.

Every action is a named API endpoint (api_name), so gradio_client can do all that the page does.
Events that run the transformer share one queue ("model") whose concurrency limit is set in
AppConfig.model_concurrency (1 by default: see the reason there); everything else runs in the
"light" group so viewing, history and exports never wait behind a generation.
"""

from __future__ import annotations

import gradio as gr

from studio_core.sampler import STRATEGIES
from studio_core.store import SessionStore
from studio_core.studio import Studio

from .config import AppConfig
from .endpoints import StudioEndpoints
from .guards import bounded_editor
from .views import CONTROL_OUTPUTS, PAGE_OUTPUTS, WELCOME
from .workspace import TabState

# The browser token lives in local storage under a fixed key, so it survives reloads and restarts
# of the server. BrowserState's "secret" is sent to the page with the rest of the config, so it
# hides nothing; a fixed one keeps stored tokens readable after a restart. What keeps a token
# private is the browser's same-origin rule for local storage.
OWNER_STORAGE_KEY = "progressive-studio-owner"
OWNER_STORAGE_SECRET = "progressive-studio"

NEW_TOKEN_JS = """(token) => (typeof token === "string" && token.length >= 16) ? token :
    Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0")).join("")"""

MAX_FRAME_INDEX = 1_000_000

CSS = """
#picture img, #selection canvas, .token-view img, #history img { image-rendering: pixelated; }
.token-view { min-width: 110px !important; }
"""

INTRO = """# Progressive Studio
Text to image, **coarse to fine**: the model places many tokens of its grid per stage, structure first
and detail last, and revises tokens it no longer believes. Steer it between stages: brush over cells,
then **Lock**, **Repaint** or **Force revise** them; go back on the timeline and **Branch**. Every
session is saved in this browser's history."""


def launch_options(config: AppConfig) -> dict:
    """What `demo.launch` needs besides host and port (Gradio 6 takes css and theme at launch)."""
    # show_error stays off: a gr.Error's message always reaches the page, while an unexpected
    # exception's text (paths, internals) should not reach a public Space.
    # max_file_size bounds every upload (Gradio answers 413 past it, before storing anything).
    return {"css": CSS, "allowed_paths": [str(config.exports_dir)], "max_file_size": config.max_upload_bytes}


def build_app(studio: Studio, store: SessionStore, config: AppConfig) -> gr.Blocks:
    """The studio page over a loaded Studio and a session store. Builds only; nothing runs."""
    endpoints = StudioEndpoints(studio, store, config)
    defaults = studio.default_settings
    tokens = studio.grid_size ** 2

    with gr.Blocks(title=config.title, analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        tab = gr.State(TabState())
        owner = gr.BrowserState(None, storage_key=OWNER_STORAGE_KEY, secret=OWNER_STORAGE_SECRET)
        gr.Markdown(INTRO)

        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                prompt = gr.Textbox(label="Prompt", lines=2, max_lines=4, elem_id="prompt",
                                    placeholder="a large red circle in the top left")
                with gr.Row():
                    seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=2**31 - 1, scale=2)
                    randomize = gr.Checkbox(label="Randomize seed", value=True, scale=1)
                with gr.Row():
                    generate_btn = gr.Button("Generate", variant="primary")
                    stop_btn = gr.Button("Stop", variant="stop")
                with gr.Row():
                    step_btn = gr.Button("Step one stage", size="sm")
                    continue_btn = gr.Button("Continue", size="sm")
                status = gr.Markdown(WELCOME, elem_id="status")
                with gr.Accordion("Advanced settings", open=False):
                    stages = gr.Slider(1, min(64, tokens), value=defaults.stages, step=1, label="Stages")
                    guidance = gr.Slider(0, 10, value=defaults.guidance, step=0.5, label="Guidance")
                    temperature = gr.Slider(0.1, 3, value=defaults.temperature, step=0.05, label="Temperature")
                    strategy = gr.Dropdown(list(STRATEGIES), value=defaults.strategy, label="Scoring strategy",
                                           info="qerror: lowest predicted quantization error first; importance: "
                                                "learned, re-scored every stage; confidence: MaskGIT")
                    revision = gr.Slider(0, 2, value=defaults.revision, step=0.05, label="Revision strength",
                                         info="share of a stage's tokens that may be revised (0 = never)")
                gr.Examples([[p] for p in config.examples], inputs=[prompt], label="Example prompts")

            with gr.Column(scale=3, min_width=360):
                picture = gr.Image(label="Picture", format="png", interactive=False, elem_id="picture",
                                   height=config.picture_size + 50, buttons=["download", "fullscreen"])
                with gr.Row():
                    show_grid = gr.Checkbox(label="Token grid", value=False)
                    show_marks = gr.Checkbox(label="Mark new (white) / revised (red) / locked (blue)", value=False)
                with gr.Row():
                    view_kwargs = dict(format="png", interactive=False, height=config.view_size + 40,
                                       elem_classes="token-view", buttons=[])
                    view_placed = gr.Image(label="Placed at stage", **view_kwargs)
                    view_confidence = gr.Image(label="Confidence", **view_kwargs)
                    view_revised = gr.Image(label="Revised last", **view_kwargs)
                    view_locked = gr.Image(label="Locked", **view_kwargs)

        with gr.Accordion("Edit: brush over cells, then Lock, Unlock, Repaint or Force revise", open=True):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=360):
                    selection = gr.ImageEditor(
                        label="Select cells (any cell the brush touches)", type="numpy", image_mode="RGBA",
                        format="png", sources=(), transforms=(), layers=False, elem_id="selection",
                        canvas_size=(config.picture_size, config.picture_size), fixed_canvas=True,
                        brush=gr.Brush(colors=["rgba(255, 0, 255, 0.55)"], color_mode="fixed",
                                       default_size=max(4, config.picture_size // 40)),
                        buttons=[], interactive=True, height=config.picture_size + 90)
                    bounded_editor(selection, config.max_selection_pixels)
                with gr.Column(scale=2, min_width=300):
                    gr.Markdown("Edits apply to the latest frame. Locked cells (blue outline) never change "
                                "until unlocked; Repaint generates the selected cells again over a few stages, "
                                "optionally from another prompt; Force revise re-predicts them from their "
                                "surroundings.")
                    region_prompt = gr.Textbox(label="Region prompt (optional, for Repaint)", lines=1)
                    with gr.Row():
                        lock_btn = gr.Button("Lock")
                        unlock_btn = gr.Button("Unlock")
                    with gr.Row():
                        repaint_btn = gr.Button("Repaint")
                        revise_btn = gr.Button("Force revise")

        with gr.Accordion("Timeline, branches and export", open=True):
            # The page sets the slider's range to the branch after each action; the API range is
            # wide open and the handlers check an index against the branch (their message says how
            # many frames there are), since API clients never run the page's after-action refresh.
            timeline = gr.Slider(0, MAX_FRAME_INDEX, value=0, step=1, label="Timeline", interactive=False,
                                 elem_id="timeline")
            with gr.Row(equal_height=True):
                branch_seed = gr.Number(label="Branch seed (empty: random)", value=None, precision=0)
                branch_prompt = gr.Textbox(label="Branch prompt (empty: same)", lines=1)
                branch_btn = gr.Button("Branch from this frame")
                # Custom values allowed for the same reason as the timeline: the store checks the id.
                branches = gr.Dropdown(choices=[], label="Branches of this session", interactive=True,
                                       allow_custom_value=True)
            with gr.Row():
                gif_btn = gr.Button("Export GIF", size="sm")
                png_btn = gr.Button("Export PNG", size="sm")
                json_btn = gr.Button("Export session JSON", size="sm")
                import_btn = gr.UploadButton("Import session JSON", file_types=[".json"], size="sm")
            download = gr.File(label="Exported file", interactive=False, elem_id="download")
            with gr.Accordion("Frame data (JSON)", open=False):
                frame_json = gr.JSON(label="Frame on screen")

        with gr.Accordion("History: this browser's sessions", open=True):
            history = gr.Gallery(label="Sessions", columns=8, height=220, allow_preview=False, fit_columns=False,
                                 object_fit="contain", format="png", elem_id="history")
            history_rows = gr.JSON(visible=False)
            with gr.Row(equal_height=True):
                session_id = gr.Textbox(label="Session id", placeholder="click a picture above", scale=3)
                open_btn = gr.Button("Open", scale=1)
                delete_btn = gr.Button("Delete", variant="stop", scale=1)
                refresh_btn = gr.Button("Refresh", scale=1)

        named = dict(tab=tab, picture=picture, status=status, view_placed=view_placed,
                     view_confidence=view_confidence, view_revised=view_revised, view_locked=view_locked,
                     frame_data=frame_json, timeline=timeline, branches=branches, selection=selection)
        page = [named[name] for name in PAGE_OUTPUTS]
        controls = [named[name] for name in CONTROL_OUTPUTS]
        settings = [stages, guidance, temperature, strategy, revision]
        model = dict(concurrency_id="model", concurrency_limit=config.model_concurrency, show_progress="minimal")
        light = dict(concurrency_id="light", concurrency_limit=config.light_concurrency)
        # After a generation, an import, a page load: the gallery follows (private: /list_sessions
        # is the public way; a private event still takes an api name, hence its own).
        refresh_history = dict(fn=endpoints.list_sessions, inputs=[owner], outputs=[history, history_rows],
                               api_name="refresh_history", api_visibility="private", **light)
        # After any action that changes the latest frame: the controls follow it (see views.py).
        refresh_controls = dict(fn=endpoints.refresh_controls, inputs=[tab], outputs=controls,
                                api_name="refresh_controls", api_visibility="private", show_progress="hidden",
                                **light)

        # Generation: streamed, one queue for the model.
        generating = gr.on([generate_btn.click, prompt.submit], endpoints.generate,
                           [prompt, seed, randomize, *settings, owner, tab], page + [seed],
                           api_name="generate", **model)
        stepping = step_btn.click(endpoints.step, [prompt, seed, randomize, *settings, owner, tab],
                                  page + [seed], api_name="step", **model)
        continuing = continue_btn.click(endpoints.continue_generation, [owner, tab], page,
                                        api_name="continue", **model)
        repainting = repaint_btn.click(endpoints.repaint, [selection, region_prompt, owner, tab], page,
                                       api_name="repaint", **model)
        revising = revise_btn.click(endpoints.revise, [selection, owner, tab], page, api_name="revise", **model)
        branching = branch_btn.click(endpoints.branch, [timeline, branch_seed, branch_prompt, owner, tab], page,
                                     api_name="branch", **model)
        # Stop: the endpoint ends the run cooperatively after its current stage (works for
        # gradio_client too); `cancels` also drops a click still waiting in the queue.
        stopping = stop_btn.click(endpoints.stop, None, None, api_name="stop", concurrency_limit=None,
                                  cancels=[generating, stepping, continuing, repainting, revising, branching])

        locking = lock_btn.click(endpoints.lock, [selection, owner, tab], page, api_name="lock", **light)
        unlocking = unlock_btn.click(endpoints.unlock, [selection, owner, tab], page, api_name="unlock", **light)

        timeline.release(endpoints.view_frame, [timeline, owner, tab], page, api_name="view_frame", **light)
        gr.on([show_grid.change, show_marks.change], endpoints.set_display, [show_grid, show_marks, owner, tab], page,
              api_name="set_display", **light)

        gif_btn.click(endpoints.export_gif, [owner, tab], download, api_name="export_gif", **light)
        png_btn.click(endpoints.export_png, [owner, tab], download, api_name="export_png", **light)
        json_btn.click(endpoints.export_json, [owner, tab], download, api_name="export_json", **light)
        importing = import_btn.upload(endpoints.import_json, [import_btn, owner, tab], page, api_name="import_json",
                                      **light)

        refresh_btn.click(endpoints.list_sessions, [owner], [history, history_rows], api_name="list_sessions",
                          **light)
        history.select(endpoints.pick_session, [history_rows], session_id, api_visibility="private", **light)
        opening = open_btn.click(endpoints.open_session, [session_id, owner, tab], page, api_name="open_session",
                                 **light)
        deleting = delete_btn.click(endpoints.delete_session, [session_id, owner, tab],
                                    page + [history, history_rows], api_name="delete_session", **light)
        switching = branches.input(endpoints.open_branch, [branches, owner, tab], page, api_name="open_branch",
                                   **light)

        for event in (generating, stepping, continuing, repainting, revising, branching, stopping, locking,
                      unlocking, importing, opening, deleting, switching):
            event.then(**refresh_controls)
        for event in (generating, stepping, branching, importing):
            event.then(**refresh_history)

        # A first visit makes this browser's token, in the browser (no round trip, so it exists
        # before anyone can click; getRandomValues also works on plain-http LAN addresses, where
        # crypto.randomUUID does not); the server checks it, then the history is filled in.
        demo.load(None, [owner], [owner], js=NEW_TOKEN_JS, api_visibility="private").then(
            endpoints.ensure_owner, [owner], [owner], api_visibility="private", **light).then(**refresh_history)

    demo.queue(default_concurrency_limit=config.light_concurrency, max_size=config.max_queue_size)
    return demo
