"""The progressive sampler: one function per kind of frame, each `state -> state'`.

A generation stage (1) asks the model for logits and scores at every position, given the tokens
placed so far, (2) draws a candidate token everywhere, (3) places the candidates at the positions
the scoring strategy ranks first, as many as the plan says, and (4) revises placed tokens the model
now finds unlikely, within a budget that shrinks to zero at the last stage. Locked tokens are never
touched. Edits (repaint, force-revise, lock) are frames of their own, built from the same parts.

Every frame draws from its own random generator, seeded by (seed, frame index), so rewinding to a
frame and continuing with the same seed reproduces the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Protocol

import numpy as np
import torch

from .errors import StudioError
from .schedules import revision_budget, stage_plan
from .state import GenerationState, SamplerSettings, TokenFrame, blank_frame

STRATEGIES = ("qerror", "qerror-high", "importance", "confidence", "random", "raster")
REVISION_MODES = ("visible", "hidden")
# How candidate tokens are drawn (SamplerSettings.draws): "fast", inverse-CDF sampling of the rows
# a frame may place; "pipeline", the calls of aMUSEd's scheduler over every row (see draw_candidates).
DRAWS = ("fast", "pipeline")
# MaskGIT's choice temperature: the scale of the Gumbel noise on log-confidence at the first stage
# (annealed to 0), so early stages explore placements; aMUSEd's scheduler starts at 2 instead.
MASKGIT_CHOICE_TEMPERATURE = 4.5
AMUSED_CHOICE_TEMPERATURE = 2.0


class SettingsError(StudioError, ValueError):
    pass


@dataclass(frozen=True)
class Prediction:
    logits: torch.Tensor  # (N, V), guidance already applied
    qerror: torch.Tensor  # (N,)
    importance: torch.Tensor  # (N,)


@dataclass(frozen=True)
class FamilyRules:
    """How a model family's stage draws, orders and revises, where families differ.

    `fine_draws`: the fast draw's running sum and uniform numbers in float64. At aMUSEd's 8192
    codes float32 ones distort the distribution by a total variation of up to 7e-5 (measured on
    logits of spread 3; 24-bit uniforms, rounding of the running sum); in float64 what is left is
    the float32 rounding of the probabilities themselves, which the pipeline's own draw shares. The bundled models (512 codes)
    keep float32, so their tokens for a seed stay what their measured figures were made with.
    `confidence_noise`: how the Gumbel noise on log-confidence anneals over a run's stages:
    "maskgit", MaskGIT's choice temperature 4.5 times (1 - progress), for the bundled models;
    "amused", aMUSEd's scheduler's `torch.linspace(2, 0, stages)`.
    `revision_modes`: "visible" judges a placed token by the model's logit at its visible
    position (meaningful for the bundled models, trained to score visible tokens too); "hidden"
    hides the candidates and re-predicts them in a second pass (the only meaningful judgement for a
    model trained on masked tokens alone, such as aMUSEd)."""
    strategies: tuple[str, ...]
    fine_draws: bool = False
    confidence_noise: str = "maskgit"
    revision_modes: tuple[str, ...] = ("visible", "hidden")


PROGRESSIVE_RULES = FamilyRules(strategies=STRATEGIES)


class Predictor(Protocol):
    def __call__(self, ids: torch.Tensor, prompt: str) -> Prediction:
        """ids: (N,) with the mask id where unknown."""


def rules_of(predict: Predictor) -> FamilyRules:
    """A predictor may say how its family samples (`rules`); a bare function gets the bundled
    models' rules (tests drive the sampler with plain functions)."""
    return getattr(predict, "rules", PROGRESSIVE_RULES)


# ---------------------------------------------------------------------------------------------
# Checks


