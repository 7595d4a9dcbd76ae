"""Per-tab state and the stop signals of running generations.

A browser tab's state (`TabState`, kept in a `gr.State`) is immutable: every action returns a new
one, so a generation that is stopped halfway leaves the tab at the last frame it showed, which is
also the last frame the store wrote (a request cancelled by the browser may have written one more:
the next action re-reads the branch from the store).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator

from studio_core import GenerationState, TokenFrame
from studio_core.store import BranchInfo


@dataclass(frozen=True)
class Workspace:
    """The session a tab has open: which branch, its whole state, and the frame on screen."""
    session_id: str
    branch_id: int
    state: GenerationState
    branches: tuple[BranchInfo, ...]
    viewing: int | None = None  # a frame picked on the timeline; None follows the latest

    @property
    def frame_index(self) -> int:
        return len(self.state.frames) - 1 if self.viewing is None else self.viewing

    @property
    def frame(self) -> TokenFrame:
        return self.state.frames[self.frame_index]

    @property
    def branch_number(self) -> int:
        return next((b.number for b in self.branches if b.id == self.branch_id), 1)

    def advanced(self, state: GenerationState) -> "Workspace":
        """The same branch, further on; the screen follows the newest frame."""
        return replace(self, state=state, viewing=None)


@dataclass(frozen=True)
class TabState:
    work: Workspace | None = None
    show_grid: bool = False
    show_marks: bool = False
    # The token views are drawn, sent and downloaded only while a person looks at them (the page's
    # "Token views" opened; API: /set_display's show_views).
    show_views: bool = False


class StopSignals:
    """One stop flag per running generation, keyed by the tab (Gradio's session hash), so that
    /stop, from the page or from gradio_client, ends that tab's generation after the stage in
    progress. Owned by the app instance; an entry lives only while its generation runs."""

    def __init__(self):
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    @contextmanager
    def running(self, tab: str) -> Iterator[threading.Event]:
        flag = threading.Event()
        with self._lock:
            self._flags[tab] = flag  # a newer run of the same tab replaces an older one's flag
        try:
            yield flag
        finally:
            with self._lock:
                if self._flags.get(tab) is flag:
                    del self._flags[tab]

    def stop(self, tab: str) -> bool:
        """Ask the tab's running generation to stop; False if none is running."""
        with self._lock:
            flag = self._flags.get(tab)
        if flag is None:
            return False
        flag.set()
        return True
