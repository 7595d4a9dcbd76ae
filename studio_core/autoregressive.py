"""The raster-order autoregressive baseline (VQ-AR): one token at a time, left to right, top to
bottom, each conditioned on all before it and on the text.

It is the method the paper compares against, built as strongly as is fair: the same tokenizer,
text encoder, width, depth and training data as the progressive model, the text's cross-attention
keys/values computed once per prompt, classifier-free guidance batched with the conditional pass,
and a key/value cache so that every step computes only the one new position. `use_cache=False`
recomputes the whole prefix at every step, the way a naive AR loop does; both give the same tokens.

Input at position i is the token at i - 1 (a [BOS] id, the codebook size, at i = 0) plus the
embedding of position i; the output at i predicts token i.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .sampler import draw, sampling_probs
from .transformer import Block, TextConditionedTransformer, TextContext, TransformerConfig


class KeyValueCache:
    """Preallocated keys/values of one layer: step t writes slot t, attention reads slots 0..t."""

    def __init__(self, batch: int, heads: int, length: int, head_dim: int, like: torch.Tensor):
        self.keys = like.new_zeros(batch, heads, length, head_dim)
        self.values = like.new_zeros(batch, heads, length, head_dim)

    def extend(self, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = start + k.shape[2]
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        return self.keys[:, :, :end], self.values[:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, cache: KeyValueCache | None = None, start: int = 0) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k, v = cache.extend(start, k, v)
            # The new positions are the latest ones: each sees every cached position and, among
            # the new ones, those before it (n is 1 when sampling, so no mask is needed then).
            mask = None if n == 1 else torch.ones(n, k.shape[2], dtype=torch.bool, device=x.device).tril(start)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class CausalBlock(Block):
    """The progressive model's block with causal self-attention (same parameter shapes)."""

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        self.attn = CausalSelfAttention(config.width, config.heads)

    def forward(self, x, k, v, mask, cache: KeyValueCache | None = None, start: int = 0):
        x = x + self.drop(self.attn(self.norm1(x), cache, start))
        x = x + self.drop(self.cross(self.norm2(x), k, v, mask))
        return x + self.drop(self.mlp(self.norm3(x)))


class RasterTransformer(TextConditionedTransformer):
    architecture = "raster-ar"

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        w = config.width
        self.token_embedding = nn.Embedding(config.codebook_size + 1, w)  # + [BOS]
        self.position_embedding = nn.Parameter(torch.randn(1, config.num_tokens, w) * 0.02)
        self.text_projection = self.text_projection_for()
        self.blocks = nn.ModuleList(CausalBlock(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(w)
        self.token_head = nn.Linear(w, config.codebook_size)
        self.apply(self._init_weights)

    @property
    def bos_id(self) -> int:
        return self.config.codebook_size

    def shift_right(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, N) tokens -> the inputs that predict them: [BOS], t0, ..., t(N-2)."""
        bos = torch.full_like(ids[:, :1], self.bos_id)
        return torch.cat([bos, ids[:, :-1]], dim=1)

    def forward(self, inputs: torch.Tensor, text: TextContext | None = None,
                text_states: torch.Tensor | None = None, text_mask: torch.Tensor | None = None,
                caches: list[KeyValueCache] | None = None, start: int = 0) -> torch.Tensor:
        """inputs: (B, n) shifted tokens for positions start..start+n-1 -> logits (B, n, codebook)."""
        if text is None:
            text = self.prepare_text(text_states, text_mask)
        n = inputs.shape[1]
        x = self.token_embedding(inputs) + self.position_embedding[:, start:start + n]
        for i, (block, k, v) in enumerate(zip(self.blocks, text.keys, text.values)):
            x = block(x, k, v, text.mask, caches[i] if caches is not None else None, start)
        return self.token_head(self.norm(x)).float()  # float32 out, whatever the weights (device.py)

    def new_caches(self, batch: int, like: torch.Tensor) -> list[KeyValueCache]:
        c = self.config
        return [KeyValueCache(batch, c.heads, c.num_tokens, c.width // c.heads, like) for _ in self.blocks]


# ---------------------------------------------------------------------------------------------
# Sampling


@dataclass(frozen=True)
class RasterSample:
    ids: torch.Tensor  # (B, H, W) tokens
    forward_passes: int  # calls of the network (a batched guidance pass counts once)


def guided_logits(logits: torch.Tensor, guidance: float) -> torch.Tensor:
    """With guidance, the rows are B conditional then B unconditional ones (the layout of
    `TextContext.concat([prompts, empties])`); without it, B conditional rows."""
    if guidance == 1.0:
        return logits
    cond, uncond = logits.chunk(2)
    return uncond + guidance * (cond - uncond)


@torch.no_grad()
def sample_raster(model: RasterTransformer, context: TextContext, guidance: float = 3.0,
                  temperature: float = 1.0, top_k: int = 0, seed: int = 0, use_cache: bool = True
                  ) -> RasterSample:
    """B pictures, token by token. `context` holds B prompts, followed with guidance by B empty
    prompts; a picture's conditional and unconditional rows see the same drawn tokens."""
    generator = torch.Generator().manual_seed(int(seed))
    rows, n = len(context), model.config.num_tokens
    batch = rows if guidance == 1.0 else rows // 2
    inputs = torch.full((rows, n), model.bos_id, dtype=torch.long, device=context.mask.device)
    tokens = torch.empty(batch, n, dtype=torch.long)
    caches = model.new_caches(rows, context.keys[0]) if use_cache else None
    for t in range(n):
        if use_cache:
            logits = model(inputs[:, t:t + 1], context, caches=caches, start=t)[:, -1]
        else:
            logits = model(inputs[:, :t + 1], context)[:, -1]
        probs = sampling_probs(guided_logits(logits, guidance).cpu(), temperature, top_k)
        tokens[:, t] = draw(probs, generator)[0]
        if t + 1 < n:
            inputs[:, t + 1] = tokens[:, t].repeat(rows // batch).to(inputs.device)
    g = model.config.grid_size
    return RasterSample(ids=tokens.view(batch, g, g), forward_passes=n)


def load_transformer(path) -> TextConditionedTransformer:
    """Either architecture, as its config.json says."""
    from .checkpoints import require_model_dir
    from .transformer import ProgressiveTransformer

    config = TransformerConfig.load(require_model_dir(path, "transformer", ("config.json",)) / "config.json")
    return (RasterTransformer if config.architecture == "raster-ar" else ProgressiveTransformer).from_pretrained(path)
