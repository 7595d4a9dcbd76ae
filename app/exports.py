"""The export folder: the only place the app writes files a person downloads.

Names are made here (kind, session, frame, time) and the folder is kept to a fixed number of the
app's own exports, oldest deleted first; files the app did not make are never touched.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

EXPORT_KINDS = {"gif": ".gif", "png": ".png", "json": ".json"}
# studio-<kind>-<session 8>-<branch>-<frame>-<unix ms>-<counter>.<ext>
EXPORT_NAME = re.compile(r"^studio-(gif|png|json)-[0-9a-f]{1,32}-\d+-\d+-\d+-\d+\.(gif|png|json)$")


class ExportFolder:
    def __init__(self, directory: str | Path, max_files: int):
        self.directory = Path(directory)
        self.max_files = max_files
        self._lock = threading.Lock()
        self._counter = 0

    def new_path(self, kind: str, session_id: str, branch_id: int, frame_index: int) -> Path:
        """A fresh path for an export (never an existing file: two exports in the same millisecond
        differ by the counter)."""
        if kind not in EXPORT_KINDS:
            raise ValueError(f"export kind must be one of {sorted(EXPORT_KINDS)}, got {kind!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._counter += 1
            counter = self._counter
        stamp = int(time.time() * 1000)
        return self.directory / (f"studio-{kind}-{session_id[:8]}-{branch_id}-{frame_index}-{stamp}-{counter}"
                                 f"{EXPORT_KINDS[kind]}")

    def exports(self) -> list[Path]:
        """The app's exports in the folder, oldest first."""
        if not self.directory.is_dir():
            return []
        files = [p for p in self.directory.iterdir() if p.is_file() and EXPORT_NAME.match(p.name)]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def prune(self, keep: Path | None = None) -> list[Path]:
        """Delete the oldest exports beyond the cap (never `keep`, the file just written)."""
        with self._lock:
            files = [p for p in self.exports() if p != keep]
            excess = len(files) + (keep is not None) - self.max_files
            removed = files[: max(excess, 0)]
            for path in removed:
                path.unlink(missing_ok=True)  # another process may have removed it already
            return removed
