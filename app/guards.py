"""What stands between a stranger on the network and the app: every error a handler can meet as
one clear message, and selection pictures refused by their size before they are decoded.

A handler's known problems (the core's ValueErrors, the store's StoreErrors) keep their own
message; the few Python errors that bad input can still reach (a number too big for the database,
an index outside a list, nesting too deep, a decompression bomb) get a message that says what
to do. No message carries a server's folder: paths are cut to their last part.
"""

from __future__ import annotations

import functools
import inspect
import io
import re

import gradio as gr
import PIL.Image
from gradio.data_classes import FileData

from studio_core.store import StoreError

# ValueError covers PromptError, SettingsError, PlanError and MaskError: the core's "your input
# is wrong" errors. StoreError covers every database problem and every store limit.
USER_ERRORS = (ValueError, StoreError)

# Errors that bad input reaches inside libraries, as what the person sees instead.
LIBRARY_ERRORS = {
    PIL.Image.DecompressionBombError: "the picture sent is too large to read (a decompression bomb?); "
                                      "send the page's own brush layer",
    OverflowError: "a number sent is too large: ids, indices and seeds are whole numbers below 2**63",
    RecursionError: "the data sent is nested too deeply to read",
    IndexError: "an index sent is outside what this session has (its frames or branches)",
    MemoryError: "the request needs more memory than this server has; send something smaller",
}

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"`]+/)+([^\s/'\"`]*)")


def without_paths(message: str) -> str:
    """A message with every absolute path cut to its last part (a file name says enough)."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "(a folder)", message)


def page_error(err: BaseException) -> gr.Error | None:
    """The gr.Error a person sees for `err`, or None for a bug (logged by Gradio, shown generically)."""
    if isinstance(err, gr.Error):
        return err
    if isinstance(err, USER_ERRORS):
        return gr.Error(without_paths(str(err)), print_exception=False)
    for kind, message in LIBRARY_ERRORS.items():
        if isinstance(err, kind):
            return gr.Error(message, print_exception=False)
    return None


def shown_in_page(handler):
    """Known problems become a gr.Error with a clear message (the page shows it, gradio_client
    raises it). Works for plain and streaming (generator) handlers."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def streaming(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - translated or re-raised as it is
                shown = page_error(err)
                if shown is None:
                    raise
                raise shown from err
        return streaming

    @functools.wraps(handler)
    def plain(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - translated or re-raised as it is
            shown = page_error(err)
            if shown is None:
                raise
            raise shown from err
    return plain


def check_picture_size(file: FileData | bytes, max_pixels: int, what: str = "the selection") -> None:
    """Refuse a picture by the size its header declares, before its pixels are decoded (Pillow
    reads only the header on open)."""
    try:
        with PIL.Image.open(file.path if isinstance(file, FileData) else io.BytesIO(file)) as image:
            width, height = image.size
    except PIL.Image.DecompressionBombError:
        raise gr.Error(f"{what} is too large to read: send the page's own brush layer", print_exception=False)
    except (OSError, ValueError, SyntaxError):
        raise gr.Error(f"{what} is not a picture Pillow can read (PNG expected)", print_exception=False)
    if width * height > max_pixels:
        raise gr.Error(f"{what} is {width}x{height} pixels; the studio reads at most {max_pixels:,} pixels "
                       f"(the page's canvas is far smaller)", print_exception=False)


def bounded_editor(editor: gr.ImageEditor, max_pixels: int) -> gr.ImageEditor:
    """`editor`, refusing a background, layer or composite larger than `max_pixels` before it is
    decoded. Gradio decodes every image an editor receives before the handler runs, so the check
    belongs here: a 10000x10000 PNG of a few hundred kB would otherwise cost gigabytes of memory
    before any handler could say no. (The instance's method is wrapped rather than the class
    subclassed: Gradio writes a .pyi stub next to the module of every component subclass.)"""
    decode = editor.convert_and_format_image

    def checked(file, flatten_on_white: bool = False):
        if file is not None:
            check_picture_size(file, max_pixels)
        return decode(file, flatten_on_white)

    editor.convert_and_format_image = checked
    return editor
