"""The session store: exact round trips, branches, ownership, deletion, and the database failures
a person can meet (damaged, read-only, locked file), with several writers at once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from studio_core.state import GenerationState
from studio_core.store import (BranchConflict, DatabaseDamaged, DatabaseLocked, DatabaseReadOnly,
                               InvalidSessionData, OwnerError, SessionExport, SessionNotFound, SessionStore,
                               StoreError, database_url, read_session_file, write_session_file)

ALICE = "alice-browser-token-0123456789"
BOB = "bob-browser-token-9876543210xyz"
ARRAYS = ("ids", "known", "locked", "new", "revised", "placed_stage")


@pytest.fixture(scope="module")
def edited_state(tiny_studio) -> GenerationState:
    """A real history: 6 stages, a lock, a repaint under another prompt, a forced revision."""
    state = tiny_studio.generate_image("a red circle at the top", seed=5, settings=tiny_studio.settings(stages=6))
    top = np.zeros((4, 4), dtype=bool)
    top[0] = True
    left = np.zeros((4, 4), dtype=bool)
    left[:, :2] = True
    state = tiny_studio.lock(state, top)
    state = list(tiny_studio.repaint(state, left, prompt="a blue square"))[-1]
    return tiny_studio.force_revise(state, left)


def query(target, sql: str, **params):
    """One value straight from the database (SQLite or PostgreSQL), as an administrator would read it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url(target))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def assert_same_state(loaded: GenerationState, original: GenerationState) -> None:
    assert loaded.settings == original.settings
    assert loaded.plan == original.plan and loaded.mask_id == original.mask_id
    assert len(loaded.frames) == len(original.frames)
    for got, want in zip(loaded.frames, original.frames):
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
            assert getattr(got, name).dtype == getattr(want, name).dtype
        # to_dict keeps the confidence to 5 decimals: that is the stored precision.
        np.testing.assert_allclose(got.confidence, want.confidence, atol=1e-5)
        assert (got.stage, got.event, got.prompt, got.seed) == (want.stage, want.event, want.prompt, want.seed)
    assert loaded.to_dict() == original.to_dict()


def test_a_saved_state_loads_back_identical(db_target, tmp_path, edited_state):
    store = SessionStore(db_target)
    ref = store.create_session(ALICE, GenerationState(edited_state.settings, edited_state.plan,
                                                      edited_state.mask_id, edited_state.frames[:1],
                                                      model=edited_state.model))
    # Frames arrive one by one, as the app writes them while generating.
    for index, frame in enumerate(edited_state.frames[1:], start=1):
        assert store.append_frames(ref.session_id, ref.branch_id, ALICE, [frame], at=index) == index + 1
    opened = store.load(ref.session_id, ALICE)
    assert opened.branch_id == ref.branch_id and len(opened.branches) == 1
    assert_same_state(opened.state, edited_state)
    assert {f.event for f in opened.state.frames} == {"start", "stage", "lock", "repaint", "revise"}
    # A second store on the same file (a restarted app) reads the same.
    assert_same_state(SessionStore(db_target).load(ref.session_id, ALICE).state, edited_state)


def test_append_must_continue_where_the_branch_ends(db_target, tmp_path, edited_state):
    store = SessionStore(db_target)
    ref = store.create_session(ALICE, edited_state)
    n = len(edited_state.frames)
    with pytest.raises(BranchConflict, match="changed elsewhere"):
        store.append_frames(ref.session_id, ref.branch_id, ALICE, [edited_state.current], at=n - 1)
    assert store.branch_length(ref.session_id, ref.branch_id, ALICE) == n


