"""The session store: every generation and edit, written to SQLite as it happens.

A session belongs to the browser that made it: the browser keeps a random token and the store
keeps only a hash of it, so a database file never holds anything that would let someone act as
that browser. A session is a tree of branches: the first branch starts with the blank frame; a
rewind-and-continue makes a new branch that shares its parent's frames up to the fork and stores
only its own after that, so earlier branches stay exactly as they were. Frames are rows, appended
one by one (append-only: a frame is never rewritten), each a `TokenFrame.to_dict()`.

Failure is explicit and never destructive: a file that is not a SQLite database, a read-only file,
a database locked by another program each raise a `StoreError` subclass with a message a person
can act on, and the store never recreates, truncates or overwrites a file it cannot read.

Concurrency: SQLite in WAL mode (readers never wait for the writer), one writer at a time. Every
write transaction starts with BEGIN IMMEDIATE: it takes the write lock before it reads, so two
writers queue on the busy timeout instead of one failing with a stale snapshot, which a deferred
BEGIN that reads first and then writes would do under WAL.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from sqlalchemy import JSON, Engine, Float, ForeignKey, Integer, String, create_engine, event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .errors import StudioError
from .state import GenerationState, SamplerSettings, TokenFrame

SCHEMA_VERSION = 1  # PRAGMA user_version of a database this module made
EXPORT_FORMAT = "progressive-studio-session"
EXPORT_VERSION = 1
MIN_TOKEN_LENGTH = 16  # a browser token is random; shorter ones are guessable
MAX_TOKEN_LENGTH = 256


# ---------------------------------------------------------------------------------------------
# Errors


class StoreError(StudioError, RuntimeError):
    """Something about the session database a person has to know about."""


class OwnerError(StoreError):
    """The browser token is missing or malformed."""


class SessionNotFound(StoreError):
    """No such session for this browser. One message for "does not exist" and "belongs to another
    browser": the store never tells a browser that someone else's session exists."""

    def __init__(self, session_id: object):
        super().__init__(f"session {session_id!r} not found (it does not exist, was deleted, "
                         f"or was made in another browser)")


class BranchNotFound(StoreError):
    pass


class BranchConflict(StoreError):
    """The branch changed since the caller last read it (another tab wrote to it)."""


class DatabaseDamaged(StoreError):
    pass


class DatabaseReadOnly(StoreError):
    pass


class DatabaseLocked(StoreError):
    pass


class InvalidSessionData(StoreError):
    """An imported session file that is not a Progressive Studio session."""


# ---------------------------------------------------------------------------------------------
# Schema


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_hash: Mapped[str] = mapped_column(String(64), index=True)
    prompt: Mapped[str] = mapped_column(String)  # the first prompt: the session's title
    created: Mapped[float] = mapped_column(Float)  # unix seconds
    updated: Mapped[float] = mapped_column(Float, index=True)
    current_branch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The name of the model that made it; NULL in databases written before models had names.
    model: Mapped[str | None] = mapped_column(String, nullable=True)


class BranchRow(Base):
    __tablename__ = "branches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"), nullable=True)
    fork_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last parent frame shared
    settings: Mapped[dict] = mapped_column(JSON)
    plan: Mapped[list] = mapped_column(JSON)
    mask_id: Mapped[int] = mapped_column(Integer)
    created: Mapped[float] = mapped_column(Float)


class FrameRow(Base):
    __tablename__ = "frames"
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)  # index in the branch's whole history
    data: Mapped[dict] = mapped_column(JSON)
    created: Mapped[float] = mapped_column(Float)


# ---------------------------------------------------------------------------------------------
# What the store hands out


@dataclass(frozen=True)
class BranchRef:
    session_id: str
    branch_id: int


@dataclass(frozen=True)
class BranchInfo:
    id: int
    number: int  # 1, 2, ... in order of creation within the session
    parent_id: int | None
    fork_index: int | None
    length: int  # frames, the shared prefix included
    created: float


@dataclass(frozen=True)
class SessionSummary:
    id: str
    prompt: str
    created: float
    updated: float
    branches: int
    last_frame: TokenFrame  # of the current branch: enough to draw a thumbnail


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    branch_id: int
    branches: tuple[BranchInfo, ...]
    state: GenerationState


@dataclass(frozen=True)
class ExportedBranch:
    parent: int | None  # index into the export's branches, always an earlier one
    fork_index: int | None
    state: GenerationState  # the branch's whole history, the shared prefix included


