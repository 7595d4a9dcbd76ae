"""Drafts (studio_core/drafts.py): a placed emoji drawn at full size first, shrunk into its cell,
and its cell's tokens held by the scene's stages."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from studio_core import sampler
from studio_core.checkpoints import CheckpointError
from studio_core.drafts import Draft, compose, cut_out, drafted_cells, ground_mask, hold_drafts
from studio_core.prompt_reader import POSITIONS, EmojiReader, Reading, Thing
from studio_core.regions import cell_tokens
from studio_core.studio import Studio

NAMES = {"dog": ["puppy"], "sun": [], "pizza": [], "cat face": ["cat"]}
PLACED = "a small puppy in the top left on a blue background"


def ring_picture() -> np.ndarray:
    """A red ring with a white middle on a white ground, 16 px."""
    image = np.full((16, 16, 3), 255, dtype=np.uint8)
    image[4:12, 4:12] = (200, 30, 30)
    image[6:10, 6:10] = 255
    return image


def test_the_ground_is_the_white_joined_to_the_border_and_white_inside_stays():
    ground = ground_mask(ring_picture())
    assert ground[0, 0] and ground[15, 15] and ground[3, 8]
    assert not ground[4:12, 4:12].any()  # the ring, and the white in its middle
    sprite = cut_out(ring_picture(), extent=4)
    assert sprite.size == (4, 4) and sprite.mode == "RGBA"
    assert np.asarray(sprite)[..., 3].min() > 0  # cropped to the ring: no ground left in it
    assert cut_out(np.full((16, 16, 3), 250, dtype=np.uint8), extent=4) is None  # nothing was drawn


def test_the_composite_sets_each_thing_in_its_own_cell_on_the_scenes_background():
    reading = Reading((Thing("dog", 0, size="large", position="top left"),
                       Thing("sun", 3, size="small", position="bottom right")), "blue")
    image = compose(reading, [ring_picture(), ring_picture()], 64)
    blue = (60, 110, 220)
    assert tuple(image[32, 32]) == blue  # the centre cell is empty
    ink = (np.abs(image.astype(int) - blue).max(axis=-1) > 40)
    assert ink[:22, :22].any() and ink[43:, 43:].any()
    ink[:22, :22] = ink[43:, 43:] = False
    assert not ink.any()  # nothing outside the two cells
    assert compose(Reading(reading.things, None), [ring_picture()] * 2, 64)[32, 32].tolist() == [255, 255, 255]


def test_held_drafts_are_certain_in_their_cells_and_leave_the_rest_and_the_scores_alone():
    n, v = 16, 8
    prediction = sampler.Prediction(torch.randn(n, v), torch.randn(n), torch.randn(n))
    cells = np.zeros(n, dtype=bool)
    cells[[0, 1, 4, 5]] = True
    draft = Draft(np.arange(n) % v, cells)
    held = hold_drafts(prediction, draft)
    probs = torch.softmax(held.logits / 10.0, dim=-1)  # the sampler's highest temperature
    assert torch.equal(probs[torch.from_numpy(cells)].argmax(-1), torch.tensor([0, 1, 4, 5]))
    assert probs[torch.from_numpy(cells)].max(-1).values.min() == 1.0
    assert torch.equal(held.logits[torch.from_numpy(~cells)], prediction.logits[torch.from_numpy(~cells)])
    assert held.qerror is prediction.qerror and held.importance is prediction.importance


@pytest.fixture()
def drafts_checkpoint(tiny_checkpoint, tmp_path):
    directory = shutil.copytree(tiny_checkpoint, tmp_path / "drafts")
    manifest = json.loads((directory / "studio.json").read_text())
    (directory / "studio.json").write_text(json.dumps({**manifest, "prompt_reader": "emoji",
                                                       "regional_prompts": True, "drafts": True}))
    (directory / "names.json").write_text(json.dumps(NAMES))
    return directory


def test_only_placed_things_are_drafted(drafts_checkpoint):
    studio = Studio.load(drafts_checkpoint, cpu=True)
    assert studio.drafts_things(PLACED) and studio.drafts_things("a dog and a pizza")
    assert studio.drafts_things("a cat on pink")  # a background: the cat is placed, in the centre
    for bare in ("a puppy", "cat face", "a unicorn", ""):
        assert not studio.drafts_things(bare)
    assert not studio.with_drafts(False).drafts_things(PLACED)
    assert not studio.with_prompt_reader("none").drafts_things(PLACED)  # no reader, no places


def test_the_draft_is_the_picture_its_bare_name_gives_and_its_cell_holds_it(drafts_checkpoint):
    studio = Studio.load(drafts_checkpoint, cpu=True)
    seed = 3
    picture = studio.decode(studio.generate_image("dog", seed).current)  # what typing the name gives
    reading = EmojiReader(NAMES).placed(PLACED)
    composite = compose(reading, [picture], studio.image_size)
    draft = studio.family.draft(PLACED, seed, studio.default_settings)
    assert np.array_equal(draft.ids, studio.family.encode(composite[None])[0].reshape(-1))
    assert np.array_equal(draft.cells, cell_tokens("top left", POSITIONS, studio.grid_size))

    states = list(studio.generate(PLACED, seed))
    final = states[-1].current
    assert final.done
    assert np.array_equal(final.ids.reshape(-1)[draft.cells], draft.ids[draft.cells])
    # every stage adds what the plan says: the drafted tokens come in the plan's stages
    assert [int(s.current.new.sum()) for s in states] == list(states[-1].plan)
    # a session reopened elsewhere: a new studio makes the draft anew, and the same picture
    assert np.array_equal(Studio.load(drafts_checkpoint, cpu=True).generate_image(PLACED, seed).current.ids,
                          final.ids)


def test_a_picture_made_in_a_batch_is_drafted_as_one_made_alone(drafts_checkpoint):
    studio = Studio.load(drafts_checkpoint, cpu=True)
    prompts, seeds = [PLACED, "a puppy", "a dog and a sun on pink"], [1, 2, 3]
    batch = studio.generate_batch(prompts, seeds)
    for prompt, seed, state in zip(prompts, seeds, batch):
        assert np.array_equal(state.current.ids, studio.generate_image(prompt, seed).current.ids)


def test_a_locked_token_never_changes_under_drafts_and_a_repaint_draws_a_new_draft(drafts_checkpoint):
    studio = Studio.load(drafts_checkpoint, cpu=True)
    state = studio.step(studio.step(studio.start(PLACED, seed=5)))
    locked = state.current.known.copy()
    state = studio.lock(state, locked)
    for state in studio.resume(state):
        pass
    assert np.array_equal(state.current.ids[locked], state.frames[2].ids[locked])

    cell = cell_tokens("top left", POSITIONS, studio.grid_size).reshape(studio.grid_size, -1)
    state = studio.unlock(state, np.ones_like(cell))
    for state in studio.repaint(state, cell, seed=9):
        pass
    new_draft = studio.family.draft(PLACED, 9, studio.default_settings)
    assert np.array_equal(state.current.ids[cell], new_draft.ids.reshape(cell.shape)[cell])


def test_only_a_predictor_that_knows_the_seed_holds_drafts(drafts_checkpoint):
    """force-revise asks the model itself: drafts would give a drafted cell's tokens back."""
    studio = Studio.load(drafts_checkpoint, cpu=True)
    settings = studio.default_settings
    ids = torch.full((studio.grid_size ** 2,), studio.mask_id)
    cells = torch.from_numpy(studio.family.draft(PLACED, 0, settings).cells)
    held = studio.family.predictor(settings, 0)(ids, PLACED).logits
    own = studio.family.predictor(settings)(ids, PLACED).logits
    assert (held[cells].max(-1).values - held[cells].min(-1).values).min() > 1e3
    assert torch.equal(held[~cells], own[~cells])
    assert (own[cells].max(-1).values - own[cells].min(-1).values).max() < 1e3


