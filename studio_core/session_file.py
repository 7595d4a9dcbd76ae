"""The session file: a whole session (every branch) as JSON, and everything checked about one
before the store keeps any of it.

A file is read in two steps, both before anything is stored: `read_session_file` parses it and
checks its shape and the store's limits (branches, depth, frames, prompt lengths), then
`check_fits_model` checks it against the model that will show it (grid, codebook, mask id,
settings through the sampler's own validation, a plan that is the one those settings make).
The store then writes it in one transaction and commits only once it loads back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sampler import validate_seed, validate_settings
from .schedules import stage_plan
from .state import GenerationState, SamplerSettings, TokenFrame
from .store_rules import InvalidSessionData, StoreLimits, check_prompt_length, shown

EXPORT_FORMAT = "progressive-studio-session"
EXPORT_VERSION = 1
FRAME_EVENTS = ("start", "stage", "lock", "unlock", "repaint", "revise")
MASKS = ("known", "locked", "new", "revised")


@dataclass(frozen=True)
class ModelSpec:
    """What a session must match to be shown and continued by a model."""
    grid_size: int
    codebook_size: int
    mask_id: int
    name: str = ""  # the model's name; a session that names another model is refused


@dataclass(frozen=True)
class ExportedBranch:
    parent: int | None  # index into the export's branches, always an earlier one
    fork_index: int | None
    state: GenerationState  # the branch's whole history, the shared prefix included


@dataclass(frozen=True)
class SessionExport:
    """A session as a file: every branch, which one is current."""
    prompt: str
    current: int
    branches: tuple[ExportedBranch, ...]

    def to_dict(self) -> dict:
        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "prompt": self.prompt,
                "current_branch": self.current,
                "branches": [{"parent": b.parent, "fork_index": b.fork_index,
                              "state": b.state.to_dict()} for b in self.branches]}

    @staticmethod
    def from_dict(payload: object, limits: StoreLimits = StoreLimits()) -> "SessionExport":
        try:
            return _parse_export(payload, limits)
        except InvalidSessionData:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
            raise InvalidSessionData(f"not a Progressive Studio session file: {type(err).__name__}: "
                                     f"{shown(str(err), 200)}") from err

    def own_frames(self, index: int) -> tuple[TokenFrame, ...]:
        """The frames branch `index` stores itself: those after its fork."""
        branch = self.branches[index]
        first = 0 if branch.fork_index is None else branch.fork_index + 1
        return branch.state.frames[first:]


# ---------------------------------------------------------------------------------------------
# Parsing: the file's structure and the store's limits


def _parse_export(payload: object, limits: StoreLimits) -> SessionExport:
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise InvalidSessionData(f"not a Progressive Studio session file (no \"format\": \"{EXPORT_FORMAT}\")")
    if payload.get("version") != EXPORT_VERSION:
        raise InvalidSessionData(f"session file version {shown(payload.get('version'))} is not supported "
                                 f"(this app reads version {EXPORT_VERSION})")
    raw = payload["branches"]
    if not isinstance(raw, list) or not raw:
        raise InvalidSessionData("the session file has no branches")
    if len(raw) > limits.max_branches_per_session:
        raise InvalidSessionData(f"the session file has {len(raw):,} branches; a session keeps at most "
                                 f"{limits.max_branches_per_session:,}")
    branches: list[ExportedBranch] = []
    depths: list[int] = []
    stored_frames = 0
    for i, item in enumerate(raw):
        parent, fork = item.get("parent"), item.get("fork_index")
        state = _parse_state(item["state"], f"branch {i}")
        if parent is not None:
            if isinstance(parent, bool) or not isinstance(parent, int) or not 0 <= parent < i:
                raise InvalidSessionData(f"branch {i}: parent must name an earlier branch, got {shown(parent)}")
            depths.append(depths[parent] + 1)
            if depths[-1] > limits.max_branch_depth:
                raise InvalidSessionData(f"branch {i} is {depths[-1]} branches deep; a session allows at most "
                                         f"{limits.max_branch_depth} (a branch of a branch of ...)")
            frames_of_parent = len(branches[parent].state.frames)
            if isinstance(fork, bool) or not isinstance(fork, int) or \
                    not 0 <= fork < min(frames_of_parent, len(state.frames)):
                raise InvalidSessionData(f"branch {i}: fork_index {shown(fork)} is outside its parent's frames")
            shared = zip(branches[parent].state.frames[: fork + 1], state.frames[: fork + 1])
            if any(not _same_frame(a, b) for a, b in shared):
                raise InvalidSessionData(f"branch {i} does not share its first {fork + 1} frames with its parent")
            stored_frames += len(state.frames) - fork - 1
        else:
            if i != 0:
                raise InvalidSessionData(f"branch {i} has no parent: only the first branch starts a session")
            depths.append(0)
            stored_frames += len(state.frames)
        if stored_frames > limits.max_frames_per_session:
            raise InvalidSessionData(f"the session file holds more than {limits.max_frames_per_session:,} frames, "
                                     f"the most a session keeps")
        branches.append(ExportedBranch(parent, fork if parent is not None else None, state))
    first = branches[0].state
    for i, b in enumerate(branches[1:], 1):
        if (b.state.settings, b.state.plan, b.state.mask_id, b.state.model) != \
                (first.settings, first.plan, first.mask_id, first.model):
            raise InvalidSessionData(f"branch {i} has other settings, plan, mask id or model than branch 0: "
                                     f"the branches of a session share them")
    current = payload.get("current_branch", 0)
    if isinstance(current, bool) or not isinstance(current, int) or not 0 <= current < len(branches):
        raise InvalidSessionData(f"current_branch {shown(current)} is not one of the {len(branches)} branches")
    title = payload.get("prompt") or first.frames[0].prompt
    if not isinstance(title, str):
        raise InvalidSessionData(f"the session's prompt must be text, got {type(title).__name__}")
    for b in branches:
        for frame in b.state.frames:
            check_prompt_length(frame.prompt, limits)
    check_prompt_length(title, limits)
    return SessionExport(prompt=title, current=current, branches=tuple(branches))


def _parse_state(raw: object, where: str) -> GenerationState:
    if not isinstance(raw, dict):
        raise InvalidSessionData(f"{where}: its state must be an object")
    settings = raw["settings"]
    if not isinstance(settings, dict):
        raise InvalidSessionData(f"{where}: settings must be an object")
    plan = raw["plan"]
    if not isinstance(plan, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in plan):
        raise InvalidSessionData(f"{where}: the plan must be a list of whole numbers")
    mask_id = raw["mask_id"]
    if isinstance(mask_id, bool) or not isinstance(mask_id, int):
        raise InvalidSessionData(f"{where}: mask_id must be a whole number")
    frames = raw["frames"]
    if not isinstance(frames, list) or not frames:
        raise InvalidSessionData(f"{where} has no frames")
    model = raw.get("model") or ""  # files saved before models had names have none
    if not isinstance(model, str) or len(model) > 200:
        raise InvalidSessionData(f"{where}: model must be a model's name")
    return GenerationState(settings=SamplerSettings(**settings), plan=tuple(plan), mask_id=mask_id, model=model,
                           frames=tuple(_parse_frame(f, f"{where}, frame {j}") for j, f in enumerate(frames)))


def _grid(value: object, name: str, where: str, kinds: str) -> np.ndarray:
    """A 2-D array of numbers from a JSON list of lists, or InvalidSessionData naming it."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise InvalidSessionData(f"{where}: {name} is not a grid of numbers ({shown(str(err), 80)})") from err
    if array.ndim != 2 or array.dtype.kind not in kinds or array.size == 0:
        raise InvalidSessionData(f"{where}: {name} must be a grid (rows of numbers), got an array of shape "
                                 f"{array.shape} and kind {array.dtype.kind!r}")
    return array