def test_branches_share_their_parent_prefix_and_leave_it_alone(db_target, tmp_path, tiny_studio, edited_state):
    store = SessionStore(db_target)
    ref = store.create_session(ALICE, edited_state)
    fork = 3
    branch_state = list(tiny_studio.resume(edited_state.rewind(fork), seed=99))[-1]
    own = branch_state.frames[fork + 1:]
    branch = store.new_branch(ref.session_id, ALICE, ref.branch_id, fork, own)

    opened = store.load(ref.session_id, ALICE)  # the new branch is now the current one
    assert opened.branch_id == branch
    assert_same_state(opened.state, branch_state)
    assert [(b.number, b.parent_id, b.fork_index, b.length) for b in opened.branches] == [
        (1, None, None, len(edited_state.frames)), (2, ref.branch_id, fork, len(branch_state.frames))]
    assert_same_state(store.load(ref.session_id, ALICE, ref.branch_id).state, edited_state)

    # A branch of the branch, forked inside the prefix it inherited.
    nested = store.new_branch(ref.session_id, ALICE, branch, 1)
    assert_same_state(store.load(ref.session_id, ALICE, nested).state, edited_state.rewind(1))
    store.append_frames(ref.session_id, nested, ALICE, [branch_state.frames[2]], at=2)
    assert store.branch_length(ref.session_id, nested, ALICE) == 3
    assert_same_state(store.load(ref.session_id, ALICE, branch).state, branch_state)  # untouched

    store.set_current_branch(ref.session_id, ref.branch_id, ALICE)
    assert store.load(ref.session_id, ALICE).branch_id == ref.branch_id
    with pytest.raises(ValueError, match="fork_index"):
        store.new_branch(ref.session_id, ALICE, ref.branch_id, len(edited_state.frames))
    with pytest.raises(StoreError, match="not part of session"):
        store.load(ref.session_id, ALICE, branch_id=10_000)


def test_a_session_belongs_to_the_browser_that_made_it(db_target, tmp_path, edited_state):
    store = SessionStore(db_target)
    ref = store.create_session(ALICE, edited_state)
    assert [s.id for s in store.list_sessions(ALICE)] == [ref.session_id]
    assert store.list_sessions(BOB) == []

    def message(call) -> str:
        with pytest.raises(SessionNotFound) as caught:
            call()
        return str(caught.value)

    # Bob gets exactly what he would get for a session that does not exist.
    for call in (lambda sid: store.load(sid, BOB), lambda sid: store.delete(sid, BOB),
                 lambda sid: store.export_session(sid, BOB),
                 lambda sid: store.append_frames(sid, ref.branch_id, BOB, [edited_state.current], at=1),
                 lambda sid: store.new_branch(sid, BOB, ref.branch_id, 0)):
        assert message(lambda: call(ref.session_id)).replace(ref.session_id, "X") == \
            message(lambda: call("f" * 32)).replace("f" * 32, "X")
    assert_same_state(store.load(ref.session_id, ALICE).state, edited_state)  # nothing happened to it

    with pytest.raises(OwnerError):
        store.list_sessions("short")
    with pytest.raises(OwnerError):
        store.create_session(None, edited_state)
    # Only a hash of the token is kept: the file never holds the token itself.
    store.close()
    if isinstance(db_target, Path):
        for file in tmp_path.glob("studio.db*"):
            assert ALICE.encode() not in file.read_bytes()


def test_delete_removes_the_session_and_only_it(db_target, tmp_path, tiny_studio, edited_state):
    store = SessionStore(db_target)
    doomed = store.create_session(ALICE, edited_state)
    store.new_branch(doomed.session_id, ALICE, doomed.branch_id, 2, edited_state.frames[3:5])
    kept = store.create_session(ALICE, edited_state)
    store.delete(doomed.session_id, ALICE)

    assert [s.id for s in store.list_sessions(ALICE)] == [kept.session_id]
    with pytest.raises(SessionNotFound):
        store.load(doomed.session_id, ALICE)
    # Its branches and frames went with it.
    assert query(db_target, "SELECT count(*) FROM studio_branches WHERE session_id = :s", s=doomed.session_id) == 0
    assert query(db_target, "SELECT count(*) FROM studio_frames") == len(edited_state.frames)
    assert_same_state(store.load(kept.session_id, ALICE).state, edited_state)


