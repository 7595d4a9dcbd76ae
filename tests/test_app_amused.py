"""The web app over a tiny random aMUSEd, driven through gradio_client: generate (streamed, with
previews in the middle), lock, repaint, export GIF; a strategy aMUSEd does not offer is refused."""

from __future__ import annotations

import numpy as np
import pytest

from test_app_api import app, error_of, fetch, gif_frame_count, grid, page, serve, tab  # noqa: F401 (app: a fixture)

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


# -- several models in one app ------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_model_app(tiny_studio, amused_studio, tmp_path_factory):
    demo, served = serve({"studio": tiny_studio, "tiny-amused": amused_studio},
                         tmp_path_factory.mktemp("two-models"), default_model="studio")
    yield served
    demo.close()
    served.store.close()


def test_the_api_picks_a_model_per_new_session_and_each_session_keeps_its_own(two_model_app, tmp_path):
    client = tab(two_model_app)
    owner = "two-models-browser-token-0123456789"
    # No model named: the default (the tiny bundled-style model, 4x4 grid, its qerror strategy).
    job = client.submit("a red circle", 1, False, 3, 3.0, 1.0, "qerror", 0.0, owner, api_name="/generate")
    default_page = [page(out) for out in job][-1]["frame_data"]
    assert np.asarray(default_page["ids"]).shape == (4, 4)
    # aMUSEd named: its 8x8 grid, its own strategy.
    job = client.submit("a red fox", 2, False, 12, 10.0, 1.0, "confidence", 0.0, owner, "tiny-amused",
                        api_name="/generate")
    amused_page = [page(out) for out in job][-1]["frame_data"]
    assert np.asarray(amused_page["ids"]).shape == (8, 8) and amused_page["stage"] == 12
    # Later actions run on the session's model: a lock brushed on the aMUSEd picture's 8x8 grid.
    top, cells = brush_cells(tmp_path, slice(0, 8), slice(0, PICTURE))
    locked = page(client.predict(top, owner, api_name="/lock"))["frame_data"]
    np.testing.assert_array_equal(grid(locked, "locked"), cells)
    assert two_model_app.store.load(amused_page["session_id"], owner).state.model == "tiny-amused"
    assert two_model_app.store.load(default_page["session_id"], owner).state.model == "studio"
    # Opening the first session again switches the tab back to its model.
    opened = page(client.predict(default_page["session_id"], owner, api_name="/open_session"))["frame_data"]
    assert np.asarray(opened["ids"]).shape == (4, 4)
    # A strategy the picked model does not offer, and a model not served: one message each.
    assert "not offered by the model 'tiny-amused'" in error_of(lambda: client.predict(
        "a fox", 2, False, 12, 10.0, 1.0, "qerror", 0.0, owner, "tiny-amused", api_name="/generate"))
    # (the picker's choices are the served models: Gradio names them before the handler would)
    message = error_of(lambda: client.predict(
        "a fox", 2, False, 12, 10.0, 1.0, "random", 0.0, owner, "amused-512", api_name="/generate"))
    assert "amused-512" in message and "['studio', 'tiny-amused']" in message


def test_the_app_serves_every_bundled_checkpoint_by_default(monkeypatch):
    import importlib.util
    import sys
    from pathlib import Path

    import app as app_module  # the package; app.py is the script next to it

    spec = importlib.util.spec_from_file_location("app_script", Path(app_module.__file__).parent.parent / "app.py")
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # dataclasses look their module up by name
    spec.loader.exec_module(script)
    found = script.bundled_checkpoints()
    assert found and Path(found[0]).name == "emoji-v1"
    assert all((Path(f) / "studio.json").is_file() for f in found)
    settings = script.parse_args(["--checkpoint", "amused/amused-256", "--checkpoint", "x", "--default-model", "x"])
    assert settings.checkpoints == ("amused/amused-256", "x") and settings.default_model == "x"


def test_exports_name_the_model_and_an_app_without_it_says_so_on_import(amused_app, app, tmp_path):
    """`app`: the tiny bundled-style model alone (test_app_api's fixture)."""
    import json

    from gradio_client import handle_file
    from PIL import Image

    client = tab(amused_app)
    job = client.submit("a red fox", 8, False, 12, 10.0, 1.0, "random", 0.0, OWNER, api_name="/generate")
    [page(out) for out in job]
    session = json.loads(fetch(client.predict(OWNER, api_name="/export_json")))
    assert {b["state"]["model"] for b in session["branches"]} == {"tiny-amused"}
    png = tmp_path / "fox.png"
    png.write_bytes(fetch(client.predict(OWNER, api_name="/export_png")))
    with Image.open(png) as image:
        assert image.text["model"] == "tiny-amused"
    saved = tmp_path / "fox.json"
    saved.write_text(json.dumps(session))
    message = error_of(lambda: tab(app).predict(handle_file(str(saved)), OWNER, api_name="/import_json"))
    assert "made by the model 'tiny-amused', which this app does not serve (it serves: studio)" in message
