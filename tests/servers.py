"""Starting the real app in a test: a free port, and patience with a busy machine."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo, attempts: int = 3, **options) -> int:
    """Start the server on a free port (`options`: the app's launch_options); returns the port.
    Gradio checks its own URL with a 3 s timeout and gives up when a busy machine answers later:
    a slow start, not a broken app, so it is tried again."""
    for attempt in range(attempts):
        port = free_port()
        try:
            demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        **options)
            return port
        except ValueError:
            demo.close()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
