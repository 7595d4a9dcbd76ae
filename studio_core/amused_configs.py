"""aMUSEd configurations with random weights: the tiny one the tests build, and the real amused-256
and amused-512 sizes the benchmark builds in memory (nothing is downloaded or committed).

The real sizes are those of diffusers' conversion script (`scripts/convert_amused.py`): a
UVit2DModel with its defaults (hidden 1024, 22 layers, codebook 8192, vocab 8256) on a 16x16 grid
(256 px) or a 32x32 grid with down/up-sampling around the transformer layers (512 px), the VQModel
of `make_vqvae` (5 levels, 16x down-sampling, 8192 codes of 64 channels) and a CLIP-L/14 text
encoder with a 768-wide projection. The tokenizer is character-level (the real BPE merges cannot
be fetched here); the sequence the transformer sees has the real length (77).
"""

from __future__ import annotations

from pathlib import Path

import torch

SIZES = ("tiny", "amused-256", "amused-512")


def byte_characters() -> list[str]:
    """The 256 printable characters byte-level BPE maps bytes to (GPT-2's table, which CLIP's
    tokenizer uses): printable Latin-1 bytes stand for themselves, the others are shifted past 255."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    shifted = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep} | {b: chr(256 + i) for i, b in enumerate(shifted)}
    return [table[b] for b in range(256)]


def char_tokenizer(max_length: int) -> "object":
    """A CLIPTokenizer with one token per character (no merges): it loads offline once saved and
    tokenizes any prompt as the pipeline's tokenizer does (lower case, padding, truncation)."""
    from transformers import CLIPTokenizer

    chars = byte_characters()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({c: 2 + i for i, c in enumerate(chars)})
    vocab.update({c + "</w>": 2 + len(chars) + i for i, c in enumerate(chars)})
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def random_components(size: str, seed: int = 0) -> dict:
    """transformer, vqvae, text_encoder, tokenizer, scheduler with random weights at `size`."""
    from diffusers import AmusedScheduler, UVit2DModel, VQModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    torch.manual_seed(seed)
    if size == "tiny":  # the sizes of diffusers' own aMUSEd tests, on an 8x8 grid of 8 px
        transformer = UVit2DModel(hidden_size=8, use_bias=False, hidden_dropout=0.0, cond_embed_dim=8,
                                  micro_cond_encode_dim=2, micro_cond_embed_dim=10, encoder_hidden_size=8,
                                  vocab_size=32, codebook_size=8, in_channels=8, block_out_channels=8,
                                  num_res_blocks=1, downsample=True, upsample=True, block_num_heads=1,
                                  num_hidden_layers=1, num_attention_heads=1, attention_dropout=0.0,
                                  intermediate_size=8, layer_norm_eps=1e-06, ln_elementwise_affine=True,
                                  sample_size=8)
        vqvae = VQModel(act_fn="silu", block_out_channels=[8], down_block_types=["DownEncoderBlock2D"],
                        in_channels=3, latent_channels=8, layers_per_block=1, norm_num_groups=8,
                        num_vq_embeddings=8, out_channels=3, sample_size=8, up_block_types=["UpDecoderBlock2D"],
                        mid_block_add_attention=False, lookup_from_codebook=True)
        text = dict(hidden_size=8, intermediate_size=8, num_attention_heads=1, num_hidden_layers=1,
                    projection_dim=8)
        max_length, mask_id = 16, 31
    else:
        big = size == "amused-512"
        transformer = UVit2DModel(sample_size=32 if big else 16, downsample=big, upsample=big)
        levels = 5
        vqvae = VQModel(act_fn="silu", block_out_channels=[128, 256, 256, 512, 768],
                        down_block_types=["DownEncoderBlock2D"] * levels, in_channels=3, latent_channels=64,
                        layers_per_block=2, norm_num_groups=32, num_vq_embeddings=8192, out_channels=3,
                        sample_size=32, up_block_types=["UpDecoderBlock2D"] * levels,
                        mid_block_add_attention=False, lookup_from_codebook=True)
        text = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                    projection_dim=768)
        max_length, mask_id = 77, 8255
    tokenizer = char_tokenizer(max_length)
    specials = (0, 1)
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=max(1000, len(tokenizer)) if size == "tiny" else 49408, max_position_embeddings=max(max_length, 77),
        bos_token_id=specials[0], eos_token_id=specials[1], pad_token_id=specials[1], layer_norm_eps=1e-05, **text))
    return {"transformer": transformer.eval(), "vqvae": vqvae.eval(), "text_encoder": text_encoder.eval(),
            "tokenizer": tokenizer, "scheduler": AmusedScheduler(mask_token_id=mask_id)}


def random_colour_cache(size: str, seed: int = 0) -> Path:
    """Where the benchmark keeps a random model's code-colour table: its weights are a pure function
    of (size, seed) under one torch and diffusers (torch.manual_seed before the modules are built),
    so the table (a minute or two of VQ decodes) is computed once, like a downloaded model's."""
    import diffusers

    from .family import colour_cache_root

    return colour_cache_root() / f"random-{size}-seed{seed}-torch{torch.__version__}-diffusers{diffusers.__version__}.npy"


def save_random_pipeline(size: str, directory: Path, seed: int = 0) -> Path:
    """An aMUSEd pipeline folder (model_index.json and the five components) with random weights,
    written by the deprecated pipeline's own save_pretrained, as one from the hub is laid out."""
    import warnings

    from diffusers import AmusedPipeline

    directory = Path(directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AmusedPipeline(**random_components(size, seed)).save_pretrained(str(directory))
    return directory