def validate_settings(settings: SamplerSettings, num_tokens: int) -> SamplerSettings:
    def finite(name: str, value: object, low: float, high: float | None = None) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise SettingsError(f"{name} must be a finite number {bound}, got {value!r}")

    stage_plan(num_tokens, settings.stages, settings.schedule)  # raises PlanError naming `stages`
    finite("guidance", settings.guidance, 0.0, 50.0)
    finite("temperature", settings.temperature, 1e-3, 10.0)
    finite("revision", settings.revision, 0.0, 4.0)
    finite("revision_threshold", settings.revision_threshold, 0.0, 1.0)
    if settings.draws not in DRAWS:
        raise SettingsError(f"draws must be one of {DRAWS}, got {settings.draws!r}")
    if settings.revision_mode not in REVISION_MODES:
        raise SettingsError(f"revision_mode must be one of {REVISION_MODES}, got {settings.revision_mode!r}")
    if settings.strategy not in STRATEGIES:
        raise SettingsError(f"strategy must be one of {STRATEGIES}, got {settings.strategy!r}")
    if not isinstance(settings.top_k, int) or settings.top_k < 0:
        raise SettingsError(f"top_k must be a whole number >= 0 (0 = no limit), got {settings.top_k!r}")
    if not isinstance(settings.repaint_stages, int) or settings.repaint_stages < 1:
        raise SettingsError(f"repaint_stages must be a whole number >= 1, got {settings.repaint_stages!r}")
    return settings


