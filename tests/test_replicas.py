"""Two replicas of the app sharing one PostgreSQL database (the tests' own server): a session made
on one lists, opens and continues on the other, and both writing at once leaves every session
complete and contiguous."""

from __future__ import annotations

import threading

import pytest
from gradio_client import Client
from sqlalchemy import create_engine, text

from app import AppConfig, build_app, launch_options
from app.views import PAGE_OUTPUTS
from studio_core.store import SessionStore

from servers import launch

RETURNED = PAGE_OUTPUTS[1:]
OWNER = "replica-owner-token-0123456789ab"


@pytest.fixture(scope="module")
def replicas(tiny_studio, postgres_server, tmp_path_factory):
    url = postgres_server.new_database()
    started = []
    for name in ("a", "b"):
        root = tmp_path_factory.mktemp(f"replica-{name}")
        store = SessionStore(url)
        config = AppConfig(exports_dir=root / "exports", picture_size=64, view_size=32, gif_size=32,
                           thumbnail_size=16)
        demo = build_app(tiny_studio, store, config)
        started.append((demo, store, f"http://127.0.0.1:{launch(demo, **launch_options(config))}/"))
    yield url, [address for _, _, address in started]
    for demo, store, _ in started:
        demo.close()
        store.close()


def page(outputs) -> dict:
    return dict(zip(RETURNED, outputs))["frame_data"]


def test_a_session_made_on_one_replica_continues_on_the_other(replicas):
    _, (a, b) = replicas
    on_a, on_b = Client(a, verbose=False, download_files=False), Client(b, verbose=False, download_files=False)
    args = ("a small green diamond", 5, False, 5, 3.0, 1.0, "qerror", 0.5, OWNER)
    first = page(on_a.predict(*args, api_name="/step"))
    assert first["stage"] == 1
    assert first["session_id"] in [r["id"] for r in on_b.predict(OWNER, api_name="/list_sessions")[1]]
    opened = page(on_b.predict(first["session_id"], OWNER, api_name="/open_session"))
    assert opened["ids"] == first["ids"] and opened["frames"] == 2
    finished = page(on_b.predict(OWNER, api_name="/continue"))
    assert finished["stage"] == 5 and finished["frames"] == 6
    # Back on the first replica: the same, finished session, the first replica's tab catches up.
    [row] = [r for r in on_a.predict(OWNER, api_name="/list_sessions")[1] if r["id"] == first["session_id"]]
    assert row["finished"] and row["stage"] == 5
    again = page(Client(a, verbose=False, download_files=False).predict(first["session_id"], OWNER,
                                                                         api_name="/open_session"))
    assert again["ids"] == finished["ids"]
    page(on_b.predict(first["session_id"], OWNER, api_name="/delete_session"))
    assert first["session_id"] not in [r["id"] for r in on_a.predict(OWNER, api_name="/list_sessions")[1]]


def test_both_replicas_writing_at_once_leave_every_session_complete(replicas):
    url, addresses = replicas
    made: list[dict] = []
    errors: list[BaseException] = []

    def visitor(n: int) -> None:
        client = Client(addresses[n % 2], verbose=False, download_files=False)
        try:
            for k in range(2):
                job = client.submit(f"a red circle number {n}", n * 10 + k, False, 6, 3.0, 1.0, "qerror", 0.5,
                                    f"{OWNER}-{n}", api_name="/generate")
                made.append(page(job.result()))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and len(made) == 8
    assert all(m["stage"] == 6 and m["frames"] == 7 for m in made)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            shapes = conn.execute(text(
                "SELECT f.branch_id, count(*), min(f.idx), max(f.idx) FROM studio_frames f JOIN studio_branches b "
                "ON f.branch_id = b.id GROUP BY f.branch_id")).all()
    finally:
        engine.dispose()
    mine = {m["branch_id"] for m in made}
    assert {row[0] for row in shapes} >= mine
    assert all(row[1:] == (7, 0, 6) for row in shapes if row[0] in mine)  # complete and contiguous
