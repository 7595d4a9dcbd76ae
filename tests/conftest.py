"""Tiny models built in the tests (seconds on a CPU), never the bundled one, except where a test
says it checks the bundled checkpoint."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Code-colour tables the tests compute are kept in a folder of this run, not in the home directory.
os.environ.setdefault("STUDIO_CACHE", os.path.join(__import__("tempfile").gettempdir(), f"studio-test-cache-{os.getpid()}"))

from pathlib import Path

import pytest
import torch

TINY_GRID = 4  # 16 px images, 4x4 tokens

# Tiny models gain nothing from a second thread, and on a busy 2-core machine two threads per
# process spin against each other: one keeps the suite fast and its timings steady.
torch.set_num_threads(1)


def build_tiny_text_encoder(directory: Path) -> Path:
    """A 2-layer BERT of width 32 with the real MiniLM word-piece tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from studio_core.text_encoder import default_encoder_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_checkpoint(directory: Path) -> Path:
    from studio_core.checkpoints import assemble_studio_checkpoint
    from studio_core.tokenizer import ImageTokenizer, small_vqmodel
    from studio_core.transformer import ProgressiveTransformer, TransformerConfig

    torch.manual_seed(0)
    encoder_dir = build_tiny_text_encoder(directory / "text-encoder")
    tokenizer = ImageTokenizer(small_vqmodel(codebook_size=16, channels=(8, 8, 8), embed_dim=4,
                                             norm_groups=4, image_size=16))
    tokenizer.save_pretrained(directory / "vq")
    config = TransformerConfig(codebook_size=16, grid_size=TINY_GRID, text_dim=32, width=32, depth=2,
                               heads=2, text_encoder=str(encoder_dir), text_max_tokens=16)
    model = ProgressiveTransformer(config)
    return assemble_studio_checkpoint(directory / "studio", directory / "vq", str(encoder_dir),
                                      model.save_pretrained)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_studio(tiny_checkpoint):
    from studio_core.studio import Studio

    return Studio.load(tiny_checkpoint, cpu=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of the tests' own (see tests/postgres.py), for the whole run."""
    from postgres import start_postgres

    try:
        server = start_postgres()
    except FileNotFoundError as err:
        if os.environ.get("STUDIO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"STUDIO_REQUIRE_POSTGRES=1 but {err}")
        pytest.skip(str(err))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request, tmp_path):
    """Where a store keeps its sessions: a SQLite file, or a fresh database on the tests'
    PostgreSQL server. Tests that take it run once on each."""
    if request.param == "sqlite":
        return tmp_path / "studio.db"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture(scope="session")
def tiny_amused_dir(tmp_path_factory) -> Path:
    """A tiny random aMUSEd pipeline folder (diffusers' own test sizes, 8x8 grid, 8 codes), written
    by AmusedPipeline.save_pretrained as a hub folder is laid out."""
    from studio_core.amused_configs import save_random_pipeline

    return save_random_pipeline("tiny", tmp_path_factory.mktemp("amused") / "tiny-amused")


@pytest.fixture(scope="session")
def amused_studio(tiny_amused_dir):
    from studio_core.studio import Studio

    return Studio.load(tiny_amused_dir, cpu=True, precision="fp32")
