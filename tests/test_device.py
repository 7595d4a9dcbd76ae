"""Device and precision are decided in one place (studio_core/device.py); the transformer's outputs
are float32 whatever its weights, and a bf16 studio keeps every sampler invariant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio_core import device
from studio_core.device import dtype_for_architecture, resolve_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_precision_is_bf16_only_on_cpus_with_matrix_units(monkeypatch):
    monkeypatch.delenv(device.PRECISION_VARIABLE, raising=False)
    monkeypatch.setattr(device, "cpu_has_bf16_matrix_units", lambda: True)
    assert resolve_precision(None, CPU) == torch.bfloat16
    assert resolve_precision("auto", CUDA) == torch.float32  # GPUs: float32, as trained
    monkeypatch.setattr(device, "cpu_has_bf16_matrix_units", lambda: False)
    assert resolve_precision(None, CPU) == torch.float32


def test_the_raster_baseline_stays_float32_where_bf16_would_slow_it():
    assert dtype_for_architecture("raster-ar", torch.bfloat16) == torch.float32
    assert dtype_for_architecture("progressive", torch.bfloat16) == torch.bfloat16


def test_explicit_precision_wins_and_the_variable_overrides_auto(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bf16_matrix_units", lambda: True)
    monkeypatch.setenv(device.PRECISION_VARIABLE, "fp32")
    assert resolve_precision(None, CPU) == torch.float32
    assert resolve_precision("bf16", CPU) == torch.bfloat16
    monkeypatch.setenv(device.PRECISION_VARIABLE, "half")
    with pytest.raises(ValueError, match="precision must be one of .*STUDIO_PRECISION.*'half'"):
        resolve_precision(None, CPU)


def test_a_bf16_transformer_returns_float32(tiny_checkpoint):
    from studio_core.transformer import ProgressiveTransformer

    model = ProgressiveTransformer.from_pretrained(tiny_checkpoint / "transformer").to(torch.bfloat16)
    c = model.config
    states, mask = torch.randn(2, 5, c.text_dim), torch.ones(2, 5)  # float32, as the encoder gives
    out = model(torch.full((2, c.num_tokens), c.mask_id), model.prepare_text(states, mask))
    assert model.dtype == torch.bfloat16
    assert {out.logits.dtype, out.qerror.dtype, out.importance.dtype} == {torch.float32}
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_each_precision_generates_and_keeps_locked_tokens(tiny_checkpoint, precision):
    from studio_core.studio import Studio

    studio = Studio.load(tiny_checkpoint, cpu=True, precision=precision)
    assert studio.precision == precision and studio.models.tokenizer.device == CPU
    state = studio.step(studio.step(studio.start("a red circle", seed=1)))
    locked = state.current.known.copy()
    state = studio.lock(state, locked)
    final = list(studio.resume(state))[-1].current
    assert final.known.all()
    assert np.array_equal(final.ids[locked], state.current.ids[locked])


def test_bench_times_the_chosen_precision_beside_float32(tiny_checkpoint, capsys):
    from studio_core.eval.speed import benchmark_generation

    result = benchmark_generation(tiny_checkpoint, {"stages": 4}, runs=2, cpu=True, precision="bf16")
    assert result["precision"] == "bf16" and set(result["by_precision"]) == {"bf16", "fp32"}
    assert all(t["whole_picture_median_s"] > 0 for t in result["by_precision"].values())
    assert "transformer in fp32 (for comparison)" in capsys.readouterr().out
    alone = benchmark_generation(tiny_checkpoint, {"stages": 4}, runs=1, cpu=True, precision="fp32")
    assert set(alone["by_precision"]) == {"fp32"}
