"""Where models live on disk and what is wrong when they cannot be loaded.

A studio checkpoint is one directory:

    <name>/
      tokenizer/      diffusers VQModel (config.json + diffusion_pytorch_model.safetensors)
      transformer/    ProgressiveTransformer (config.json + model.safetensors)
      studio.json     which parts go together: tokenizer, transformer, text encoder; optionally
                      "sampling" (the checkpoint's sampling defaults), "examples" (prompts the
                      page offers) and "evaluation" (which data set and checker judge it)
      README.md       the model card

Every failure to load names the path and what is wrong with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import StudioError

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CHECKPOINT = REPO_ROOT / "checkpoints" / "shapes-v1"  # the paper's model: Studio.load(), evaluate, bench
# The model a person meets first: the page opens on it (app.py) and `generate` draws with it.
DEFAULT_MODEL = REPO_ROOT / "checkpoints" / "emoji-v1"


class CheckpointError(StudioError, RuntimeError):
    """A model directory is missing, incomplete or damaged."""


def require_model_dir(path: str | Path, what: str, required: tuple[str, ...]) -> Path:
    directory = Path(path)
    if not directory.exists():
        raise CheckpointError(f"{directory}: {what} not found (no such directory)")
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: {what} must be a directory, found a file")
    missing = [name for name in required if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(f"{directory}: {what} is incomplete, missing {', '.join(missing)}")
    return directory


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CheckpointError(f"{path}: missing") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from err


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def assemble_studio_checkpoint(out: str | Path, tokenizer_dir: str | Path, text_encoder: str,
                               write_transformer) -> Path:
    """Lay out a studio checkpoint: the tokenizer copied in, the transformer written by
    `write_transformer(directory)`, and `studio.json` saying which text encoder goes with them."""
    import shutil

    out = Path(out)
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "diffusion_pytorch_model.safetensors"):
        shutil.copy2(Path(tokenizer_dir) / name, out / "tokenizer" / name)
    write_transformer(out / "transformer")
    # A manifest already there keeps its other entries (sampling defaults, examples, evaluation):
    # a resumed training run re-assembles the checkpoint and must not drop them.
    manifest = read_json(out / "studio.json") if (out / "studio.json").is_file() else {}
    write_json(out / "studio.json", manifest | {"tokenizer": "tokenizer", "transformer": "transformer",
                                                "text_encoder": text_encoder})
    return out


def evaluation_entry(checkpoint: str | Path | None) -> dict:
    """The checkpoint's "evaluation" entry: {"dataset": "shapes"} unless studio.json says otherwise
    (an emoji model says {"dataset": "emoji", "checker": <directory, relative to the checkpoint>})."""
    directory = require_model_dir(checkpoint or BUNDLED_CHECKPOINT, "studio checkpoint", ("studio.json",))
    entry = read_json(directory / "studio.json").get("evaluation", {"dataset": "shapes"})
    if not isinstance(entry, dict) or entry.get("dataset", "shapes") not in ("shapes", "emoji"):
        raise CheckpointError(f"{directory / 'studio.json'}: \"evaluation\" must be an object whose "
                              f"\"dataset\" is shapes or emoji, got {entry!r}")
    if entry.get("dataset") == "emoji":
        entry = entry | {"checker": str((directory / entry.get("checker", "../emoji-checker-v1")).resolve())}
    return {"dataset": "shapes"} | entry
