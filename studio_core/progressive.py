"""The bundled models' family: VQ-GAN tokenizer, MiniLM text encoder, progressive transformer
(logits plus quantization-error and importance heads), loaded from a studio checkpoint."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from . import sampler
from .checkpoints import BUNDLED_CHECKPOINT, CheckpointError, read_json, require_model_dir
from .device import Placement, choose_placement, precision_name
from .drafts import Draft, compose, drafted_cells, drafted_things, hold_drafts
from .edit_examples import EditExample, read_edit_examples
from .family import colour_cells, mean_code_colours
from .prompt_reader import POSITIONS, READERS
from .regions import RegionWords, merge_by_region, region_masks
from .state import GenerationState, SamplerSettings
from .text_encoder import TextEncoder
from .tokenizer import ImageTokenizer, images_to_tensor
from .transformer import ProgressiveTransformer, TextContext

TEXT_CACHE_SIZE = 64  # prompts whose cross-attention keys/values are kept
DRAFT_CACHE_SIZE = 16  # scenes whose drafts are kept (a run asks for its draft at every stage)


@dataclass(frozen=True)
class StudioModels:
    tokenizer: ImageTokenizer
    text_encoder: TextEncoder
    transformer: ProgressiveTransformer
    # The checkpoint's sampling defaults: chosen for its weights on validation prompts and saved
    # in studio.json ("sampling"), over the library's SamplerSettings.
    sampling: SamplerSettings = SamplerSettings()
    name: str = "progressive"  # the checkpoint's folder name: recorded with sessions and exports
    # What a person choosing among models should know (studio.json "note"), e.g. "in training":
    # shown beside the name in the app's model picker.
    note: str = ""
    # How a prompt is read before the text encoder sees it (studio.json "prompt_reader", a name
    # in prompt_reader.READERS): "shapes" says a free phrasing again in shapes-v1's grammar,
    # "emoji" in the emoji data's words (from the checkpoint's names.json).
    prompt_reader: str = "none"
    directory: Path | None = None  # the checkpoint folder (a reader may read its files)
    # studio.json "regional_prompts": where the reader reads several placed things, each is
    # predicted in its own cell from its own words (regions.py).
    regional_prompts: bool = False
    # studio.json "drafts": where the reader reads placed things, each is drawn at full size
    # first and its cell holds that picture shrunk (drafts.py).
    drafts: bool = False
    # studio.json "examples": prompts that show what the model does well (the page offers them).
    examples: tuple[str, ...] = ()
    # studio.json "edit_examples": a picture, a lock and a repaint each (edit_examples.py).
    edit_examples: tuple[EditExample, ...] = ()


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
    note = manifest.get("note", "")
    if not isinstance(note, str):
        raise CheckpointError(f"{directory / 'studio.json'}: \"note\" must be text, got {note!r}")
    reader = manifest.get("prompt_reader", "none")
    if reader not in READERS:
        raise CheckpointError(f"{directory / 'studio.json'}: \"prompt_reader\" must be one of "
                              f"{sorted(READERS)}, got {reader!r}")
    switches = {key: manifest.get(key, False) for key in ("regional_prompts", "drafts")}
    for key, value in switches.items():
        if not isinstance(value, bool):
            raise CheckpointError(f"{directory / 'studio.json'}: \"{key}\" must be true or false, got {value!r}")
    examples = manifest.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, str) and e.strip() for e in examples):
        raise CheckpointError(f"{directory / 'studio.json'}: \"examples\" must be a list of prompts, got {examples!r}")
    edits = read_edit_examples(manifest.get("edit_examples", []), directory / "studio.json",
                               transformer.config.grid_size)
    return StudioModels(tokenizer, text_encoder, transformer, sampling, directory.name, note, reader, directory,
                        switches["regional_prompts"], switches["drafts"], tuple(examples), edits)


def make_reader(models: StudioModels):
    """The checkpoint's prompt reader; one that cannot be made (a missing names.json) is a
    CheckpointError naming the file."""
    try:
        return READERS[models.prompt_reader](models.directory)
    except ValueError as err:
        raise CheckpointError(str(err)) from err


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
    for the conditional and unconditional predictions, text keys/values cached per prompt.
    `seed`: the picture's seed, where the family's drafts (drafts.py) hold the placed things'
    cells; None: the model's own prediction everywhere (force-revise asks the model itself)."""

    rules = sampler.PROGRESSIVE_RULES

    def __init__(self, family: "ProgressiveFamily", settings: SamplerSettings, seed: int | None = None):
        self.family, self.settings, self.seed = family, settings, seed
        self.guidance = float(settings.guidance)

    def __call__(self, ids: torch.Tensor, prompt: str) -> sampler.Prediction:
        prediction = self.predict(ids, prompt)
        draft = None if self.seed is None else self.family.draft(prompt, self.seed, self.settings)
        return prediction if draft is None else hold_drafts(prediction, draft)

    @torch.no_grad()
    def predict(self, ids: torch.Tensor, prompt: str) -> sampler.Prediction:
        """The transformer's guided prediction (by region where the prompt is drawn by region)."""
        model = self.family.models.transformer
        ids = ids.to(self.family.device)[None]
        regions = self.family.prompt_regions(prompt)
        if regions:
            return self.regional(ids, regions)
        if self.guidance == 1.0:
            out = model(ids, self.family.text_context(prompt))
            return sampler.Prediction(out.logits[0].cpu(), out.qerror[0].cpu(), out.importance[0].cpu())
        out = model(ids.expand(2, -1), self.family.guided_context(prompt))
        cond, uncond = out.logits[0], out.logits[1]
        logits = uncond + self.guidance * (cond - uncond)
        return sampler.Prediction(logits.cpu(), out.qerror[0].cpu(), out.importance[0].cpu())

    def regional(self, ids: torch.Tensor, regions: tuple[RegionWords, ...]) -> sampler.Prediction:
        """One pass over every region's words (and the empty prompt, for guidance); each token
        takes its logits and scores from its own region's words (regions.py)."""
        family, k = self.family, len(regions)
        contexts = [family.text_context(r.words) for r in regions]
        if self.guidance != 1.0:
            contexts.append(family.text_context(""))
        out = family.models.transformer(ids.expand(len(contexts), -1), TextContext.concat(contexts))
        logits = out.logits[:k]
        if self.guidance != 1.0:
            uncond = out.logits[k:]
            logits = uncond + self.guidance * (logits - uncond)
        masks = region_masks(regions, POSITIONS, family.grid_size)
        return sampler.Prediction(*(merge_by_region(v.cpu(), masks)
                                    for v in (logits, out.qerror[:k], out.importance[:k])))