def test_list_sessions_newest_first_with_their_last_frame(db_target, tmp_path, edited_state):
    store = SessionStore(db_target)
    first = store.create_session(ALICE, edited_state.rewind(2))
    second = store.create_session(BOB, edited_state)
    third = store.create_session(ALICE, edited_state)
    store.append_frames(first.session_id, first.branch_id, ALICE, [edited_state.frames[3]], at=3)
    sessions = store.list_sessions(ALICE)
    assert [s.id for s in sessions] == [first.session_id, third.session_id]  # first changed last
    np.testing.assert_array_equal(sessions[0].last_frame.ids, edited_state.frames[3].ids)
    assert sessions[1].prompt == "a red circle at the top" and sessions[1].branches == 1
    assert second.session_id not in {s.id for s in sessions}


def test_session_files_round_trip_and_bad_ones_are_refused(db_target, tmp_path, tiny_studio, edited_state):
    store = SessionStore(db_target)
    ref = store.create_session(ALICE, edited_state)
    store.new_branch(ref.session_id, ALICE, ref.branch_id, 2,
                     list(tiny_studio.resume(edited_state.rewind(2), seed=7))[-1].frames[3:])
    path = write_session_file(store.export_session(ref.session_id, ALICE), tmp_path / "session.json")

    imported = store.import_session(BOB, read_session_file(path.read_bytes()))
    assert imported.session_id != ref.session_id
    original = store.export_session(ref.session_id, ALICE).to_dict()
    assert store.export_session(imported.session_id, BOB).to_dict() == original
    assert store.load(imported.session_id, BOB).branch_id == imported.branch_id

    payload = original
    with pytest.raises(InvalidSessionData, match="not JSON"):
        read_session_file(b"\x89PNG not json")
    with pytest.raises(InvalidSessionData, match="format"):
        SessionExport.from_dict({"branches": []})
    broken = {**payload, "branches": [payload["branches"][0], {**payload["branches"][1], "fork_index": 99}]}
    with pytest.raises(InvalidSessionData, match="fork_index"):
        SessionExport.from_dict(broken)
    forged = {**payload, "branches": [payload["branches"][0],
                                      {**payload["branches"][1], "state": payload["branches"][0]["state"] | {
                                          "frames": payload["branches"][0]["state"]["frames"][::-1]}}]}
    with pytest.raises(InvalidSessionData, match="does not share"):
        SessionExport.from_dict(forged)
    with pytest.raises(InvalidSessionData):
        SessionExport.from_dict({**payload, "branches": [{"state": {"frames": "nope"}}]})


# ---------------------------------------------------------------------------------------------
# A database that cannot be used: a clear error, and the file exactly as it was.


def test_a_damaged_file_is_reported_and_left_untouched(tmp_path, edited_state):
    path = tmp_path / "studio.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    store = SessionStore(path)  # opening is lazy: an app starts and says what is wrong
    for call in (lambda: store.list_sessions(ALICE), lambda: store.create_session(ALICE, edited_state)):
        with pytest.raises(DatabaseDamaged, match="damaged or is not a SQLite database") as caught:
            call()
        # named by its file name only: a message never shows a client the server's folders
        assert path.name in str(caught.value) and str(path.parent) not in str(caught.value)
        assert "left exactly as it is" in str(caught.value)
    store.close()
    assert path.read_bytes() == garbage


def test_another_programs_database_is_not_touched(tmp_path, edited_state):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another program"):
        SessionStore(path).create_session(ALICE, edited_state)
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    assert path.read_bytes() == before


def _run_without_privileges(task, *args) -> tuple[str, str]:
    """Run `task(*args)` where file permissions apply: here if not root, else in a forked child
    that has dropped to 'nobody' (root ignores a read-only mode bit). Returns (error type, message)."""
    if os.geteuid() != 0:
        return task(*args)
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child():
        try:
            os.setgid(65534)
            os.setuid(65534)
            results.put(task(*args))
        except BaseException as err:  # reported, never hidden
            results.put(("child failed", repr(err)))

    process = context.Process(target=child)
    process.start()
    outcome = results.get(timeout=60)
    process.join(timeout=60)
    return outcome


