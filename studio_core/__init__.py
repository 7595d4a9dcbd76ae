"""Progressive Studio core: coarse-to-fine text-to-image generation in VQ token space, with the
bundled progressive models or aMUSEd.

The public surface is here; nothing heavy is imported at `import studio_core` (torch, diffusers
and transformers load on first use of a name that needs them, through `__getattr__`):

    from studio_core import Studio, SamplerSettings, StudioError
    studio = Studio.load()                      # the bundled model; or an aMUSEd folder / hub id
    state = studio.generate_image("a red circle in the top left", seed=0)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the module that defines it (imported on first use)
_PUBLIC = {
    # the studio and its models
    "Studio": "studio", "ModelFamily": "family", "load_family": "family",
    # the state everything reads
    "GenerationState": "state", "TokenFrame": "state", "SamplerSettings": "state",
    # strategies, schedules and revision modes
    "STRATEGIES": "sampler", "REVISION_MODES": "sampler", "PLANS": "schedules", "FamilyRules": "sampler",
    # pictures and exports
    "render_frame": "render", "token_views": "render", "generation_order_gif": "export", "save_png": "export",
    "png_metadata": "export",
    # text and masks
    "validate_prompt": "text_encoder", "token_mask": "hooks",
    # errors: one base class, and the kinds beneath it
    "StudioError": "errors", "CheckpointError": "checkpoints", "SettingsError": "sampler", "PlanError": "schedules",
    "PromptError": "text_encoder", "MaskError": "hooks",
    # where the bundled model lives
    "BUNDLED_CHECKPOINT": "checkpoints",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'studio_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
