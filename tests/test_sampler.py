"""Invariants of progressive sampling and of the user's hooks, on a tiny random model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio_core.hooks import MaskError
from studio_core.sampler import SettingsError
from studio_core.schedules import PlanError, stage_plan
from studio_core.state import GenerationState, SamplerSettings
from studio_core.text_encoder import PromptError

PROMPT = "a red circle in the top left"


def run(studio, prompt=PROMPT, seed=0, **settings):
    return studio.generate_image(prompt, seed, studio.settings(**settings))


def test_every_stage_places_what_the_plan_says(tiny_studio):
    for schedule in ("uniform", "cosine"):
        state = run(tiny_studio, stages=5, schedule=schedule)
        assert len(state.frames) == 1 + 5
        for frame, count in zip(state.frames[1:], state.plan):
            assert int(frame.new.sum()) == count
        assert state.plan == stage_plan(16, 5, schedule)


def test_after_the_last_stage_nothing_is_masked(tiny_studio):
    state = run(tiny_studio, stages=3)
    assert state.current.done
    assert (state.current.ids != tiny_studio.mask_id).all()
    assert (state.current.placed_stage >= 0).all()
    # a placed token stays placed: known only grows along a plain generation
    for before, after in zip(state.frames, state.frames[1:]):
        assert not (before.known & ~after.known).any()


def test_a_locked_token_never_changes(tiny_studio):
    settings = tiny_studio.settings(stages=6, revision=4.0, revision_threshold=1.0)
    state = tiny_studio.start(PROMPT, 3, settings)
    for _ in range(3):
        state = tiny_studio.step(state)
    selection = np.zeros((4, 4), dtype=bool)
    selection[:2] = True
    state = tiny_studio.lock(state, selection)
    locked = state.current.locked.copy()
    assert locked.any() and not (locked & ~state.current.known).any()
    kept = state.current.ids[locked].copy()
    locked_at = len(state.frames)
    for state in tiny_studio.resume(state):
        pass
    for state in tiny_studio.repaint(state, np.ones((4, 4), dtype=bool)):
        pass
    state = tiny_studio.force_revise(state, np.ones((4, 4), dtype=bool))
    for frame in state.frames[locked_at:]:
        assert (frame.ids[locked] == kept).all()
        assert not (frame.revised & locked).any()


def test_revision_revises_and_never_touches_locked(tiny_studio):
    settings = tiny_studio.settings(stages=8, revision=4.0, revision_threshold=1.0)
    state = tiny_studio.start(PROMPT, 1, settings)
    state = tiny_studio.step(tiny_studio.step(state))
    state = tiny_studio.lock(state, state.current.known)
    locked = state.current.locked
    for state in tiny_studio.resume(state):
        assert not (state.current.revised & locked).any()
    assert sum(int(f.revised.sum()) for f in state.frames) > 0, "a threshold of 1.0 must revise"


def test_revision_off_revises_nothing(tiny_studio):
    state = run(tiny_studio, stages=8, revision=0.0)
    assert not any(f.revised.any() for f in state.frames)


def test_repaint_changes_nothing_outside_its_region(tiny_studio):
    state = run(tiny_studio, stages=4, revision=4.0, revision_threshold=1.0)
    before = state.current.ids.copy()
    region = np.zeros((4, 4), dtype=bool)
    region[1:3, 1:3] = True
    frames = list(tiny_studio.repaint(state, region, prompt="a blue square", seed=9))
    assert frames, "a repaint yields at least one frame"
    for s in frames:
        assert (s.current.ids[~region] == before[~region]).all()
        assert s.current.event == "repaint"
    final = frames[-1].current
    assert final.done and final.prompt == "a blue square"
    assert int(sum(s.current.new.sum() for s in frames)) == int(region.sum())


def test_repaint_accepts_a_brush_mask_at_picture_size(tiny_studio):
    state = run(tiny_studio, stages=2)
    brush = np.zeros((64, 64, 4), dtype=np.uint8)
    brush[0:3, 0:3, 3] = 255  # grazes only the top left cell
    assert tiny_studio.mask(brush).sum() == 1
    last = list(tiny_studio.repaint(state, brush))[-1].current
    assert (last.ids.reshape(-1)[1:] == state.current.ids.reshape(-1)[1:]).all()


def test_rewind_and_the_same_seed_reproduce_the_same_tokens(tiny_studio):
    state = run(tiny_studio, stages=6, seed=11)
    branch = tiny_studio.rewind(state, 2)
    assert len(branch.frames) == 3
    for branch in tiny_studio.resume(branch):
        pass
    for a, b in zip(state.frames, branch.frames):
        assert (a.ids == b.ids).all() and (a.revised == b.revised).all()


def test_a_new_seed_after_rewind_branches(tiny_studio):
    state = run(tiny_studio, stages=6, seed=11)
    for branch in tiny_studio.resume(tiny_studio.rewind(state, 2), seed=12):
        pass
    assert (branch.frames[2].ids == state.frames[2].ids).all()
    assert not (branch.current.ids == state.current.ids).all()
    assert branch.current.seed == 12 and branch.frames[2].seed == 11


def test_force_revise_touches_only_the_selection(tiny_studio):
    state = run(tiny_studio, stages=4)
    selection = np.zeros((4, 4), dtype=bool)
    selection[3, :] = True
    after = tiny_studio.force_revise(state, selection, seed=5).current
    assert after.event == "revise"
    assert (after.ids[~selection] == state.current.ids[~selection]).all()
    assert not (after.revised & ~selection).any()


def test_state_round_trips_through_json(tiny_studio):
    import json

    state = run(tiny_studio, stages=3)
    state = tiny_studio.lock(state, np.eye(4, dtype=bool))
    again = GenerationState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.plan == state.plan and again.settings == state.settings
    for a, b in zip(state.frames, again.frames):
        assert (a.ids == b.ids).all() and (a.locked == b.locked).all() and a.event == b.event


@pytest.mark.parametrize("stages", [0, -1, 17, 2.5, True])
def test_a_stage_count_out_of_range_names_stages(tiny_studio, stages):
    with pytest.raises(PlanError, match="stages"):
        tiny_studio.start(PROMPT, 0, SamplerSettings(stages=stages))


@pytest.mark.parametrize("name,value", [("guidance", math.nan), ("guidance", math.inf),
                                        ("guidance", "3"), ("temperature", 0.0), ("revision", -1.0)])
def test_a_bad_number_names_its_argument(tiny_studio, name, value):
    with pytest.raises(SettingsError, match=name):
        tiny_studio.start(PROMPT, 0, SamplerSettings(stages=4, **{name: value}))


def test_an_unknown_strategy_is_refused(tiny_studio):
    with pytest.raises(SettingsError, match="strategy"):
        tiny_studio.start(PROMPT, 0, SamplerSettings(stages=4, strategy="best"))


def test_an_unknown_way_of_drawing_is_refused_naming_the_ways(tiny_studio):
    with pytest.raises(SettingsError, match="draws must be one of .*fast.*pipeline.*got 'gumbel'"):
        tiny_studio.start(PROMPT, 0, SamplerSettings(stages=4, draws="gumbel"))


@pytest.mark.parametrize("prompt", ["", "   \n\t", None, 7])
def test_an_empty_or_non_text_prompt_is_refused(tiny_studio, prompt):
    with pytest.raises(PromptError, match="prompt"):
        tiny_studio.start(prompt, 0)


def test_a_long_prompt_is_truncated_with_a_warning(tiny_studio, caplog):
    long = " ".join(["a red circle at the top"] * 40)
    with caplog.at_level("WARNING"):
        state = run(tiny_studio, prompt=long, stages=2)
    assert state.current.done
    assert any("dropped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mask", [np.ones((3, 3)), np.ones((4, 5)), np.ones((10, 10)), "top left",
                                  None, np.array([["a"] * 4] * 4), np.ones((2, 4, 4, 1))])
def test_a_mask_of_the_wrong_shape_or_type_names_the_argument(tiny_studio, mask):
    state = run(tiny_studio, stages=2)
    with pytest.raises(MaskError, match="mask"):
        tiny_studio.lock(state, mask)


def test_bad_seeds_are_refused(tiny_studio):
    for seed in (-1, 1.5, "7", 2**64):
        with pytest.raises(SettingsError, match="seed"):
            tiny_studio.start(PROMPT, seed)


def test_every_strategy_completes_a_picture(tiny_studio):
    for strategy in ("qerror", "importance", "confidence", "random", "raster"):
        state = run(tiny_studio, stages=4, strategy=strategy, guidance=1.0)
        assert state.current.done


def test_raster_strategy_places_in_reading_order(tiny_studio):
    state = run(tiny_studio, stages=4, strategy="raster", schedule="uniform", revision=0.0)
    for k, frame in enumerate(state.frames[1:]):
        assert frame.new.reshape(-1)[4 * k: 4 * k + 4].all()


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_a_batch_makes_the_pictures_each_prompt_makes_alone(tiny_studio, guidance):
    prompts = ["a red circle in the top left", "a small blue square", "green"]  # unequal lengths
    settings = tiny_studio.settings(stages=4, guidance=guidance)
    batch = tiny_studio.generate_batch(prompts, [3, 4, 5], settings)
    for prompt, seed, state in zip(prompts, [3, 4, 5], batch):
        alone = tiny_studio.generate_image(prompt, seed, settings)
        assert [f.stage for f in state.frames] == [f.stage for f in alone.frames]
        np.testing.assert_array_equal(state.current.ids, alone.current.ids)
    assert not np.array_equal(batch[0].current.ids, batch[1].current.ids)


def test_qerror_high_places_the_highest_predicted_error_first(tiny_studio):
    import torch

    from studio_core.sampler import Prediction, placement_scores

    qerror = torch.tensor([0.3, 0.1, 0.9, 0.5])
    prediction = Prediction(torch.zeros(4, 8), qerror, torch.zeros(4))
    probs, generator = torch.full((4,), 0.5), torch.Generator().manual_seed(0)
    low = placement_scores("qerror", prediction, probs, 0.0, generator)
    high = placement_scores("qerror-high", prediction, probs, 0.0, generator)
    assert int(low.argmax()) == 1 and int(high.argmax()) == 2


def test_draw_follows_the_distribution_and_never_draws_an_impossible_token():
    import torch

    from studio_core.sampler import draw

    probs = torch.tensor([0.5, 0.0, 0.3, 0.0, 0.2]).expand(40000, 5).contiguous()
    tokens, chosen = draw(probs, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(tokens, minlength=5).float() / len(tokens)
    assert frequencies[1] == 0 and frequencies[3] == 0
    torch.testing.assert_close(frequencies, probs[0], atol=0.01, rtol=0)
    torch.testing.assert_close(chosen, probs[0][tokens])


def test_a_fine_draw_follows_the_distribution_and_never_draws_an_impossible_token():
    import torch

    from studio_core.sampler import draw

    probs = torch.tensor([0.5, 0.0, 0.3, 0.0, 0.2]).expand(40000, 5).contiguous()
    tokens, chosen = draw(probs, torch.Generator().manual_seed(0), fine=True)
    frequencies = torch.bincount(tokens, minlength=5).float() / len(tokens)
    assert frequencies[1] == 0 and frequencies[3] == 0
    torch.testing.assert_close(frequencies, probs[0], atol=0.01, rtol=0)
    torch.testing.assert_close(chosen, probs[0][tokens])


@pytest.mark.parametrize("fine", [False, True])
def test_fast_draws_sample_the_open_rows_only_each_as_if_every_row_were_drawn(fine):
    import torch

    from studio_core.sampler import FamilyRules, draw_candidates
    from studio_core.state import SamplerSettings

    logits = torch.randn(64, 40, generator=torch.Generator().manual_seed(1)) * 3
    rules, settings = FamilyRules(strategies=("confidence",), fine_draws=fine), SamplerSettings(top_k=10)
    every = np.ones(64, dtype=bool)
    some = np.zeros(64, dtype=bool)
    some[[3, 17, 40, 41]] = True
    all_tokens, all_probs = draw_candidates(logits, settings, rules, torch.Generator().manual_seed(5), every)
    tokens, probs = draw_candidates(logits, settings, rules, torch.Generator().manual_seed(5), some)
    assert torch.equal(tokens[some], all_tokens[some]) and torch.equal(probs[some], all_probs[some])
    assert (tokens[~some] == 0).all() and (probs[~some] == 0).all()
    top10 = torch.topk(logits, 10).indices
    assert all(int(t) in top10[i] for i, t in enumerate(all_tokens)), "top-k: only the 10 likeliest codes"
