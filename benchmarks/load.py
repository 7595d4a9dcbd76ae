"""A bounded load test of the studio app on 127.0.0.1, and the attacks of issue 12 against it.

    python benchmarks/load.py [--clients 4] [--generations 3] [--stages 16] [--checkpoint DIR]
                              [--setups sqlite-1,postgres-1,postgres-2] [--no-attacks]

Each setup starts real app processes (`python app.py`, the bundled model unless --checkpoint):
one replica on SQLite, one on PostgreSQL, two on one PostgreSQL database (the clients split
between them, as a load balancer would send them). N clients each run M generations at once
through gradio_client; the table gives p50 / p95 of submit-to-finished-picture, the wall time,
and what the database holds afterwards: every session complete (stages + 1 frames) and
contiguous (frames 0..n with no gap), nothing lost, and `PRAGMA integrity_check` on SQLite.
PostgreSQL is the tests' own server (tests/postgres.py: initdb + pg_ctl in a temporary folder).
torch threads per replica: the machine's cores shared out (OMP_NUM_THREADS = cores // replicas).

The attacks then run against one replica on SQLite (with its own limits, AppConfig and
StoreLimits defaults) and print what each costs now: time to the answer, the server's peak
memory growth, the database's growth, and the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the PostgreSQL starter and the payloads the tests use

PROMPTS = (
    "a large red circle in the top left and a small blue square at the bottom right",
    "a large yellow triangle in the center on a navy background",
    "a small green diamond on the right",
    "a large white circle at the bottom and a small orange triangle at the top",
)


@dataclass
class Replica:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_replica(db: str, root: Path, checkpoint: str | None, threads: int) -> Replica:
    from servers import free_port

    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"replica-{port}.log"
    command = [sys.executable, str(REPO / "app.py"), "--port", str(port), "--db", db, "--exports",
               str(root / f"exports-{port}")]
    if checkpoint:
        command += ["--checkpoint", checkpoint]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GRADIO_TEMP_DIR": str(root / f"tmp-{port}")}
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, process, log)
    return Replica(process, url, log)


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "gradio_api/info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the app did not answer within {timeout:.0f} s")


# ---------------------------------------------------------------------------------------------
# Load


@dataclass(frozen=True)
class LoadResult:
    setup: str
    generations: int
    failures: int
    p50_s: float
    p95_s: float
    wall_s: float
    sessions: int
    complete: int
    integrity: str


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_load(urls: list[str], clients: int, generations: int, stages: int) -> tuple[list[float], list[dict], int]:
    from gradio_client import Client

    from app.views import PAGE_OUTPUTS

    latencies: list[float] = []
    made: list[dict] = []
    failures = [0]
    lock = threading.Lock()

    def visitor(n: int) -> None:
        client = Client(urls[n % len(urls)], verbose=False, download_files=False)
        owner = f"load-client-{n}-token-0123456789"
        for k in range(generations):
            start = time.perf_counter()
            try:
                out = client.submit(PROMPTS[(n + k) % len(PROMPTS)], n * 100 + k, False, stages, 3.0, 1.0,
                                    "qerror", 0.5, owner, api_name="/generate").result()
                data = dict(zip(PAGE_OUTPUTS[1:], out))["frame_data"]  # gr.State is not returned
                with lock:
                    latencies.append(time.perf_counter() - start)
                    made.append({"owner": owner, **{k: data[k] for k in ("session_id", "branch_id", "frames")}})
            except Exception as err:  # noqa: BLE001 - counted and shown
                with lock:
                    failures[0] += 1
                print(f"  client {n}: {type(err).__name__}: {err}", file=sys.stderr)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, made, failures[0]


def check_database(db: str, made: list[dict], stages: int) -> tuple[int, int, str]:
    """Sessions stored, how many are complete and contiguous, and SQLite's integrity check."""
    from sqlalchemy import create_engine, text

    from studio_core.store import database_url

    engine = create_engine(database_url(db))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT branch_id, count(*), min(idx), max(idx) FROM studio_frames "
                                     "GROUP BY branch_id")).all()
            sessions = conn.execute(text("SELECT count(*) FROM studio_sessions")).scalar()
            integrity = conn.execute(text("PRAGMA integrity_check")).scalar() if "://" not in db else "n/a"
    finally:
        engine.dispose()
    shapes = {r[0]: tuple(r[1:]) for r in rows}
    complete = sum(shapes.get(m["branch_id"]) == (stages + 1, 0, stages) and m["frames"] == stages + 1
                   for m in made)
    return sessions, complete, integrity