def validate_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise SettingsError(f"seed must be a whole number between 0 and 2**63-1, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------------------------------------
# The parts of a stage


def frame_generator(seed: int, frame_index: int) -> torch.Generator:
    entropy = np.random.SeedSequence([seed, frame_index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


def sampling_probs(logits: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
    logits = logits.float()
    if temperature != 1.0:  # x / 1.0 is x: no copy of a (1024, 8192) grid to divide by one
        logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)


def draw(probs: torch.Tensor, generator: torch.Generator, fine: bool = False,
         u: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A token for every row, and its probability. Inverse-CDF sampling: one uniform number per
    row against the running sum. On a CPU, torch.multinomial over 256 x 512 probabilities cost a
    quarter of a stage (it draws an exponential number for every code of every row and takes the
    argmax of p / q); this costs a few per cent. A zero-probability token is never drawn
    (`right=True` skips the flat stretch of the running sum it leaves). `fine`: in float64 (see
    FamilyRules). `u`: the rows' uniform numbers (row_uniforms), when drawn beforehand."""
    dtype = torch.float64 if fine else probs.dtype
    # Converted first, then summed in place: cumsum(dtype=float64) makes the same numbers a third slower.
    cdf = probs.to(dtype).cumsum_(-1) if fine else probs.cumsum(-1)
    if u is None:
        u = row_uniforms(probs.shape[0], generator, dtype)
    tokens = torch.searchsorted(cdf, u.to(dtype) * cdf[:, -1:], right=True).squeeze(-1).clamp_max(probs.shape[-1] - 1)
    return tokens, probs.gather(-1, tokens[:, None]).squeeze(-1)


def row_uniforms(count: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """(count, 1) uniform numbers in [0, 1), one per row, in the order `draw` takes them."""
    return torch.rand(count, 1, generator=generator, dtype=dtype)


def placement_scores(strategy: str, prediction: Prediction, candidate_probs: torch.Tensor,
                     progress: float, generator: torch.Generator, amused_scale: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """Higher = place sooner. The model's heads are re-evaluated every stage (dynamic ordering).
    `amused_scale`: for a family with aMUSEd's confidence noise, its Gumbel scale this step."""
    n = candidate_probs.shape[0]
    if strategy == "qerror":  # low predicted quantization error first: structure before detail
        return -prediction.qerror.float()
    if strategy == "qerror-high":  # the reverse: for a model trained high-error first
        return prediction.qerror.float()
    if strategy == "importance":  # the learned head's rank among what is still masked
        return -prediction.importance.float()
    if strategy == "confidence" and amused_scale is not None:
        return amused_confidence(candidate_probs, amused_scale, generator)
    if strategy == "confidence":  # MaskGIT: confidence with Gumbel noise that anneals away
        gumbel = -torch.log(-torch.log(torch.rand(n, generator=generator).clamp(1e-9, 1 - 1e-9)))
        return torch.log(candidate_probs.clamp_min(1e-12)) + MASKGIT_CHOICE_TEMPERATURE * (1 - progress) * gumbel
    if strategy == "random":
        return torch.rand(n, generator=generator)
    if strategy == "raster":
        return -torch.arange(n, dtype=torch.float32)
    raise SettingsError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def amused_confidence(candidate_probs: torch.Tensor, noise_scale: torch.Tensor,
                      generator: torch.Generator) -> torch.Tensor:
    """log p(candidate) + scale * Gumbel noise, with the calls and clamps of aMUSEd's scheduler
    (`mask_by_random_topk`): one uniform number per position, drawn as a (1, N) tensor."""
    noise = torch.zeros((1, candidate_probs.shape[0]), dtype=candidate_probs.dtype).uniform_(0, 1, generator=generator)
    gumbel = -torch.log((-torch.log(noise.clamp(1e-20))).clamp(1e-20))
    return (torch.log(candidate_probs.clamp(1e-20)) + noise_scale * gumbel)[0]


def amused_noise_scale(step: int, steps: int) -> torch.Tensor:
    """aMUSEd's Gumbel scale at step `step` of `steps`: `torch.linspace(2, 0, steps)[step]`, the
    tensor its scheduler indexes (an edit frame past the plan gets none)."""
    if steps <= 0 or step >= steps:
        return torch.tensor(0.0)
    return torch.linspace(AMUSED_CHOICE_TEMPERATURE, 0.0, steps)[step]


def top_positions(scores: torch.Tensor, eligible: np.ndarray, count: int) -> np.ndarray:
    """Bool mask (N,) of the `count` eligible positions with the highest scores."""
    chosen = np.zeros(eligible.shape, dtype=bool)
    count = min(count, int(eligible.sum()))
    if count <= 0:
        return chosen
    masked = scores.masked_fill(~torch.from_numpy(eligible), float("-inf"))
    chosen[torch.topk(masked, count).indices.numpy()] = True
    return chosen


def revision_choices(probs: torch.Tensor, ids: torch.Tensor, revisable: np.ndarray, budget: int,
                     threshold: float) -> np.ndarray:
    """The placed tokens to revise: those the model now gives probability below `threshold`,
    least likely first, at most `budget` of them."""
    chosen = np.zeros(revisable.shape, dtype=bool)
    if budget <= 0 or not revisable.any():
        return chosen
    current = probs.gather(-1, ids.clamp_max(probs.shape[-1] - 1)[:, None]).squeeze(-1)
    doubtful = revisable & (current.numpy() < threshold)
    if not doubtful.any():
        return chosen
    return top_positions(-current, doubtful, budget)


def draw_replacements(logits: torch.Tensor, settings: SamplerSettings, ids: torch.Tensor, where: np.ndarray,
                      generator: torch.Generator, fine: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens for revised positions from the drawing distribution (computed for those rows only),
    with the current token excluded (a revision that redraws the same token would be no
    revision). Elsewhere: the current ids."""
    tokens, chosen = ids.clone(), torch.zeros(len(ids))
    rows = torch.from_numpy(np.flatnonzero(where))
    if not len(rows):
        return tokens, chosen
    probs = sampling_probs(logits[rows], settings.temperature, settings.top_k)
    current = ids[rows].clamp_max(probs.shape[-1] - 1)
    excluded = probs.clone()
    excluded[torch.arange(len(rows)), current] = 0.0
    empty = excluded.sum(-1) <= 0
    excluded[empty] = probs[empty]  # a one-hot distribution: nothing else to draw
    excluded = excluded / excluded.sum(-1, keepdim=True).clamp_min(1e-12)
    tokens[rows], chosen[rows] = draw(excluded, generator, fine)
    return tokens, chosen


# ---------------------------------------------------------------------------------------------
# Frames


@dataclass(frozen=True)
class StageRequest:
    """What one frame may do: place `place` tokens among `eligible`, revise within `revisable`."""
    place: int
    eligible: np.ndarray  # (N,) positions that may be placed
    revisable: np.ndarray  # (N,) placed positions revision may touch
    revision_budget: int
    progress: float  # 0..1 through the plan, for annealed strategies
    stage: int  # the frame's stage counter
    placed_stage: int  # recorded for tokens placed by this frame
    event: str
    prompt: str
    seed: int
    hide: np.ndarray | None = None  # (N,) positions shown to the model as masked (re-prediction)
    step: int = 0  # this frame's step among `steps` (a plan's stages, a repaint's frames)
    steps: int = 0


@dataclass(frozen=True)
class Revision:
    """Which placed tokens a stage replaces, with what, at what probability (under the drawing
    distribution), and how many network passes judging them took."""
    where: np.ndarray  # (N,) bool
    tokens: torch.Tensor  # (N,) the current ids elsewhere
    probs: torch.Tensor  # (N,)
    passes: int = 0


def draw_candidates(logits: torch.Tensor, settings: SamplerSettings, rules: FamilyRules,
                    generator: torch.Generator, eligible: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """A candidate token at every position the frame may place (`eligible`) and its probability
    under the drawing distribution; elsewhere token 0 with probability 0 (never placed there).

    draws="pipeline": at temperature 1 without top-k, the very calls of aMUSEd's scheduler
    (`softmax`, then `multinomial` over every row, eligible or not), so AmusedPipeline's random
    stream is matched. draws="fast": the same distribution by inverse-CDF sampling (`draw`),
    computed and searched at the eligible rows only, so a stage with a tenth of the cells open
    draws a tenth. One uniform number is still drawn for every row (a few hundred numbers), so a
    row's token does not depend on which other rows are open, and the bundled models draw the
    tokens they drew when every row was sampled."""
    n = logits.shape[0]
    if settings.draws == "pipeline":
        plain = settings.temperature == 1.0 and settings.top_k == 0
        probs = logits.float().softmax(dim=-1) if plain else sampling_probs(logits, settings.temperature,
                                                                            settings.top_k)
        tokens = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)[:, 0]
        return tokens, probs.gather(-1, tokens[:, None])[:, 0]
    u = row_uniforms(n, generator, torch.float64 if rules.fine_draws else torch.float32)
    tokens, chosen = torch.zeros(n, dtype=torch.long), torch.zeros(n)
    rows = torch.from_numpy(np.flatnonzero(eligible))
    if len(rows):
        open_logits = logits if len(rows) == n else logits[rows]  # the first stage: no copy
        probs = sampling_probs(open_logits, settings.temperature, settings.top_k)
        tokens[rows], chosen[rows] = draw(probs, generator, rules.fine_draws, u[rows])
    return tokens, chosen


def visible_revision(prediction: Prediction, settings: SamplerSettings, ids: torch.Tensor, revisable: np.ndarray,
                     budget: int, generator: torch.Generator, fine: bool = False) -> Revision:
    """Judge placed tokens by the model's probability for them where they stand, in the stage's own
    pass, at temperature 1 (the model's belief, whatever the sampling temperature), and redraw the
    doubtful ones from the drawing distribution."""
    model_probs = torch.softmax(prediction.logits.float(), dim=-1)
    revise = revision_choices(model_probs, ids, revisable, budget, settings.revision_threshold)
    tokens, chosen = draw_replacements(prediction.logits, settings, ids, revise, generator, fine)
    return Revision(revise, tokens, chosen)


def hidden_revision(predict: Predictor, settings: SamplerSettings, mask_id: int, ids: torch.Tensor,
                    confidence: np.ndarray, revisable: np.ndarray, budget: int, prompt: str,
                    generator: torch.Generator, fine: bool = False) -> Revision:
    """Revision for a model trained on masked tokens only, whose logits at a visible position carry
    no training signal: hide the `budget` placed tokens drawn with the lowest confidence, predict
    them again from everything else (this stage's new tokens included), and replace those the
    model, now seeing them as unknown, gives less than the threshold. One extra network pass."""
    none = np.zeros_like(revisable)
    if budget <= 0 or not revisable.any():
        return Revision(none, ids.clone(), torch.zeros(len(ids)))
    candidates = top_positions(-torch.from_numpy(confidence.astype(np.float32)), revisable, budget)
    hidden = ids.clone()
    hidden[torch.from_numpy(candidates)] = mask_id
    second = predict(hidden, prompt)
    model_probs = torch.softmax(second.logits.float(), dim=-1)
    revise = revision_choices(model_probs, ids, candidates, budget, settings.revision_threshold)
    tokens, chosen = draw_replacements(second.logits, settings, ids, revise, generator, fine)
    return Revision(revise, tokens, chosen, passes=1)


def apply_stage(state: GenerationState, predict: Predictor, request: StageRequest) -> GenerationState:
    settings, frame, rules = state.settings, state.current, rules_of(predict)
    generator = frame_generator(request.seed, len(state.frames))
    ids = torch.from_numpy(frame.ids.reshape(-1).copy())
    model_ids = ids.clone()
    if request.hide is not None:
        model_ids[torch.from_numpy(request.hide)] = state.mask_id
    prediction = predict(model_ids, request.prompt)
    candidates, candidate_probs = draw_candidates(prediction.logits, settings, rules, generator, request.eligible)
    amused_scale = amused_noise_scale(request.step, request.steps) if rules.confidence_noise == "amused" else None
    scores = placement_scores(settings.strategy, prediction, candidate_probs, request.progress, generator,
                              amused_scale)
    placed = top_positions(scores, request.eligible, request.place)

    new_ids = frame.ids.reshape(-1).copy()
    confidence = frame.confidence.reshape(-1).copy()
    placed_stage = frame.placed_stage.reshape(-1).copy()
    new_ids[placed] = candidates.numpy()[placed]
    confidence[placed] = candidate_probs.numpy()[placed]
    placed_stage[placed] = request.placed_stage

    revisable = request.revisable & ~placed
    if settings.revision_mode == "hidden":
        revision = hidden_revision(predict, settings, state.mask_id, torch.from_numpy(new_ids), confidence,
                                   revisable, request.revision_budget, request.prompt, generator,
                                   rules.fine_draws)
    else:
        revision = visible_revision(prediction, settings, ids, revisable, request.revision_budget, generator,
                                    rules.fine_draws)
    revise = revision.where
    new_ids[revise] = revision.tokens.numpy()[revise]
    confidence[revise] = revision.probs.numpy()[revise]
    changed = revise & (new_ids != frame.ids.reshape(-1))

    g = frame.grid_size
    locked = frame.locked.reshape(-1)
    assert not (locked & (placed | changed)).any(), "a locked token was about to change"
    next_frame = TokenFrame(
        ids=new_ids.reshape(g, g), known=(frame.known.reshape(-1) | placed).reshape(g, g),
        locked=frame.locked, new=placed.reshape(g, g), revised=changed.reshape(g, g),
        placed_stage=placed_stage.reshape(g, g), confidence=confidence.reshape(g, g),
        stage=request.stage, event=request.event, prompt=request.prompt, seed=request.seed,
    )
    return state.append(next_frame)


def start(settings: SamplerSettings, grid_size: int, mask_id: int, prompt: str, seed: int) -> GenerationState:
    num_tokens = grid_size * grid_size
    validate_settings(settings, num_tokens)
    plan = stage_plan(num_tokens, settings.stages, settings.schedule)
    return GenerationState(settings=settings, plan=plan, mask_id=mask_id,
                           frames=(blank_frame(grid_size, mask_id, prompt, validate_seed(seed)),))


def next_stage(state: GenerationState, predict: Predictor, prompt: str | None = None,
               seed: int | None = None) -> GenerationState:
    """Run the next stage of the plan. Places what the plan says, less what is already known
    (an edit may have placed or cleared tokens), and everything that is left at the last stage."""
    frame = state.current
    if state.stages_left == 0:
        return state
    stage = frame.stage
    known = frame.known.reshape(-1)
    target = sum(state.plan[: stage + 1]) if stage + 1 < len(state.plan) else known.size
    place = max(target - int(known.sum()), 1)
    request = StageRequest(
        place=place, eligible=~known,
        revisable=known & ~frame.locked.reshape(-1),
        revision_budget=revision_budget(known.size, len(state.plan), stage, state.settings.revision),
        progress=stage / len(state.plan), stage=stage + 1, placed_stage=stage, event="stage",
        step=stage, steps=len(state.plan),
        prompt=frame.prompt if prompt is None else prompt,
        seed=frame.seed if seed is None else validate_seed(seed),
    )
    return apply_stage(state, predict, request)


def run_to_end(state: GenerationState, predict: Predictor, prompt: str | None = None,
               seed: int | None = None) -> Iterator[GenerationState]:
    while state.stages_left:
        state = next_stage(state, predict, prompt, seed)
        prompt, seed = None, None  # the frame just made carries them on
        yield state


class FirstPassThen:
    """A predictor whose first call answers with a prediction already made (a batched pass), and
    any further call (hidden revision's second pass) with the family's own predictor."""

    def __init__(self, prediction: Prediction, fallback: Predictor):
        self.prediction, self.fallback = prediction, fallback
        self.rules = rules_of(fallback)

    def __call__(self, ids: torch.Tensor, prompt: str) -> Prediction:
        prediction, self.prediction = self.prediction, None
        return prediction if prediction is not None else self.fallback(ids, prompt)


def run_batch_to_end(states: list[GenerationState],
                     predict_all: Callable[[list[GenerationState]], list[Prediction]],
                     predictor_for: Callable[[GenerationState], Predictor]) -> list[GenerationState]:
    """Several pictures to their last stage together: one batched prediction a stage for all of
    them (`predict_all`), then each picture's usual stage (`predictor_for` its second passes)."""
    while any(state.stages_left for state in states):
        predictions = predict_all(states)
        states = [next_stage(state, FirstPassThen(p, predictor_for(state))) if state.stages_left else state
                  for state, p in zip(states, predictions)]
    return states


# ---------------------------------------------------------------------------------------------
# The user's hooks


def lock(state: GenerationState, mask: np.ndarray) -> GenerationState:
    """Lock placed tokens in mask; cells not yet placed cannot be locked and are left as they are."""
    frame = state.current
    locked = frame.locked | (mask & frame.known)
    return state.append(_edit_frame(frame, "lock", locked=locked))


def unlock(state: GenerationState, mask: np.ndarray) -> GenerationState:
    frame = state.current
    return state.append(_edit_frame(frame, "unlock", locked=frame.locked & ~mask))


def _edit_frame(frame: TokenFrame, event: str, **changes) -> TokenFrame:
    none = np.zeros_like(frame.known)
    return replace(frame, new=none, revised=none, event=event, **changes)


def repaint(state: GenerationState, predict: Predictor, mask: np.ndarray, prompt: str | None = None,
            seed: int | None = None) -> Iterator[GenerationState]:
    """Clear the region (locked tokens excepted) and generate it again over a few frames, with the
    rest of the picture as context, optionally under another prompt. Nothing outside the region
    changes: revision during a repaint is confined to the region."""
    frame = state.current
    region = (mask & ~frame.locked).reshape(-1)
    count = int(region.sum())
    if count == 0:
        return
    prompt = frame.prompt if prompt is None else prompt
    seed = frame.seed if seed is None else validate_seed(seed)
    cleared = frame.ids.reshape(-1).copy()
    cleared[region] = state.mask_id
    g = frame.grid_size
    known = frame.known.reshape(-1) & ~region
    placed_stage = np.where(region, -1, frame.placed_stage.reshape(-1))
    # The cleared grid is the starting point of the first repaint frame, not a frame of its own.
    working = replace(state, frames=state.frames[:-1] + (replace(
        frame, ids=cleared.reshape(g, g), known=known.reshape(g, g),
        placed_stage=placed_stage.reshape(g, g)),))
    steps = min(state.settings.repaint_stages, count)
    plan = stage_plan(count, steps, state.settings.schedule)
    for i, size in enumerate(plan):
        current_known = working.current.known.reshape(-1)
        request = StageRequest(
            place=size, eligible=region & ~current_known,
            revisable=region & current_known & ~working.current.locked.reshape(-1),
            revision_budget=revision_budget(count, steps, i, state.settings.revision),
            progress=i / steps, stage=frame.stage, placed_stage=frame.stage, step=i, steps=steps,
            event="repaint", prompt=prompt, seed=seed,
        )
        working = apply_stage(working, predict, request)
        state = state.append(working.current)
        yield state


def force_revise(state: GenerationState, predict: Predictor, mask: np.ndarray,
                 seed: int | None = None) -> GenerationState:
    """Re-predict the selected placed tokens from their context (they are hidden from the model
    for this pass, so it cannot simply copy them), even where the model was confident."""
    frame = state.current
    targets = (mask & frame.known & ~frame.locked).reshape(-1)
    if not targets.any():
        return state
    request = StageRequest(
        place=int(targets.sum()), eligible=targets, revisable=np.zeros_like(targets), revision_budget=0,
        progress=1.0, stage=frame.stage, placed_stage=frame.stage, event="revise",
        prompt=frame.prompt, seed=frame.seed if seed is None else validate_seed(seed), hide=targets,
    )
    out = apply_stage(state, predict, request)
    # Re-placed tokens count as revisions: mark those that changed.
    last = out.current
    before = frame.ids.reshape(-1)
    changed = targets & (last.ids.reshape(-1) != before)
    g = frame.grid_size
    return replace(out, frames=out.frames[:-1] + (replace(
        last, new=np.zeros_like(last.new), revised=changed.reshape(g, g)),))

