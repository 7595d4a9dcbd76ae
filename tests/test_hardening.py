"""The app attacked as a stranger on the network would (issue 12), one test per attack: each is
refused with a clear message, nothing is stored, and the owner's history still lists and deletes.
The real server on a free port, real gradio_client clients, real HTTP."""

from __future__ import annotations

import copy
import json
import re
import sqlite3
import time
from pathlib import Path

import gradio as gr
import httpx
import PIL.Image
import pytest
from gradio_client import Client, handle_file

from app import AppConfig, build_app, launch_options
from app.guards import page_error, without_paths
from app.views import PAGE_OUTPUTS
from studio_core.store import LimitReached, SessionStore, StoreLimits

from payloads import branch_chain, png_of_size
from servers import launch

ALICE = "alice-browser-token-0123456789"
MALLORY = "mallory-browser-token-01234567"
RETURNED = PAGE_OUTPUTS[1:]
LIMITS = StoreLimits(max_frames_per_session=200, max_branches_per_session=20, max_branch_depth=8,
                     max_owner_bytes=512 * 2**10)


def serve(studio, root: Path, limits: StoreLimits = LIMITS, **config):
    root.mkdir(parents=True, exist_ok=True)
    store = SessionStore(root / "studio.db", busy_timeout_ms=300, limits=limits)
    config = AppConfig(exports_dir=root / "exports", **{"picture_size": 64, "view_size": 32, "gif_size": 32,
                                                        "thumbnail_size": 16, "max_upload_bytes": 8 * 2**20,
                                                        "max_gif_frames": 8, **config})
    demo = build_app(studio, store, config)
    port = launch(demo, **launch_options(config))
    return demo, store, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def served(tiny_studio, tmp_path_factory):
    root = tmp_path_factory.mktemp("hardened")
    demo, store, url = serve(tiny_studio, root)
    yield store, url, root
    demo.close()
    store.close()


def client_of(url: str) -> Client:
    return Client(url, verbose=False, download_files=False)


def generate(client: Client, owner: str, prompt="a red circle at the top", stages=6) -> dict:
    out = client.predict(prompt, 3, False, stages, 3.0, 1.0, "qerror", 0.5, owner, api_name="/generate")
    return dict(zip(RETURNED, out))["frame_data"]


