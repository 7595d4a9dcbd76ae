"""Training on tiny batches: losses go down, orders are permutations, resume picks up."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import torch

from studio_core.train.cache import EncodedDataset
from studio_core.train.tokenizer import TokenizerTrainConfig, train_tokenizer
import pytest

from studio_core.train.transformer import (TransformerTrainConfig, draw_masked_fraction, generation_order,
                                           make_batch, model_config_for, per_example_masked_mean,
                                           train_transformer)


def log_of(directory):
    return [json.loads(line) for line in (directory / "train_log.jsonl").read_text().splitlines()]


def tiny_encoded_data(n=64, grid=4, codebook=16, text_len=6, text_dim=16) -> EncodedDataset:
    """Two kinds of picture, told apart by the text: the model can learn to follow it."""
    g = torch.Generator().manual_seed(0)
    kind = torch.randint(0, 2, (n,), generator=g)
    ids = torch.where(kind[:, None] == 0, torch.arange(grid * grid) % 4, 8 + torch.arange(grid * grid) % 4)
    text = torch.randn(2, text_len, text_dim, generator=g)[kind]
    return EncodedDataset(
        ids=ids.short(), qerror=torch.rand(n, grid * grid, generator=g).half(), text=text.half(),
        text_mask=torch.ones(n, text_len, dtype=torch.bool), empty_text=torch.zeros(2, text_dim),
        empty_mask=torch.ones(2, dtype=torch.bool))


def test_transformer_loss_goes_down_on_a_tiny_set(tmp_path):
    config = TransformerTrainConfig(out=str(tmp_path), steps=60, batch_size=16, lr=3e-3, warmup=5,
                                    width=32, depth=2, heads=2, save_every=1000)
    train_transformer(config, tiny_encoded_data(), codebook_size=16, progress=False)
    log = log_of(tmp_path)
    first = np.mean([r["masked"] for r in log[:10]])
    last = np.mean([r["masked"] for r in log[-10:]])
    assert last < 0.5 * first, (first, last)
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_training_resumes_where_it_stopped(tmp_path):
    data = tiny_encoded_data()
    config = TransformerTrainConfig(out=str(tmp_path), steps=6, batch_size=4, width=32, depth=1,
                                    heads=2, save_every=3)
    train_transformer(config, data, codebook_size=16, progress=False)
    train_transformer(TransformerTrainConfig(**{**config.__dict__, "steps": 9}), data, 16, progress=False)
    steps = [r["step"] for r in log_of(tmp_path)]
    assert steps == list(range(1, 10))


def test_tokenizer_loss_goes_down(tmp_path):
    config = TokenizerTrainConfig(out=str(tmp_path), steps=40, batch_size=8, lr=3e-3, codebook_size=32,
                                  channels=(8, 8, 8), embed_dim=4, norm_groups=4, norm_type="group",
                                  autoencoder_warmup=10, restart_every=10, save_every=1000,
                                  report_images=16)
    report = train_tokenizer(config)
    log = log_of(tmp_path)
    assert [r["quantized"] for r in log] == [False] * 10 + [True] * 30
    assert np.mean([r["mse"] for r in log[-10:]]) < 0.7 * np.mean([r["mse"] for r in log[:5]])
    assert 0 < report["codebook_usage"] <= 1 and report["psnr_db"] > 0


def tiny_tokenizer_config(out, steps: int, **extra) -> TokenizerTrainConfig:
    # lr == min_lr: a constant rate, so a run cut in two follows the same schedule as one run
    return TokenizerTrainConfig(out=str(out), steps=steps, batch_size=4, lr=1e-3, min_lr=1e-3, codebook_size=16,
                                channels=(8, 8, 8), embed_dim=4, norm_groups=4, norm_type="group",
                                autoencoder_warmup=2, restart_every=100, save_every=2, report_images=8,
                                **extra)


def test_tokenizer_training_resumes_to_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    train_tokenizer(tiny_tokenizer_config(tmp_path / "one", 6))
    train_tokenizer(tiny_tokenizer_config(tmp_path / "two", 4))  # stopped after its step-4 save
    report = train_tokenizer(tiny_tokenizer_config(tmp_path / "two", 6))  # the same command, more steps
    assert report["first_step_this_run"] == 4
    assert [r["step"] for r in log_of(tmp_path / "two")] == [1, 2, 3, 4, 5, 6]
    one = load_file(str(tmp_path / "one" / "diffusion_pytorch_model.safetensors"))
    two = load_file(str(tmp_path / "two" / "diffusion_pytorch_model.safetensors"))
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def test_tokenizer_crops_sit_on_the_token_lattice_and_stop_before_the_end(tmp_path):
    from studio_core.train.tokenizer import batch_pixels, builtin_dataset

    config = tiny_tokenizer_config(tmp_path, 10, crop=32)
    source = builtin_dataset("shapes", 0, "train")
    crop = batch_pixels(config, 0, source)
    assert crop.shape == (4, 3, 32, 32)
    whole = batch_pixels(TokenizerTrainConfig(**{**config.__dict__, "crop": None}), 0, source)
    found = [any(torch.equal(c, w[:, y:y + 32, x:x + 32]) for y in range(0, 33, 4) for x in range(0, 33, 4))
             for c, w in zip(crop, whole)]
    assert all(found)
    assert batch_pixels(config, 9, source).shape == (4, 3, 64, 64)  # the last 10 %: whole pictures
    with pytest.raises(ValueError, match="dataset"):
        builtin_dataset("faces", 0, "train")


def test_decoder_finetune_keeps_every_code_and_sharpens_the_decoder(tmp_path):
    """The encoder and codebook are frozen, so a transformer trained on the old codes stays valid;
    the decoder learns, and a cut run resumes to its step."""
    from studio_core.tokenizer import ImageTokenizer, images_to_tensor
    from studio_core.train.tokenizer import DecoderFinetuneConfig, builtin_dataset, finetune_decoder

    train_tokenizer(tiny_tokenizer_config(tmp_path / "tok", 6))
    before = ImageTokenizer.from_pretrained(tmp_path / "tok")
    config = DecoderFinetuneConfig(init_from=str(tmp_path / "tok"), out=str(tmp_path / "dec"), steps=3,
                                   batch_size=4, lr=3e-3, dataset="shapes", save_every=3, report_images=8)
    finetune_decoder(config)
    report = finetune_decoder(replace(config, steps=24))  # the same command, more steps
    assert report["first_step_this_run"] == 3 and report["decoder_only"]
    assert [r["step"] for r in log_of(tmp_path / "dec")] == list(range(1, 25))
    after = ImageTokenizer.from_pretrained(tmp_path / "dec")
    pictures = images_to_tensor(np.stack([builtin_dataset("shapes", 3, "heldout")[i].image for i in range(8)]))
    assert torch.equal(before.encode(pictures).ids, after.encode(pictures).ids)
    old, new = before.vq.state_dict(), after.vq.state_dict()
    frozen = [k for k in old if not k.startswith(("decoder.", "post_quant_conv."))]
    assert frozen and all(torch.equal(old[k], new[k]) for k in frozen)
    assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    log = log_of(tmp_path / "dec")
    assert np.mean([r["mse"] for r in log[-5:]]) < np.mean([r["mse"] for r in log[:5]])


def test_orders_are_permutations_in_the_promised_direction():
    qerror = torch.rand(3, 16, generator=torch.Generator().manual_seed(0))
    for order in ("qerror-low-first", "qerror-high-first", "random", "raster"):
        rank = generation_order(qerror, order, torch.Generator().manual_seed(1))
        assert (rank.sort(dim=1).values == torch.arange(16)).all()
    low = generation_order(qerror, "qerror-low-first", torch.Generator())
    assert (qerror.gather(1, low.argsort(1)).diff(dim=1) >= 0).all()
    high = generation_order(qerror, "qerror-high-first", torch.Generator())
    assert (qerror.gather(1, high.argsort(1)).diff(dim=1) <= 0).all()
    assert (generation_order(qerror, "raster", torch.Generator()) == torch.arange(16)).all()


def test_a_batch_shows_a_prefix_of_the_order_and_masks_the_rest():
    data = tiny_encoded_data()
    config = TransformerTrainConfig(corrupt=0.0, text_dropout=0.0)
    model_config = model_config_for(config, data, 16, "test")
    g = torch.Generator().manual_seed(0)
    batch = make_batch(data, torch.arange(8), config, model_config, g)
    rank = generation_order(data.qerror[:8].float(), "qerror-low-first", torch.Generator().manual_seed(0))
    for row in range(8):
        masked = batch.masked[row]
        assert masked.any()
        # every visible position has a lower error than every masked one
        q = data.qerror[row].float()
        if (~masked).any():
            assert q[~masked].max() <= q[masked].min() + 1e-3
        assert (batch.inputs[row][masked] == model_config.mask_id).all()
        assert (batch.inputs[row][~masked] == batch.targets[row][~masked]).all()
    assert rank.shape == (8, 16)


def test_late_examples_are_masked_only_at_the_end_of_the_order():
    g = torch.Generator().manual_seed(0)
    late = draw_masked_fraction(4000, TransformerTrainConfig(late_share=1.0, late_fraction=0.2), g)
    assert (late > 0).all() and (late <= 0.2).all()
    mixed = draw_masked_fraction(4000, TransformerTrainConfig(late_share=0.5, late_fraction=0.2), g)
    # the cosine draw puts 1 - 2/pi * acos(0.2), about 13 %, of examples below 0.2; the late half all
    share_below = (mixed <= 0.2).float().mean().item()
    assert 0.5 + 0.5 * 0.10 < share_below < 0.5 + 0.5 * 0.16
    cosine = draw_masked_fraction(4000, TransformerTrainConfig(), g)
    assert 0.10 < (cosine <= 0.2).float().mean().item() < 0.16
    # without late examples the draw is the plain cosine one, random numbers included
    plain = torch.cos(math.pi / 2 * torch.rand(8, 1, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(draw_masked_fraction(8, TransformerTrainConfig(), torch.Generator().manual_seed(3)), plain)


def test_per_example_mean_weighs_every_example_the_same():
    values = torch.tensor([[1.0, 1.0, 1.0, 1.0], [5.0, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]])
    mask = torch.tensor([[True, True, True, True], [True, False, False, False], [False] * 4])
    # the third example has nothing masked and does not count; the other two count once each
    assert per_example_masked_mean(values, mask).item() == pytest.approx((1.0 + 5.0) / 2)


def test_late_training_masks_few_tokens_and_still_learns(tmp_path):
    config = TransformerTrainConfig(out=str(tmp_path), steps=60, batch_size=16, lr=3e-3, warmup=5,
                                    width=32, depth=2, heads=2, save_every=1000, late_share=1.0,
                                    late_fraction=0.25, loss_mean="example")
    data = tiny_encoded_data()
    batch = make_batch(data, torch.arange(16), config, model_config_for(config, data, 16, "test"),
                       torch.Generator().manual_seed(0))
    assert (batch.masked.sum(dim=1) <= 4).all()  # a quarter of 16 tokens at most
    train_transformer(config, data, codebook_size=16, progress=False)
    log = log_of(tmp_path)
    assert np.mean([r["masked"] for r in log[-10:]]) < 0.5 * np.mean([r["masked"] for r in log[:10]])


def test_bf16_mixed_precision_learns_and_keeps_float32_weights(tmp_path):
    from safetensors.torch import load_file

    config = TransformerTrainConfig(out=str(tmp_path), steps=60, batch_size=16, lr=3e-3, warmup=5,
                                    width=32, depth=2, heads=2, save_every=1000, mixed_precision="bf16")
    train_transformer(config, tiny_encoded_data(), codebook_size=16, progress=False)
    log = log_of(tmp_path)
    assert np.mean([r["masked"] for r in log[-10:]]) < 0.5 * np.mean([r["masked"] for r in log[:10]])
    weights = load_file(str(tmp_path / "model" / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float32}  # autocast computes in bf16, stores fp32


@pytest.mark.parametrize("change", [{"loss_mean": "token"}, {"late_share": 1.5}, {"late_fraction": 0.0},
                                    {"mixed_precision": "fp16"}])
def test_bad_training_options_are_named(tmp_path, change):
    config = TransformerTrainConfig(out=str(tmp_path), steps=1, width=32, depth=1, heads=2, **change)
    with pytest.raises(ValueError, match=next(iter(change))):
        train_transformer(config, tiny_encoded_data(), codebook_size=16, progress=False)


def test_paired_batches_hold_adjacent_twins():
    from studio_core.train.transformer import draw_indices

    config = TransformerTrainConfig(batch_size=8, paired=True)
    index = draw_indices(64, config, torch.Generator().manual_seed(0))
    assert index.shape == (8,)
    pairs = index.view(4, 2)
    assert (pairs[:, 0] % 2 == 0).all() and (pairs[:, 1] == pairs[:, 0] + 1).all()
    odd = draw_indices(64, TransformerTrainConfig(batch_size=5, paired=True), torch.Generator().manual_seed(0))
    assert odd.shape == (5,) and int(odd.max()) < 64


def test_a_fresh_run_starts_from_given_weights(tmp_path):
    """--init-from: step one of a fine-tune sees the trained weights, not a new initialisation."""

    data = tiny_encoded_data()
    base = TransformerTrainConfig(out=str(tmp_path / "a"), steps=30, batch_size=16, lr=3e-3, warmup=5,
                                  width=32, depth=2, heads=2, save_every=1000)
    train_transformer(base, data, codebook_size=16, progress=False)
    trained_loss = np.mean([r["masked"] for r in log_of(tmp_path / "a")[-5:]])
    tuned = TransformerTrainConfig(**{**base.__dict__, "out": str(tmp_path / "b"), "steps": 1, "lr": 1e-9,
                                      "init_from": str(tmp_path / "a" / "model")})
    train_transformer(tuned, data, codebook_size=16, progress=False)
    fresh = TransformerTrainConfig(**{**tuned.__dict__, "out": str(tmp_path / "c"), "init_from": None})
    train_transformer(fresh, data, codebook_size=16, progress=False)
    first_tuned, first_fresh = log_of(tmp_path / "b")[0]["masked"], log_of(tmp_path / "c")[0]["masked"]
    assert first_tuned < first_fresh and first_tuned < 2 * trained_loss + 0.5
    with pytest.raises(ValueError, match="does not fit"):
        wide = TransformerTrainConfig(**{**tuned.__dict__, "out": str(tmp_path / "d"), "width": 64, "heads": 2})
        train_transformer(wide, data, codebook_size=16, progress=False)


def test_average_weights_writes_the_mean_and_refuses_two_architectures(tmp_path):
    """benchmarks/average_weights.py (how emoji-v1's shipped weights were made): every float
    tensor the mean of the two, the config copied; weights of another shape are refused."""
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "average_weights.py"
    for name, scale, width in (("a", 1.0, 4), ("b", 3.0, 4), ("c", 1.0, 5)):
        (tmp_path / name).mkdir()
        save_file({"w": torch.full((width,), scale), "step": torch.tensor([7])}, str(tmp_path / name / "model.safetensors"))
        (tmp_path / name / "config.json").write_text(json.dumps({"width": width}))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "mean")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mean = load_file(str(tmp_path / "mean" / "model.safetensors"))
    assert torch.equal(mean["w"], torch.full((4,), 2.0)) and torch.equal(mean["step"], torch.tensor([7]))
    assert json.loads((tmp_path / "mean" / "config.json").read_text()) == {"width": 4}
    refused = subprocess.run([sys.executable, str(script), str(tmp_path / "a"), str(tmp_path / "c"), str(tmp_path / "no")],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "not the same architecture" in refused.stderr
    assert not (tmp_path / "no").exists()
