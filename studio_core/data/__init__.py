"""Datasets: the procedural captioned shapes, and a user's own folder of captioned images."""

from .folder import CaptionedImageFolder
from .shapes import Example, Scene, ShapeObject, ShapesDataset

__all__ = ["CaptionedImageFolder", "Example", "Scene", "ShapeObject", "ShapesDataset"]