def _try_to_use(path: str, state: GenerationState) -> tuple[str, str]:
    store = SessionStore(path)
    outcomes = []
    for call in (lambda: store.list_sessions(ALICE), lambda: store.create_session(ALICE, state)):
        try:
            call()
            outcomes.append(("no error", ""))
        except StoreError as err:
            outcomes.append((type(err).__name__, str(err)))
    store.close()
    return outcomes[1] if outcomes[0][0] == "no error" else outcomes[0]


def test_a_read_only_database_is_reported_and_nothing_is_lost(edited_state):
    folder = Path(tempfile.mkdtemp(prefix="studio-ro-"))  # outside root's private tmp: 'nobody' must reach it
    path = folder / "studio.db"
    try:
        store = SessionStore(path)
        ref = store.create_session(ALICE, edited_state)
        store.close()
        before = path.read_bytes()
        path.chmod(0o444)
        folder.chmod(0o555)
        kind, message = _run_without_privileges(_try_to_use, str(path), edited_state)
        assert kind == DatabaseReadOnly.__name__, message
        assert "read-only" in message and path.name in message and str(path.parent) not in message
        assert "nothing in it was changed" in message
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert_same_state(SessionStore(path).load(ref.session_id, ALICE).state, edited_state)


def test_a_locked_database_is_reported_then_works_again(tmp_path, edited_state):
    path = tmp_path / "studio.db"
    store = SessionStore(path, busy_timeout_ms=200)
    kept = store.create_session(ALICE, edited_state)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with pytest.raises(DatabaseLocked, match="locked by another program"):
            store.create_session(ALICE, edited_state)
        assert [s.id for s in store.list_sessions(ALICE)] == [kept.session_id]  # WAL: reads go on
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.create_session(ALICE, edited_state).session_id != kept.session_id
    assert len(store.list_sessions(ALICE)) == 2


# ---------------------------------------------------------------------------------------------
# Several writers at once


def test_concurrent_writers_leave_every_session_complete(db_target, edited_state):
    path = db_target
    stores = [SessionStore(path), SessionStore(path)]  # two stores: like two app processes
    frames = edited_state.frames
    errors: list[BaseException] = []
    made: list[tuple[str, str]] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        store, owner = stores[n % 2], f"{ALICE}-{n}"
        try:
            for _ in range(2):
                ref = store.create_session(owner, GenerationState(edited_state.settings, edited_state.plan,
                                                                  edited_state.mask_id, frames[:1],
                                                                  model=edited_state.model))
                for index in range(1, len(frames)):
                    store.append_frames(ref.session_id, ref.branch_id, owner, [frames[index]], at=index)
                with lock:
                    made.append((ref.session_id, owner))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(made) == 12
    check = SessionStore(path)
    for session_id, owner in made:
        assert_same_state(check.load(session_id, owner).state, edited_state)
    # Every branch complete and contiguous: frames 0..n-1, no gap, no extra.
    complete = ("SELECT count(*) FROM (SELECT branch_id FROM studio_frames GROUP BY branch_id HAVING count(*) = :n "
                "AND min(idx) = 0 AND max(idx) = :n - 1) AS complete")
    assert query(path, complete, n=len(frames)) == 12
    assert query(path, "SELECT count(DISTINCT branch_id) FROM studio_frames") == 12


def test_two_writers_racing_for_the_same_frame_one_wins(db_target, edited_state):
    path = db_target
    first, second = SessionStore(path), SessionStore(path)
    ref = first.create_session(ALICE, edited_state.rewind(1))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def append(store: SessionStore) -> None:
        barrier.wait()
        try:
            store.append_frames(ref.session_id, ref.branch_id, ALICE, [edited_state.frames[2]], at=2)
            outcomes.append("saved")
        except BranchConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=append, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert first.branch_length(ref.session_id, ref.branch_id, ALICE) == 3


