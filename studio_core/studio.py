"""Studio: owns the loaded models and exposes what a person does with them.

generate / step / continue, lock / unlock, repaint, force-revise, rewind, render and export.
The Gradio app and the CLI are thin layers over this object; the sampler does the math.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from . import sampler
from .checkpoints import BUNDLED_CHECKPOINT, CheckpointError, read_json, require_model_dir
from .device import Placement, choose_placement, precision_name
from .hooks import token_mask
from .render import render_frame
from .state import GenerationState, SamplerSettings, TokenFrame
from .text_encoder import TextEncoder, validate_prompt
from .tokenizer import ImageTokenizer
from .transformer import ProgressiveTransformer, TextContext

log = logging.getLogger(__name__)

TEXT_CACHE_SIZE = 64  # prompts whose cross-attention keys/values are kept


@dataclass(frozen=True)
class StudioModels:
    tokenizer: ImageTokenizer
    text_encoder: TextEncoder
    transformer: ProgressiveTransformer
    # The checkpoint's sampling defaults: chosen for its weights on validation prompts and saved
    # in studio.json ("sampling"), over the library's SamplerSettings.
    sampling: SamplerSettings = SamplerSettings()


def load_models(checkpoint: str | Path | None = None, placement: Placement | None = None) -> StudioModels:
    """Load a studio checkpoint (the bundled one by default) onto the device accelerate picks."""
    directory = require_model_dir(checkpoint or BUNDLED_CHECKPOINT, "studio checkpoint", ("studio.json",))
    manifest = read_json(directory / "studio.json")
    placement = placement or choose_placement()
    tokenizer = ImageTokenizer.from_pretrained(directory / manifest.get("tokenizer", "tokenizer"))
    transformer = ProgressiveTransformer.from_pretrained(directory / manifest.get("transformer", "transformer"))
    encoder_name = manifest.get("text_encoder", transformer.config.text_encoder)
    if (directory / encoder_name).is_dir():  # an encoder shipped inside the checkpoint
        encoder_name = str(directory / encoder_name)
    text_encoder = TextEncoder.from_pretrained(encoder_name, transformer.config.text_max_tokens)
    check_compatible(directory, tokenizer, text_encoder, transformer)
    sampling = sampling_defaults(directory / "studio.json", manifest.get("sampling", {}),
                                 transformer.config.grid_size ** 2)
    for part in (tokenizer, text_encoder):
        part.to(placement.device)
    transformer.to(placement.device, placement.dtype)
    return StudioModels(tokenizer, text_encoder, transformer, sampling)


def sampling_defaults(manifest_path: Path, overrides: object, num_tokens: int) -> SamplerSettings:
    """The library's sampler defaults with the checkpoint's own on top; a bad entry names the file."""
    known = {f.name for f in fields(SamplerSettings)}
    if not isinstance(overrides, dict) or not set(overrides) <= known:
        raise CheckpointError(f"{manifest_path}: \"sampling\" must map settings among {sorted(known)} "
                              f"to values, got {overrides!r}")
    try:
        return sampler.validate_settings(replace(SamplerSettings(), **overrides), num_tokens)
    except ValueError as err:
        raise CheckpointError(f"{manifest_path}: bad \"sampling\" entry: {err}") from err


def check_compatible(directory: Path, tokenizer: ImageTokenizer, text_encoder: TextEncoder,
                     transformer: ProgressiveTransformer) -> None:
    c = transformer.config
    if c.codebook_size != tokenizer.codebook_size or c.grid_size != tokenizer.grid_size:
        raise CheckpointError(
            f"{directory}: transformer expects a {c.grid_size}x{c.grid_size} grid of {c.codebook_size} "
            f"codes, tokenizer gives {tokenizer.grid_size}x{tokenizer.grid_size} of {tokenizer.codebook_size}")
    if c.text_dim != text_encoder.dim:
        raise CheckpointError(f"{directory}: transformer expects text states of width {c.text_dim}, "
                              f"encoder {text_encoder.name!r} gives {text_encoder.dim}")


class GuidedPredictor:
    """The sampler's view of the transformer: ids -> guided logits and scores, one batched pass
    for the conditional and unconditional predictions, text keys/values cached per prompt."""

    def __init__(self, studio: "Studio", guidance: float):
        self.studio, self.guidance = studio, guidance

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor, prompt: str) -> sampler.Prediction:
        model = self.studio.models.transformer
        ids = ids.to(self.studio.device)[None]
        if self.guidance == 1.0:
            out = model(ids, self.studio.text_context(prompt))
            return sampler.Prediction(out.logits[0].cpu(), out.qerror[0].cpu(), out.importance[0].cpu())
        out = model(ids.expand(2, -1), self.studio.guided_context(prompt))
        cond, uncond = out.logits[0], out.logits[1]
        logits = uncond + self.guidance * (cond - uncond)
        return sampler.Prediction(logits.cpu(), out.qerror[0].cpu(), out.importance[0].cpu())


class BatchPredictor:
    """The guided predictions for the next stage of several states, in one network pass."""

    def __init__(self, studio: "Studio", states: list[GenerationState]):
        self.studio, self.states = studio, states

    @torch.no_grad()
    def predictions(self) -> list[sampler.Prediction]:
        studio, model = self.studio, self.studio.models.transformer
        guided = [float(s.settings.guidance) != 1.0 for s in self.states]
        contexts = [studio.guided_context(s.current.prompt) if g else studio.text_context(s.current.prompt)
                    for s, g in zip(self.states, guided)]
        rows = [len(c) for c in contexts]
        ids = torch.cat([torch.from_numpy(s.current.ids.reshape(1, -1)).expand(r, -1)
                         for s, r in zip(self.states, rows)]).to(studio.device)
        out = model(ids, TextContext.concat(contexts))
        results, row = [], 0
        for state, r, g in zip(self.states, rows, guided):
            logits = out.logits[row]
            if g:
                w = float(state.settings.guidance)
                logits = out.logits[row + 1] + w * (out.logits[row] - out.logits[row + 1])
            results.append(sampler.Prediction(logits.cpu(), out.qerror[row].cpu(), out.importance[row].cpu()))
            row += r
        return results


class Studio:
    def __init__(self, models: StudioModels, settings: SamplerSettings | None = None):
        self.models = models
        self.default_settings = settings or models.sampling
        self._contexts: OrderedDict[str, TextContext] = OrderedDict()
        # One Studio serves every request of the web app, from several threads: the LRU's
        # check-insert-evict-move sequence must not interleave (a prompt evicted between the check
        # and move_to_end would raise KeyError). Re-entrant: guided_context calls text_context.
        self._contexts_lock = threading.RLock()

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, cpu: bool = False, precision: str | None = None
             ) -> "Studio":
        """`precision`: the transformer's, "auto" (None), "fp32" or "bf16" (see device.py)."""
        return cls(load_models(checkpoint, choose_placement(cpu=cpu, precision=precision)))

    # -- geometry and text -----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.models.tokenizer.device

    @property
    def precision(self) -> str:
        return precision_name(self.models.transformer.dtype)

    @property
    def grid_size(self) -> int:
        return self.models.transformer.config.grid_size

    @property
    def mask_id(self) -> int:
        return self.models.transformer.config.mask_id

    def text_context(self, prompt: str) -> TextContext:
        with self._contexts_lock:
            if prompt not in self._contexts:
                states = self.models.text_encoder.encode([prompt])  # warns once if it truncates
                self._contexts[prompt] = self.models.transformer.prepare_text(states.states, states.mask)
                while len(self._contexts) > TEXT_CACHE_SIZE:
                    self._contexts.popitem(last=False)
            self._contexts.move_to_end(prompt)
            return self._contexts[prompt]

    def forget_prompts(self) -> None:
        """Drop the cached text keys/values (benchmarks use it to time a prompt's first use)."""
        with self._contexts_lock:
            self._contexts.clear()

    def guided_context(self, prompt: str) -> TextContext:
        key = "\x00guided\x00" + prompt
        with self._contexts_lock:
            if key not in self._contexts:
                pair = TextContext.concat([self.text_context(prompt), self.text_context("")])
                self._contexts[key] = pair
            self._contexts.move_to_end(key)
            return self._contexts[key]

    def predictor(self, state: GenerationState) -> GuidedPredictor:
        return GuidedPredictor(self, float(state.settings.guidance))

    def mask(self, mask: object, argument: str = "mask") -> np.ndarray:
        return token_mask(mask, self.grid_size, argument)

    # -- generation ------------------------------------------------------------------------------
    def settings(self, **overrides) -> SamplerSettings:
        return replace(self.default_settings, **{k: v for k, v in overrides.items() if v is not None})

    def start(self, prompt: str, seed: int = 0, settings: SamplerSettings | None = None) -> GenerationState:
        prompt = validate_prompt(prompt)
        settings = settings or self.default_settings
        return sampler.start(settings, self.grid_size, self.mask_id, prompt, seed)

    def generate(self, prompt: str, seed: int = 0, settings: SamplerSettings | None = None
                 ) -> Iterator[GenerationState]:
        """Every stage as it is made; the last state is the finished picture."""
        state = self.start(prompt, seed, settings)
        yield from sampler.run_to_end(state, self.predictor(state))

    def generate_image(self, prompt: str, seed: int = 0, settings: SamplerSettings | None = None) -> GenerationState:
        state = None
        for state in self.generate(prompt, seed, settings):
            pass
        return state

    def generate_batch(self, prompts: list[str], seeds: list[int], settings: SamplerSettings | None = None
                       ) -> list[GenerationState]:
        """Several pictures at once: one network pass per stage for all of them (guidance rows
        included); each picture's stage is then the sampler's usual one, so a picture made in a
        batch has the same tokens as the same prompt and seed made alone, up to float rounding."""
        states = [self.start(p, s, settings) for p, s in zip(prompts, seeds, strict=True)]
        while any(state.stages_left for state in states):
            predictions = BatchPredictor(self, states).predictions()
            states = [sampler.next_stage(state, lambda ids, prompt, p=p: p) if state.stages_left else state
                      for state, p in zip(states, predictions)]
        return states

    def step(self, state: GenerationState) -> GenerationState:
        return sampler.next_stage(state, self.predictor(state))

    def resume(self, state: GenerationState, prompt: str | None = None, seed: int | None = None
               ) -> Iterator[GenerationState]:
        """Continue the plan from wherever `state` is (after edits, or after a rewind: a branch,
        optionally with another prompt or seed)."""
        if prompt is not None:
            prompt = validate_prompt(prompt)
        yield from sampler.run_to_end(state, self.predictor(state), prompt, seed)

    # -- hooks -----------------------------------------------------------------------------------
    def lock(self, state: GenerationState, mask: object) -> GenerationState:
        return sampler.lock(state, self.mask(mask))

    def unlock(self, state: GenerationState, mask: object) -> GenerationState:
        return sampler.unlock(state, self.mask(mask))

    def repaint(self, state: GenerationState, mask: object, prompt: str | None = None,
                seed: int | None = None) -> Iterator[GenerationState]:
        region = self.mask(mask)
        if prompt is not None:
            prompt = validate_prompt(prompt, "repaint prompt")
        yield from sampler.repaint(state, self.predictor(state), region, prompt, seed)

    def force_revise(self, state: GenerationState, mask: object, seed: int | None = None) -> GenerationState:
        return sampler.force_revise(state, self.predictor(state), self.mask(mask), seed)

    @staticmethod
    def rewind(state: GenerationState, frame_index: int) -> GenerationState:
        return state.rewind(frame_index)

    # -- pictures --------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, frame: TokenFrame) -> np.ndarray:
        """The picture of a frame's tokens, uint8 (S, S, 3); unplaced cells are decoded as code 0
        and painted over by `render_frame`."""
        ids = np.where(frame.known, frame.ids, 0)
        return np.asarray(self.models.tokenizer.decode_images(torch.from_numpy(ids)[None])[0])

    def picture(self, frame: TokenFrame, scale: int = 4, marks: bool = False, grid: bool = False) -> Image.Image:
        return render_frame(self.decode(frame), frame, scale=scale, marks=marks, grid=grid)
