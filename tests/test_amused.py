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


@pytest.fixture(scope="session")
def tiny_amused_dir(tmp_path_factory):
    from studio_core.amused_configs import save_random_pipeline

    return save_random_pipeline("tiny", tmp_path_factory.mktemp("amused") / "tiny-amused")


@pytest.fixture(scope="session")
def amused_studio(tiny_amused_dir):
    from studio_core.studio import Studio

    return Studio.load(tiny_amused_dir, cpu=True, precision="fp32")


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
    seed = 7
    seen, final = pipeline_steps(tiny_amused_dir, PROMPT, seed, steps, guidance)
    settings = amused_studio.settings(stages=steps, guidance=guidance)
    state = amused_studio.generate_image(PROMPT, seed, settings)
    assert len(state.frames) == 1 + steps == 1 + len(seen)
    for i, (frame, tokens) in enumerate(zip(state.frames[1:], seen)):
        np.testing.assert_array_equal(frame.ids, tokens, err_msg=f"step {i}")
    np.testing.assert_array_equal(state.current.ids, final)
    assert state.current.done and len(np.unique(final)) > 1


def test_the_same_seed_makes_the_same_picture_and_another_seed_another(amused_studio):
    a = amused_studio.generate_image(PROMPT, 3)
    b = amused_studio.generate_image(PROMPT, 3)
    c = amused_studio.generate_image(PROMPT, 4)
    np.testing.assert_array_equal(a.current.ids, b.current.ids)
    assert not np.array_equal(a.current.ids, c.current.ids)
