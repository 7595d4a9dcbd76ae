"""Studio: owns a loaded model family and exposes what a person does with it.

generate / step / continue, lock / unlock, repaint, force-revise, rewind, render, preview and
export. The Gradio app and the CLI are thin layers over this object; the sampler does the math and
the model family (family.py: the bundled progressive models or aMUSEd) does the network passes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from . import sampler
from .device import choose_placement
from .family import ModelFamily, check_strategy, load_family
from .hooks import token_mask
from .progressive import (GuidedPredictor, ProgressiveFamily, StudioModels, check_compatible,  # noqa: F401
                          load_models, sampling_defaults)
from .render import render_frame
from .session_file import ModelSpec
from .state import GenerationState, SamplerSettings, TokenFrame
from .text_encoder import validate_prompt
from .transformer import TextContext

log = logging.getLogger(__name__)


class Studio:
    def __init__(self, models: StudioModels | ModelFamily, settings: SamplerSettings | None = None):
        """`models`: a model family, or the bundled family's models (what older callers pass)."""
        self.family: ModelFamily = ProgressiveFamily(models) if isinstance(models, StudioModels) else models
        self.default_settings = settings or self.family.sampling

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, cpu: bool = False, precision: str | None = None
             ) -> "Studio":
        """`checkpoint`: a studio checkpoint (default: the bundled one), an aMUSEd pipeline folder or a
        hub id (see family.py). `precision`: the transformer's, "auto" (None), "fp32" or "bf16"."""
        return cls(load_family(checkpoint, choose_placement(cpu=cpu, precision=precision)))

    # -- the model ---------------------------------------------------------------------------------
    @property
    def models(self):
        """The family's own parts (for the bundled family: tokenizer, text encoder, transformer)."""
        return self.family.models

    @property
    def model_name(self) -> str:
        return self.family.name

    @property
    def model_note(self) -> str:
        """What a person choosing among models should know about this one ("" for most)."""
        return getattr(self.family, "note", "")

    @property
    def examples(self) -> tuple[str, ...]:
        """Prompts that show what this model does well (its studio.json "examples"; () for most)."""
        return tuple(getattr(self.family, "examples", ()))

    @property
    def edit_examples(self) -> tuple:
        """A picture, a lock and a repaint each, that show the hooks on this model (edit_examples.py)."""
        return tuple(getattr(self.family, "edit_examples", ()))

    @property
    def decode_is_costly(self) -> bool:
        """Whether a full decode costs more than a stage (aMUSEd's 256 px decoder): then even a
        picture shown at rest, such as a gallery thumbnail, is a preview (code colours). Stages in
        the middle of a run are previews for every model (see the app's PageRenderer.page)."""
        return bool(getattr(self.family, "preview_stages", False))

    @property
    def strategies(self) -> tuple[str, ...]:
        return self.family.rules.strategies

    @property
    def device(self) -> torch.device:
        return self.family.device

    @property
    def precision(self) -> str:
        return self.family.precision

    @property
    def grid_size(self) -> int:
        return self.family.grid_size

    @property
    def mask_id(self) -> int:
        return self.family.mask_id

    @property
    def codebook_size(self) -> int:
        return self.family.codebook_size

    @property
    def spec(self) -> ModelSpec:
        """What a stored or imported session must match to be shown and continued by this model."""
        return ModelSpec(self.grid_size, self.codebook_size, self.mask_id, self.model_name)

    @property
    def image_size(self) -> int:
        return self.family.image_size

    def text_context(self, prompt: str) -> TextContext:
        return self.family.text_context(prompt)

    def guided_context(self, prompt: str) -> TextContext:
        return self.family.guided_context(prompt)

    def with_prompt_reader(self, reader: str) -> "Studio":
        """This model reading prompts another way, e.g. "none" to measure it on the words as typed
        (bundled models only: other families read prompts as typed)."""
        if not hasattr(self.family, "with_prompt_reader"):
            raise ValueError(f"the model {self.model_name!r} reads prompts as typed; it has no prompt readers")
        return Studio(self.family.with_prompt_reader(reader), self.default_settings)

    def with_regional_prompts(self, on: bool) -> "Studio":
        """This model with regional prompts on or off (regions.py; bundled models only), e.g. off
        to measure the model on a whole scene's words at once."""
        if not hasattr(self.family, "with_regional_prompts"):
            raise ValueError(f"the model {self.model_name!r} has no regional prompts")
        return Studio(self.family.with_regional_prompts(on), self.default_settings)

    def with_drafts(self, on: bool) -> "Studio":
        """This model with drafts on or off (drafts.py; bundled models only), e.g. off to measure
        the model drawing placed things at their size itself."""
        if not hasattr(self.family, "with_drafts"):
            raise ValueError(f"the model {self.model_name!r} has no drafts")
        return Studio(self.family.with_drafts(on), self.default_settings)

    def drafts_things(self, prompt: str) -> bool:
        """Whether the model draws the prompt's placed things at full size first (drafts.py)."""
        drafts_scene = getattr(self.family, "drafts_scene", None)
        return drafts_scene is not None and drafts_scene(prompt) is not None

    def prompt_regions(self, prompt: str) -> tuple:
        """Each placed thing's own words where the model draws the prompt region by region, else ()."""
        regions = getattr(self.family, "prompt_regions", None)
        return regions(prompt) if regions is not None else ()

    def read_prompt(self, prompt: str) -> str:
        """What the model is asked for when a person types `prompt` (the app shows it)."""
        return self.family.read_prompt(prompt)

    def unknown_words_note(self, prompt: str) -> str | None:
        """What the page and the CLI say where a bundled model's reader finds nothing of its world
        in the prompt ("a house" to the emoji model, which never saw one): the picture is whatever
        the text encoder makes of the words, and a person should know why it may not be what they
        asked for. None where it does, or where the model has no such reader."""
        names_nothing = getattr(self.family, "names_nothing", None)
        if not prompt.strip() or names_nothing is None or not names_nothing(prompt):
            return None
        return f"names nothing {self.model_name} was trained to draw: drawn from the words as typed"

    def forget_prompts(self) -> None:
        """Drop the cached text conditioning (benchmarks use it to time a prompt's first use)."""
        self.family.forget_prompts()

    def predictor(self, state: GenerationState, seed: int | None = None) -> sampler.Predictor:
        """The family's predictor for the state's picture (`seed`: where a run goes on with another
        seed than the state's, which the bundled models' drafts are drawn with)."""
        return self.family.predictor(state.settings, state.current.seed if seed is None else seed)

    def mask(self, mask: object, argument: str = "mask") -> np.ndarray:
        return token_mask(mask, self.grid_size, argument)

    def check_fits(self, state: GenerationState) -> None:
        """A state made by another model (another grid, codebook or mask id) cannot be shown or
        continued by this one: say so, naming both, instead of failing inside the decoder."""
        grid, codebook = self.grid_size, self.codebook_size
        frame = state.frames[-1]
        if state.model and state.model != self.model_name:
            raise sampler.SettingsError(f"this session was made by the model {state.model!r}; this studio runs "
                                        f"{self.model_name!r}: open it where {state.model!r} is loaded")
        if frame.ids.shape != (grid, grid) or state.mask_id != self.mask_id:
            raise sampler.SettingsError(
                f"this session was made by another model ({frame.ids.shape[0]}x{frame.ids.shape[1]} tokens, "
                f"mask id {state.mask_id}); the model {self.model_name!r} draws {grid}x{grid} tokens "
                f"(mask id {self.mask_id})")
        for f in state.frames:
            placed = f.ids[f.known]
            if f.ids.shape != (grid, grid) or (placed.size and (placed.min() < 0 or placed.max() >= codebook)):
                raise sampler.SettingsError(f"this session holds tokens outside the codebook of {codebook} "
                                            f"codes of the model {self.model_name!r}")

    # -- generation ------------------------------------------------------------------------------
    def settings(self, **overrides) -> SamplerSettings:
        return replace(self.default_settings, **{k: v for k, v in overrides.items() if v is not None})

    def start(self, prompt: str, seed: int = 0, settings: SamplerSettings | None = None) -> GenerationState:
        prompt = validate_prompt(prompt)
        settings = check_strategy(self.family, settings or self.default_settings)
        return replace(sampler.start(settings, self.grid_size, self.mask_id, prompt, seed), model=self.model_name)

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
        return sampler.run_batch_to_end(states, self.family.batch_predictions, self.predictor)

    def step(self, state: GenerationState) -> GenerationState:
        return sampler.next_stage(state, self.predictor(state))

    def resume(self, state: GenerationState, prompt: str | None = None, seed: int | None = None
               ) -> Iterator[GenerationState]:
        """Continue the plan from wherever `state` is (after edits, or after a rewind: a branch,
        optionally with another prompt or seed)."""
        if prompt is not None:
            prompt = validate_prompt(prompt)
        seed = None if seed is None else sampler.validate_seed(seed)
        yield from sampler.run_to_end(state, self.predictor(state, seed), prompt, seed)

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
        seed = None if seed is None else sampler.validate_seed(seed)
        yield from sampler.repaint(state, self.predictor(state, seed), region, prompt, seed)

    def force_revise(self, state: GenerationState, mask: object, seed: int | None = None) -> GenerationState:
        """Re-predict the selected tokens by the model itself: drafts (drafts.py) would give a
        drafted cell's tokens back unchanged."""
        return sampler.force_revise(state, self.family.predictor(state.settings), self.mask(mask), seed)

    @staticmethod
    def rewind(state: GenerationState, frame_index: int) -> GenerationState:
        return state.rewind(frame_index)

    # -- pictures --------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, frame: TokenFrame) -> np.ndarray:
        """The picture of a frame's tokens, uint8 (S, S, 3); unplaced cells are decoded as code 0
        and painted over by `render_frame`."""
        return self.family.decode(np.where(frame.known, frame.ids, 0))

    def preview_image(self, frame: TokenFrame) -> np.ndarray:
        """A picture of the frame at no decoder cost: each placed token painted in its code's mean
        colour (family.code_colours, computed once per model), one flat cell per token, the
        picture's size. For streaming stages; `decode` gives the real picture."""
        colours = self.family.code_colours()[np.where(frame.known, frame.ids, 0)]
        cell = max(self.image_size // self.grid_size, 1)
        return np.kron(colours, np.ones((cell, cell, 1), dtype=np.uint8))

    def picture(self, frame: TokenFrame, scale: int = 4, marks: bool = False, grid: bool = False,
                preview: bool = False) -> Image.Image:
        """The frame's picture; `preview=True` paints code colours instead of decoding (see
        preview_image): cheap enough for every streamed stage of a 256 px model."""
        image = self.preview_image(frame) if preview else self.decode(frame)
        return render_frame(image, frame, scale=scale, marks=marks, grid=grid)