@dataclass(frozen=True)
class SessionExport:
    """A session as a file: every branch, which one is current. Parsed and checked here, so an
    import either stores a whole valid session or nothing."""
    prompt: str
    current: int
    branches: tuple[ExportedBranch, ...]

    def to_dict(self) -> dict:
        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "prompt": self.prompt,
                "current_branch": self.current,
                "branches": [{"parent": b.parent, "fork_index": b.fork_index,
                              "state": b.state.to_dict()} for b in self.branches]}

    @staticmethod
    def from_dict(payload: object) -> "SessionExport":
        try:
            return _parse_export(payload)
        except InvalidSessionData:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise InvalidSessionData(f"not a Progressive Studio session file: {type(err).__name__}: {err}") from err


def _parse_export(payload: object) -> SessionExport:
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise InvalidSessionData(f"not a Progressive Studio session file (no \"format\": \"{EXPORT_FORMAT}\")")
    if payload.get("version") != EXPORT_VERSION:
        raise InvalidSessionData(f"session file version {payload.get('version')!r} is not supported "
                                 f"(this app reads version {EXPORT_VERSION})")
    raw = payload["branches"]
    if not isinstance(raw, list) or not raw:
        raise InvalidSessionData("the session file has no branches")
    branches: list[ExportedBranch] = []
    for i, item in enumerate(raw):
        state = GenerationState.from_dict(item["state"])
        if not state.frames:
            raise InvalidSessionData(f"branch {i} has no frames")
        parent, fork = item.get("parent"), item.get("fork_index")
        if parent is not None:
            if not isinstance(parent, int) or not 0 <= parent < i:
                raise InvalidSessionData(f"branch {i}: parent must name an earlier branch, got {parent!r}")
            if not isinstance(fork, int) or not 0 <= fork < min(len(branches[parent].state.frames),
                                                                len(state.frames)):
                raise InvalidSessionData(f"branch {i}: fork_index {fork!r} is outside its parent's frames")
            shared = zip(branches[parent].state.frames[: fork + 1], state.frames[: fork + 1])
            if any(a.to_dict() != b.to_dict() for a, b in shared):
                raise InvalidSessionData(f"branch {i} does not share its first {fork + 1} frames with its parent")
        branches.append(ExportedBranch(parent, fork if parent is not None else None, state))
    current = payload.get("current_branch", 0)
    if not isinstance(current, int) or not 0 <= current < len(branches):
        raise InvalidSessionData(f"current_branch {current!r} is not one of the {len(branches)} branches")
    return SessionExport(prompt=str(payload.get("prompt") or branches[0].state.frames[0].prompt),
                         current=current, branches=tuple(branches))


def add_missing_model_column(conn) -> None:
    """Databases written before sessions named their model lack the column: add it (NULL for the
    old sessions, which are then checked by their grid alone). Older code ignores the column."""
    columns = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(sessions)")}
    if "model" not in columns:
        conn.exec_driver_sql("ALTER TABLE sessions ADD COLUMN model VARCHAR")


