"""Loading studio checkpoints: every failure names the path and what is wrong."""

from __future__ import annotations

import json
import shutil

import pytest

from studio_core.checkpoints import CheckpointError
from studio_core.studio import Studio
from studio_core.transformer import ProgressiveTransformer


def copy_of(checkpoint, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(checkpoint, target)
    return target


def test_a_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'absent'}.*not found"):
        Studio.load(tmp_path / "absent", cpu=True)


def test_a_file_instead_of_a_directory_is_refused(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="must be a directory"):
        Studio.load(tmp_path / "model.bin", cpu=True)


def test_a_checkpoint_without_its_manifest_says_what_is_missing(tiny_checkpoint, tmp_path):
    broken = copy_of(tiny_checkpoint, tmp_path)
    (broken / "studio.json").unlink()
    with pytest.raises(CheckpointError, match="missing studio.json"):
        Studio.load(broken, cpu=True)


def test_a_corrupt_manifest_is_reported(tiny_checkpoint, tmp_path):
    broken = copy_of(tiny_checkpoint, tmp_path)
    (broken / "studio.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="studio.json: not valid JSON"):
        Studio.load(broken, cpu=True)


def test_truncated_transformer_weights_are_reported(tiny_checkpoint, tmp_path):
    broken = copy_of(tiny_checkpoint, tmp_path)
    weights = broken / "transformer" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="model.safetensors: damaged"):
        Studio.load(broken, cpu=True)


def test_weights_that_do_not_match_the_config_are_reported(tiny_checkpoint, tmp_path):
    broken = copy_of(tiny_checkpoint, tmp_path)
    config = broken / "transformer" / "config.json"
    config.write_text(config.read_text().replace('"width": 32', '"width": 64'))
    with pytest.raises(CheckpointError, match="not matching"):
        Studio.load(broken, cpu=True)


def test_a_bad_transformer_config_is_reported(tiny_checkpoint, tmp_path):
    broken = copy_of(tiny_checkpoint, tmp_path)
    (broken / "transformer" / "config.json").write_text('{"width": 32, "colour": "red"}')
    with pytest.raises(CheckpointError, match="not a valid transformer config"):
        Studio.load(broken, cpu=True)


def test_a_missing_text_encoder_is_reported(tiny_checkpoint, tmp_path):
    broken = copy_of(tiny_checkpoint, tmp_path)
    (broken / "studio.json").write_text('{"text_encoder": "%s"}' % (tmp_path / "no-encoder"))
    with pytest.raises(CheckpointError, match="no-encoder"):
        Studio.load(broken, cpu=True)


def test_the_transformer_round_trips(tiny_checkpoint, tmp_path):
    import torch

    model = ProgressiveTransformer.from_pretrained(tiny_checkpoint / "transformer")
    model.save_pretrained(tmp_path / "again")
    again = ProgressiveTransformer.from_pretrained(tmp_path / "again")
    assert again.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name


def with_sampling(checkpoint, tmp_path, sampling):
    copy = copy_of(checkpoint, tmp_path)
    manifest = json.loads((copy / "studio.json").read_text())
    (copy / "studio.json").write_text(json.dumps({**manifest, "sampling": sampling}))
    return copy


def test_a_checkpoint_brings_its_own_sampling_defaults(tiny_checkpoint, tmp_path):
    studio = Studio.load(with_sampling(tiny_checkpoint, tmp_path, {"temperature": 0.5, "stages": 4}), cpu=True)
    assert (studio.default_settings.temperature, studio.default_settings.stages) == (0.5, 4)
    assert studio.default_settings.guidance == Studio.load(tiny_checkpoint, cpu=True).default_settings.guidance
    assert len(studio.generate_image("a red circle").plan) == 4


@pytest.mark.parametrize("sampling, complaint", [
    ({"temprature": 0.5}, "must map settings among"),
    ({"temperature": -1.0}, "temperature must be a finite number"),
    ([0.5], "must map settings among"),
])
def test_bad_sampling_defaults_name_the_manifest(tiny_checkpoint, tmp_path, sampling, complaint):
    broken = with_sampling(tiny_checkpoint, tmp_path, sampling)
    with pytest.raises(CheckpointError, match=f"studio.json.*{complaint}"):
        Studio.load(broken, cpu=True)


