"""ImageTokenizer on a tiny VQModel: shapes, the quantization error, and file round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio_core.checkpoints import CheckpointError
from studio_core.tokenizer import ImageTokenizer, images_to_tensor, psnr, small_vqmodel, tensor_to_images


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    return ImageTokenizer(small_vqmodel(codebook_size=16, channels=(8, 8, 8), embed_dim=4,
                                        norm_groups=4, image_size=16))


def pictures(n=3, size=16):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_encode_gives_a_grid_of_ids_and_errors(tokenizer):
    tokens = tokenizer.encode(images_to_tensor(pictures()))
    assert tokens.ids.shape == (3, 4, 4) and tokens.qerror.shape == (3, 4, 4)
    assert tokens.ids.dtype == torch.int64
    assert 0 <= int(tokens.ids.min()) and int(tokens.ids.max()) < tokenizer.codebook_size
    assert (tokens.qerror >= 0).all()


def test_the_error_is_the_distance_to_the_chosen_codeword(tokenizer):
    with torch.no_grad():
        latents = tokenizer.continuous_latents(images_to_tensor(pictures()))
        tokens = tokenizer.encode(images_to_tensor(pictures()))
    codebook = tokenizer.vq.quantize.embedding.weight
    z = latents.permute(0, 2, 3, 1)
    distances = torch.cdist(z.reshape(-1, z.shape[-1]), codebook)
    assert torch.equal(distances.argmin(-1).reshape(tokens.ids.shape), tokens.ids)
    assert torch.allclose(distances.min(-1).values.reshape(tokens.qerror.shape), tokens.qerror, atol=1e-5)


def test_decode_gives_pictures_of_the_right_size(tokenizer):
    ids = torch.randint(0, 16, (2, 4, 4), generator=torch.Generator().manual_seed(1))
    pixels = tokenizer.decode(ids)
    assert pixels.shape == (2, 3, 16, 16)
    images = tensor_to_images(pixels)
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8


def test_save_and_load_round_trip_bit_identically(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "vq")
    again = ImageTokenizer.from_pretrained(tmp_path / "vq")
    x = images_to_tensor(pictures())
    assert torch.equal(tokenizer.encode(x).ids, again.encode(x).ids)
    assert torch.equal(tokenizer.decode(tokenizer.encode(x).ids), again.decode(again.encode(x).ids))


def test_pixel_conversions_round_trip():
    images = pictures()
    assert (tensor_to_images(images_to_tensor(images)) == images).all()
    assert psnr(images, images) == float("inf")
    assert 0 < psnr(images, 255 - images) < 10


def test_a_missing_tokenizer_names_its_path(tmp_path):
    with pytest.raises(CheckpointError, match="no such directory"):
        ImageTokenizer.from_pretrained(tmp_path / "nowhere")


def test_a_damaged_tokenizer_names_its_path(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "vq")
    (tmp_path / "vq" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(CheckpointError, match=str(tmp_path / "vq")):
        ImageTokenizer.from_pretrained(tmp_path / "vq")
