"""Progressive Studio web app: a thin Gradio layer over studio_core's Studio and SessionStore.

`build_app(studio, store, config)` returns the page (gr.Blocks); `python app.py` loads the bundled
model and serves it. Importing this package loads no model and starts nothing.
"""

from .config import AppConfig, EXAMPLE_PROMPTS
from .ui import build_app, launch_options

__all__ = ["AppConfig", "EXAMPLE_PROMPTS", "build_app", "launch_options"]