def _parse_frame(raw: object, where: str) -> TokenFrame:
    if not isinstance(raw, dict):
        raise InvalidSessionData(f"{where}: a frame must be an object")
    ids = _grid(raw["ids"], "ids", where, "iu")
    grids = {"ids": ids}
    for name in MASKS:
        mask = _grid(raw[name], name, where, "iub")
        if not np.isin(mask, (0, 1)).all():
            raise InvalidSessionData(f"{where}: {name} must hold only 0 and 1")
        grids[name] = mask
    grids["placed_stage"] = _grid(raw["placed_stage"], "placed_stage", where, "iu")
    grids["confidence"] = _grid(raw["confidence"], "confidence", where, "iuf")
    for name, array in grids.items():
        if array.shape != ids.shape:
            raise InvalidSessionData(f"{where}: {name} is {array.shape[0]}x{array.shape[1]}, its ids "
                                     f"{ids.shape[0]}x{ids.shape[1]}: every grid of a frame has one shape")
    confidence = grids["confidence"].astype(np.float64)
    if not (np.isfinite(confidence).all() and (confidence >= 0).all() and (confidence <= 1).all()):
        raise InvalidSessionData(f"{where}: confidence must be probabilities between 0 and 1")
    stage, seed, event, prompt = raw["stage"], raw["seed"], raw["event"], raw["prompt"]
    if isinstance(stage, bool) or not isinstance(stage, int) or stage < 0:
        raise InvalidSessionData(f"{where}: stage must be a whole number >= 0, got {shown(stage)}")
    if event not in FRAME_EVENTS:
        raise InvalidSessionData(f"{where}: event must be one of {FRAME_EVENTS}, got {shown(event)}")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidSessionData(f"{where}: prompt must be text that is not empty")
    try:
        seed = validate_seed(seed)
    except ValueError as err:
        raise InvalidSessionData(f"{where}: {err}") from None
    return TokenFrame(ids=ids.astype(np.int64), known=grids["known"].astype(bool),
                      locked=grids["locked"].astype(bool), new=grids["new"].astype(bool),
                      revised=grids["revised"].astype(bool), placed_stage=grids["placed_stage"].astype(np.int64),
                      confidence=confidence.astype(np.float32), stage=stage, event=event, prompt=prompt, seed=seed)