# ---------------------------------------------------------------------------------------------
# Files made by the schema-1 store (git 6b24f52): people have them, so they must keep working.

DATA = Path(__file__).parent / "data"


def test_a_schema_1_file_is_moved_over_whole_and_keeps_working(tmp_path, tiny_studio):
    """tests/data/schema1.db was written by the previous store (JSON frames, settings per branch,
    PRAGMA user_version 1); schema1-sessions.json is what that store exported from it."""
    import json
    import shutil

    path = tmp_path / "studio.db"
    shutil.copy(DATA / "schema1.db", path)
    expected = json.loads((DATA / "schema1-sessions.json").read_text())
    owners = {ALICE: None, BOB: None}
    store = SessionStore(path)
    for owner in owners:
        [summary] = store.list_sessions(owner)
        owners[owner] = summary.id
        want = SessionExport.from_dict(expected[summary.id])  # read as this version reads that file
        assert store.export_session(summary.id, owner).to_dict() == want.to_dict()
        assert summary.last_frame.to_dict() == want.branches[want.current].state.current.to_dict()
    opened = store.load(owners[ALICE], ALICE)
    assert [(b.parent_id, b.fork_index) for b in opened.branches] == [(None, None), (opened.branches[0].id, 3)]
    assert opened.state.current.prompt == "a green diamond"
    # It goes on: a new frame on the old branch, a new branch, a delete.
    first = opened.branches[0]
    old = store.load(owners[ALICE], ALICE, first.id).state
    store.append_frames(owners[ALICE], first.id, ALICE, [tiny_studio.lock(old, old.current.known).current],
                        at=first.length)
    store.new_branch(owners[ALICE], ALICE, first.id, 1)
    store.delete(owners[BOB], BOB)
    assert store.list_sessions(BOB) == []
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not tables & {"sessions", "branches", "frames"}
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert SessionStore(path).load(owners[ALICE], ALICE, first.id).state.current.event == "lock"


def test_a_session_records_its_model_and_a_schema_1_file_keeps_it(db_target, tmp_path, edited_state):
    import shutil

    store = SessionStore(db_target)
    ref = store.create_session(ALICE, edited_state)
    assert store.load(ref.session_id, ALICE).state.model == edited_state.model == "studio"
    assert store.export_session(ref.session_id, ALICE).branches[0].state.model == "studio"
    store.close()
    # Schema-1 files: written before sessions named their model (no column: "" after the move),
    # or by the version that added the column to them (its value moves over).
    path = tmp_path / "old.db"
    shutil.copy(DATA / "schema1.db", path)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE sessions ADD COLUMN model VARCHAR")
        conn.execute("UPDATE sessions SET model = 'studio' WHERE id = (SELECT min(id) FROM sessions)")
        named = conn.execute("SELECT id FROM sessions WHERE model IS NOT NULL").fetchone()[0]
    old = SessionStore(path)
    models = {s.id: old.load(s.id, owner).state.model for owner in (ALICE, BOB) for s in old.list_sessions(owner)}
    assert models[named] == "studio" and sorted(models.values()) == ["", "studio"]


def test_a_database_server_that_cannot_be_reached_is_reported_without_its_password():
    from servers import free_port

    from studio_core.store import DatabaseUnavailable

    store = SessionStore(f"postgresql+psycopg://studio:s3cret-pw@127.0.0.1:{free_port()}/sessions",
                         busy_timeout_ms=1000)
    with pytest.raises(DatabaseUnavailable) as caught:
        store.list_sessions(ALICE)
    message = str(caught.value)
    assert "cannot be reached" in message and "'sessions'" in message and "s3cret-pw" not in message
    with pytest.raises(StoreError, match="is not a database this app can open"):
        SessionStore("nosuchdb://host/sessions")
