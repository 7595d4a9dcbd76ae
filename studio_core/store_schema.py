"""The session database's tables (schema 2), the compact form of a frame, and the move from
schema 1.

Schema 2 keeps what is per session once per session (settings, plan, mask id), a frame as a few
kilobytes of packed arrays rather than JSON lists, and a frame's prompt only where it changes
along a branch's history (a branch's first own frame always carries it). The tables have their
own names (`studio_*`), so a PostgreSQL database can hold them beside other tables, and a SQLite
file of schema 1 (tables `sessions`, `branches`, `frames`, PRAGMA user_version 1) is moved over
in one transaction the first time this version opens it.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
from sqlalchemy import (JSON, BigInteger, Connection, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .state import TokenFrame

SCHEMA_VERSION = 2
LEGACY_VERSION = 1  # sessions/branches/frames with JSON frames; read once, to move it over


class Base(DeclarativeBase):
    pass


class SchemaRow(Base):
    """One row: the schema version (PostgreSQL has no PRAGMA user_version; SQLite files carry both)."""
    __tablename__ = "studio_schema"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class SessionRow(Base):
    __tablename__ = "studio_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_hash: Mapped[str] = mapped_column(String(64), index=True)
    prompt: Mapped[str] = mapped_column(Text)  # the first prompt: the session's title
    created: Mapped[float] = mapped_column(Float)  # unix seconds
    updated: Mapped[float] = mapped_column(Float, index=True)
    current_branch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Every branch of a session samples with the same settings and plan (a rewind keeps them).
    settings: Mapped[dict] = mapped_column(JSON)
    plan: Mapped[list] = mapped_column(JSON)
    mask_id: Mapped[int] = mapped_column(Integer)
    # The name of the model that made it; NULL for sessions saved before models had names.
    model: Mapped[str | None] = mapped_column(String, nullable=True)
    # What the session's frames take in the database, for the owner's quota.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class BranchRow(Base):
    __tablename__ = "studio_branches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("studio_sessions.id"), index=True)
    # No ON DELETE CASCADE: a chain of branches would cascade one trigger level per branch (SQLite
    # stops at 1000). The store deletes a session's frames and branches itself, flat.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("studio_branches.id"), nullable=True)
    fork_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last parent frame shared
    depth: Mapped[int] = mapped_column(Integer, default=0)  # 0 for the first branch, parent's + 1
    created: Mapped[float] = mapped_column(Float)


class FrameRow(Base):
    __tablename__ = "studio_frames"
    branch_id: Mapped[int] = mapped_column(ForeignKey("studio_branches.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)  # index in the branch's whole history
    data: Mapped[bytes] = mapped_column(LargeBinary)  # encode_frame
    stage: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(BigInteger)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: the previous frame's
    created: Mapped[float] = mapped_column(Float)


# ---------------------------------------------------------------------------------------------
# A frame's arrays as bytes: "F1", height and width (uint16), then zlib of ids (int32),
# placed_stage (int32), confidence (float32) and the four masks bit-packed. Lossless: the arrays
# come back with the dtypes TokenFrame.from_dict gives.

_MAGIC = b"F1"
_HEADER = struct.Struct("<2sHH")


def encode_frame(frame: TokenFrame) -> bytes:
    h, w = frame.ids.shape
    masks = np.stack([frame.known, frame.locked, frame.new, frame.revised]).astype(bool)
    body = b"".join((frame.ids.astype("<i4").tobytes(), frame.placed_stage.astype("<i4").tobytes(),
                     frame.confidence.astype("<f4").tobytes(), np.packbits(masks).tobytes()))
    return _HEADER.pack(_MAGIC, h, w) + zlib.compress(body, 6)


def decode_frame(data: bytes, stage: int, event: str, seed: int, prompt: str) -> TokenFrame:
    magic, h, w = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError(f"a stored frame has an unknown format {magic!r}")
    body = zlib.decompress(data[_HEADER.size:])
    n = h * w
    ids = np.frombuffer(body, "<i4", n, 0).astype(np.int64).reshape(h, w)
    placed = np.frombuffer(body, "<i4", n, 4 * n).astype(np.int64).reshape(h, w)
    confidence = np.frombuffer(body, "<f4", n, 8 * n).astype(np.float32).reshape(h, w)
    masks = np.unpackbits(np.frombuffer(body, np.uint8, offset=12 * n), count=4 * n).astype(bool).reshape(4, h, w)
    return TokenFrame(ids=ids, known=masks[0], locked=masks[1], new=masks[2], revised=masks[3],
                      placed_stage=placed, confidence=confidence, stage=stage, event=event, prompt=prompt,
                      seed=seed)


def frame_row(branch_id: int, idx: int, frame: TokenFrame, previous_prompt: str | None, now: float) -> FrameRow:
    """The row for `frame`; its prompt is kept only where it differs from `previous_prompt` (None
    for a branch's first own frame, which always keeps it)."""
    return FrameRow(branch_id=branch_id, idx=idx, data=encode_frame(frame), stage=int(frame.stage),
                    event=frame.event, seed=int(frame.seed),
                    prompt=None if frame.prompt == previous_prompt else frame.prompt, created=now)


def row_bytes(row: FrameRow) -> int:
    """What a frame row costs the owner's quota: its data, its prompt, and a fixed overhead."""
    return len(row.data) + (len(row.prompt.encode("utf-8")) if row.prompt is not None else 0) + 64


# ---------------------------------------------------------------------------------------------
# Schema 1 -> 2 (SQLite files made before; PostgreSQL never had schema 1)


def migrate_legacy(conn: Connection) -> None:
    """Move every session of a schema-1 file into the schema-2 tables, keeping ids, then drop the
    old tables. Runs inside the caller's write transaction: all of it happens or none."""
    Base.metadata.create_all(conn)
    # The model column was added to some schema-1 files by the version that named models.
    has_model = "model" in {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(sessions)")}
    sessions = conn.execute(text("SELECT id, owner_hash, prompt, created, updated, current_branch_id, "
                                 f"{'model' if has_model else 'NULL'} AS model FROM sessions")).all()
    first_branch = {}
    for b in conn.execute(text("SELECT id, session_id, settings, plan, mask_id FROM branches ORDER BY id")):
        first_branch.setdefault(b.session_id, b)
    depth: dict[int, int] = {}
    stored: dict[str, int] = {}
    for s in sessions:
        b = first_branch.get(s.id)
        if b is None:
            continue  # a session without branches cannot be opened; nothing to keep
        conn.execute(SessionRow.__table__.insert().values(
            id=s.id, owner_hash=s.owner_hash, prompt=s.prompt, created=s.created, updated=s.updated,
            current_branch_id=s.current_branch_id, settings=_json(b.settings), plan=_json(b.plan),
            mask_id=b.mask_id, model=s.model, stored_bytes=0))
    kept = {s.id for s in sessions if s.id in first_branch}
    for b in conn.execute(text("SELECT id, session_id, parent_id, fork_index, created FROM branches ORDER BY id")):
        if b.session_id not in kept:
            continue
        depth[b.id] = 0 if b.parent_id is None else depth.get(b.parent_id, 0) + 1
        conn.execute(BranchRow.__table__.insert().values(
            id=b.id, session_id=b.session_id, parent_id=b.parent_id, fork_index=b.fork_index,
            depth=depth[b.id], created=b.created))
    session_of = {bid: sid for bid, sid in conn.execute(text("SELECT id, session_id FROM branches"))}
    previous: tuple[int, str] | None = None
    for f in conn.execute(text("SELECT branch_id, idx, data, created FROM frames ORDER BY branch_id, idx")):
        if f.branch_id not in depth:
            continue
        frame = TokenFrame.from_dict(_json(f.data))
        prior = previous[1] if previous is not None and previous[0] == f.branch_id else None
        row = frame_row(f.branch_id, f.idx, frame, prior, f.created)
        conn.execute(FrameRow.__table__.insert().values(
            branch_id=row.branch_id, idx=row.idx, data=row.data, stage=row.stage, event=row.event, seed=row.seed,
            prompt=row.prompt, created=row.created))
        sid = session_of[f.branch_id]
        stored[sid] = stored.get(sid, 0) + row_bytes(row)
        previous = (f.branch_id, frame.prompt)
    for sid, size in stored.items():
        conn.execute(SessionRow.__table__.update().where(SessionRow.id == sid).values(stored_bytes=size))
    # Flat deletes before the drops: a drop deletes row by row, and the old tables cascade.
    conn.execute(text("UPDATE branches SET parent_id = NULL"))
    for table in ("frames", "branches", "sessions"):
        conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text(f"DROP TABLE {table}"))


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value
