"""The command line, end to end: pictures, GIFs, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
from PIL import Image

from studio_core.__main__ import main
from studio_core.checkpoints import BUNDLED_CHECKPOINT, DEFAULT_MODEL

REPO = Path(__file__).resolve().parent.parent


def generate(checkpoint, tmp_path, *extra):
    return main(["generate", "--prompt", "a small red circle at the top", "--checkpoint", str(checkpoint),
                 "--out", str(tmp_path / "out.png"), "--gif", str(tmp_path / "order.gif"), "--cpu", *extra])


def test_generate_writes_a_png_with_its_settings_and_a_gif_with_one_frame_per_stage(tiny_checkpoint, tmp_path):
    assert generate(tiny_checkpoint, tmp_path, "--stages", "5", "--seed", "7") == 0
    with Image.open(tmp_path / "out.png") as png:
        assert png.size == (64, 64)
        assert png.text["prompt"] == "a small red circle at the top" and png.text["seed"] == "7"
        assert '"stages": 5' in png.text["settings"]
    frames = iio.imread(tmp_path / "order.gif", index=None)
    assert len(frames) == 5


def test_generate_says_how_the_model_read_the_prompt(tiny_checkpoint, tmp_path, capsys):
    reading = shutil.copytree(tiny_checkpoint, tmp_path / "reading")
    manifest = json.loads((reading / "studio.json").read_text())
    (reading / "studio.json").write_text(json.dumps({**manifest, "prompt_reader": "shapes"}))
    said = {}
    for prompt in ("draw a giant teal ball", "a cat", "a large red circle in the center"):
        argv = ["generate", "--prompt", prompt, "--checkpoint", str(reading), "--out", str(tmp_path / "x.png"),
                "--stages", "2", "--cpu"]
        assert main(argv) == 0
        said[prompt] = capsys.readouterr().out
    assert "read as: a large cyan circle in the center" in said["draw a giant teal ball"]
    assert "names nothing reading was trained to draw" in said["a cat"]
    assert "read as" not in said["a large red circle in the center"] and "names nothing" not in said[
        "a large red circle in the center"]


@pytest.mark.parametrize("args,message", [
    (["--prompt", "   "], "prompt is empty"),
    (["--guidance", "nan"], "guidance"),
    (["--stages", "0"], "stages must be between 1 and 16"),
    (["--strategy", "sideways"], "strategy"),
])
def test_bad_input_is_one_line_naming_the_argument(tiny_checkpoint, tmp_path, capsys, args, message):
    prompt = [] if args[0] == "--prompt" else ["--prompt", "a red circle"]
    argv = ["generate", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.png"), "--cpu"]
    assert main(argv + prompt + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_a_missing_checkpoint_from_the_shell_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "studio_core", "generate", "--prompt", "a red circle",
         "--checkpoint", str(tmp_path / "gone"), "--out", str(tmp_path / "x.png")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "gone") in result.stderr and "not found" in result.stderr


@pytest.mark.bundled
def test_the_default_model_generates_from_the_shell(tmp_path):
    """`generate` without --checkpoint draws with the model the page opens on (emoji-v1); a placed
    emoji is drafted first, and the GIF still has one frame per stage of the picture."""
    assert (BUNDLED_CHECKPOINT / "studio.json").exists(), "the bundled model must be committed"
    assert (DEFAULT_MODEL / "studio.json").exists(), "the default model must be committed"
    result = subprocess.run(
        [sys.executable, "-m", "studio_core", "generate", "--prompt", "a small cat face in the top left on blue",
         "--out", str(tmp_path / "cat.png"), "--gif", str(tmp_path / "cat.gif")],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(iio.imread(tmp_path / "cat.gif", index=None)) == 16
    with Image.open(tmp_path / "cat.png") as png:
        assert png.size == (256, 256)
        assert png.text["model"] == DEFAULT_MODEL.name and png.text["prompt"] == "a small cat face in the top left on blue"


def test_train_transformer_writes_a_studio_checkpoint_that_generates(tiny_checkpoint, tmp_path):
    from studio_core.studio import Studio
    from studio_core.tokenizer import ImageTokenizer, small_vqmodel

    vq = tmp_path / "vq64"  # a tiny tokenizer at the dataset's 64 px: a 16x16 grid
    ImageTokenizer(small_vqmodel(codebook_size=16, channels=(8, 8, 8), embed_dim=4, norm_groups=4,
                                 image_size=64)).save_pretrained(vq)
    encoder = tiny_checkpoint.parent / "text-encoder"
    code = main(["train-transformer", "--tokenizer", str(vq), "--out", str(tmp_path / "studio"),
                 "--work", str(tmp_path / "work"), "--examples", "8", "--text-encoder", str(encoder),
                 "--steps", "2", "--batch-size", "4", "--width", "32", "--depth", "1", "--heads", "2"])
    assert code == 0
    studio = Studio.load(tmp_path / "studio", cpu=True)
    state = studio.generate_image("a red circle", 0, studio.settings(stages=2))
    assert state.current.done and state.current.ids.shape == (16, 16)


def test_a_bad_training_option_is_refused_before_any_data_is_encoded(tmp_path, capsys):
    code = main(["train-transformer", "--tokenizer", str(tmp_path / "no-tokenizer"), "--work",
                 str(tmp_path / "work"), "--late-share", "1.5"])
    assert code == 2
    assert "late_share must be between 0 and 1, got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_finetune_decoder_from_the_shell_writes_a_tokenizer_and_names_a_missing_one(tmp_path, capsys):
    from studio_core.tokenizer import ImageTokenizer, small_vqmodel

    vq = tmp_path / "vq64"
    ImageTokenizer(small_vqmodel(codebook_size=16, channels=(8, 8, 8), embed_dim=4, norm_groups=4,
                                 image_size=64)).save_pretrained(vq)
    code = main(["finetune-decoder", "--init-from", str(vq), "--out", str(tmp_path / "sharper"), "--dataset",
                 "shapes", "--steps", "2", "--batch-size", "2"])
    assert code == 0 and "codes unchanged" in capsys.readouterr().out
    assert ImageTokenizer.from_pretrained(tmp_path / "sharper").codebook_size == 16
    code = main(["finetune-decoder", "--init-from", str(tmp_path / "no-tokenizer"), "--out", str(tmp_path / "x")])
    assert code == 2 and "no-tokenizer" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
