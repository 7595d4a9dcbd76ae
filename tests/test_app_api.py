"""The web app driven the way a script would drive it: the real server on a free port, real
gradio_client clients. Each client is one browser tab; its `owner` token is its browser."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from app import AppConfig, build_app
from app.views import PAGE_OUTPUTS
from studio_core.hooks import token_mask
from studio_core.store import SessionStore
from studio_core.studio import Studio

from servers import launch

PICTURE = 64  # the tiny model's 16-px picture scaled by 4 (kept small: these tests are about behaviour)
GRID = 4
SETTINGS = (3.0, 1.0, "qerror", 0.5)  # guidance, temperature, strategy, revision
OWNERS = {name: f"{name}-browser-token-0123456789" for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace")}
RETURNED = PAGE_OUTPUTS[1:]  # gr.State is not returned to API clients


@dataclass(frozen=True)
class Served:
    url: str
    store: SessionStore
    db: Path
    exports: Path


def serve(studio: Studio, root: Path, **config) -> tuple:
    root.mkdir(parents=True, exist_ok=True)
    store = SessionStore(root / "studio.db", busy_timeout_ms=300)
    # Every stage shown (stream_interval_ms=0): these tests check each streamed stage.
    settings = {"picture_size": PICTURE, "view_size": 32, "gif_size": 32, "thumbnail_size": 16,
                "stream_interval_ms": 0, **config}
    demo = build_app(studio, store, AppConfig(exports_dir=root / "exports", **settings))
    port = launch(demo)
    return demo, Served(f"http://127.0.0.1:{port}/", store, root / "studio.db", root / "exports")


@pytest.fixture(scope="module")
def app(tiny_studio, tmp_path_factory):
    demo, served = serve(tiny_studio, tmp_path_factory.mktemp("app"), max_exports=3)
    yield served
    demo.close()
    served.store.close()


def tab(app: Served) -> Client:
    return Client(app.url, verbose=False, download_files=False)


def page(outputs) -> dict:
    return dict(zip(RETURNED, outputs))


def generate(client: Client, owner: str, prompt="a red circle at the top", seed=3, stages=6) -> list[dict]:
    job = client.submit(prompt, seed, False, stages, *SETTINGS, owner, api_name="/generate")
    streamed = [page(out) for out in job]
    job.result()
    return streamed


def brush(tmp_path: Path, rows: slice, cols: slice, size: int = PICTURE) -> tuple[dict, np.ndarray]:
    """An editor value as a page sends it (a transparent layer, painted where brushed) and the
    token cells it selects."""
    layer = np.zeros((size, size, 4), dtype=np.uint8)
    layer[rows, cols] = (255, 0, 255, 140)
    path = tmp_path / f"brush-{time.monotonic_ns()}.png"
    Image.fromarray(layer).save(path)
    cells = token_mask(layer[..., 3] > 0, GRID) if size % GRID == 0 else None
    return {"background": None, "layers": [handle_file(str(path))], "composite": None}, cells


def grid(data: dict, name: str) -> np.ndarray:
    return np.asarray(data[name])


def error_of(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return str(caught.value)


def fetch(file_data: dict) -> bytes:
    """Download an output file the way a browser does, over HTTP."""
    response = httpx.get(file_data["url"], timeout=30)
    response.raise_for_status()
    return response.content


def gif_frame_count(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / f"order-{time.monotonic_ns()}.gif"
    path.write_bytes(data)
    with Image.open(path) as gif:
        return gif.n_frames


# ---------------------------------------------------------------------------------------------


def test_generate_lock_repaint_revise_export(app, tmp_path):
    client, owner = tab(app), OWNERS["alice"]
    streamed = generate(client, owner, stages=6)
    assert [p["status"].split("**")[1] for p in streamed] == [f"Stage {k} / 6" for k in range(1, 7)]
    generated = streamed[-1]["frame_data"]
    assert grid(generated, "known").all() and generated["stage"] == 6
    gif = client.predict(owner, api_name="/export_gif")
    assert gif_frame_count(fetch(gif), tmp_path) == 6  # one frame per stage
    assert Path(gif["path"]).name.startswith("studio-gif-")

    top_left, lock_cells = brush(tmp_path, slice(0, 20), slice(0, 20))  # grazes 2x2 cells of 16 px
    locked = page(client.predict(top_left, owner, api_name="/lock"))["frame_data"]
    assert locked["event"] == "lock"
    np.testing.assert_array_equal(grid(locked, "locked"), lock_cells)
    assert lock_cells.sum() == 4

    left_half, region = brush(tmp_path, slice(0, PICTURE), slice(0, PICTURE // 2))
    job = client.submit(left_half, "a blue square", owner, api_name="/repaint")
    repainted = [page(out)["frame_data"] for out in job]
    assert len(repainted) >= 1 and all(f["event"] == "repaint" and f["prompt"] == "a blue square" for f in repainted)
    after = repainted[-1]
    ids_before, ids_after = grid(generated, "ids"), grid(after, "ids")
    np.testing.assert_array_equal(ids_after[lock_cells], ids_before[lock_cells])  # locked tokens survived
    np.testing.assert_array_equal(ids_after[~region], ids_before[~region])  # outside the brush: unchanged
    assert all(map(all, after["known"]))

    revised = page(client.predict(left_half, owner, api_name="/revise"))["frame_data"]
    assert revised["event"] == "revise"
    np.testing.assert_array_equal(grid(revised, "ids")[lock_cells], ids_before[lock_cells])
    assert not grid(revised, "revised")[lock_cells].any()

    frames = revised["frames"]
    assert frames == 1 + 6 + 1 + len(repainted) + 1  # blank, stages, lock, repaint frames, revise
    assert gif_frame_count(fetch(client.predict(owner, api_name="/export_gif")), tmp_path) == frames - 1

    # What the page showed is what the database holds.
    stored = app.store.load(revised["session_id"], owner).state
    assert len(stored.frames) == frames
    np.testing.assert_array_equal(stored.current.ids, grid(revised, "ids"))
    np.testing.assert_array_equal(stored.current.locked, lock_cells)


def test_step_continue_and_stop_at_the_end(app):
    client, owner = tab(app), OWNERS["bob"]
    args = ("a small green diamond", 11, False, 5, *SETTINGS, owner)
    first = page(client.predict(*args, api_name="/step"))
    second = page(client.predict(*args, api_name="/step"))
    assert (first["frame_data"]["stage"], second["frame_data"]["stage"]) == (1, 2)
    assert first["frame_data"]["session_id"] == second["frame_data"]["session_id"]
    finished = page(client.predict(owner, api_name="/continue"))
    assert finished["frame_data"]["stage"] == 5 and "finished" in finished["status"]
    # The same seed from the same frame gives the same tokens as one uninterrupted run.
    whole = generate(tab(app), owner, prompt="a small green diamond", seed=11, stages=5)[-1]["frame_data"]
    np.testing.assert_array_equal(grid(finished["frame_data"], "ids"), grid(whole, "ids"))
    assert "nothing left to generate" in error_of(lambda: client.predict(owner, api_name="/continue"))
    restarted = page(client.predict(*args, api_name="/step"))  # a finished picture: Step starts anew
    assert restarted["frame_data"]["stage"] == 1
    assert restarted["frame_data"]["session_id"] != finished["frame_data"]["session_id"]


def test_timeline_view_and_branch(app):
    client, owner = tab(app), OWNERS["carol"]
    streamed = generate(client, owner, seed=4, stages=6)
    original = streamed[-1]["frame_data"]
    third = page(client.predict(3, owner, api_name="/view_frame"))
    assert third["frame_data"]["frame_index"] == 3 and "earlier frame" in third["status"]
    np.testing.assert_array_equal(grid(third["frame_data"], "ids"), grid(streamed[2]["frame_data"], "ids"))

    job = client.submit(3, 99, "", owner, api_name="/branch")
    branch = [page(out) for out in job][-1]
    data = branch["frame_data"]
    assert data["branch_id"] != original["branch_id"] and data["seed"] == 99 and data["stage"] == 6
    assert data["frames"] == original["frames"]
    assert not np.array_equal(grid(data, "ids"), grid(original, "ids"))  # another seed, another picture
    assert page(client.predict(3, owner, api_name="/view_frame"))["frame_data"]["ids"] == third["frame_data"]["ids"]
    assert page(client.predict(original["branch_id"], owner, api_name="/open_branch"))["frame_data"]["ids"] == \
        original["ids"]  # the first branch stayed as it was
    assert "not part of session" in error_of(lambda: client.predict(10_000, owner, api_name="/open_branch"))
    branches = app.store.load(original["session_id"], owner).branches
    assert [(b.parent_id, b.fork_index) for b in branches] == [(None, None), (original["branch_id"], 3)]
    assert "finished picture" in error_of(lambda: client.predict(6, None, "", owner, api_name="/branch"))
    assert "frame_index must be between 0 and 6" in error_of(
        lambda: client.predict(60, None, "", owner, api_name="/branch"))
    assert "frame_index must be between 0 and 6" in error_of(lambda: client.predict(60, owner, api_name="/view_frame"))


def test_token_views_are_sent_only_to_a_tab_that_shows_them(app):
    client, owner = tab(app), OWNERS["grace"]
    finished = generate(client, owner, stages=3)[-1]
    assert finished["view_placed"] is None and finished["picture"] is not None
    shown = page(client.predict(False, False, True, owner, api_name="/set_display"))
    assert all(shown[name] is not None for name in ("view_placed", "view_confidence", "view_revised", "view_locked"))
    again = generate(client, owner, stages=3)  # the tab keeps showing them with each finished page
    assert again[-1]["view_placed"] is not None
    assert "path" not in (again[0]["view_placed"] or {})  # while streaming: no file (an unchanged mark)


def test_sessions_list_open_delete_and_belong_to_their_browser(app):
    owner = OWNERS["dave"]
    client = tab(app)
    made = [generate(client, owner, prompt=p, stages=4)[-1]["frame_data"] for p in ("a red circle", "a blue square")]
    gallery, rows = client.predict(owner, api_name="/list_sessions")
    assert [r["id"] for r in rows] == [made[1]["session_id"], made[0]["session_id"]]  # newest first
    assert [r["prompt"] for r in rows] == ["a blue square", "a red circle"] and len(gallery) == 2
    captions = [item["caption"] for item in gallery]  # two alike prompts tell apart by date and time
    assert all(re.fullmatch(r".+ · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d · finished", c) for c in captions), captions

    reopened = page(tab(app).predict(made[0]["session_id"], owner, api_name="/open_session"))  # a new tab
    assert reopened["frame_data"]["ids"] == made[0]["ids"] and reopened["frame_data"]["frames"] == made[0]["frames"]

    stranger = tab(app)
    intruder = OWNERS["erin"]
    assert stranger.predict(intruder, api_name="/list_sessions")[1] == []
    refused = error_of(lambda: stranger.predict(made[0]["session_id"], intruder, api_name="/open_session"))
    missing = error_of(lambda: stranger.predict("0" * 32, intruder, api_name="/open_session"))
    assert "not found" in refused and refused.replace(made[0]["session_id"], "X") == missing.replace("0" * 32, "X")
    assert "not found" in error_of(lambda: stranger.predict(made[0]["session_id"], intruder,
                                                            api_name="/delete_session"))

    out = page(client.predict(made[1]["session_id"], owner, api_name="/delete_session"))
    assert out["frame_data"] is None  # it was the open session: the page is cleared
    assert [r["id"] for r in client.predict(owner, api_name="/list_sessions")[1]] == [made[0]["session_id"]]
    assert "not found" in error_of(lambda: client.predict(made[1]["session_id"], owner, api_name="/open_session"))


def test_export_png_and_session_json_round_trip(app, tmp_path):
    client, owner = tab(app), OWNERS["frank"]
    finished = generate(client, owner, prompt="a large white circle", seed=8, stages=4)[-1]
    source = finished["frame_data"]
    shown = tmp_path / "shown.png"  # the page's own picture (its download button) carries the same metadata
    shown.write_bytes(fetch(finished["picture"]))
    with Image.open(shown) as image:
        assert image.text["prompt"] == "a large white circle" and image.text["seed"] == "8"
        assert '"stages": 4' in image.text["settings"]
    png = client.predict(owner, api_name="/export_png")
    path = tmp_path / "picture.png"
    path.write_bytes(fetch(png))
    with Image.open(path) as image:
        assert image.size == (PICTURE, PICTURE)
        assert image.text["prompt"] == "a large white circle" and image.text["seed"] == "8"
        assert '"stages": 4' in image.text["settings"]
    session = client.predict(owner, api_name="/export_json")
    assert Path(session["path"]).suffix == ".json"
    saved = tmp_path / "session.json"
    saved.write_bytes(fetch(session))

    other = tab(app)
    imported = page(other.predict(handle_file(str(saved)), OWNERS["alice"], api_name="/import_json"))
    original = app.store.export_session(source["session_id"], owner).to_dict()
    assert imported["frame_data"]["session_id"] != source["session_id"]
    assert imported["frame_data"]["ids"] == source["ids"]
    copy = app.store.export_session(imported["frame_data"]["session_id"], OWNERS["alice"]).to_dict()
    assert copy == original

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ not json")
    assert "not a Progressive Studio session file" in error_of(
        lambda: other.predict(handle_file(str(garbage)), OWNERS["alice"], api_name="/import_json"))


def test_exports_stay_in_their_folder_and_are_bounded(app):
    client, owner = tab(app), OWNERS["alice"]
    generate(client, owner, stages=3)
    paths = [Path(client.predict(owner, api_name="/export_png")["path"]).name for _ in range(4)]
    files = sorted(f.name for f in app.exports.iterdir())
    assert len(files) == 3  # max_exports of the fixture: the oldest went
    assert paths[-1] in files and paths[0] not in files
    assert all(f.startswith("studio-") for f in files)


def test_bad_input_gets_a_clear_error_and_the_app_keeps_serving(app, tmp_path):
    client, owner = tab(app), OWNERS["bob"]

    def generate_with(prompt="a red circle", seed=1, stages=4, strategy="qerror", who=owner):
        return client.predict(prompt, seed, False, stages, 3.0, 1.0, strategy, 0.5, who, api_name="/generate")

    selection, _ = brush(tmp_path, slice(0, 10), slice(0, 10))
    # Nothing generated yet in this tab.
    assert "generate a picture first" in error_of(lambda: client.predict(selection, owner, api_name="/lock"))
    assert "generate a picture first" in error_of(lambda: client.predict(owner, api_name="/export_gif"))
    # Bad prompts and settings, each named.
    assert "prompt is empty" in error_of(lambda: generate_with(prompt="   "))
    assert "stages must be a whole number" in error_of(lambda: generate_with(stages=2.5))
    assert "not in the list of choices" in error_of(lambda: generate_with(strategy="sideways"))
    assert "seed is empty" in error_of(lambda: generate_with(seed=None))
    assert "no valid session token" in error_of(lambda: generate_with(who=None))

    generate_with()  # the app still works
    assert "no cells selected" in error_of(lambda: client.predict(
        {"background": None, "layers": [], "composite": None}, owner, api_name="/lock"))
    wrong_size, _ = brush(tmp_path, slice(0, 5), slice(0, 5), size=PICTURE - 2)
    assert "multiple of 4" in error_of(lambda: client.predict(wrong_size, owner, api_name="/lock"))
    locked = page(client.predict(selection, owner, api_name="/lock"))["frame_data"]
    assert "every selected cell is locked" in error_of(
        lambda: client.predict(selection, "", owner, api_name="/repaint"))
    assert "nothing to revise" in error_of(lambda: client.predict(selection, owner, api_name="/revise"))
    unlocked = page(client.predict(selection, owner, api_name="/unlock"))["frame_data"]
    assert unlocked["frames"] == locked["frames"] + 1 and not grid(unlocked, "locked").any()


def test_four_clients_generating_at_once_all_finish_and_the_database_is_consistent(app):
    owners = [f"crowd-{n}-browser-token-0123456789" for n in range(4)]
    results: dict[int, list[dict]] = {}
    errors: list[BaseException] = []

    def visitor(n: int) -> None:
        try:
            results[n] = generate(tab(app), owners[n], prompt=f"a red circle number {n}", seed=n, stages=8)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=visitor, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    for t in threads:
        t.join(timeout=max(deadline - time.monotonic(), 0))
    assert errors == [] and sorted(results) == [0, 1, 2, 3], f"finished: {sorted(results)}, errors: {errors}"
    for n, streamed in results.items():
        assert [p["frame_data"]["stage"] for p in streamed] == list(range(1, 9))
        last = streamed[-1]["frame_data"]
        state = app.store.load(last["session_id"], owners[n]).state
        assert len(state.frames) == 9 and state.current.prompt == f"a red circle number {n}"
        np.testing.assert_array_equal(state.current.ids, grid(last, "ids"))
    with sqlite3.connect(app.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        gaps = db.execute("SELECT branch_id FROM studio_frames GROUP BY branch_id "
                          "HAVING count(*) != max(idx) - min(idx) + 1").fetchall()
        assert gaps == []


# ---------------------------------------------------------------------------------------------
# Apps of their own: a slow model (to stop it midway) and a database that cannot be used.


class SlowStudio(Studio):
    """The tiny studio, a tenth of a second per model call: a generation one can stop midway."""

    def predictor(self, state, seed=None):
        inner = super().predictor(state, seed)

        def slowly(ids, prompt):
            time.sleep(0.1)
            return inner(ids, prompt)
        return slowly


def test_stop_ends_a_generation_and_keeps_what_was_made(tiny_studio, tmp_path):
    demo, served = serve(SlowStudio(tiny_studio.models), tmp_path / "slow")
    try:
        client, owner = tab(served), OWNERS["alice"]
        job = client.submit("a red circle", 1, False, 16, *SETTINGS, owner, api_name="/generate")
        streamed = []
        for out in job:
            streamed.append(page(out))
            if len(streamed) == 2:
                client.predict(api_name="/stop")
        job.result()
        last = streamed[-1]["frame_data"]
        assert 2 <= last["stage"] < 16 and len(streamed) == last["stage"]
        assert "stopped — press **Continue**" in streamed[-1]["status"]
        assert served.store.branch_length(last["session_id"], last["branch_id"], owner) == last["stage"] + 1
        finished = page(client.predict(owner, api_name="/continue"))["frame_data"]
        assert finished["stage"] == 16 and finished["frames"] == 17
        assert served.store.branch_length(last["session_id"], last["branch_id"], owner) == 17
    finally:
        demo.close()


def test_stages_faster_than_the_stream_interval_are_saved_but_not_all_shown(tiny_studio, tmp_path):
    demo, served = serve(tiny_studio, tmp_path / "throttled", stream_interval_ms=60_000)
    try:
        client, owner = tab(served), OWNERS["alice"]
        streamed = generate(client, owner, stages=6)
        # The first stage at once, then nothing until the finished picture (a minute apart).
        assert [p["frame_data"]["stage"] for p in streamed] == [1, 6]
        assert streamed[0]["picture"]["path"] != streamed[1]["picture"]["path"]
        last = streamed[-1]["frame_data"]
        assert served.store.branch_length(last["session_id"], last["branch_id"], owner) == 7  # all saved
    finally:
        demo.close()


def test_a_damaged_or_locked_database_is_reported_in_the_page(tiny_studio, tmp_path):
    root = tmp_path / "damaged"
    root.mkdir()
    garbage = b"this is not a database, " * 400
    (root / "studio.db").write_bytes(garbage)
    demo, served = serve(tiny_studio, root)
    try:
        client, owner = tab(served), OWNERS["alice"]
        for call in (lambda: client.predict(owner, api_name="/list_sessions"),
                     lambda: generate(client, owner)):
            message = error_of(call)
            assert "damaged or is not a SQLite database" in message and "left exactly as it is" in message
            assert str(root) not in message  # the file's name only: no server folder reaches a client
        assert (root / "studio.db").read_bytes() == garbage

        # The file is moved aside and a fresh one appears in its place: the same app now works.
        (root / "studio.db").rename(root / "damaged.db")
        served.store.close()
        made = generate(client, owner, stages=3)[-1]["frame_data"]
        assert made["stage"] == 3
    finally:
        demo.close()


def test_a_locked_database_is_reported_and_nothing_is_lost(app):
    client, owner = tab(app), OWNERS["carol"]
    kept = generate(client, owner, stages=3)[-1]["frame_data"]
    other = sqlite3.connect(app.db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock past the busy timeout
    try:
        assert "locked by another program" in error_of(lambda: generate(client, owner, stages=3))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert page(client.predict(kept["session_id"], owner, api_name="/open_session"))["frame_data"]["ids"] == kept["ids"]
    assert generate(client, owner, stages=3)[-1]["frame_data"]["stage"] == 3


# ---------------------------------------------------------------------------------------------
# A model's edit examples (studio.json "edit_examples"): played through the API as a new session.

EDIT_EXAMPLE = {"description": "Lock everything, repaint the top right with a blue square", "prompt": "a red circle",
                "seed": 2, "lock": "everything", "repaint": {"box_tokens": [2, 0, 4, 2], "prompt": "a blue square"}}


def test_an_edit_example_draws_locks_and_repaints_in_a_new_session(tiny_checkpoint, tmp_path):
    import json
    import shutil

    directory = shutil.copytree(tiny_checkpoint, tmp_path / "edits")
    manifest = json.loads((directory / "studio.json").read_text())
    (directory / "studio.json").write_text(json.dumps({**manifest, "edit_examples": [EDIT_EXAMPLE]}))
    studio = Studio.load(directory, cpu=True)
    demo, served = serve(studio, tmp_path / "served")
    try:
        client, owner = tab(served), OWNERS["alice"]
        streamed = [page(out)["frame_data"] for out in client.submit(0, owner, api_name="/edit_example")]
        last = streamed[-1]
        stages = studio.default_settings.stages
        box = np.zeros((GRID, GRID), dtype=bool)
        box[0:2, 2:4] = True
        # the picture's stages, the lock, then the repaint's frames (its 4 tokens, at most 4 frames)
        assert last["frames"] == 1 + stages + 1 + min(studio.default_settings.repaint_stages, 4)
        np.testing.assert_array_equal(grid(last, "locked"), ~box)
        state = served.store.load(last["session_id"], owner).state
        locked_frame = state.frames[1 + stages]
        assert locked_frame.event == "lock" and state.current.event == "repaint"
        assert state.current.prompt == "a blue square" and state.frames[1].prompt == "a red circle"
        assert state.frames[1].seed == 2
        np.testing.assert_array_equal(state.current.ids[~box], locked_frame.ids[~box])  # locked: unchanged
        assert len(streamed) >= 3  # streamed as it was made, not one page at the end
        assert "no number 3" in error_of(lambda: client.predict(3, owner, api_name="/edit_example"))
    finally:
        demo.close()
        served.store.close()
