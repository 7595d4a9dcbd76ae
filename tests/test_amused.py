"""aMUSEd in the studio, on a tiny random aMUSEd built and saved here (sizes of diffusers' own
tests, an 8x8 grid of 8 codes): the studio's loop against AmusedPipeline, every hook, the CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from studio_core.checkpoints import CheckpointError
from studio_core.sampler import SettingsError, frame_generator

PROMPT = "a red fox in the snow"


def pipeline_steps(directory, prompt, seed, steps, guidance):
    """AmusedPipeline's tokens after every step, with its random stream reset before each step to
    the studio's stream for that frame (`frame_generator(seed, frame index)`): the studio draws
    each frame from its own generator so that a rewind reproduces; the pipeline draws all steps
    from one. Matching the streams is all the test adds; the pipeline runs unmodified."""
    from diffusers import AmusedPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = AmusedPipeline.from_pretrained(str(directory), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    generator = torch.Generator()
    generator.set_state(frame_generator(seed, 1).get_state())
    seen = []

    def after_step(step, timestep, latents):
        seen.append(latents[0].clone().numpy())
        generator.set_state(frame_generator(seed, step + 2).get_state())

    final = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=generator,
                 output_type="latent", callback=after_step, callback_steps=1).images
    return seen, final[0].numpy()


@pytest.mark.parametrize("steps,guidance", [(12, 10.0), (8, 1.0)])
def test_the_studio_makes_exactly_the_tokens_amused_pipeline_makes(tiny_amused_dir, amused_studio, steps, guidance):
    """draws="pipeline": the scheduler's own calls, so the same random stream makes the same
    tokens (the default, draws="fast", draws the same distribution with other calls)."""
    seed = 7
    seen, final = pipeline_steps(tiny_amused_dir, PROMPT, seed, steps, guidance)
    settings = amused_studio.settings(stages=steps, guidance=guidance, draws="pipeline")
    state = amused_studio.generate_image(PROMPT, seed, settings)
    assert len(state.frames) == 1 + steps == 1 + len(seen)
    for i, (frame, tokens) in enumerate(zip(state.frames[1:], seen)):
        np.testing.assert_array_equal(frame.ids, tokens, err_msg=f"step {i}")
    np.testing.assert_array_equal(state.current.ids, final)
    assert state.current.done and len(np.unique(final)) > 1


def test_a_blank_first_stage_takes_the_cached_negative_row_and_computes_the_prompts_alone(amused_studio):
    family = amused_studio.family
    batches = []
    hook = family.models.transformer.register_forward_hook(lambda m, args, out: batches.append(len(args[0])))
    try:
        blank = torch.full((64,), amused_studio.mask_id)
        family.blank_unconditional()
        batches.clear()
        cached = family.predictions([blank], [PROMPT], [10.0], [True])[0].logits
        computed = family.predictions([blank], [PROMPT], [10.0], [False])[0].logits
        placed = blank.clone()
        placed[5] = 2
        family.predictions([placed], [PROMPT], [10.0], [True])
    finally:
        hook.remove()
    assert batches == [1, 2, 2], "blank + cache: the prompt's row only; otherwise both rows"
    torch.testing.assert_close(cached, computed, rtol=0, atol=1e-4)  # float rounding of the batch size
    assert family.predictor(amused_studio.settings()).reuse_blank
    assert not family.predictor(amused_studio.settings(draws="pipeline")).reuse_blank


def test_the_negative_prompt_is_encoded_once_and_kept_when_prompts_are_forgotten(amused_studio):
    family = amused_studio.family
    encoded = []
    hook = family.models.text_encoder.register_forward_hook(lambda m, args, out: encoded.append(1))
    try:
        family.text("")
        family.forget_prompts()
        encoded.clear()
        family.text("")
        family.text(PROMPT)
        family.text(PROMPT)
        family.forget_prompts()
        family.text(PROMPT)
    finally:
        hook.remove()
    assert len(encoded) == 2, "the prompt twice (it was forgotten), the negative prompt never again"


def test_fast_and_pipeline_draws_make_different_pictures_each_reproducible(amused_studio):
    fast = [amused_studio.generate_image(PROMPT, 3).current.ids for _ in range(2)]
    pipeline = [amused_studio.generate_image(PROMPT, 3, amused_studio.settings(draws="pipeline")).current.ids
                for _ in range(2)]
    np.testing.assert_array_equal(*fast)
    np.testing.assert_array_equal(*pipeline)
    assert not np.array_equal(fast[0], pipeline[0])


def test_the_same_seed_makes_the_same_picture_and_another_seed_another(amused_studio):
    a = amused_studio.generate_image(PROMPT, 3)
    b = amused_studio.generate_image(PROMPT, 3)
    c = amused_studio.generate_image(PROMPT, 4)
    np.testing.assert_array_equal(a.current.ids, b.current.ids)
    assert not np.array_equal(a.current.ids, c.current.ids)


# -- every hook -----------------------------------------------------------------------------------

def partial(studio, stages_done, seed=1, **settings):
    state = studio.start(PROMPT, seed, studio.settings(**settings))
    for _ in range(stages_done):
        state = studio.step(state)
    return state


def test_a_locked_token_never_changes_through_resume_repaint_and_force_revise(amused_studio):
    state = partial(amused_studio, 6, revision=2.0, revision_threshold=1.0)
    top = np.zeros((8, 8), dtype=bool)
    top[:3] = True
    state = amused_studio.lock(state, top)
    locked = state.current.locked.copy()
    assert locked.any() and not (locked & ~state.current.known).any()
    kept, at = state.current.ids[locked].copy(), len(state.frames)
    for state in amused_studio.resume(state):
        pass
    for state in amused_studio.repaint(state, np.ones((8, 8), dtype=bool), prompt="a blue lake"):
        pass
    state = amused_studio.force_revise(state, np.ones((8, 8), dtype=bool), seed=3)
    for frame in state.frames[at:]:
        assert (frame.ids[locked] == kept).all() and not (frame.revised & locked).any()
    unlocked = amused_studio.unlock(state, top)
    assert not unlocked.current.locked.any() and unlocked.current.event == "unlock"


def test_repaint_with_a_region_prompt_changes_nothing_outside_the_region(amused_studio):
    state = amused_studio.generate_image(PROMPT, 2)
    region = np.zeros((8, 8), dtype=bool)
    region[2:6, 2:6] = True
    frames = list(amused_studio.repaint(state, region, prompt="a yellow sun", seed=9))
    assert len(frames) == amused_studio.default_settings.repaint_stages
    for s in frames:
        assert (s.current.ids[~region] == state.current.ids[~region]).all() and s.current.event == "repaint"
    assert frames[-1].current.done and frames[-1].current.prompt == "a yellow sun"
    assert sum(int(s.current.new.sum()) for s in frames) == int(region.sum())


def test_force_revise_redraws_only_the_selection_and_marks_what_changed(amused_studio):
    state = amused_studio.generate_image(PROMPT, 4)
    selection = np.zeros((8, 8), dtype=bool)
    selection[5:, :] = True
    after = amused_studio.force_revise(state, selection, seed=5).current
    assert after.event == "revise"
    assert (after.ids[~selection] == state.current.ids[~selection]).all()
    assert not (after.revised & ~selection).any()
    np.testing.assert_array_equal(after.revised, selection & (after.ids != state.current.ids))
    assert after.revised.any(), "a random model redraws some of 24 tokens differently"


def test_rewind_with_the_same_seed_reproduces_and_another_seed_branches(amused_studio):
    state = amused_studio.generate_image(PROMPT, 11)
    for same in amused_studio.resume(amused_studio.rewind(state, 4)):
        pass
    for a, b in zip(state.frames, same.frames):
        np.testing.assert_array_equal(a.ids, b.ids)
    for other in amused_studio.resume(amused_studio.rewind(state, 4), seed=12):
        pass
    np.testing.assert_array_equal(other.frames[4].ids, state.frames[4].ids)
    assert not np.array_equal(other.current.ids, state.current.ids) and other.current.seed == 12


def test_hidden_revision_revises_placed_tokens_with_one_extra_pass_per_stage(amused_studio):
    calls = []
    predictor = amused_studio.predictor(amused_studio.start(PROMPT, 0))

    class Counting:
        rules = predictor.rules

        def __call__(self, ids, prompt):
            calls.append(int((ids == amused_studio.mask_id).sum()))
            return predictor(ids, prompt)

    from studio_core import sampler

    settings = amused_studio.settings(revision=2.0, revision_threshold=1.0)
    state = amused_studio.start(PROMPT, 0, settings)
    stages = 0
    for state in sampler.run_to_end(state, Counting()):
        stages += 1
    revised = sum(int(f.revised.sum()) for f in state.frames)
    assert revised > 0, "a threshold of 1 revises every hidden candidate that redraws differently"
    budgets = [sampler.revision_budget(64, stages, s, 2.0) for s in range(stages)]
    assert len(calls) == stages + sum(1 for s, b in enumerate(budgets) if b > 0 and s > 0)
    assert state.current.done


def test_without_revision_nothing_is_revised(amused_studio):
    state = amused_studio.generate_image(PROMPT, 0)
    assert not any(f.revised.any() for f in state.frames)


# -- what the model offers, and bad input ---------------------------------------------------------

@pytest.mark.parametrize("strategy", ["qerror", "importance", "raster"])
def test_a_strategy_the_model_does_not_offer_is_refused_naming_what_it_offers(amused_studio, strategy):
    with pytest.raises(SettingsError, match=f"strategy '{strategy}' is not offered.*confidence, random"):
        amused_studio.start(PROMPT, 0, amused_studio.settings(strategy=strategy))
    assert amused_studio.strategies == ("confidence", "random")


def test_visible_revision_is_refused_for_a_model_trained_on_masked_tokens_only(amused_studio):
    with pytest.raises(SettingsError, match="revision_mode 'visible' is not offered"):
        amused_studio.start(PROMPT, 0, amused_studio.settings(revision_mode="visible"))


def test_random_order_completes_a_picture(amused_studio):
    state = amused_studio.generate_image(PROMPT, 0, amused_studio.settings(strategy="random"))
    assert state.current.done


def test_a_hub_id_while_offline_is_one_message_naming_the_id_and_what_to_do(monkeypatch):
    from studio_core.studio import Studio

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(CheckpointError) as err:
        Studio.load("amused/amused-256", cpu=True)
    message = str(err.value)
    assert message.startswith("amused/amused-256: a model hub id") and "offline" in message
    assert "huggingface-cli download amused/amused-256" in message and "--checkpoint ./amused-256" in message


def test_a_folder_that_is_not_an_amused_pipeline_is_named(tmp_path, tiny_amused_dir):
    import json
    import shutil

    from studio_core.studio import Studio

    with pytest.raises(CheckpointError, match="neither a studio checkpoint.*nor a diffusers aMUSEd"):
        Studio.load(tmp_path, cpu=True)
    other = tmp_path / "sd"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(CheckpointError, match="for StableDiffusionPipeline, not aMUSEd"):
        Studio.load(other, cpu=True)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_amused_dir, broken)
    shutil.rmtree(broken / "vqvae")
    with pytest.raises(CheckpointError, match="missing vqvae"):
        Studio.load(broken, cpu=True)


def test_a_session_of_another_model_is_refused_naming_both(amused_studio, tiny_studio):
    from dataclasses import replace

    bundled_state = tiny_studio.generate_image("a red circle", 0, tiny_studio.settings(stages=2))
    assert bundled_state.model == "studio"  # the tiny checkpoint's folder name
    with pytest.raises(SettingsError, match="made by the model 'studio'; this studio runs 'tiny-amused'"):
        amused_studio.check_fits(bundled_state)
    # a session saved before states named their model: its grid tells
    with pytest.raises(SettingsError, match="another model \\(4x4 tokens.*'tiny-amused' draws 8x8"):
        amused_studio.check_fits(replace(bundled_state, model=""))
    amused_studio.check_fits(amused_studio.generate_image(PROMPT, 0))


# -- pictures and the command line ----------------------------------------------------------------

def test_the_preview_paints_each_token_in_its_codes_mean_colour(amused_studio):
    state = amused_studio.generate_image(PROMPT, 0)
    colours = amused_studio.family.code_colours()
    assert colours.shape == (8, 3) and colours.dtype == np.uint8
    preview = amused_studio.preview_image(state.current)
    assert preview.shape == (8, 8, 3)
    np.testing.assert_array_equal(preview, colours[state.current.ids])
    decoded = amused_studio.decode(state.current)
    assert decoded.shape == (8, 8, 3) and decoded.dtype == np.uint8
    # one code decoded alone (on a 2x2 grid of itself: the tiny decoder has one channel per group)
    single = amused_studio.family.decode_ids(torch.full((1, 2, 2), 3))
    np.testing.assert_array_equal(colours[3], single[0].mean(dim=(1, 2)).mul(255).round().to(torch.uint8).numpy())


def test_encode_then_decode_round_trips_the_tokens_of_a_decoded_picture(amused_studio):
    ids = amused_studio.generate_image(PROMPT, 0).current.ids
    again = amused_studio.family.encode(amused_studio.family.decode(ids)[None])
    assert again.shape == (1, 8, 8) and again.dtype.kind == "i"


def test_cli_generates_a_png_and_a_gif_from_an_amused_folder(tiny_amused_dir, tmp_path):
    import imageio.v3 as iio
    from PIL import Image

    from studio_core.__main__ import main

    argv = ["generate", "--prompt", PROMPT, "--checkpoint", str(tiny_amused_dir), "--out",
            str(tmp_path / "fox.png"), "--gif", str(tmp_path / "fox.gif"), "--cpu", "--precision", "fp32",
            "--seed", "3"]
    assert main(argv) == 0
    with Image.open(tmp_path / "fox.png") as png:
        assert png.size == (32, 32) and png.text["model"] == "tiny-amused"
        assert '"schedule": "amused"' in png.text["settings"] and '"draws": "fast"' in png.text["settings"]
    assert len(iio.imread(tmp_path / "fox.gif", index=None)) == 12


def test_cli_draws_pipeline_records_and_uses_the_pipelines_draws(tiny_amused_dir, amused_studio, tmp_path):
    from PIL import Image

    from studio_core.__main__ import main

    pictures = {}
    for draws in ("fast", "pipeline"):
        out = tmp_path / f"{draws}.png"
        assert main(["generate", "--prompt", PROMPT, "--checkpoint", str(tiny_amused_dir), "--out", str(out),
                     "--cpu", "--precision", "fp32", "--seed", "3", "--draws", draws, "--scale", "1"]) == 0
        with Image.open(out) as png:
            assert f'"draws": "{draws}"' in png.text["settings"]
            pictures[draws] = np.asarray(png.convert("RGB"))
    state = amused_studio.generate_image(PROMPT, 3, amused_studio.settings(draws="pipeline"))
    np.testing.assert_array_equal(pictures["pipeline"], amused_studio.decode(state.current))
    assert not np.array_equal(pictures["fast"], pictures["pipeline"])


def test_cli_refuses_a_strategy_the_model_does_not_offer_in_one_line(tiny_amused_dir, tmp_path, capsys):
    from studio_core.__main__ import main

    argv = ["generate", "--prompt", PROMPT, "--checkpoint", str(tiny_amused_dir), "--out", str(tmp_path / "x.png"),
            "--cpu", "--strategy", "qerror"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    # transformers may draw a "Loading weights" bar on stderr first (the first load in a process)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: strategy 'qerror' is not offered")
    assert "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_the_code_colour_table_is_kept_between_runs(tiny_amused_dir, tmp_path, monkeypatch):
    from studio_core.studio import Studio

    monkeypatch.setenv("STUDIO_CACHE", str(tmp_path / "cache"))
    first = Studio.load(tiny_amused_dir, cpu=True, precision="fp32").family
    table = first.code_colours()
    kept = list((tmp_path / "cache" / "code-colours").glob("*.npy"))
    assert len(kept) == 1
    marked = np.full_like(table, 7)  # a table no decoder made: read back, it proves the file is used
    np.save(kept[0], marked)
    np.testing.assert_array_equal(Studio.load(tiny_amused_dir, cpu=True, precision="fp32").family.code_colours(),
                                  marked)
    kept[0].write_bytes(b"damaged")  # a damaged cache file is computed again, not an error
    np.testing.assert_array_equal(Studio.load(tiny_amused_dir, cpu=True, precision="fp32").family.code_colours(), table)
