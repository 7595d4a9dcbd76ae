"""The raster-order AR baseline: causal, its KV cache changes nothing but the cost, it trains
through the same command, and its files are never mistaken for a progressive model's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio_core.autoregressive import RasterTransformer, load_transformer, sample_raster
from studio_core.checkpoints import CheckpointError
from studio_core.transformer import ProgressiveTransformer, TextContext, TransformerConfig
from studio_core.train.transformer import TransformerTrainConfig, train_transformer

from test_training import tiny_encoded_data


def tiny_raster_model(seed: int = 0) -> RasterTransformer:
    torch.manual_seed(seed)
    config = TransformerConfig(codebook_size=16, grid_size=4, text_dim=8, width=32, depth=2, heads=2,
                               architecture="raster-ar", order="raster")
    return RasterTransformer(config).eval()


def context_for(model: RasterTransformer, rows: int = 2, length: int = 5) -> TextContext:
    g = torch.Generator().manual_seed(1)
    states = torch.randn(rows, length, model.config.text_dim, generator=g)
    return model.prepare_text(states, torch.ones(rows, length, dtype=torch.bool))


@torch.no_grad()
def test_a_position_never_sees_the_tokens_after_it():
    model = tiny_raster_model()
    context = context_for(model, rows=1)
    ids = torch.randint(16, (1, 16), generator=torch.Generator().manual_seed(2))
    changed = ids.clone()
    changed[0, 9:] = (changed[0, 9:] + 1) % 16
    before = model(model.shift_right(ids), context)
    after = model(model.shift_right(changed), context)
    torch.testing.assert_close(before[:, :10], after[:, :10])  # position 9 sees tokens up to 8
    assert not torch.allclose(before[:, 10:], after[:, 10:])


@torch.no_grad()
def test_cached_steps_give_the_same_logits_as_the_full_pass():
    model = tiny_raster_model()
    context = context_for(model)
    inputs = model.shift_right(torch.randint(16, (2, 16), generator=torch.Generator().manual_seed(3)))
    full = model(inputs, context)
    caches = model.new_caches(2, context.keys[0])
    stepped = torch.cat([model(inputs[:, t:t + 1], context, caches=caches, start=t) for t in range(16)], dim=1)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)
    chunked_caches = model.new_caches(2, context.keys[0])  # several new positions at once
    chunks = [model(inputs[:, a:b], context, caches=chunked_caches, start=a) for a, b in ((0, 5), (5, 16))]
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_in_bf16_the_cached_steps_match_the_full_pass_to_its_rounding():
    model = tiny_raster_model().to(torch.bfloat16)  # as device.py places it on CPUs with AMX
    context = context_for(model)
    inputs = model.shift_right(torch.randint(16, (2, 16), generator=torch.Generator().manual_seed(3)))
    full = model(inputs, context)
    caches = model.new_caches(2, context.keys[0])
    stepped = torch.cat([model(inputs[:, t:t + 1], context, caches=caches, start=t) for t in range(16)], dim=1)
    assert full.dtype == stepped.dtype == torch.float32
    torch.testing.assert_close(stepped, full, atol=2e-2, rtol=2e-2)  # bf16 keeps ~3 significant digits


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_kv_cache_sampling_equals_uncached_sampling(guidance):
    model = tiny_raster_model()
    context = context_for(model, rows=1 if guidance == 1.0 else 2)
    cached = sample_raster(model, context, guidance=guidance, seed=7, use_cache=True)
    uncached = sample_raster(model, context, guidance=guidance, seed=7, use_cache=False)
    assert torch.equal(cached.ids, uncached.ids)
    assert cached.ids.shape == (1, 4, 4) and cached.forward_passes == 16
    other_seed = sample_raster(model, context, guidance=guidance, seed=8)
    assert not torch.equal(cached.ids, other_seed.ids)


def test_a_batch_of_prompts_is_sampled_in_one_loop():
    model = tiny_raster_model()
    prompts = context_for(model, rows=3)
    empties = model.prepare_text(torch.zeros(3, 2, model.config.text_dim), torch.ones(3, 2, dtype=torch.bool))
    both = TextContext.concat([prompts, empties])
    batch = sample_raster(model, both, guidance=3.0, seed=5)
    assert batch.ids.shape == (3, 4, 4) and batch.forward_passes == 16
    assert torch.equal(batch.ids, sample_raster(model, both, guidance=3.0, seed=5, use_cache=False).ids)
    assert not torch.equal(batch.ids[0], batch.ids[1])  # different prompts, different pictures


def test_raster_ar_trains_through_the_same_command(tmp_path):
    config = TransformerTrainConfig(out=str(tmp_path), steps=60, batch_size=16, lr=3e-3, warmup=5,
                                    width=32, depth=2, heads=2, save_every=1000, architecture="raster-ar")
    train_transformer(config, tiny_encoded_data(), codebook_size=16, progress=False)
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    first = np.mean([r["masked"] for r in log[:10]])
    last = np.mean([r["masked"] for r in log[-10:]])
    assert last < 0.5 * first, (first, last)
    model = load_transformer(tmp_path / "model")
    assert isinstance(model, RasterTransformer) and model.config.order == "raster"


def test_an_ar_checkpoint_is_not_loaded_as_a_progressive_one(tmp_path):
    tiny_raster_model().save_pretrained(tmp_path / "ar")
    with pytest.raises(CheckpointError, match="raster-ar"):
        ProgressiveTransformer.from_pretrained(tmp_path / "ar")
    reloaded = load_transformer(tmp_path / "ar")
    for a, b in zip(reloaded.state_dict().values(), tiny_raster_model().state_dict().values()):
        assert torch.equal(a, b)