def owner_hash(token: object) -> str:
    """The stored form of a browser token. A token is a secret random string; it is never stored."""
    if not isinstance(token, str) or not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
        raise OwnerError("this browser has no valid session token yet (reload the page); API clients pass "
                         f"a random string of {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters as `owner`")
    return hashlib.sha256(b"progressive-studio\x00" + token.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# The store


class SessionStore:
    """Sessions in one SQLite file. Thread-safe: one instance serves every request of an app."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000):
        self.path = Path(path)
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._engine = self._make_engine()
        # Writes take the write lock up front (see the module docstring).
        self._writer = self._engine.execution_options(sqlite_begin="IMMEDIATE")
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _make_engine(self) -> Engine:
        engine = create_engine(f"sqlite:///{self.path}",
                               connect_args={"check_same_thread": False,
                                             "timeout": self.busy_timeout_ms / 1000})

        @event.listens_for(engine, "connect")
        def set_pragmas(dbapi_connection, _record):
            # The driver's own transaction handling is switched off so that `begin` below decides
            # how a transaction starts; the pragmas run outside any transaction, as WAL requires.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            # WAL is written into the file's header: switch only a database that is ours or new,
            # never one another program made (the schema check then refuses it, untouched).
            version = cursor.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION or (
                    version == 0 and cursor.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def begin(connection):
            mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def close(self) -> None:
        self._engine.dispose()

    # -- errors ----------------------------------------------------------------------------------
    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Database failures as StoreErrors that say what happened to what, and what to do."""
        try:
            yield
        except StoreError:
            raise
        except (DBAPIError, sqlite3.Error) as err:
            raise self._explain(err, action) from err

    def _explain(self, err: Exception, action: str) -> StoreError:
        message = str(getattr(err, "orig", err) or err).lower()
        where = f"the session database {self.path}"
        if "not a database" in message or "malformed" in message or "file is encrypted" in message:
            return DatabaseDamaged(
                f"{where} is damaged or is not a SQLite database, so {action} failed. The file was left "
                f"exactly as it is: move it aside (or start the app with another --db) to keep working.")
        if "readonly" in message or "read-only" in message:
            return DatabaseReadOnly(
                f"{where} is read-only (the file or its folder cannot be written), so {action} failed; "
                f"nothing in it was changed. Make it writable, or start the app with another --db.")
        if "locked" in message or "busy" in message:
            return DatabaseLocked(
                f"{where} is locked by another program (waited {self.busy_timeout_ms / 1000:g} s), so "
                f"{action} failed; nothing was lost. Try again in a moment.")
        if "unable to open" in message:
            return StoreError(f"{where} cannot be opened (does its folder exist and can it be written?), "
                              f"so {action} failed.")
        return StoreError(f"{where}: {action} failed: {getattr(err, 'orig', err)}")

    # -- schema ----------------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        """Create the tables on first use (not in __init__: an app must start, and say what is
        wrong, even when its database file is damaged). Refuses a database made by someone else."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"the folder of the session database {self.path} cannot be made: {err}") from err
            with self._translated("opening it"), self._writer.begin() as conn:
                version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
                tables = set(conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'").scalars())
                if version > SCHEMA_VERSION:
                    raise StoreError(f"the session database {self.path} was made by a newer version of "
                                     f"Progressive Studio (schema {version}, this one reads {SCHEMA_VERSION})")
                if version == 0 and tables:
                    raise StoreError(f"{self.path} is a SQLite database of another program (tables: "
                                     f"{', '.join(sorted(tables))}); it was left untouched. Use another --db.")
                if version == 0:
                    Base.metadata.create_all(conn)
                    conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
                add_missing_model_column(conn)
            self._schema_ready = True

    @contextmanager
    def _read(self, action: str) -> Iterator[Session]:
        self._ensure_schema()
        with self._translated(action), Session(self._engine) as session:
            yield session

    @contextmanager
    def _write(self, action: str) -> Iterator[Session]:
        self._ensure_schema()
        with self._translated(action), Session(self._writer) as session, session.begin():
            yield session

    # -- lookups inside a transaction ------------------------------------------------------------
    @staticmethod
    def _owned_session(db: Session, session_id: object, owner: str) -> SessionRow:
        key = owner_hash(owner)
        row = db.get(SessionRow, session_id) if isinstance(session_id, str) else None
        if row is None or row.owner_hash != key:
            raise SessionNotFound(session_id)
        return row

    @staticmethod
    def _branch(db: Session, session: SessionRow, branch_id: object) -> BranchRow:
        row = db.get(BranchRow, branch_id) if isinstance(branch_id, int) and not isinstance(branch_id, bool) else None
        if row is None or row.session_id != session.id:
            raise BranchNotFound(f"branch {branch_id!r} is not part of session {session.id!r}")
        return row

    @staticmethod
    def _own_frames(db: Session, branch_id: int, upto: int | None = None) -> list[dict]:
        query = select(FrameRow.data).where(FrameRow.branch_id == branch_id)
        if upto is not None:
            query = query.where(FrameRow.idx <= upto)
        return list(db.scalars(query.order_by(FrameRow.idx)))

    def _frames(self, db: Session, branch: BranchRow, upto: int | None = None) -> list[dict]:
        """A branch's whole history: its parent's frames up to the fork, then its own."""
        if branch.parent_id is None:
            return self._own_frames(db, branch.id, upto)
        parent = db.get(BranchRow, branch.parent_id)
        limit = branch.fork_index if upto is None else min(branch.fork_index, upto)
        prefix = self._frames(db, parent, limit)
        if upto is not None and upto <= branch.fork_index:
            return prefix  # its own frames come after the fork
        return prefix + self._own_frames(db, branch.id, upto)

    @staticmethod
    def _length(db: Session, branch: BranchRow) -> int:
        own = db.scalar(select(func.count()).select_from(FrameRow).where(FrameRow.branch_id == branch.id))
        return own + (0 if branch.parent_id is None else branch.fork_index + 1)

    def _last_frame(self, db: Session, branch: BranchRow) -> dict:
        own = db.scalar(select(FrameRow.data).where(FrameRow.branch_id == branch.id)
                        .order_by(FrameRow.idx.desc()).limit(1))
        if own is not None or branch.parent_id is None:
            return own
        return self._frames(db, db.get(BranchRow, branch.parent_id), branch.fork_index)[-1]

    def _state(self, db: Session, branch: BranchRow) -> GenerationState:
        return GenerationState(settings=SamplerSettings(**branch.settings), plan=tuple(branch.plan),
                               mask_id=branch.mask_id, model=db.get(SessionRow, branch.session_id).model or "",
                               frames=tuple(TokenFrame.from_dict(d) for d in self._frames(db, branch)))

    def _branch_infos(self, db: Session, session_id: str) -> tuple[BranchInfo, ...]:
        rows = db.scalars(select(BranchRow).where(BranchRow.session_id == session_id).order_by(BranchRow.id))
        return tuple(BranchInfo(id=b.id, number=n, parent_id=b.parent_id, fork_index=b.fork_index,
                                length=self._length(db, b), created=b.created) for n, b in enumerate(rows, 1))

    @staticmethod
    def _add_frames(db: Session, branch_id: int, first_index: int, frames: Sequence[TokenFrame], now: float) -> None:
        db.add_all(FrameRow(branch_id=branch_id, idx=first_index + i, data=f.to_dict(), created=now)
                   for i, f in enumerate(frames))

    @staticmethod
    def _add_branch(db: Session, session_id: str, settings: dict, plan: list, mask_id: int, now: float,
                    parent_id: int | None = None, fork_index: int | None = None) -> BranchRow:
        branch = BranchRow(session_id=session_id, parent_id=parent_id, fork_index=fork_index,
                           settings=settings, plan=plan, mask_id=mask_id, created=now)
        db.add(branch)
        db.flush()  # assigns the id
        return branch

    # -- the API ---------------------------------------------------------------------------------
    def create_session(self, owner: str, state: GenerationState) -> BranchRef:
        """A new session whose first branch holds `state`'s frames (at least the blank start)."""
        key = owner_hash(owner)
        if not state.frames:
            raise ValueError("a session starts with at least one frame (the blank start)")
        now = time.time()
        with self._write("saving the new session") as db:
            session = SessionRow(id=uuid.uuid4().hex, owner_hash=key, prompt=state.frames[0].prompt,
                                 created=now, updated=now, model=state.model or None)
            db.add(session)
            db.flush()  # the session row exists before the branch that references it
            branch = self._add_branch(db, session.id, state.settings.to_dict(), list(state.plan), state.mask_id, now)
            self._add_frames(db, branch.id, 0, state.frames, now)
            session.current_branch_id = branch.id
            return BranchRef(session.id, branch.id)

    def append_frames(self, session_id: str, branch_id: int, owner: str, frames: Sequence[TokenFrame],
                      at: int) -> int:
        """Append frames to a branch; `at` is the index the first of them takes, i.e. the length of
        the branch the caller has seen. Returns the branch's new length."""
        with self._write("saving the frame") as db:
            session = self._owned_session(db, session_id, owner)
            branch = self._branch(db, session, branch_id)
            length = self._length(db, branch)
            if at != length:
                raise BranchConflict(f"branch {branch_id} of session {session_id} has {length} frames, "
                                     f"not {at}: it was changed elsewhere (another tab?); open the session again")
            now = time.time()
            try:
                self._add_frames(db, branch.id, at, frames, now)
                session.updated = now
                db.flush()
            except IntegrityError as err:  # a concurrent append won the race for these indices
                raise BranchConflict(f"branch {branch_id} was changed elsewhere; open the session again") from err
            return length + len(frames)

    def new_branch(self, session_id: str, owner: str, parent_branch_id: int, fork_index: int,
                   frames: Sequence[TokenFrame] = ()) -> int:
        """A branch that shares `parent`'s frames 0..fork_index, then has `frames` of its own. It
        becomes the session's current branch; the parent stays as it is."""
        with self._write("saving the new branch") as db:
            session = self._owned_session(db, session_id, owner)
            parent = self._branch(db, session, parent_branch_id)
            length = self._length(db, parent)
            if isinstance(fork_index, bool) or not isinstance(fork_index, int) or not 0 <= fork_index < length:
                raise ValueError(f"fork_index must be between 0 and {length - 1}, got {fork_index!r}")
            now = time.time()
            # A rewind keeps the settings and plan: the branch takes its parent's.
            branch = self._add_branch(db, session.id, dict(parent.settings), list(parent.plan), parent.mask_id, now,
                                      parent.id, fork_index)
            self._add_frames(db, branch.id, fork_index + 1, frames, now)
            session.current_branch_id = branch.id
            session.updated = now
            return branch.id

    def set_current_branch(self, session_id: str, branch_id: int, owner: str) -> None:
        with self._write("switching branches") as db:
            session = self._owned_session(db, session_id, owner)
            session.current_branch_id = self._branch(db, session, branch_id).id

    def branch_length(self, session_id: str, branch_id: int, owner: str) -> int:
        with self._read("reading the session") as db:
            session = self._owned_session(db, session_id, owner)
            return self._length(db, self._branch(db, session, branch_id))

    def list_branches(self, session_id: str, owner: str) -> tuple[BranchInfo, ...]:
        with self._read("reading the session") as db:
            return self._branch_infos(db, self._owned_session(db, session_id, owner).id)

    def list_sessions(self, owner: str, limit: int = 50) -> list[SessionSummary]:
        """This browser's sessions, most recently changed first."""
        key = owner_hash(owner)
        with self._read("listing the sessions") as db:
            rows = db.scalars(select(SessionRow).where(SessionRow.owner_hash == key)
                              .order_by(SessionRow.updated.desc()).limit(limit)).all()
            summaries = []
            for row in rows:
                branch = db.get(BranchRow, row.current_branch_id)
                count = db.scalar(select(func.count()).select_from(BranchRow).where(BranchRow.session_id == row.id))
                summaries.append(SessionSummary(id=row.id, prompt=row.prompt, created=row.created,
                                                updated=row.updated, branches=count,
                                                last_frame=TokenFrame.from_dict(self._last_frame(db, branch))))
            return summaries

    def load(self, session_id: str, owner: str, branch_id: int | None = None) -> OpenedSession:
        """The session's branches and the full state of one (the current one by default)."""
        with self._read("opening the session") as db:
            session = self._owned_session(db, session_id, owner)
            branch = self._branch(db, session, session.current_branch_id if branch_id is None else branch_id)
            return OpenedSession(session.id, branch.id, self._branch_infos(db, session.id), self._state(db, branch))

    def delete(self, session_id: str, owner: str) -> None:
        with self._write("deleting the session") as db:
            db.delete(self._owned_session(db, session_id, owner))  # branches and frames cascade

    # -- files -----------------------------------------------------------------------------------
    def export_session(self, session_id: str, owner: str) -> SessionExport:
        with self._read("exporting the session") as db:
            session = self._owned_session(db, session_id, owner)
            rows = db.scalars(select(BranchRow).where(BranchRow.session_id == session.id).order_by(BranchRow.id)).all()
            position = {b.id: i for i, b in enumerate(rows)}
            branches = tuple(ExportedBranch(parent=position.get(b.parent_id), fork_index=b.fork_index,
                                            state=self._state(db, b)) for b in rows)
            return SessionExport(prompt=session.prompt, current=position[session.current_branch_id],
                                 branches=branches)

    def import_session(self, owner: str, export: SessionExport) -> BranchRef:
        """Store an exported session as a new session of this browser (a new id: importing twice
        gives two sessions, never a merge)."""
        key = owner_hash(owner)
        now = time.time()
        with self._write("importing the session") as db:
            session = SessionRow(id=uuid.uuid4().hex, owner_hash=key, prompt=export.prompt,
                                 created=now, updated=now, model=export.branches[0].state.model or None)
            db.add(session)
            db.flush()
            ids: list[int] = []
            for b in export.branches:
                parent_id = None if b.parent is None else ids[b.parent]
                row = self._add_branch(db, session.id, b.state.settings.to_dict(), list(b.state.plan),
                                       b.state.mask_id, now, parent_id, b.fork_index)
                first = 0 if b.fork_index is None else b.fork_index + 1
                self._add_frames(db, row.id, first, b.state.frames[first:], now)
                ids.append(row.id)
            session.current_branch_id = ids[export.current]
            return BranchRef(session.id, ids[export.current])


def read_session_file(data: bytes) -> SessionExport:
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidSessionData(f"not a Progressive Studio session file: not JSON ({err})") from err
    return SessionExport.from_dict(payload)


def write_session_file(export: SessionExport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export.to_dict(), separators=(",", ":")), encoding="utf-8")
    return path


__all__ = [
    "SessionStore", "StoreError", "OwnerError", "SessionNotFound", "BranchNotFound", "BranchConflict",
    "DatabaseDamaged", "DatabaseReadOnly", "DatabaseLocked", "InvalidSessionData", "BranchRef", "BranchInfo",
    "SessionSummary", "OpenedSession", "SessionExport", "ExportedBranch", "owner_hash", "read_session_file",
    "write_session_file",
]
