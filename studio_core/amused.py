"""aMUSEd (MUSE family) as a `ModelFamily`: diffusers' VQModel, UVit2DModel and AmusedScheduler
config, transformers' CLIPTextModelWithProjection, loaded from a pipeline folder.

The predictor computes what aMUSEd computes (diffusers 0.42, `AmusedPipeline.__call__`): the
prompt and the empty negative prompt padded to the tokenizer's length, CLIP's projected
`text_embeds` as the pooled embedding and `hidden_states[-2]` as the sequence, micro-conds
[width, height, crop 0, crop 0, aesthetic 6], one batched pass for [negative, prompt] when the
guidance is above 1 (a blank grid's negative row, the same for every picture, computed once per
model unless draws="pipeline"), `uncond + w * (cond - uncond)`, logits over the codebook laid out
as its scheduler lays them out. The deprecated pipeline itself is not used; `tests/test_amused.py`
holds the studio's tokens against it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import sampler
from .checkpoints import CheckpointError, read_json
from .device import Placement, precision_name
from .family import cached_colours, colour_cache_file, colour_cells, mean_code_colours
from .state import GenerationState, SamplerSettings

log = logging.getLogger(__name__)

COMPONENTS = ("transformer", "vqvae", "text_encoder", "tokenizer", "scheduler")
TEXT_CACHE_SIZE = 64
AESTHETIC_SCORE = 6  # the pipeline's default micro-conditioning
AMUSED_RULES = sampler.FamilyRules(
    # The paper's scorers need quantization-error and importance heads aMUSEd does not have;
    # raster order would ignore what it learnt. Its own ordering (confidence) and random remain.
    strategies=("confidence", "random"),
    fine_draws=True, confidence_noise="amused",
    # Trained on masked tokens only: a visible token's logit says nothing about it.
    revision_modes=("hidden",),
)
# The pipeline's defaults: 12 steps, its cosine schedule, guidance 10, no revision (aMUSEd has none).
AMUSED_SAMPLING = SamplerSettings(stages=12, schedule="amused", strategy="confidence", guidance=10.0,
                                  temperature=1.0, top_k=0, revision=0.0, revision_threshold=0.1,
                                  revision_mode="hidden", repaint_stages=4)


@dataclass(frozen=True)
class AmusedModels:
    vqvae: "torch.nn.Module"  # diffusers VQModel
    transformer: "torch.nn.Module"  # diffusers UVit2DModel
    text_encoder: "torch.nn.Module"  # transformers CLIPTextModelWithProjection
    tokenizer: object  # transformers CLIPTokenizer
    mask_id: int  # the scheduler's mask_token_id


@dataclass(frozen=True)
class TextConditioning:
    pooled: torch.Tensor  # (B, P) CLIP's projected text_embeds
    sequence: torch.Tensor  # (B, L, D) hidden_states[-2]
    micro_conds: torch.Tensor  # (B, 5)


def check_pipeline_folder(directory: Path) -> None:
    index = read_json(directory / "model_index.json")
    kind = str(index.get("_class_name", ""))
    if not kind.startswith("Amused"):
        raise CheckpointError(f"{directory}: a diffusers pipeline folder, but for {kind or 'an unnamed pipeline'}, "
                              f"not aMUSEd (model_index.json names the class)")
    missing = [part for part in COMPONENTS if not (directory / part).is_dir()]
    if missing:
        raise CheckpointError(f"{directory}: an aMUSEd pipeline folder missing {', '.join(missing)}")


def load_amused(directory: Path, placement: Placement, name: str | None = None) -> "AmusedFamily":
    """Load the components of an aMUSEd pipeline folder with their own `from_pretrained`, offline.
    The transformer runs in the placement's dtype; the VQ and the text encoder in float32."""
    from diffusers import AmusedScheduler, UVit2DModel, VQModel
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    check_pipeline_folder(directory)
    try:
        scheduler = AmusedScheduler.from_pretrained(str(directory / "scheduler"), local_files_only=True)
        models = AmusedModels(
            vqvae=VQModel.from_pretrained(str(directory / "vqvae"), local_files_only=True),
            transformer=UVit2DModel.from_pretrained(str(directory / "transformer"), local_files_only=True,
                                                    torch_dtype=placement.dtype),
            text_encoder=CLIPTextModelWithProjection.from_pretrained(str(directory / "text_encoder"),
                                                                     local_files_only=True),
            tokenizer=CLIPTokenizer.from_pretrained(str(directory / "tokenizer"), local_files_only=True),
            mask_id=int(scheduler.config.mask_token_id))
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{directory}: an aMUSEd pipeline folder that does not load: {err}") from err
    if scheduler.config.masking_schedule != "cosine":
        raise CheckpointError(f"{directory}: scheduler masking_schedule {scheduler.config.masking_schedule!r}; "
                              f"the studio runs aMUSEd's cosine schedule only")
    models.vqvae.to(placement.device).eval()
    models.text_encoder.to(placement.device).eval()
    models.transformer.to(placement.device).eval()
    weights = sorted((directory / "vqvae").glob("*.safetensors")) or sorted((directory / "vqvae").glob("*.bin"))
    return AmusedFamily(models, name or directory.name, colour_cache_file(weights[0]) if weights else None)