def error_of(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return str(caught.value)


def history(client: Client, owner: str) -> list[str]:
    return [row["id"] for row in client.predict(owner, api_name="/list_sessions")[1]]


def editor_value(path: Path) -> dict:
    return {"background": None, "layers": [handle_file(str(path))], "composite": None}


def peak_memory_reset() -> bool:
    """Reset this process's peak resident memory (Linux: clear_refs 5); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


# ---------------------------------------------------------------------------------------------
# Sizes


def test_a_huge_prompt_is_refused_and_a_long_one_is_stored_once(served):
    store, url, root = served
    client, owner = client_of(url), "prompt-attacker-token-0123456789"
    message = error_of(lambda: generate(client, owner, prompt="a red circle " * 160_000))  # 2 MB
    assert "characters long" in message and "at most 1,000" in message
    assert history(client, owner) == []  # nothing stored
    long_prompt = ("a large red circle in the top left and " * 25)[:990]
    made = generate(client, owner, prompt=long_prompt, stages=6)
    assert made["frames"] == 7 and made["prompt"] == long_prompt.strip()
    with sqlite3.connect(root / "studio.db") as db:
        named = db.execute("SELECT count(*) FROM studio_frames f JOIN studio_branches b ON f.branch_id = b.id "
                           "WHERE b.session_id = ? AND f.prompt IS NOT NULL", (made["session_id"],)).fetchone()
    assert named == (1,)  # the prompt is kept once, on the first frame, not on all 7
    assert history(client, owner) == [made["session_id"]]


def test_a_huge_selection_is_refused_before_it_is_decoded(served, tmp_path):
    store, url, _ = served
    client, owner = client_of(url), "selection-attacker-token-012345"
    made = generate(client, owner, stages=4)
    huge = png_of_size(tmp_path / "huge.png", 10_000, 10_000)
    assert huge.stat().st_size < 2**20  # small on the wire: the attack is the decoded size
    measured = peak_memory_reset()
    before = peak_memory_mb()
    message = error_of(lambda: client.predict(editor_value(huge), owner, api_name="/lock"))
    assert "10000x10000 pixels" in message and "at most 4,194,304" in message
    if measured:  # decoding it would take 400 MB (RGBA) and more to convert: it was never decoded
        assert peak_memory_mb() - before < 150
    bomb = png_of_size(tmp_path / "bomb.png", 20_000, 20_000, rows=1)  # past Pillow's own bomb limit
    assert "too large to read" in error_of(lambda: client.predict(editor_value(bomb), owner, api_name="/lock"))
    assert store.branch_length(made["session_id"], made["branch_id"], owner) == made["frames"]  # nothing stored
    assert history(client, owner) == [made["session_id"]]


def test_an_upload_past_the_limit_is_refused(served):
    _, url, _ = served
    response = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.json", b"0" * (9 * 2**20))}, timeout=60)
    assert response.status_code == 413
    small = httpx.post(f"{url}gradio_api/upload", files={"files": ("small.json", b"{}")}, timeout=60)
    assert small.status_code == 200


def test_an_owner_past_the_storage_quota_is_told_and_can_make_room(tiny_studio, tmp_path):
    limits = StoreLimits(max_owner_bytes=2500)  # a 4-stage session of the tiny model takes about 0.8 kB
    demo, store, url = serve(tiny_studio, tmp_path / "quota", limits)
    try:
        client, owner = client_of(url), ALICE
        first = generate(client, owner, stages=4)
        generate(client, owner, stages=4)
        message = error_of(lambda: [generate(client, owner, stages=4) for _ in range(5)])
        assert "MB it may keep" in message and "delete some sessions" in message
        assert store.owner_usage(owner) <= limits.max_owner_bytes
        for session_id in history(client, owner):
            client.predict(session_id, owner, api_name="/delete_session")
        assert history(client, owner) == [] and store.owner_usage(owner) == 0
        assert generate(client, owner, stages=4)["stage"] == 4  # room again
        assert first["session_id"] not in history(client, owner)
    finally:
        demo.close()
        store.close()


def test_sessions_cannot_grow_past_their_frame_branch_and_depth_limits(tmp_path, tiny_studio):
    store = SessionStore(tmp_path / "studio.db", limits=StoreLimits(max_frames_per_session=10,
                                                                      max_branches_per_session=3, max_branch_depth=1))
    state = tiny_studio.generate_image("a red circle", seed=1, settings=tiny_studio.settings(stages=6))  # 7 frames
    ref = store.create_session(ALICE, state)
    child = store.new_branch(ref.session_id, ALICE, ref.branch_id, 4, state.frames[5:7])  # 9 frames stored
    with pytest.raises(LimitReached, match="keeps at most 10"):
        store.new_branch(ref.session_id, ALICE, ref.branch_id, 3, state.frames[4:7])
    with pytest.raises(LimitReached, match="deep"):
        store.new_branch(ref.session_id, ALICE, child, 1)
    store.new_branch(ref.session_id, ALICE, ref.branch_id, 1)
    with pytest.raises(LimitReached, match="3 branches"):
        store.new_branch(ref.session_id, ALICE, ref.branch_id, 2)
    assert [b.length for b in store.list_branches(ref.session_id, ALICE)] == [7, 7, 2]  # as they were


def test_an_export_has_a_bounded_frame_count_and_an_unguessable_name(served):
    _, url, _ = served
    client, owner = client_of(url), "export-owner-token-0123456789"
    made = generate(client, owner, stages=6)
    names = [Path(client.predict(owner, api_name=f"/export_{kind}")["path"]).name for kind in ("gif", "png")]
    for name in names:  # kind and 128 random bits: nothing of the session, nothing to guess from
        assert re.fullmatch(r"studio-(gif|png)-[0-9a-f]{32}\.(gif|png)", name)
        assert made["session_id"][:8] not in name
    store = served[0]  # three more frames (as three edits would add): 9 after the start, past 8
    state = store.load(made["session_id"], owner).state
    for i in range(3):
        store.append_frames(made["session_id"], made["branch_id"], owner,
                            [state.frames[-1]], at=len(state.frames) + i)
    client.predict(made["session_id"], owner, api_name="/open_session")
    message = error_of(lambda: client.predict(owner, api_name="/export_gif"))
    assert "9 frames" in message and "at most 8" in message


# ---------------------------------------------------------------------------------------------
# Imports: all or nothing


@pytest.fixture(scope="module")
def session_file(served, tiny_studio) -> dict:
    """A real exported session: two branches, the second from frame 2 of the first."""
    store = served[0]
    owner = "file-maker-token-0123456789abc"
    state = tiny_studio.generate_image("a blue square", seed=2, settings=tiny_studio.settings(stages=4))
    ref = store.create_session(owner, state)
    other = list(tiny_studio.resume(state.rewind(2), seed=8))[-1]
    store.new_branch(ref.session_id, owner, ref.branch_id, 2, other.frames[3:])
    return store.export_session(ref.session_id, owner).to_dict()


def frame0(payload: dict, frame: int = 1) -> dict:
    return payload["branches"][0]["state"]["frames"][frame]


def _locked_3x3(p):
    frame0(p)["locked"] = [[0, 0, 0]] * 3


def _guidance_abc(p):
    for b in p["branches"]:
        b["state"]["settings"]["guidance"] = "abc"


def _two_million_stages(p):
    for b in p["branches"]:
        b["state"]["plan"] = [1] * 2_000_000


def _stages_past_the_grid(p):
    for b in p["branches"]:
        b["state"]["settings"]["stages"] = 2_000_000


def _ids_outside_codebook(p):
    frame0(p, -1)["ids"][0][0] = 10**6


def _other_mask_id(p):
    for b in p["branches"]:
        b["state"]["mask_id"] = 7


def _bad_parent(p):
    p["branches"][1]["parent"] = 5


def _huge_prompt(p):
    frame0(p, -1)["prompt"] = "a red circle " * 160_000


def _too_many_frames(p):
    frames = p["branches"][0]["state"]["frames"]
    frames.extend([frames[-1]] * 2_335)


ATTACKS = {
    "a 3x3 locked mask": (_locked_3x3, "every grid of a frame has one shape"),
    "guidance 'abc'": (_guidance_abc, "guidance must be a finite number"),
    "a 2-million-stage plan": (_two_million_stages, "is not the plan its settings make"),
    "2 million stages": (_stages_past_the_grid, "stages must be between 1 and 16"),
    "ids outside the codebook": (_ids_outside_codebook, "tokens outside the codebook"),
    "another model's mask id": (_other_mask_id, "another model"),
    "a parent that comes later": (_bad_parent, "parent must name an earlier branch"),
    "a 2 MB prompt": (_huge_prompt, "characters long"),
    "2,335 frames": (_too_many_frames, "more than 200 frames"),
    "1,500 branches in a chain": (lambda p: p.update(branch_chain(p, 1_500)), "a session keeps at most 20"),
    "a chain deeper than the limit": (lambda p: p.update(branch_chain(p, 12)), "9 branches deep"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_bad_session_file_is_refused_whole_and_nothing_is_stored(served, session_file, tmp_path, attack):
    store, url, _ = served
    client, owner = client_of(url), f"importer-{list(ATTACKS).index(attack)}-token-0123456789"
    kept = generate(client, owner, stages=3)["session_id"]
    before, usage = history(client, owner), store.owner_usage(owner)
    payload = copy.deepcopy(session_file)
    mutate, expected = ATTACKS[attack]
    mutate(payload)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(payload, separators=(",", ":")))
    message = error_of(lambda: client.predict(handle_file(str(path)), owner, api_name="/import_json"))
    assert expected in message, message
    assert str(tmp_path) not in message
    assert history(client, owner) == before and store.owner_usage(owner) == usage  # nothing stored
    client.predict(kept, owner, api_name="/open_session")  # the owner's history still opens and deletes
    client.predict(kept, owner, api_name="/delete_session")
    assert history(client, owner) == []


def test_an_import_commits_only_once_it_renders(served, session_file, tiny_studio):
    from studio_core.session_file import SessionExport

    store = served[0]
    owner = "render-check-token-0123456789ab"
    export = SessionExport.from_dict(session_file)

    def fails_to_render(opened):
        assert len(opened.state.frames) > 1  # it was written and loads back inside the transaction
        raise ValueError("the picture could not be drawn")

    with pytest.raises(ValueError, match="could not be drawn"):
        store.import_session(owner, export, accept=fails_to_render)
    assert store.list_sessions(owner) == [] and store.owner_usage(owner) == 0
    ref = store.import_session(owner, export, accept=lambda opened: None)
    assert [s.id for s in store.list_sessions(owner)] == [ref.session_id]


def test_a_chain_of_1500_branches_lists_opens_and_deletes(db_target, session_file):
    """Written under limits that allowed it (a database from before the limits, or with larger
    ones): a store with the default limits still lists, opens and deletes it, with no recursion."""
    from studio_core.session_file import SessionExport

    roomy = StoreLimits(max_branches_per_session=2000, max_branch_depth=2000, max_frames_per_session=5000)
    payload = branch_chain(copy.deepcopy(session_file), 1_500)
    SessionStore(db_target, limits=roomy).import_session(ALICE, SessionExport.from_dict(payload, roomy))
    store = SessionStore(db_target)  # default limits: depth 32
    [summary] = store.list_sessions(ALICE)
    assert summary.branches == 1_500
    opened = store.load(summary.id, ALICE)
    assert len(opened.branches) == 1_500 and len(opened.state.frames) == 2
    store.delete(summary.id, ALICE)
    assert store.list_sessions(ALICE) == [] and store.owner_usage(ALICE) == 0


# ---------------------------------------------------------------------------------------------
# The owner on every endpoint that shows or exports a session


def test_another_tabs_state_needs_its_owner(served):
    _, url, _ = served
    victim, owner = client_of(url), "victim-browser-token-0123456789"
    made = generate(victim, owner, stages=4)
    attacker = client_of(url)
    attacker.session_hash = victim.session_hash  # the tab's state is found by this alone
    for api_name, args in (("/view_frame", (1, MALLORY)), ("/export_gif", (MALLORY,)), ("/export_png", (MALLORY,)),
                           ("/set_display", (True, True, False, MALLORY))):
        message = error_of(lambda: attacker.predict(*args, api_name=api_name))
        assert "not found" in message and made["session_id"] not in message.replace(f"'{made['session_id']}'", "")
    # The owner's own tab still does all of it.
    assert dict(zip(RETURNED, victim.predict(1, owner, api_name="/view_frame")))["frame_data"]["frame_index"] == 1
    assert victim.predict(owner, api_name="/export_png")["path"].endswith(".png")
    assert victim.predict(True, True, False, owner, api_name="/set_display")[0] is not None


# ---------------------------------------------------------------------------------------------
# Errors: every one a clear message, none with a server path


def test_numbers_too_large_get_a_clear_message(served):
    _, url, _ = served
    client, owner = client_of(url), "big-numbers-token-0123456789ab"
    made = generate(client, owner, stages=3)
    assert "not part of session" in error_of(lambda: client.predict(10**30, owner, api_name="/open_branch"))
    assert "greater than maximum value" in error_of(lambda: client.predict(10**30, owner, api_name="/view_frame"))
    assert "seed must be between 0 and 2147483647" in error_of(
        lambda: client.predict(1, 10**30, "", owner, api_name="/branch"))
    assert "not found" in error_of(lambda: client.predict("x" * 100_000, owner, api_name="/open_session"))
    assert history(client, owner) == [made["session_id"]]


@pytest.mark.parametrize("error, expected", [
    (OverflowError("Python int too large to convert to SQLite INTEGER"), "below 2**63"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (IndexError("list index out of range"), "outside what this session has"),
    (PIL.Image.DecompressionBombError("Image size (400000000 pixels) exceeds limit"), "too large to read"),
    (ValueError("cannot read /srv/app/data/private/studio.db"), "cannot read studio.db"),
])
def test_library_errors_become_clear_messages_without_paths(error, expected):
    shown = page_error(error)
    assert isinstance(shown, gr.Error) and expected in shown.message
    assert "/srv" not in shown.message
    assert page_error(KeyError("a bug")) is None  # a bug stays a bug: logged, shown generically
    assert without_paths("file /tmp/x/y.json and 3/4 and https://h/p") == "file y.json and 3/4 and https://h/p"


def test_the_history_survives_every_attack(served):
    """After the attacks above (whatever order they ran in), every owner's history lists, opens
    and deletes."""
    store, url, _ = served
    client = client_of(url)
    owner = "survivor-token-0123456789abcdef"
    made = generate(client, owner, stages=3)
    assert history(client, owner) == [made["session_id"]]
    client.predict(made["session_id"], owner, api_name="/open_session")
    client.predict(made["session_id"], owner, api_name="/delete_session")
    assert history(client, owner) == []
    with sqlite3.connect(served[2] / "studio.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_full_queue_refuses_at_once(tiny_studio, tmp_path):
    """max_queue_size requests may wait; past that a request is refused at once instead of piling
    up memory and waiting without end. One generation runs at a time (model_concurrency 1); the
    test holds it in its first write with another program's lock on the database, so the queue's
    state does not depend on timing."""
    from gradio_client.utils import Status

    root = tmp_path / "queue"
    root.mkdir()
    store = SessionStore(root / "studio.db", busy_timeout_ms=60_000)
    config = AppConfig(exports_dir=root / "exports", picture_size=64, view_size=32, gif_size=32,
                       thumbnail_size=16, max_queue_size=1)
    demo = build_app(tiny_studio, store, config)
    url = f"http://127.0.0.1:{launch(demo, **launch_options(config))}/"

    def wait_for(job, status: Status) -> None:
        deadline = time.monotonic() + 60
        while job.status().code != status:
            assert time.monotonic() < deadline, f"{job.status().code} instead of {status}"
            time.sleep(0.05)

    owners = [f"queue-{n}-browser-token-0123456789" for n in range(3)]
    clients = [client_of(url) for _ in owners]
    args = ("a red circle at the top", 3, False, 4, 3.0, 1.0, "qerror", 0.5)
    store.prepare()
    other = sqlite3.connect(root / "studio.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the first generation will wait on this lock, running
    try:
        running = clients[0].submit(*args, owners[0], api_name="/generate")
        wait_for(running, Status.PROCESSING)
        waiting = clients[1].submit(*args, owners[1], api_name="/generate")
        wait_for(waiting, Status.IN_QUEUE)
        refused = clients[2].submit(*args, owners[2], api_name="/generate")
        assert "queue is full" in error_of(refused.result).lower()
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        for job in (running, waiting):
            job.result()
        assert [len(history(c, o)) for c, o in zip(clients, owners)] == [1, 1, 0]
    finally:
        demo.close()
        store.close()
