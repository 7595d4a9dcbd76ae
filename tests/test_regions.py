"""Regional prompts (studio_core/regions.py): a scene of several placed emoji is predicted in each
emoji's cell from that emoji's own words."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from studio_core.checkpoints import CheckpointError
from studio_core.prompt_reader import POSITIONS, EmojiReader
from studio_core.regions import RegionWords, cell_tokens, region_masks
from studio_core.studio import Studio

NAMES = {"dog": ["puppy"], "sun": [], "pizza": [], "cat face": ["cat"]}


def test_a_scene_of_several_emoji_is_read_into_each_emojis_own_words():
    reader = EmojiReader(NAMES)
    assert reader.regions("a small sun at the bottom right and a large dog up in the top left, blue bg") == (
        RegionWords("a large dog in the top left on a blue background"),
        RegionWords("a small sun in the bottom right on a blue background", "bottom right"))
    # no background said: every region says white, so that the regions agree
    assert reader.regions("a puppy above a pizza") == (
        RegionWords("a large dog at the top on a white background"),
        RegionWords("a large pizza at the bottom on a white background", "bottom"))
    for one in ("a dog", "a dog in the top left on pink", "a unicorn and a dragon", ""):
        assert reader.regions(one) == ()


def test_every_regions_words_read_back_to_themselves():
    """The text encoder gets a region's words unchanged: they are already the data's words."""
    reader = EmojiReader(NAMES)
    for prompt in ("two cats on green", "a sun above a dog", "a tiny pizza on the left, a puppy in the centre"):
        for region in reader.regions(prompt):
            assert reader(region.words) == region.words


@pytest.mark.parametrize("grid", [4, 16, 32])
def test_each_cell_holds_the_tokens_centred_in_it_and_the_cells_cover_the_grid(grid):
    cells = {p: cell_tokens(p, POSITIONS, grid).reshape(grid, grid) for p in POSITIONS}
    assert np.logical_or.reduce(list(cells.values())).all()
    centres = (np.arange(grid) + 0.5) * 3 / grid  # in cells
    for p, mask in cells.items():
        row, col = divmod(POSITIONS.index(p), 3)
        centred = np.outer((centres >= row) & (centres < row + 1), (centres >= col) & (centres < col + 1))
        assert mask[centred].all()
        assert mask.sum() <= (np.ceil(grid / 3) + 1) ** 2  # at most one border row and column more


def test_region_masks_share_out_every_token_once():
    regions = (RegionWords("a dog"), RegionWords("a sun", "top"), RegionWords("a pizza", "center"))
    masks = region_masks(regions, POSITIONS, 16)
    assert torch.stack(masks).sum(dim=0).eq(1).all()
    # a later cell takes the border it shares with an earlier one
    assert torch.equal(masks[2], torch.from_numpy(cell_tokens("center", POSITIONS, 16)))


@pytest.fixture()
def regional_checkpoint(tiny_checkpoint, tmp_path):
    directory = shutil.copytree(tiny_checkpoint, tmp_path / "regional")
    manifest = json.loads((directory / "studio.json").read_text())
    (directory / "studio.json").write_text(json.dumps({**manifest, "prompt_reader": "emoji",
                                                       "regional_prompts": True}))
    (directory / "names.json").write_text(json.dumps(NAMES))
    return directory


def test_each_token_is_predicted_from_its_own_regions_words(regional_checkpoint):
    studio = Studio.load(regional_checkpoint, cpu=True)
    whole = studio.with_regional_prompts(False)
    prompt = "a puppy in the top left and a sun at the bottom right on pink"
    first, second = studio.prompt_regions(prompt)
    assert whole.prompt_regions(prompt) == ()
    as_typed = studio.with_prompt_reader("none")  # no reader, no regions: the words go in as typed
    assert as_typed.prompt_regions(prompt) == () and not as_typed.family.draws_by_region
    grid = studio.grid_size
    ids = torch.full((grid * grid,), studio.mask_id)
    ids[0] = 3  # one token placed: the passes see the same grid
    settings = studio.default_settings
    merged = studio.family.predictor(settings)(ids, prompt)
    own = {r.position: whole.family.predictor(settings)(ids, r.words) for r in (first, second)}
    in_cell = torch.from_numpy(cell_tokens("bottom right", POSITIONS, grid))
    for field in ("logits", "qerror", "importance"):
        got = getattr(merged, field).float()
        assert torch.allclose(got[in_cell], getattr(own["bottom right"], field).float()[in_cell], atol=1e-4)
        assert torch.allclose(got[~in_cell], getattr(own[None], field).float()[~in_cell], atol=1e-4)


def test_a_locked_token_never_changes_under_regional_prompts(regional_checkpoint):
    studio = Studio.load(regional_checkpoint, cpu=True)
    prompt = "two dogs on blue"
    state = studio.step(studio.step(studio.start(prompt, seed=5)))
    locked = state.current.known.copy()
    state = studio.lock(state, locked)
    for state in studio.resume(state):
        pass
    assert state.current.done
    assert np.array_equal(state.current.ids[locked], state.frames[2].ids[locked])
    # and the picture is the same for the same seed: the regions are part of the prompt's reading
    again = studio.generate_image(prompt, seed=5)
    assert np.array_equal(again.current.ids, studio.generate_image(prompt, seed=5).current.ids)


def test_regional_prompts_must_be_true_or_false(regional_checkpoint):
    manifest = json.loads((regional_checkpoint / "studio.json").read_text())
    (regional_checkpoint / "studio.json").write_text(json.dumps({**manifest, "regional_prompts": "yes"}))
    with pytest.raises(CheckpointError, match='"regional_prompts" must be true or false'):
        Studio.load(regional_checkpoint, cpu=True)


def test_the_page_says_the_things_are_drawn_region_by_region(regional_checkpoint):
    from app.views import reading_of

    studio = Studio.load(regional_checkpoint, cpu=True)
    assert reading_of(studio, "a dog and a pizza") == ("a large dog on the left and a large pizza on the right, "
                                                      "each drawn in its own cell from its own words")
    assert reading_of(studio, "a puppy") == "dog"
    assert reading_of(studio.with_regional_prompts(False), "a dog and a pizza") == (
        "a large dog on the left and a large pizza on the right")


def test_bench_times_a_two_thing_picture_where_the_model_draws_by_region(regional_checkpoint, capsys):
    from studio_core.eval.speed import benchmark_generation

    result = benchmark_generation(regional_checkpoint, {"stages": 4}, runs=2, cpu=True, precision="fp32")
    assert result["regional_whole_picture_median_s"] > 0
    assert "two placed things, drawn by region" in capsys.readouterr().out
    manifest = json.loads((regional_checkpoint / "studio.json").read_text())
    (regional_checkpoint / "studio.json").write_text(json.dumps({**manifest, "regional_prompts": False}))
    assert "regional_whole_picture_median_s" not in benchmark_generation(
        regional_checkpoint, {"stages": 4}, runs=1, cpu=True, precision="fp32")