class ProgressiveFamily:
    """A studio checkpoint as a `ModelFamily` (see family.py)."""

    kind = "progressive"
    rules = sampler.PROGRESSIVE_RULES

    def __init__(self, models: StudioModels, name: str | None = None):
        self.models, self.name = models, name or models.name
        self.note, self.examples, self.edit_examples = models.note, models.examples, models.edit_examples
        self.sampling = models.sampling
        config = models.transformer.config
        self.grid_size, self.codebook_size, self.mask_id = config.grid_size, config.codebook_size, config.mask_id
        self.image_size = models.tokenizer.image_size
        self._contexts: OrderedDict[str, TextContext] = OrderedDict()
        # One family serves every request of the web app, from several threads: the LRU's
        # check-insert-evict-move sequence must not interleave (a prompt evicted between the check
        # and move_to_end would raise KeyError). Re-entrant: guided_context calls text_context.
        self._contexts_lock = threading.RLock()
        self._colours: np.ndarray | None = None
        self._reader = make_reader(models)
        self._drafts: OrderedDict[tuple, Draft] = OrderedDict()
        self._drafts_lock = threading.Lock()  # the web app's threads share the cache, as the texts'

    @property
    def device(self) -> torch.device:
        return self.models.tokenizer.device

    @property
    def precision(self) -> str:
        return precision_name(self.models.transformer.dtype)

    # -- text ------------------------------------------------------------------------------------
    def with_prompt_reader(self, reader: str) -> "ProgressiveFamily":
        """The same weights reading prompts another way (a name in prompt_reader.READERS)."""
        if reader not in READERS:
            raise ValueError(f"prompt reader must be one of {sorted(READERS)}, got {reader!r}")
        return ProgressiveFamily(replace(self.models, prompt_reader=reader), self.name)

    def with_regional_prompts(self, on: bool) -> "ProgressiveFamily":
        """The same weights with regional prompts on or off (regions.py)."""
        return ProgressiveFamily(replace(self.models, regional_prompts=on), self.name)

    @property
    def draws_by_region(self) -> bool:
        """Regional prompts are on and the prompt reader can give each thing its words (the
        reader "none" cannot)."""
        return self.models.regional_prompts and hasattr(self._reader, "regions")

    def with_drafts(self, on: bool) -> "ProgressiveFamily":
        """The same weights with drafts on or off (drafts.py)."""
        return ProgressiveFamily(replace(self.models, drafts=on), self.name)

    @property
    def draws_drafts(self) -> bool:
        """Drafts are on and the prompt reader reads placed things (the emoji reader does)."""
        return self.models.drafts and hasattr(self._reader, "placed")

    def prompt_regions(self, prompt: str) -> tuple[RegionWords, ...]:
        """Each placed thing's own words where the checkpoint draws them by region and the prompt
        asks for several; () where the prompt is drawn as one."""
        return self._reader.regions(prompt) if self.draws_by_region else ()

    def read_prompt(self, prompt: str) -> str:
        """The words the text encoder is given for a prompt (see prompt_reader.py)."""
        return self._reader(prompt)

    def names_nothing(self, prompt: str) -> bool:
        """The reader knows the model's world and the prompt names nothing in it."""
        names_nothing = getattr(self._reader, "names_nothing", None)
        return names_nothing is not None and names_nothing(prompt)

    def text_context(self, prompt: str) -> TextContext:
        with self._contexts_lock:
            if prompt not in self._contexts:
                states = self.models.text_encoder.encode([self.read_prompt(prompt)])  # warns once if it truncates
                self._contexts[prompt] = self.models.transformer.prepare_text(states.states, states.mask)
                while len(self._contexts) > TEXT_CACHE_SIZE:
                    self._contexts.popitem(last=False)
            self._contexts.move_to_end(prompt)
            return self._contexts[prompt]

    def guided_context(self, prompt: str) -> TextContext:
        key = "\x00guided\x00" + prompt
        with self._contexts_lock:
            if key not in self._contexts:
                pair = TextContext.concat([self.text_context(prompt), self.text_context("")])
                self._contexts[key] = pair
            self._contexts.move_to_end(key)
            return self._contexts[key]

    def forget_prompts(self) -> None:
        with self._contexts_lock:
            self._contexts.clear()

    def warm_up(self) -> None:
        """The empty negative prompt of guidance, and the previews' code colours (the app streams
        every stage in the middle of a run as a preview; measured: 0.13 s for shapes-v1, 0.39 s for
        emoji-v1, the first preview's wait otherwise); a 64 px decoder costs milliseconds on first use."""
        self.text_context("")
        self.code_colours()

    # -- predictions -----------------------------------------------------------------------------
    def predictor(self, settings: SamplerSettings, seed: int | None = None) -> GuidedPredictor:
        return GuidedPredictor(self, settings, seed)

    @torch.no_grad()
    def batch_predictions(self, states: list[GenerationState]) -> list[sampler.Prediction]:
        """The guided predictions for the next stage of several states, in one network pass
        (each on its own where a prompt is drawn by region or from drafts)."""
        if any(self.prompt_regions(s.current.prompt) or self.drafts_scene(s.current.prompt) for s in states):
            return [self.predictor(s.settings, s.current.seed)(torch.from_numpy(s.current.ids.reshape(-1)),
                                                               s.current.prompt)
                    for s in states]
        model = self.models.transformer
        guided = [float(s.settings.guidance) != 1.0 for s in states]
        contexts = [self.guided_context(s.current.prompt) if g else self.text_context(s.current.prompt)
                    for s, g in zip(states, guided)]
        rows = [len(c) for c in contexts]
        ids = torch.cat([torch.from_numpy(s.current.ids.reshape(1, -1)).expand(r, -1)
                         for s, r in zip(states, rows)]).to(self.device)
        out = model(ids, TextContext.concat(contexts))
        results, row = [], 0
        for state, r, g in zip(states, rows, guided):
            logits = out.logits[row]
            if g:
                w = float(state.settings.guidance)
                logits = out.logits[row + 1] + w * (out.logits[row] - out.logits[row + 1])
            results.append(sampler.Prediction(logits.cpu(), out.qerror[row].cpu(), out.importance[row].cpu()))
            row += r
        return results

    # -- drafts (drafts.py) -------------------------------------------------------------------------
    def drafts_scene(self, prompt: str):
        """The placed things a prompt asks for where they are drafted, else None."""
        reading = self._reader.placed(prompt) if self.draws_drafts else None
        return reading if reading is not None and drafted_things(reading) else None

    def draft(self, prompt: str, seed: int, settings: SamplerSettings) -> Draft | None:
        """The tokens the drafts of a prompt's placed things hold for this seed (None where it has
        none): made once per prompt, seed and settings, then reused by every stage and edit."""
        reading = self.drafts_scene(prompt)
        if reading is None:
            return None
        key = (prompt, seed, settings)
        with self._drafts_lock:
            if key in self._drafts:
                self._drafts.move_to_end(key)
                return self._drafts[key]
        draft = self.make_draft(reading, seed, settings)  # outside the lock: other pictures go on
        with self._drafts_lock:
            self._drafts[key] = draft
            while len(self._drafts) > DRAFT_CACHE_SIZE:
                self._drafts.popitem(last=False)
        return draft

    def make_draft(self, reading, seed: int, settings: SamplerSettings) -> Draft:
        """Each placed thing drawn by its bare name, thing i with seed + i (the first is the very
        picture typing its name with this seed gives), in one pass a stage; composed and encoded."""
        things = drafted_things(reading)
        states = sampler.run_batch_to_end(
            [sampler.start(settings, self.grid_size, self.mask_id, t.what, (seed + i) % 2**63)
             for i, t in enumerate(things)],
            self.batch_predictions, lambda state: self.predictor(state.settings))
        composite = compose(reading, [self.decode(s.current.ids) for s in states], self.image_size)
        return Draft(self.encode(composite[None])[0].reshape(-1), drafted_cells(reading, self.grid_size))

    # -- pictures --------------------------------------------------------------------------------
    def decode(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.models.tokenizer.decode_images(torch.from_numpy(ids)[None])[0])

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.models.tokenizer.encode(images_to_tensor(images)).ids.cpu().numpy()

    def code_colours(self) -> np.ndarray:
        if self._colours is None:  # a benign race: two threads may both compute the same table
            self._colours = mean_code_colours(lambda ids: self.models.tokenizer.decode(ids).add(1).div(2),
                                              self.codebook_size, colour_cells(self.models.tokenizer.vq.config))
        return self._colours
