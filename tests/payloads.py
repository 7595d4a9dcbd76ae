"""Hostile inputs, made cheaply: what tests/test_hardening.py and benchmarks/load.py send."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_of_size(path: Path, width: int, height: int, rows: int | None = None) -> Path:
    """A transparent RGBA PNG declaring width x height, written row by row (never held whole in
    memory): zeros compress about 1000:1, so 10000x10000 is a few hundred kB on the wire.
    `rows` < height writes only that many rows (enough for a file that is only opened)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer, row = zlib.compressobj(9), b"\0" * (1 + 4 * width)
    body = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def branch_chain(payload: dict, length: int) -> dict:
    """A session file whose `length` branches each fork from frame 0 of the one before: a chain as
    deep as it is long (each branch holds two frames, so the file stays small)."""
    first = payload["branches"][0]["state"]
    two = {**first, "frames": first["frames"][:2]}
    branches = [{"parent": None, "fork_index": None, "state": two}]
    branches += [{"parent": i, "fork_index": 0, "state": two} for i in range(length - 1)]
    return {**payload, "branches": branches, "current_branch": length - 1}
