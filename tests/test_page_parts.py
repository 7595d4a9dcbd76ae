"""The page's parts that need no server: the selection (closed strokes, tools), the grid lines on
dark and light pictures, and what the renderer sends while a picture streams and when it is done."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import AppConfig
from app.selection import box_of, count_line, layer_of, touched_pixels, with_enclosed
from app.views import PAGE_OUTPUTS, PageRenderer, PageView
from app.workspace import TabState, Workspace
from studio_core.hooks import MaskError, token_mask
from studio_core.render import GRID_ON_DARK, GRID_ON_LIGHT, render_frame
from studio_core.store import BranchInfo


def ring(size: int, low: int, high: int) -> np.ndarray:
    cells = np.zeros((size, size), dtype=bool)
    cells[low, low:high + 1] = cells[high, low:high + 1] = True
    cells[low:high + 1, low] = cells[low:high + 1, high] = True
    return cells


def test_a_closed_stroke_selects_its_inside_and_an_open_one_does_not():
    loop = ring(16, 3, 9)
    filled = with_enclosed(loop)
    assert filled[3:10, 3:10].all() and filled.sum() == 49
    opened = loop.copy()
    opened[3, 6] = False  # a gap in the loop: the inside reaches the edge
    np.testing.assert_array_equal(with_enclosed(opened), opened)
    # A stroke along two edges of the picture encloses nothing: the corner touches the edge.
    corner = np.zeros((16, 16), dtype=bool)
    corner[5, :6] = corner[:6, 5] = True
    np.testing.assert_array_equal(with_enclosed(corner), corner)


def test_a_loop_painted_on_the_canvas_selects_the_cells_inside_it():
    size, grid = 128, 16  # 8 px per cell
    layer = np.zeros((size, size, 4), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    distance = np.hypot(yy - 64, xx - 64)
    layer[(distance > 36) & (distance < 40)] = (255, 0, 255, 140)  # a thin circle of radius ~38 px
    cells = with_enclosed(token_mask(touched_pixels({"layers": [layer]}), grid))
    assert cells[8, 8] and cells[6:10, 6:10].all()  # the middle, far from the stroke
    assert not cells[0, 0] and not cells[15, 15]


def test_selection_tools_round_trip_through_a_brush_layer():
    cells = np.zeros((16, 16), dtype=bool)
    cells[2, 3] = cells[7, 11] = True
    box = box_of(cells)
    assert box.sum() == 6 * 9 and box[2:8, 3:12].all()
    assert not box_of(np.zeros_like(cells)).any()
    layer = layer_of(box, 128)
    assert layer.shape == (128, 128, 4)
    np.testing.assert_array_equal(token_mask(touched_pixels({"layers": [layer]}), 16), box)
    assert count_line(box) == "**54 of 256 cells selected**"
    assert count_line(None).startswith("**0 cells selected**")
    with pytest.raises(MaskError, match="no cells selected"):
        touched_pixels({"background": None, "layers": [], "composite": None})


def frame_of(colour: tuple[int, int, int], grid: int = 4):
    from studio_core.state import TokenFrame

    ones = np.ones((grid, grid), dtype=bool)
    none = np.zeros((grid, grid), dtype=bool)
    frame = TokenFrame(ids=np.zeros((grid, grid), dtype=np.int64), known=ones, locked=none, new=none,
                       revised=none, placed_stage=np.zeros((grid, grid), dtype=np.int64),
                       confidence=np.ones((grid, grid), dtype=np.float32), stage=1, event="stage",
                       prompt="p", seed=0)
    return np.full((16, 16, 3), colour, dtype=np.uint8), frame


@pytest.mark.parametrize("colour", [(5, 5, 10), (250, 250, 240), (200, 30, 30)])
def test_grid_lines_contrast_with_dark_and_light_pictures(colour):
    image, frame = frame_of(colour)
    plain = np.asarray(render_frame(image, frame, scale=4)).astype(int)
    gridded = np.asarray(render_frame(image, frame, scale=4, grid=True)).astype(int)
    line = gridded[:, 16]  # between the first and second column of cells (16 px per cell)
    assert (np.abs(line - plain[:, 16]).sum(axis=-1) > 200).all()  # every line pixel stands out
    expected = GRID_ON_LIGHT if np.mean(colour) > 110 else GRID_ON_DARK
    assert tuple(line[0]) == expected
    np.testing.assert_array_equal(gridded[:16, :16], plain[:16, :16])  # inside the first cell: untouched


def test_the_streamed_page_is_small_and_the_finished_one_carries_png_metadata(tiny_studio, tmp_path):
    renderer = PageRenderer(tiny_studio, AppConfig(exports_dir=tmp_path, picture_size=64, view_size=32))
    states = list(tiny_studio.generate("a red circle", 5, tiny_studio.settings(stages=3)))
    branches = (BranchInfo(id=1, number=1, parent_id=None, fork_index=None, length=4, created=0.0),)
    tab = TabState(work=Workspace("0" * 32, 1, states[0], branches))
    streamed = renderer.page(tab, streaming=True)
    assert streamed.picture.size == (16, 16)  # the model's own size: the browser scales it
    finished = renderer.page(TabState(work=Workspace("0" * 32, 1, states[-1], branches), show_views=True))
    assert finished.picture.size == (64, 64) and isinstance(finished.view_placed, Image.Image)
    unseen = renderer.page(TabState(work=Workspace("0" * 32, 1, states[-1], branches)))
    assert unseen.view_placed is None  # views closed: none made
    assert finished.picture.info["prompt"] == "a red circle" and finished.picture.info["seed"] == "5"
    assert '"stages": 3' in finished.picture.info["settings"]
    assert PAGE_OUTPUTS == tuple(PageView.__dataclass_fields__) and finished.values()[0] is finished.tab


def test_a_busy_port_is_one_clear_line_naming_the_port_option():
    import socket
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, str(repo / "app.py"), "--port", str(port)], capture_output=True,
                             text=True, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]
    assert "Traceback" not in run.stderr


def test_an_edit_that_changes_nothing_says_so(tiny_studio):
    from app.endpoints import StudioEndpoints

    state = tiny_studio.generate_image("a red circle", 2, tiny_studio.settings(stages=3))
    frame = state.current
    one = np.zeros_like(frame.known)
    one[1, 1] = True
    with pytest.warns(UserWarning, match="drew the same tokens again for the 1 selected cell: a selection this"):
        StudioEndpoints.warn_if_unchanged(frame, frame, one, "Repaint")
    changed = frame.ids.copy()
    changed[1, 1] = (changed[1, 1] + 1) % 16
    from dataclasses import replace

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StudioEndpoints.warn_if_unchanged(frame, replace(frame, ids=changed), one, "Repaint")


def counted_decodes(studio, monkeypatch) -> list:
    """Every full decode the studio makes from now on, recorded (the decode still runs)."""
    calls = []
    decode = studio.decode

    def counting(frame):
        calls.append(frame)
        return decode(frame)
    monkeypatch.setattr(studio, "decode", counting)
    return calls


def test_a_streamed_stage_is_a_preview_and_the_finished_picture_one_decode_shared_with_the_canvas(
        tiny_studio, tmp_path, monkeypatch):
    renderer = PageRenderer(tiny_studio, AppConfig(exports_dir=tmp_path, picture_size=64))
    states = list(tiny_studio.generate("a blue square", 4, tiny_studio.settings(stages=3)))
    branches = (BranchInfo(id=1, number=1, parent_id=None, fork_index=None, length=4, created=0.0),)
    decodes = counted_decodes(tiny_studio, monkeypatch)
    middle = TabState(work=Workspace("0" * 32, 1, states[1], branches))
    streamed = renderer.page(middle, streaming=True)
    assert decodes == []  # code colours, no decoder pass
    # Each placed token painted in its code's mean colour, at the model's size.
    frame = states[1].current
    cell = tiny_studio.image_size // tiny_studio.grid_size
    row, col = np.argwhere(frame.known)[0]
    colour = tiny_studio.family.code_colours()[frame.ids[row, col]]
    assert tuple(np.asarray(streamed.picture)[row * cell, col * cell]) == tuple(colour)

    finished = TabState(work=Workspace("0" * 32, 1, states[-1], branches))
    shown = renderer.page(finished)
    canvas = renderer.controls(finished).selection["background"]
    assert len(decodes) == 1  # the canvas the refresh draws reuses the page's decode
    expected = render_frame(tiny_studio.decode(states[-1].current), states[-1].current, scale=4)
    np.testing.assert_array_equal(np.asarray(shown.picture), np.asarray(expected))  # the full decode
    assert canvas.size == shown.picture.size


def test_a_run_saves_its_frames_before_each_page_in_one_write_and_keeps_them_when_it_fails(tiny_studio, tmp_path):
    from app.endpoints import StudioEndpoints
    from studio_core.store import SessionStore

    store = SessionStore(tmp_path / "studio.db")
    # A minute between pages: the first stage is shown at once, the rest with the finished picture.
    endpoints = StudioEndpoints(tiny_studio, store, AppConfig(exports_dir=tmp_path / "exports",
                                                              stream_interval_ms=60_000))
    owner = "owner-of-the-saving-test"
    writes = []
    append = store.append_frames

    def recorded(session_id, branch_id, who, frames, at):
        writes.append((at, len(frames)))
        return append(session_id, branch_id, who, frames, at)
    store.append_frames = recorded

    def new_tab():
        return endpoints.new_session(None, owner, "a red circle", 1, tiny_studio.settings(stages=6))

    def saved(tab_state) -> int:
        return store.branch_length(tab_state.work.session_id, tab_state.work.branch_id, owner)

    tab = new_tab()
    pages = endpoints.streamed(tab, owner, tiny_studio.resume, "tab-1", synced=True)
    first = next(pages)[0]
    assert len(first.work.state.frames) == 2 and saved(first) == 2  # saved before it is shown
    last = list(pages)[-1][0]
    assert last.work.state.current.done and saved(last) == 7
    assert writes == [(1, 1), (2, 5)]  # the five stages after the first page: one write

    def failing(state):
        for number, made in enumerate(tiny_studio.resume(state), start=1):
            yield made
            if number == 3:
                raise RuntimeError("the model failed")
    tab = new_tab()
    with pytest.raises(RuntimeError, match="the model failed"):
        list(endpoints.streamed(tab, owner, failing, "tab-2", synced=True))
    assert saved(tab) == 4  # the blank start and the three stages made, two of them never shown

    # A client that goes away: the generator is closed at a page, after which nothing is unsaved.
    tab = new_tab()
    pages = endpoints.streamed(tab, owner, tiny_studio.resume, "tab-3", synced=True)
    shown = next(pages)[0]
    pages.close()
    assert saved(tab) == len(shown.work.state.frames) == 2


def test_the_stream_interval_is_a_server_option_and_a_negative_one_is_refused():
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, str(repo / "app.py"), "--stream-interval-ms", "-5"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "--stream-interval-ms must be 0 or more, got -5" in run.stderr
