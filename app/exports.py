"""The export folder: the only place the app writes files a person downloads.

Names are made here and the folder is kept to a fixed number of the app's own exports, oldest
deleted first; files the app did not make are never touched. A name is the export's kind and 128
random bits, nothing else: the file is handed only to the browser that asked for it (the handler
checks its owner first), and nobody can find it by guessing, as they could a name made of a
session id prefix, a frame number and a time.
"""

from __future__ import annotations

import re
import secrets
import threading
from pathlib import Path

EXPORT_KINDS = {"gif": ".gif", "png": ".png", "json": ".json"}
# studio-<kind>-<32 hex: 128 random bits>.<ext>; the second form is the older names (session
# prefix, branch, frame, time, counter), still pruned from folders that have them.
EXPORT_NAME = re.compile(r"^studio-(gif|png|json)-([0-9a-f]{32}|[0-9a-f]{1,32}-\d+-\d+-\d+-\d+)\.(gif|png|json)$")


class ExportFolder:
    def __init__(self, directory: str | Path, max_files: int):
        self.directory = Path(directory)
        self.max_files = max_files
        self._lock = threading.Lock()

    def new_path(self, kind: str) -> Path:
        """A fresh, unguessable path for an export (a collision of 128 random bits is not a concern)."""
        if kind not in EXPORT_KINDS:
            raise ValueError(f"export kind must be one of {sorted(EXPORT_KINDS)}, got {kind!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f"studio-{kind}-{secrets.token_hex(16)}{EXPORT_KINDS[kind]}"

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