def test_a_note_in_the_manifest_stands_beside_the_model_in_the_picker(tiny_checkpoint, tmp_path):
    from app.views import model_choices

    plain = Studio.load(tiny_checkpoint, cpu=True)
    noted = copy_of(tiny_checkpoint, tmp_path)
    manifest = json.loads((noted / "studio.json").read_text())
    (noted / "studio.json").write_text(json.dumps({**manifest, "note": "in training"}))
    studio = Studio.load(noted, cpu=True)
    assert plain.model_note == "" and studio.model_note == "in training"
    assert model_choices({"a": plain, "b": studio}) == [("a", "a"), ("b (in training)", "b")]

    (noted / "studio.json").write_text(json.dumps({**manifest, "note": ["not", "text"]}))
    with pytest.raises(CheckpointError, match='"note" must be text'):
        Studio.load(noted, cpu=True)


def test_the_page_offers_the_picked_models_own_example_prompts(tiny_checkpoint, tmp_path):
    from app import AppConfig, EXAMPLE_PROMPTS
    from app.endpoints import StudioEndpoints
    from app.views import examples_for
    from studio_core.store import SessionStore

    plain = Studio.load(tiny_checkpoint, cpu=True)
    own = copy_of(tiny_checkpoint, tmp_path)
    manifest = json.loads((own / "studio.json").read_text())
    (own / "studio.json").write_text(json.dumps({**manifest, "examples": ["cat face", "two dogs on pink"]}))
    studio = Studio.load(own, cpu=True)
    config = AppConfig(exports_dir=tmp_path / "exports")
    assert plain.examples == () and examples_for(plain, config) == EXAMPLE_PROMPTS  # the app's own
    assert examples_for(studio, config) == ("cat face", "two dogs on pink")
    # the model picker swaps the list and the prompt box's placeholder (updates: Gradio merges
    # their constructor arguments into the page's components)
    endpoints = StudioEndpoints([plain, studio], SessionStore(tmp_path / "studio.db"), config)
    *_, examples, prompt, edits = endpoints.model_controls(studio.model_name)
    assert examples.constructor_args["samples"] == [["cat face"], ["two dogs on pink"]]
    assert prompt.constructor_args["placeholder"] == "cat face"
    assert edits.constructor_args == {"samples": [], "visible": False}  # no edit examples: no list
    *_, examples, _, _ = endpoints.model_controls(plain.model_name)
    assert examples.constructor_args["samples"] == [[p] for p in EXAMPLE_PROMPTS]

    for bad in ("cat face", ["cat face", ""], [3]):
        (own / "studio.json").write_text(json.dumps({**manifest, "examples": bad}))
        with pytest.raises(CheckpointError, match='"examples" must be a list of prompts'):
            Studio.load(own, cpu=True)


def test_edit_examples_are_read_and_checked_against_the_grid(tiny_checkpoint, tmp_path):
    import numpy as np

    own = copy_of(tiny_checkpoint, tmp_path)
    manifest = json.loads((own / "studio.json").read_text())
    edit = {"description": "lock the dog, repaint the sun", "prompt": "a dog", "seed": 1, "lock": "top left",
            "repaint": {"box_tokens": [1, 0, 3, 2], "prompt": "a sun"}}
    (own / "studio.json").write_text(json.dumps({**manifest, "edit_examples": [edit]}))
    example, = Studio.load(own, cpu=True).edit_examples
    assert (example.prompt, example.seed, example.repaint_prompt) == ("a dog", 1, "a sun")
    box = example.repaint_mask(4)
    assert box.sum() == 4 and box[0:2, 1:3].all()
    # the lock never covers the repaint box: "lock everything, repaint the mouth" keeps the rest
    np.testing.assert_array_equal(example.lock_mask(4), np.array(
        [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=bool))
    assert Studio.load(tiny_checkpoint, cpu=True).edit_examples == ()

    for broken, complaint in (({**edit, "lock": "upstairs"}, "lock must be"),
                              ({**edit, "repaint": {"box_tokens": [0, 0, 5, 2], "prompt": "a sun"}}, "inside the 4x4"),
                              ({**edit, "repaint": {"box_tokens": [2, 0, 2, 2], "prompt": "a sun"}}, "box_tokens"),
                              ({**edit, "seed": -1}, "seed must be"), ({**edit, "prompt": ""}, "must be text"),
                              ({k: v for k, v in edit.items() if k != "repaint"}, "needs description")):
        (own / "studio.json").write_text(json.dumps({**manifest, "edit_examples": [broken]}))
        with pytest.raises(CheckpointError, match=f'"edit_examples": .*{complaint}'):
            Studio.load(own, cpu=True)
