"""The emoji model end to end: `evaluate` on an emoji checkpoint (a tiny 64 px one built here, so
the route from studio.json to the printed figures is exercised in seconds), and the bundled
`emoji-v1` drawing from the shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from studio_core.__main__ import main
from studio_core.checkpoints import CheckpointError, evaluation_entry, write_json
from studio_core.data.emoji import font_available, vocabulary

REPO = Path(__file__).resolve().parent.parent
EMOJI_V1 = REPO / "checkpoints" / "emoji-v1"
needs_font = pytest.mark.skipif(
    not font_available(),
    reason="Noto Color Emoji or the CLDR annotations are not installed "
           "(apt-get install fonts-noto-color-emoji unicode-cldr-core)")


def build_tiny_emoji_checkpoint(directory: Path) -> Path:
    """A random 64 px model (16x16 tokens) and a random checker over the whole vocabulary."""
    from conftest import build_tiny_text_encoder
    from studio_core.checkpoints import assemble_studio_checkpoint
    from studio_core.eval.emoji_checker import EmojiCheckerConfig, EmojiClassifier
    from studio_core.tokenizer import ImageTokenizer, small_vqmodel
    from studio_core.transformer import ProgressiveTransformer, TransformerConfig

    torch.manual_seed(0)
    encoder_dir = build_tiny_text_encoder(directory / "text-encoder")
    ImageTokenizer(small_vqmodel(codebook_size=16, channels=(8, 8, 8), embed_dim=4, norm_groups=4,
                                 image_size=64)).save_pretrained(directory / "vq")
    config = TransformerConfig(codebook_size=16, grid_size=16, text_dim=32, width=32, depth=1, heads=2,
                               text_encoder=str(encoder_dir), text_max_tokens=32)
    studio = assemble_studio_checkpoint(directory / "studio", directory / "vq", str(encoder_dir),
                                        ProgressiveTransformer(config).save_pretrained)
    EmojiClassifier(EmojiCheckerConfig(names=tuple(e.name for e in vocabulary()), channels=(8, 16))
                    ).save_pretrained(directory / "checker")
    manifest = json.loads((studio / "studio.json").read_text())
    write_json(studio / "studio.json", manifest | {"evaluation": {"dataset": "emoji", "checker": "../checker"},
                                                   "sampling": {"stages": 4}})
    return studio


@needs_font
def test_evaluate_on_an_emoji_checkpoint_prints_every_emoji_figure(tmp_path, capsys):
    studio = build_tiny_emoji_checkpoint(tmp_path)
    assert evaluation_entry(studio)["checker"] == str((tmp_path / "checker").resolve())
    # re-assembling (a resumed training run) keeps the manifest's other entries
    from studio_core.checkpoints import assemble_studio_checkpoint
    assemble_studio_checkpoint(studio, tmp_path / "vq", str(tmp_path / "text-encoder"), lambda d: None)
    assert evaluation_entry(studio)["dataset"] == "emoji"
    report_path = tmp_path / "report.json"
    code = main(["evaluate", "--checkpoint", str(studio), "--bare", "4", "--single", "2", "--pairs", "2",
                 "--json", str(report_path), "--cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    for words in ("tokenizer PSNR", "bare names (4 emoji): right emoji top-1", "right emoji top-5",
                  "placed (4 scenes, 6 emoji): position", "background", "held-out phrasings",
                  "true renders through the tokenizer alone"):
        assert words in printed, printed
    report = json.loads(report_path.read_text())
    assert report["bare"]["pictures"] == 4 and report["two"]["emoji"] == 4
    for part in ("bare", "one", "two", "bare_heldout_phrasings"):
        assert all(0.0 <= report[part][k] <= 1.0 for k in ("top1", "top5", "position", "background"))
    # the ceiling judges the same scenes' true renders: as many pictures and emoji as were generated
    for part in ("one", "two"):
        ceiling = report[part]["through_tokenizer"]
        assert (ceiling["pictures"], ceiling["emoji"]) == (report[part]["pictures"], report[part]["emoji"])
        assert all(0.0 <= ceiling[k] <= 1.0 for k in ("top1", "top5", "position", "background"))


def test_a_bad_evaluation_entry_names_the_file(tmp_path):
    write_json(tmp_path / "studio.json", {"evaluation": {"dataset": "faces"}})
    with pytest.raises(CheckpointError, match="studio.json"):
        evaluation_entry(tmp_path)


def test_the_bundled_emoji_model_draws_from_the_shell(tmp_path):
    assert (EMOJI_V1 / "studio.json").exists(), "checkpoints/emoji-v1 must be committed"
    manifest = json.loads((EMOJI_V1 / "studio.json").read_text())
    assert manifest["evaluation"]["dataset"] == "emoji" and manifest["examples"]
    result = subprocess.run(
        [sys.executable, "-m", "studio_core", "generate", "--checkpoint", str(EMOJI_V1), "--prompt",
         "Draw me a cat face, please!", "--out", str(tmp_path / "cat.png"), "--stages", "8"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "read as: cat face" in result.stdout
    with Image.open(tmp_path / "cat.png") as png:
        assert png.size == (256, 256)
