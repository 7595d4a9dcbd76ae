"""The web app over a tiny random aMUSEd, driven through gradio_client: generate (streamed, with
previews in the middle), lock, repaint, export GIF; a strategy aMUSEd does not offer is refused."""

from __future__ import annotations

import numpy as np
import pytest

from test_app_api import error_of, fetch, gif_frame_count, grid, page, serve, tab

from studio_core.hooks import token_mask

OWNER = "amused-browser-token-0123456789"
PICTURE = 64  # the tiny aMUSEd's 8 px picture scaled by 8
GRID = 8


@pytest.fixture(scope="module")
def amused_app(amused_studio, tmp_path_factory):
    demo, served = serve(amused_studio, tmp_path_factory.mktemp("amused-app"))
    yield served
    demo.close()
    served.store.close()


def brush_cells(tmp_path, rows: slice, cols: slice):
    import time

    from gradio_client import handle_file
    from PIL import Image

    layer = np.zeros((PICTURE, PICTURE, 4), dtype=np.uint8)
    layer[rows, cols] = (255, 0, 255, 140)
    path = tmp_path / f"brush-{time.monotonic_ns()}.png"
    Image.fromarray(layer).save(path)
    return {"background": None, "layers": [handle_file(str(path))], "composite": None}, token_mask(layer[..., 3] > 0, GRID)


def test_generate_lock_repaint_and_export_on_amused(amused_app, tmp_path):
    client = tab(amused_app)
    job = client.submit("a red fox", 5, False, 12, 10.0, 1.0, "confidence", 0.0, OWNER, api_name="/generate")
    streamed = [page(out) for out in job]
    job.result()
    assert len(streamed) == 12
    generated = streamed[-1]["frame_data"]
    assert grid(generated, "known").all() and generated["stage"] == 12

    top, lock_cells = brush_cells(tmp_path, slice(0, 16), slice(0, PICTURE))
    locked = page(client.predict(top, OWNER, api_name="/lock"))["frame_data"]
    np.testing.assert_array_equal(grid(locked, "locked"), lock_cells)

    everything, _ = brush_cells(tmp_path, slice(0, PICTURE), slice(0, PICTURE))
    job = client.submit(everything, "a blue lake", OWNER, api_name="/repaint")
    repainted = [page(out)["frame_data"] for out in job]
    after = repainted[-1]
    np.testing.assert_array_equal(grid(after, "ids")[lock_cells], grid(generated, "ids")[lock_cells])
    assert all(f["event"] == "repaint" and f["prompt"] == "a blue lake" for f in repainted)

    gif = client.predict(OWNER, api_name="/export_gif")
    assert gif_frame_count(fetch(gif), tmp_path) == 12 + 1 + len(repainted)
    stored = amused_app.store.load(after["session_id"], OWNER).state
    assert stored.model == "tiny-amused" and len(stored.frames) == 1 + 12 + 1 + len(repainted)


def test_a_strategy_amused_does_not_offer_is_refused_by_the_api(amused_app):
    client = tab(amused_app)
    message = error_of(lambda: client.predict("a red fox", 5, False, 12, 10.0, 1.0, "qerror", 0.0, OWNER,
                                              api_name="/generate"))
    # The page's dropdown offers the model's strategies only, so Gradio refuses the value first,
    # naming the choices; the core refuses it too (test_amused.py) for callers outside the app.
    assert "qerror" in message and "['confidence', 'random']" in message