class AmusedPredictor:
    """The sampler's view of aMUSEd for one picture: ids (N,) -> guided logits (N, codebook).
    `reuse_blank`: take a blank grid's unconditional row from the family's cache (see
    AmusedFamily.blank_unconditional) instead of computing it in the pass."""

    rules = AMUSED_RULES

    def __init__(self, family: "AmusedFamily", guidance: float, reuse_blank: bool = True):
        self.family, self.guidance, self.reuse_blank = family, guidance, reuse_blank

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor, prompt: str) -> sampler.Prediction:
        return self.family.predictions([ids], [prompt], [self.guidance], [self.reuse_blank])[0]


def reuses_blank(settings: SamplerSettings) -> bool:
    """Whether a picture's blank first stage may take its unconditional row from the cache: not
    with draws="pipeline", which promises AmusedPipeline's exact tokens, and the cached row,
    computed at batch 1, differs from the pipeline's batch-2 row by float rounding (about 5e-6
    on logits of size 3 at amused-256), which can tip a draw."""
    return settings.draws != "pipeline"


class AmusedFamily:
    """An aMUSEd pipeline as a `ModelFamily` (see family.py)."""

    kind = "amused"
    rules = AMUSED_RULES
    preview_stages = True  # a 256 px decode costs more than a stage: thumbnails are code colours too

    def __init__(self, models: AmusedModels, name: str = "amused", colour_cache: Path | None = None):
        self.models, self.name, self.colour_cache = models, name, colour_cache
        vq, transformer = models.vqvae, models.transformer
        self.grid_size = int(transformer.config.sample_size)
        self.codebook_size = int(transformer.config.codebook_size)
        self.mask_id = models.mask_id
        self.scale_factor = 2 ** (len(vq.config.block_out_channels) - 1)
        self.image_size = self.grid_size * self.scale_factor
        self.latent_channels = vq.config.vq_embed_dim or vq.config.latent_channels
        vq.quantize.sane_index_shape = True  # (B, H, W) indices from encode
        self.sampling = sampler.validate_settings(AMUSED_SAMPLING, self.grid_size ** 2)
        self._texts: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._texts_lock = threading.RLock()  # one family serves the app's threads
        self._negative: tuple[torch.Tensor, torch.Tensor] | None = None  # the empty prompt's, kept
        self._blank_uncond: torch.Tensor | None = None
        self._colours: np.ndarray | None = None

    @property
    def device(self) -> torch.device:
        return self.models.vqvae.quantize.embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.models.transformer.mlm_layer.conv1.weight.dtype

    @property
    def precision(self) -> str:
        return precision_name(self.dtype)

    # -- text ------------------------------------------------------------------------------------
    @torch.no_grad()
    def text(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(text_embeds (1, P), hidden_states[-2] (1, L, D)) of a prompt, as the pipeline encodes it.
        The empty negative prompt, in every guided pass, is encoded once per model and kept (never
        evicted by other prompts, nor dropped by forget_prompts): about 100 ms of CLIP-L a time."""
        if prompt == "":
            if self._negative is None:  # a benign race: two threads may both encode it
                self._negative = self.encode_text("")
            return self._negative
        with self._texts_lock:
            if prompt not in self._texts:
                self._texts[prompt] = self.encode_text(prompt)
                while len(self._texts) > TEXT_CACHE_SIZE:
                    self._texts.popitem(last=False)
            self._texts.move_to_end(prompt)
            return self._texts[prompt]

    @torch.no_grad()
    def encode_text(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP-L over the prompt padded to all 77 positions, as aMUSEd was trained: the transformer
        attends to every position, and CLIP is causal, so the padding's states carry the prompt
        too; a shorter sequence would change the conditioning."""
        tokenizer = self.models.tokenizer
        if len(tokenizer.tokenize(prompt)) + 2 > tokenizer.model_max_length:  # + start and end
            log.warning("prompt longer than the text encoder's %d tokens: the end is cut off",
                        tokenizer.model_max_length)
        input_ids = tokenizer([prompt], return_tensors="pt", padding="max_length", truncation=True,
                              max_length=tokenizer.model_max_length).input_ids.to(self.device)
        out = self.models.text_encoder(input_ids, return_dict=True, output_hidden_states=True)
        return out.text_embeds, out.hidden_states[-2]

    def forget_prompts(self) -> None:
        with self._texts_lock:
            self._texts.clear()

    def read_prompt(self, prompt: str) -> str:
        return prompt  # CLIP-L was trained on people's own words

    def conditioning(self, prompts: list[str], negative: list[bool]) -> TextConditioning:
        """Rows for a batch: a picture with a negative row gets [negative "", prompt] (the
        pipeline's order), one without it [prompt]."""
        rows = []
        for prompt, n in zip(prompts, negative):
            rows += [self.text(""), self.text(prompt)] if n else [self.text(prompt)]
        sequence = torch.cat([r[1] for r in rows]).to(self.dtype)
        micro = torch.tensor([self.image_size, self.image_size, 0, 0, AESTHETIC_SCORE],
                             device=self.device, dtype=sequence.dtype)
        return TextConditioning(pooled=torch.cat([r[0] for r in rows]).to(self.dtype), sequence=sequence,
                                micro_conds=micro[None].expand(len(rows), -1))

    # -- predictions -----------------------------------------------------------------------------
    def predictor(self, settings: SamplerSettings, seed: int | None = None) -> AmusedPredictor:
        """`seed` is not used: aMUSEd's predictions depend on the ids and the prompt alone."""
        return AmusedPredictor(self, float(settings.guidance), reuses_blank(settings))

    def transformer_pass(self, ids: torch.Tensor, cond: TextConditioning) -> torch.Tensor:
        """(B, H, W) ids -> logits (B, V, H, W)."""
        return self.models.transformer(ids.to(self.device), micro_conds=cond.micro_conds,
                                       pooled_text_emb=cond.pooled, encoder_hidden_states=cond.sequence)

    @torch.no_grad()
    def blank_unconditional(self) -> torch.Tensor:
        """The unconditional row (1, V, H, W) of a guided pass over a blank grid: every cell masked,
        the empty negative prompt, the fixed micro-conds. It is the same for every picture's first
        stage, so it is computed once per model and a first stage passes the prompt's row alone
        (half the work of that pass). Computed at batch 1, it differs from the row of a batch-2
        pass by float rounding only (see reuses_blank)."""
        if self._blank_uncond is None:  # a benign race: two threads may both compute it
            g = self.grid_size
            blank = torch.full((1, g, g), self.mask_id, dtype=torch.long)
            self._blank_uncond = self.transformer_pass(blank, self.conditioning([""], [False]))
        return self._blank_uncond

    def warm_up(self) -> None:
        """What a first request would otherwise wait for, once per model: the previews' code
        colours, the empty negative prompt's encoding and the blank grid's unconditional row."""
        self.code_colours()
        self.blank_unconditional()

    @torch.no_grad()
    def predictions(self, ids: list[torch.Tensor], prompts: list[str], guidance: list[float],
                    reuse_blank: list[bool] | None = None) -> list[sampler.Prediction]:
        """One network pass for several pictures. Guidance applies above 1, as in aMUSEd. Where
        `reuse_blank` allows it, a blank grid's unconditional row comes from blank_unconditional."""
        g = self.grid_size
        guided = [w > 1.0 for w in guidance]
        reuse_blank = reuse_blank or [False] * len(ids)
        cached = [gd and reuse and bool((i == self.mask_id).all()) for i, gd, reuse in zip(ids, guided, reuse_blank)]
        negative = [gd and not c for gd, c in zip(guided, cached)]
        blank_uncond = self.blank_unconditional() if any(cached) else None
        cond = self.conditioning(prompts, negative)
        inputs = torch.cat([i.reshape(1, g, g).expand(2 if n else 1, g, g) for i, n in zip(ids, negative)])
        out = self.transformer_pass(inputs, cond)
        results, row, zeros = [], 0, torch.zeros(g * g)
        for w, gd, n in zip(guidance, guided, negative):
            if gd:
                uncond = out[row:row + 1] if n else blank_uncond
                conditional = out[row + 1:row + 2] if n else out[row:row + 1]
                # uncond + w * (cond - uncond), the pipeline's numbers (IEEE + and * commute), in
                # place: two fewer (V, H, W) temporaries, 32 MB each at 512 px.
                logits = (conditional - uncond).mul_(w).add_(uncond)
            else:
                logits = out[row:row + 1]
            row += 2 if n else 1
            # (1, V, H, W) -> (N, V) with the scheduler's own reshape and permute (same memory
            # layout, so its softmax and multinomial see the same numbers).
            logits = logits.reshape(1, self.codebook_size, g * g).permute(0, 2, 1)[0]
            results.append(sampler.Prediction(logits.float().cpu(), zeros, zeros))
        return results

    def batch_predictions(self, states: list[GenerationState]) -> list[sampler.Prediction]:
        return self.predictions([torch.from_numpy(s.current.ids.reshape(-1)) for s in states],
                                [s.current.prompt for s in states],
                                [float(s.settings.guidance) for s in states],
                                [reuses_blank(s.settings) for s in states])

    # -- pictures --------------------------------------------------------------------------------
    @torch.no_grad()
    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, H, W) ids -> pixels (B, 3, S, S) in [0, 1], as the pipeline decodes."""
        vq = self.models.vqvae
        b, h, w = ids.shape
        shape = (b, h, w, self.latent_channels)
        ids = ids.to(self.device)
        if vq.config.lookup_from_codebook:
            return vq.decode(ids, force_not_quantize=True, shape=shape).sample.clip(0, 1)
        latents = vq.quantize.get_codebook_entry(ids.reshape(-1), shape)
        return vq.decode(latents, force_not_quantize=True).sample.clip(0, 1)

    def decode(self, ids: np.ndarray) -> np.ndarray:
        pixels = self.decode_ids(torch.from_numpy(np.asarray(ids, dtype=np.int64))[None])
        return pixels[0].permute(1, 2, 0).mul(255).round().to(torch.uint8).cpu().numpy()

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        pixels = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float().div(255).to(self.device)
        latents = self.models.vqvae.encode(pixels).latents
        _, _, (_, _, ids) = self.models.vqvae.quantize(latents)
        return ids.reshape(len(images), self.grid_size, self.grid_size).cpu().numpy()

    def code_colours(self) -> np.ndarray:
        if self._colours is None:  # a benign race: two threads may both compute the same table
            self._colours = cached_colours(self.colour_cache, self.codebook_size, lambda: mean_code_colours(
                self.decode_ids, self.codebook_size, colour_cells(self.models.vqvae.config)))
        return self._colours
