"""Progressive Studio core: coarse-to-fine text-to-image generation in VQ-GAN token space.

Nothing heavy is imported here: `import studio_core` is instant; torch, diffusers and
transformers load when a model is built.
"""

__version__ = "0.1.0"
