"""Progressive Studio web app.

    python app.py [--host 127.0.0.1] [--port 7860] [--checkpoint DIR_OR_HUB_ID ...] [--default-model NAME]
                  [--db PATH|URL] [--exports DIR]

Serves the studio on every bundled model by default (each folder under `checkpoints/` with a
`studio.json`), with a model picker when there are several, its session database and exports in
the git-ignored `data/` folder next to this file. The same file is a Hugging Face Space's entry point:
a Space sets GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, which become the defaults here.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

# Before anything imports gradio or huggingface_hub: no analytics calls, no hub lookups, no
# telemetry (this app runs offline; an environment that sets them otherwise wins).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from studio_core.checkpoints import DEFAULT_MODEL  # noqa: E402  (light: paths only, no torch)

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PAGE_DEFAULT_MODEL = DEFAULT_MODEL.name  # emoji-v1: it draws real things (its card has the figures)


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    checkpoints: tuple[str, ...]
    default_model: str | None
    db: str  # a SQLAlchemy URL, or a path (SQLite)
    exports: Path
    max_exports: int
    cpu: bool
    precision: str | None
    stream_interval_ms: int | None = None  # None: AppConfig's default


def parse_args(argv: list[str] | None = None) -> ServerSettings:
    parser = argparse.ArgumentParser(prog="python app.py", description="Progressive Studio web app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--checkpoint", action="append", default=None,
                        help="a model to serve, repeatable: a studio checkpoint directory, an aMUSEd pipeline "
                             "folder (model_index.json) or a hub id such as amused/amused-256 (fetched only with "
                             "HF_HUB_OFFLINE=0); default: every bundled checkpoint under checkpoints/")
    parser.add_argument("--default-model", default=None,
                        help="the model a page opens on, by name (a checkpoint's folder name; default: the "
                             "first --checkpoint, else emoji-v1)")
    parser.add_argument("--db", default=str(DATA / "studio.db"),
                        help="session database: a SQLite file path (the default, one machine) or a SQLAlchemy "
                             "URL such as postgresql+psycopg://user:password@host/db, which several replicas "
                             "of the app can share")
    parser.add_argument("--exports", type=Path, default=DATA / "exports",
                        help="folder for exported GIF/PNG/JSON files (the only place exports go)")
    parser.add_argument("--max-exports", type=int, default=100,
                        help="exported files kept in that folder; the oldest go first")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even where a GPU is present")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                        help="the transformer's precision (default auto: bf16 on CPUs with AMX, else fp32)")
    parser.add_argument("--stream-interval-ms", type=int, default=None,
                        help="while a picture streams, show a stage at most this often (default 150; the first "
                             "stage at once, the finished picture always)")
    args = parser.parse_args(argv)
    if args.stream_interval_ms is not None and args.stream_interval_ms < 0:
        parser.error(f"--stream-interval-ms must be 0 or more, got {args.stream_interval_ms}")
    return ServerSettings(host=args.host, port=args.port, checkpoints=tuple(args.checkpoint or bundled_checkpoints()),
                          default_model=args.default_model, db=args.db,
                          exports=args.exports, max_exports=args.max_exports, cpu=args.cpu,
                          precision=args.precision, stream_interval_ms=args.stream_interval_ms)


def bundled_checkpoints() -> list[str]:
    """Every bundled model: a folder under checkpoints/ with a studio.json (emoji-v1 first, as the
    page's default since it met its figures: it draws real things; the others by name)."""
    found = sorted(p.parent for p in (HERE / "checkpoints").glob("*/studio.json"))
    found.sort(key=lambda p: p.name != PAGE_DEFAULT_MODEL)
    return [str(p) for p in found]


def load_studios(settings: ServerSettings):
    """Every model, loaded at start (not on first use): the bundled models are small (tens of MB
    each), a big one such as aMUSEd (3-4 GB) is there because it was asked for, and a model that
    cannot load is reported now, in one line, not inside the first request that picks it, which
    would also wait seconds for the load."""
    from studio_core import Studio

    studios = [Studio.load(checkpoint, cpu=settings.cpu, precision=settings.precision)
               for checkpoint in settings.checkpoints]
    for studio in studios:  # once per model, before any request (preview colours; aMUSEd: its blank row too)
        studio.family.warm_up()
    return studios


def port_in_use(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, as one line naming --port; None if it can.
    Checked before the model loads, so a busy port costs a second, not a traceback from Gradio."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind((host, port))
        except OSError as err:
            return (f"error: cannot listen on {host}:{port} ({err.strerror or err}): another program uses it; "
                    f"choose another port with --port N (make studio PORT=N)")
    return None


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    busy = port_in_use(settings.host, settings.port)
    if busy:
        print(busy, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Gradio keeps temporary copies of the pictures it serves; keep them with the app's other
    # files (and out of the shared /tmp) unless the environment says where.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.exports.parent / "gradio-tmp"))

    from sqlalchemy.exc import SQLAlchemyError

    from app import AppConfig, build_app, launch_options
    from studio_core import StudioError
    from studio_core.store import SessionStore, StoreError

    try:
        studios = load_studios(settings)
        interval = {} if settings.stream_interval_ms is None else {"stream_interval_ms": settings.stream_interval_ms}
        config = AppConfig(exports_dir=settings.exports.resolve(), max_exports=settings.max_exports,
                           default_model=settings.default_model, **interval)
    except (StudioError, ValueError) as err:  # a model that does not load, two of the same name
        print(f"error: {err}", file=sys.stderr)
        return 2
    # A damaged, read-only or unreachable database is reported in the page by each action that
    # needs it, and the app keeps serving meanwhile.
    try:
        store = SessionStore(settings.db)
    except (StoreError, ImportError, SQLAlchemyError) as err:  # a bad URL, a driver not installed
        print(f"error: --db: {err}", file=sys.stderr)
        return 2
    try:
        store.prepare()  # the tables exist before the first request (and before other replicas serve)
    except StoreError as err:  # the app still starts: each action that needs the database says this
        logging.getLogger("app").warning("%s", err)
    try:
        demo = build_app(studios, store, config)
    except (StudioError, ValueError) as err:  # a default model that is not served
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, **launch_options(config))
    except OSError:  # taken between the check and the launch
        print(port_in_use(settings.host, settings.port) or f"error: cannot listen on port {settings.port}: "
              f"choose another with --port N", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