def test_drafts_must_be_true_or_false(drafts_checkpoint):
    manifest = json.loads((drafts_checkpoint / "studio.json").read_text())
    (drafts_checkpoint / "studio.json").write_text(json.dumps({**manifest, "drafts": "yes"}))
    with pytest.raises(CheckpointError, match='"drafts" must be true or false'):
        Studio.load(drafts_checkpoint, cpu=True)


def test_the_page_says_a_placed_thing_is_drafted(drafts_checkpoint):
    from app.views import reading_of

    studio = Studio.load(drafts_checkpoint, cpu=True)
    assert reading_of(studio, "a small puppy in the top left, blue bg") == (
        "a small dog in the top left on a blue background, drafted at full size, then shrunk into its cell")
    assert reading_of(studio, "a dog and a pizza") == (
        "a large dog on the left and a large pizza on the right, each drawn in its own cell from its own words, "
        "each drafted at full size, then shrunk into its cell")
    assert reading_of(studio, "a puppy") == "dog"


def test_bench_times_a_drafted_picture_and_its_first_stage(drafts_checkpoint, capsys):
    from studio_core.eval.speed import benchmark_generation

    manifest = json.loads((drafts_checkpoint / "studio.json").read_text())
    manifest["evaluation"] = {"dataset": "emoji", "checker": "none"}  # the emoji model's bench prompts
    (drafts_checkpoint / "studio.json").write_text(json.dumps(manifest))
    result = benchmark_generation(drafts_checkpoint, {"stages": 4}, runs=2, cpu=True, precision="fp32")
    assert result["drafted_whole_picture_median_s"] > 0 and result["drafted_first_stage_median_s"] > 0
    out = capsys.readouterr().out
    assert "one placed emoji, drafted at full size first" in out and "by region (regions.py) and drafted" in out


def test_a_drafted_scene_survives_a_picture_with_nothing_drawn():
    """A draft that cut out nothing (an all-white bare picture) leaves its cell the plain background."""
    reading = Reading((Thing("dog", 0, size="large", position="center"),), "pink")
    image = compose(reading, [np.full((16, 16, 3), 255, dtype=np.uint8)], 16)
    assert (image == np.array((245, 170, 200), dtype=np.uint8)).all()
    assert drafted_cells(reading, 4).sum() == 4
    assert Image.fromarray(image).size == (16, 16)
