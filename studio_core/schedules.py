"""Stage plans: how many tokens each stage places. Pure functions, no state.

A plan for T stages over N tokens is a tuple of T positive counts summing to N. "uniform" places
N/T per stage; "cosine" (MaskGIT's schedule) places few tokens first, when the context is thin and
each choice matters most, and many at the end, when the picture is nearly fixed.
"""

from __future__ import annotations

import math

from .errors import StudioError

PLANS = ("uniform", "cosine", "amused")


class PlanError(StudioError, ValueError):
    pass


def masked_fraction(schedule: str, progress: float) -> float:
    """Fraction of tokens still masked after `progress` (0..1) of the stages."""
    if schedule == "amused":
        schedule = "cosine"
    if schedule == "uniform":
        return 1.0 - progress
    if schedule == "cosine":
        return math.cos(math.pi / 2 * progress)
    raise PlanError(f"schedule must be one of {PLANS}, got {schedule!r}")


def stage_plan(num_tokens: int, stages: int, schedule: str = "cosine") -> tuple[int, ...]:
    if isinstance(stages, bool) or not isinstance(stages, int):
        raise PlanError(f"stages must be a whole number, got {stages!r}")
    if not 1 <= stages <= num_tokens:
        raise PlanError(f"stages must be between 1 and {num_tokens} (the number of tokens), got {stages}")
    if schedule == "amused":
        return amused_plan(num_tokens, stages)
    # Cumulative placed counts, rounded, then forced strictly increasing so every stage places at
    # least one token (rounding alone can make two neighbouring stages equal for large T).
    placed = [round(num_tokens * (1.0 - masked_fraction(schedule, (t + 1) / stages))) for t in range(stages)]
    placed[-1] = num_tokens
    for t in range(stages):
        placed[t] = max(placed[t], t + 1, placed[t - 1] + 1 if t else 1)
    for t in reversed(range(stages - 1)):  # and leave room for the stages after it
        placed[t] = min(placed[t], placed[t + 1] - 1)
    return tuple(b - a for a, b in zip([0] + placed[:-1], placed))


def amused_plan(num_tokens: int, stages: int) -> tuple[int, ...]:
    """aMUSEd's scheduler's counts, computed as it computes them: after step i,
    floor(N * cos(pi/2 * (i+1)/T)) tokens stay masked (float32 tensors: its rounding at the floor
    is matched too), at least one is placed and, before the last step, at least one stays masked."""
    import torch

    plan, unknown = [], num_tokens
    for step in range(stages - 1):
        ratio = (torch.tensor([[step]]) + 1) / stages
        masked = int((num_tokens * torch.cos(ratio * math.pi / 2)).floor())
        masked = max(min(unknown - 1, masked), 1)
        plan.append(unknown - masked)
        unknown = masked
    plan.append(unknown)
    if min(plan) < 1:
        raise PlanError(f"stages must leave every stage a token to place on aMUSEd's schedule: "
                        f"{stages} stages over {num_tokens} tokens do not, use fewer")
    return tuple(plan)


def revision_budget(num_tokens: int, stages: int, stage: int, strength: float) -> int:
    """How many placed tokens stage `stage` (0-based) may revise: a share of a stage's worth of
    tokens that shrinks linearly to zero at the last stage, when nothing is left to fix it against."""
    if strength <= 0 or stages <= 1:
        return 0
    per_stage = num_tokens / stages
    return int(round(strength * per_stage * (1.0 - stage / (stages - 1))))