def _same_frame(a: TokenFrame, b: TokenFrame) -> bool:
    return a.to_dict() == b.to_dict()


# ---------------------------------------------------------------------------------------------
# Against the model


def check_fits_model(state: GenerationState, model: ModelSpec) -> None:
    """A state this model can show and continue: its grid, codebook and mask id, settings the
    sampler accepts, and the plan those settings make. Raises InvalidSessionData naming what differs."""
    grid, codebook = model.grid_size, model.codebook_size
    if state.model and model.name and state.model != model.name:
        raise InvalidSessionData(f"this session was made by the model {state.model!r}; this studio runs "
                                 f"{model.name!r}: open it where {state.model!r} is loaded")
    if state.mask_id != model.mask_id:
        raise InvalidSessionData(f"this session was made by another model (mask id {state.mask_id}, "
                                 f"this model's is {model.mask_id})")
    try:
        settings = validate_settings(state.settings, grid * grid)
        plan = stage_plan(grid * grid, settings.stages, settings.schedule)
    except (ValueError, TypeError) as err:
        raise InvalidSessionData(f"this session's settings cannot be used: {err}") from None
    if tuple(state.plan) != plan:
        raise InvalidSessionData(f"this session's plan ({len(state.plan)} stages) is not the plan its settings "
                                 f"make for this model ({len(plan)} stages of {grid * grid} tokens)")
    for j, f in enumerate(state.frames):
        if f.ids.shape != (grid, grid):
            raise InvalidSessionData(f"this session was made by another model ({f.ids.shape[0]}x{f.ids.shape[1]} "
                                     f"tokens); the app runs a {grid}x{grid} model")
        placed = f.ids[f.known]
        if placed.size and (placed.min() < 0 or placed.max() >= codebook):
            raise InvalidSessionData(f"frame {j} holds tokens outside the codebook of {codebook} codes")
        if not (((f.ids >= 0) & (f.ids < codebook)) | (f.ids == model.mask_id)).all():
            raise InvalidSessionData(f"frame {j} holds ids that are neither codes nor the mask id")
        if f.stage > len(plan) or f.placed_stage.min() < -1 or f.placed_stage.max() > len(plan):
            raise InvalidSessionData(f"frame {j} names stages outside the plan's {len(plan)}")
        if (f.locked & ~f.known).any():
            raise InvalidSessionData(f"frame {j} locks cells that are not placed")


def check_export_fits_model(export: SessionExport, model: ModelSpec) -> None:
    for i, branch in enumerate(export.branches):
        try:
            check_fits_model(branch.state, model)
        except InvalidSessionData as err:
            raise InvalidSessionData(f"branch {i}: {err}") from None


# ---------------------------------------------------------------------------------------------
# Files


def read_session_file(data: bytes, limits: StoreLimits = StoreLimits()) -> SessionExport:
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidSessionData(f"not a Progressive Studio session file: not JSON ({err})") from err
    except RecursionError:  # JSON nested thousands deep
        raise InvalidSessionData("not a Progressive Studio session file: nested too deeply") from None
    return SessionExport.from_dict(payload, limits)


def write_session_file(export: SessionExport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export.to_dict(), separators=(",", ":")), encoding="utf-8")
    return path