def load_setup(name: str, args, root: Path, postgres) -> LoadResult:
    kind, count = name.split("-")
    replicas = int(count)
    db = str(root / f"{name}.db") if kind == "sqlite" else postgres.new_database()
    threads = max(1, (os.cpu_count() or 2) // replicas)
    started = [start_replica(db, root / name, args.checkpoint, threads) for _ in range(replicas)]
    try:
        run_load([r.url for r in started], 1, 1, args.stages)  # warm-up: each replica's first prompt
        start = time.perf_counter()
        latencies, made, failures = run_load([r.url for r in started], args.clients, args.generations, args.stages)
        wall = time.perf_counter() - start
    finally:
        for r in started:
            r.stop()
    sessions, complete, integrity = check_database(db, made, args.stages)
    return LoadResult(name, len(latencies), failures, statistics.median(latencies) if latencies else float("nan"),
                      percentile(latencies, 0.95) if latencies else float("nan"), wall,
                      sessions - 1, complete, integrity)  # -1: the warm-up's session


def frame_storage(db: Path) -> str:
    """Bytes a frame takes in schema 2 (packed data, plus its prompt where it changes) against
    the JSON of schema 1 (`TokenFrame.to_dict`) for the same frames."""
    from studio_core.store_schema import decode_frame

    packed = as_json = count = 0
    prompt, shape = None, None
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT data, stage, event, seed, prompt FROM studio_frames ORDER BY branch_id, idx")
        for data, stage, event, seed, named in rows:
            prompt = named or prompt
            frame = decode_frame(data, stage, event, seed, prompt)
            packed += len(data) + (len(named.encode()) if named else 0)
            as_json += len(json.dumps(frame.to_dict(), separators=(",", ":")).encode())
            count, shape = count + 1, frame.ids.shape
    return (f"{count} frames of {shape[0]}x{shape[1]} tokens: {packed / count:.0f} bytes a frame stored (schema 2), "
            f"{as_json / count:.0f} as schema 1's JSON ({as_json / packed:.1f}x)")


# ---------------------------------------------------------------------------------------------
# Attacks


def peak_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def run_attacks(args, root: Path) -> list[tuple[str, str, str]]:
    import httpx
    from gradio_client import Client, handle_file
    from payloads import branch_chain, png_of_size

    db = root / "attacks.db"
    replica = start_replica(str(db), root / "attacks", args.checkpoint, os.cpu_count() or 2)
    pid = replica.process.pid
    owner = "attacked-owner-token-0123456789"
    rows: list[tuple[str, str, str]] = []

    def attempt(name: str, call) -> None:
        peak_reset(pid)
        before_peak, before_db = peak_mb(pid), db_bytes(db)
        start = time.perf_counter()
        try:
            call()
            outcome = "accepted"
        except Exception as err:  # noqa: BLE001 - the answer is the point
            outcome = f"refused: {str(err).splitlines()[0][:110]}"
        took = time.perf_counter() - start
        rows.append((name, f"{took * 1000:.0f} ms, +{peak_mb(pid) - before_peak:.0f} MB peak, "
                           f"+{(db_bytes(db) - before_db) / 2**20:.2f} MB db", outcome))

    try:
        client = Client(replica.url, verbose=False, download_files=False)
        generate = lambda prompt, stages=16: client.predict(prompt, 1, False, stages, 3.0, 1.0, "qerror", 0.5,  # noqa: E731
                                                             owner, api_name="/generate")
        generate(PROMPTS[0])
        attempt("2 MB prompt over 16 stages", lambda: generate("a red circle " * 160_000))
        big = png_of_size(root / "huge.png", 10_000, 10_000)
        editor = {"background": None, "layers": [handle_file(str(big))], "composite": None}
        attempt(f"10000x10000 selection PNG ({big.stat().st_size // 1024} kB)",
                lambda: client.predict(editor, owner, api_name="/lock"))

        def upload():
            response = httpx.post(replica.url + "gradio_api/upload",
                                  files={"files": ("big.json", b"0" * (64 * 2**20))}, timeout=120)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
        attempt("64 MB upload, no login", upload)
        export = client.predict(owner, api_name="/export_json")
        payload = json.loads(httpx.get(export["url"], timeout=30).content)
        frames = payload["branches"][0]["state"]["frames"]
        frames.extend([frames[-1]] * 2_335)
        big_file = root / "big-session.json"
        big_file.write_text(json.dumps(payload, separators=(",", ":")))
        attempt(f"session import of {len(frames):,} frames ({big_file.stat().st_size / 2**20:.1f} MB)",
                lambda: client.predict(handle_file(str(big_file)), owner, api_name="/import_json"))
        payload = branch_chain(payload, 1_500)
        chain_file = root / "chain-session.json"
        chain_file.write_text(json.dumps(payload, separators=(",", ":")))
        attempt("session import: a chain of 1,500 branches",
                lambda: client.predict(handle_file(str(chain_file)), owner, api_name="/import_json"))
        payload = json.loads(httpx.get(export["url"], timeout=30).content)
        payload["branches"][0]["state"]["plan"] = [1] * 2_000_000
        plan_file = root / "plan-session.json"
        plan_file.write_text(json.dumps(payload, separators=(",", ":")))
        attempt("session import: a 2-million-stage plan",
                lambda: client.predict(handle_file(str(plan_file)), owner, api_name="/import_json"))
        thief = Client(replica.url, verbose=False, download_files=False)
        thief.session_hash = client.session_hash
        attempt("/export_png with another tab's session_hash",
                lambda: thief.predict("thief-browser-token-0123456789", api_name="/export_png"))
        attempt("/open_branch 10**30", lambda: client.predict(10**30, owner, api_name="/open_branch"))
        sessions = client.predict(owner, api_name="/list_sessions")[1]
        rows.append(("afterwards: the owner's history", "", f"{len(sessions)} session(s) listed"))
        for row in sessions:
            client.predict(row["id"], owner, api_name="/delete_session")
        rows.append(("afterwards: delete them all", "", f"{len(client.predict(owner, api_name='/list_sessions')[1])} left"))
        with sqlite3.connect(db) as conn:
            rows.append(("afterwards: PRAGMA integrity_check", "", conn.execute("PRAGMA integrity_check").fetchone()[0]))
    finally:
        replica.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--stages", type=int, default=16)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--setups", default="sqlite-1,postgres-1,postgres-2")
    parser.add_argument("--no-attacks", action="store_true")
    args = parser.parse_args()

    from postgres import start_postgres

    root = Path(tempfile.mkdtemp(prefix="studio-load-"))
    setups = [s for s in args.setups.split(",") if s]
    postgres = start_postgres() if any(s.startswith("postgres") for s in setups) else None
    try:
        results = [load_setup(name, args, root, postgres) for name in setups]
    finally:
        if postgres is not None:
            postgres.stop()
    print(f"\n{args.clients} clients x {args.generations} generations of {args.stages} stages, "
          f"{os.cpu_count()} CPU cores, model: {args.checkpoint or 'bundled'}\n")
    print("| setup | generations ok | failed | p50 s | p95 s | wall s | sessions stored | complete and contiguous "
          "| integrity_check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.setup} | {r.generations} | {r.failures} | {r.p50_s:.2f} | {r.p95_s:.2f} | {r.wall_s:.1f} | "
              f"{r.sessions} | {r.complete} | {r.integrity} |")
    if "sqlite-1" in setups:
        print("\n" + frame_storage(root / "sqlite-1.db"))
    if not args.no_attacks:
        rows = run_attacks(args, root)
        print("\n| attack | cost now | answer |\n|---|---|---|")
        for name, cost, outcome in rows:
            print(f"| {name} | {cost} | {outcome} |")


if __name__ == "__main__":
    main()
