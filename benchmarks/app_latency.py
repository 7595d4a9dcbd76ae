"""Latency of the studio app as a client sees it: from submitting /generate to the first streamed
stage on the client, and to the finished picture, through gradio_client against the real app on
the bundled model. Prints a markdown table.

    python benchmarks/app_latency.py [--runs 10] [--stages 16] [--checkpoint DIR] [--threads N]
        [--stream-interval-ms 150 [100 ...]] [--client-loop iterate [poll]]

The app runs as it is served (`python app.py`, a process of its own, throwaway database and
export folder); the client is a default `gradio_client.Client`, which downloads every streamed
file as a browser fetches every picture. Each run uses a prompt neither side has seen (its text is
encoded, as for a new visitor's first prompt) and a fresh session. The same pictures are made
in-process by `Studio` too (the model loaded, every stage, one decode of the finished picture),
alternating with the app's runs, so the ratio compares pictures made side by side in one run.

Several stream intervals (one served app each) and both ways a client can follow a stream can be
compared in the same run: `iterate` is `for output in job` (gradio_client's iterator, which
sleeps 1 ms at a time while holding the lock its receiving thread needs to store each message),
`poll` reads `job.outputs()` every 5 ms without holding it. Each configuration is a row; every
app run is paired with the in-process run just before it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPTS = (
    "a large red circle in the top left and a small blue square at the bottom right",
    "a large yellow triangle in the center on a navy background",
    "a small green diamond on the right",
    "a large purple square in the top right corner with a gray background",
    "a large white circle at the bottom and a small orange triangle at the top",
    "a small cyan circle on the left over a brown background",
)
OWNER = "benchmark-owner-token-0000"
GOALS = {"first_ms": 300, "ratio": 1.5}
LOOPS = ("iterate", "poll")
GUIDANCE, TEMPERATURE, STRATEGY, REVISION = 3.0, 1.0, "qerror", 0.5  # the same in both columns


@dataclass(frozen=True)
class RunTimes:
    first_ms: float  # submit -> first streamed stage on the client
    last_ms: float  # submit -> the finished picture on the client
    outputs: int  # streamed outputs received


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_app(checkpoint: str | None, threads: int | None, stream_interval_ms: int) -> Iterator[str]:
    """The real app (`python app.py`) in a process of its own, as it is served, with a throwaway
    database and export folder; yields its URL once it answers."""
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    port = free_port()
    command = [sys.executable, str(REPO / "app.py"), "--port", str(port), "--cpu", "--db", str(work / "bench.db"),
               "--exports", str(work / "exports"), "--stream-interval-ms", str(stream_interval_ms)] \
        + (["--checkpoint", checkpoint] if checkpoint else [])
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))  # torch reads it at start
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("w"), env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start: see {work / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def default_stream_interval() -> int:
    from app.config import AppConfig

    return AppConfig.__dataclass_fields__["stream_interval_ms"].default


def time_generation(client, prompt: str, seed: int, stages: int, loop: str = "iterate") -> RunTimes:
    start = time.perf_counter()
    job = client.submit(prompt, seed, False, stages, GUIDANCE, TEMPERATURE, STRATEGY, REVISION, OWNER,
                        api_name="/generate")
    first = None
    if loop == "iterate":
        for _ in job:  # one output per page, as the server streams them
            first = first or time.perf_counter()
    else:
        while not job.done():
            if first is None and job.outputs():
                first = time.perf_counter()
            time.sleep(0.005)
    job.result()  # raises if the run failed
    end = time.perf_counter()
    return RunTimes(((first or end) - start) * 1000, (end - start) * 1000, len(job.outputs()))


def time_in_process(studio, prompt: str, seed: int, stages: int) -> tuple[float, float]:
    """The library's own time for the same picture: the model loaded, every stage made, one decode
    of the finished picture (no web layer, no database, no streaming). Returns (first stage made,
    finished picture decoded) in ms."""
    settings = studio.settings(stages=stages, guidance=GUIDANCE, temperature=TEMPERATURE, strategy=STRATEGY,
                               revision=REVISION)
    studio.forget_prompts()
    start = time.perf_counter()
    first = state = None
    for state in studio.generate(prompt, seed, settings):
        first = first or time.perf_counter()
    studio.decode(state.current)
    return (first - start) * 1000, (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stages", type=int, default=16)
    parser.add_argument("--checkpoint", default=None, help="studio checkpoint (default: the bundled model)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads on both sides (default: torch's own; on a machine shared with other "
                             "work, 1 keeps two threads from waiting on each other for a core)")
    parser.add_argument("--stream-interval-ms", type=int, nargs="+", default=[default_stream_interval()],
                        help="the app's stream interval (default: the app's own); several: one served app each, "
                             "compared side by side")
    parser.add_argument("--client-loop", choices=LOOPS, nargs="+", default=["iterate"],
                        help="how the client follows the stream (see the module's doc); several: compared")
    args = parser.parse_args(argv)

    import torch
    from gradio_client import Client

    from studio_core import Studio

    if args.threads:
        torch.set_num_threads(args.threads)
    studio = Studio.load(args.checkpoint, cpu=True)
    configs = [(interval, loop) for interval in args.stream_interval_ms for loop in args.client_loop]
    web: dict[tuple[int, str], list[RunTimes]] = {c: [] for c in configs}
    local: dict[tuple[int, str], list[tuple[float, float]]] = {c: [] for c in configs}
    with ExitStack() as stack:
        # A default client downloads every streamed file, as a browser fetches every picture.
        clients = {interval: Client(stack.enter_context(served_app(args.checkpoint, args.threads, interval)),
                                    verbose=False) for interval in args.stream_interval_ms}
        for client in clients.values():  # warm-up: first requests set things up
            time_generation(client, "a small red circle", 0, args.stages)
        for run in range(args.runs):
            # A prompt neither side has seen (the server keeps the text of prompts it has seen).
            prompt = f"{PROMPTS[run % len(PROMPTS)]}{' ' + str(run) if run >= len(PROMPTS) else ''}"
            for interval, loop in configs:
                local[interval, loop].append(time_in_process(studio, prompt, run, args.stages))
                web[interval, loop].append(time_generation(clients[interval], prompt, run, args.stages, loop))

    print(f"App latency through a default gradio_client.Client (files downloaded), {studio.precision} "
          f"transformer, {args.stages} stages, median of {args.runs} runs, side by side with the same "
          f"pictures made in-process (torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f} at the end):\n")
    print("| stream interval, client loop | pages streamed | first stage on the client | finished picture: app "
          "| in-process `Studio` (one decode) | app / in-process, median of the pairs | goals |")
    print("|---|---|---|---|---|---|---|")
    for config in configs:
        print(config_row(config, web[config], local[config]))
    return 0


def config_row(config: tuple[int, str], web: list[RunTimes], local: list[tuple[float, float]]) -> str:
    """One configuration's medians. Each app run is paired with the in-process run just before it
    (the same prompt, the machine in the same state): the median of the pairs' ratios is the
    figure that holds up on a shared machine, where a minute's load moves both columns."""
    median = statistics.median
    first, last = median(r.first_ms for r in web), median(r.last_ms for r in web)
    local_first, local_last = median(t[0] for t in local), median(t[1] for t in local)
    ratio = median(w.last_ms / t[1] for w, t in zip(web, local))
    pages = "/".join(str(n) for n in sorted({r.outputs for r in web}))
    goals = (f"first ≤ {GOALS['first_ms']} ms{'' if first <= GOALS['first_ms'] else ' (missed)'}, "
             f"ratio ≤ {GOALS['ratio']}x{'' if ratio <= GOALS['ratio'] else ' (missed)'}")
    return (f"| {config[0]} ms, {config[1]} | {pages} | {first:.0f} ms ({local_first:.0f} ms made) | {last:.0f} ms "
            f"| {local_last:.0f} ms | {ratio:.2f}x | {goals} |")


if __name__ == "__main__":
    sys.exit(main())
