"""GenerationState: the one record the sampler, the UI, the store and the exporter all read.

A state is an immutable list of frames. Every stage of generation and every edit (lock, repaint,
force-revise) appends one frame; rewinding keeps a prefix. A frame is a full snapshot of the token
grid, small enough (256 tokens) that copying beats diffing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

FrameEvent = str  # "start" | "stage" | "lock" | "unlock" | "repaint" | "revise"


@dataclass(frozen=True)
class SamplerSettings:
    stages: int = 16
    schedule: str = "cosine"
    strategy: str = "qerror"  # qerror | importance | confidence | random | raster
    guidance: float = 3.0
    temperature: float = 1.0
    top_k: int = 0  # 0 = the whole codebook
    revision: float = 0.5  # share of a stage's tokens that may be revised at the first stage
    revision_threshold: float = 0.1  # only placed tokens whose probability fell below this are revised
    # visible: judge placed tokens by the model's logits where they stand (one pass); hidden: hide
    # the weakest placed tokens and re-predict them (a second pass; see sampler.hidden_revision)
    revision_mode: str = "visible"
    repaint_stages: int = 4
    # fast: inverse-CDF draws of the cells a frame may place; pipeline: aMUSEd's scheduler's own
    # calls over every cell, for AmusedPipeline's exact tokens from the same random stream (see
    # sampler.draw_candidates). Sessions saved before this setting existed load as "fast".
    draws: str = "fast"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TokenFrame:
    ids: np.ndarray  # (H, W) int64; mask_id where not placed
    known: np.ndarray  # (H, W) bool
    locked: np.ndarray  # (H, W) bool
    new: np.ndarray  # (H, W) bool: placed by this frame
    revised: np.ndarray  # (H, W) bool: changed by this frame's revision
    placed_stage: np.ndarray  # (H, W) int: the plan stage a token was placed at, -1 if not placed
    confidence: np.ndarray  # (H, W) float: the model's probability of the token when it was drawn
    stage: int  # plan stages completed
    event: FrameEvent
    prompt: str
    seed: int

    @property
    def grid_size(self) -> int:
        return self.ids.shape[0]

    @property
    def done(self) -> bool:
        return bool(self.known.all())

    def to_dict(self) -> dict:
        return {
            "ids": self.ids.tolist(), "known": self.known.astype(int).tolist(),
            "locked": self.locked.astype(int).tolist(), "new": self.new.astype(int).tolist(),
            "revised": self.revised.astype(int).tolist(), "placed_stage": self.placed_stage.tolist(),
            "confidence": np.round(self.confidence, 5).tolist(), "stage": self.stage,
            "event": self.event, "prompt": self.prompt, "seed": self.seed,
        }

    @staticmethod
    def from_dict(d: dict) -> "TokenFrame":
        return TokenFrame(
            ids=np.asarray(d["ids"], dtype=np.int64), known=np.asarray(d["known"], dtype=bool),
            locked=np.asarray(d["locked"], dtype=bool), new=np.asarray(d["new"], dtype=bool),
            revised=np.asarray(d["revised"], dtype=bool),
            placed_stage=np.asarray(d["placed_stage"], dtype=np.int64),
            confidence=np.asarray(d["confidence"], dtype=np.float32), stage=int(d["stage"]),
            event=str(d["event"]), prompt=str(d["prompt"]), seed=int(d["seed"]),
        )


def blank_frame(grid_size: int, mask_id: int, prompt: str, seed: int) -> TokenFrame:
    shape = (grid_size, grid_size)
    no = np.zeros(shape, dtype=bool)
    return TokenFrame(
        ids=np.full(shape, mask_id, dtype=np.int64), known=no, locked=no, new=no, revised=no,
        placed_stage=np.full(shape, -1, dtype=np.int64), confidence=np.zeros(shape, dtype=np.float32),
        stage=0, event="start", prompt=prompt, seed=seed,
    )


@dataclass(frozen=True)
class GenerationState:
    settings: SamplerSettings
    plan: tuple[int, ...]
    mask_id: int
    frames: tuple[TokenFrame, ...] = field(default_factory=tuple)
    model: str = ""  # the name of the model that made it ("" in sessions saved before models had names)

    @property
    def current(self) -> TokenFrame:
        return self.frames[-1]

    @property
    def stages_left(self) -> int:
        return max(len(self.plan) - self.current.stage, 0) if not self.current.done else 0

    def append(self, frame: TokenFrame) -> "GenerationState":
        return replace(self, frames=self.frames + (frame,))

    def rewind(self, frame_index: int) -> "GenerationState":
        """The state as it was right after frame `frame_index` (0 = the blank start)."""
        if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)):
            raise ValueError(f"frame_index must be a whole number, got {frame_index!r}")
        if not 0 <= frame_index < len(self.frames):
            raise ValueError(f"frame_index must be between 0 and {len(self.frames) - 1}, got {frame_index}")
        return replace(self, frames=self.frames[: int(frame_index) + 1])

    def to_dict(self) -> dict:
        return {"settings": self.settings.to_dict(), "plan": list(self.plan), "mask_id": self.mask_id,
                "model": self.model, "frames": [f.to_dict() for f in self.frames]}

    @staticmethod
    def from_dict(d: dict) -> "GenerationState":
        return GenerationState(
            settings=SamplerSettings(**d["settings"]), plan=tuple(int(x) for x in d["plan"]),
            mask_id=int(d["mask_id"]), frames=tuple(TokenFrame.from_dict(f) for f in d["frames"]),
            model=str(d.get("model") or ""),
        )
