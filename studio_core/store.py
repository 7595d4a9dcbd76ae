"""The session store: every generation and edit, written to the database as it happens.

A database is named by a SQLAlchemy URL: a bare path means a SQLite file (the default: one
machine, nothing to run), `postgresql+psycopg://user:password@host/db` a PostgreSQL server that
several app replicas share, so a session made on one lists, opens and continues on another.
The tables are in `store_schema.py`, the session file and its checks in `session_file.py`, the
limits and errors in `store_rules.py`; this module is the store.

A session belongs to the browser that made it: the browser keeps a random token and the store
keeps only a hash of it, so a database never holds anything that would let someone act as that
browser. A session is a tree of branches: the first branch starts with the blank frame; a
rewind-and-continue makes a new branch that shares its parent's frames up to the fork and stores
only its own after that, so earlier branches stay exactly as they were. Frames are rows, appended
one by one and never rewritten. Every walk up the tree is a loop bounded by the branch-depth limit,
and a session is deleted flat (its frames, then its branches, then it), so a session of any shape
that exists can be listed, opened and deleted.

Failure is explicit and never destructive: a file that is not a SQLite database, a read-only file,
a database locked by another program, a server that cannot be reached each raise a `StoreError`
subclass with a message a person can act on (naming the database by its file name, never a full
path), and the store never recreates, truncates or overwrites a file it cannot read.

Concurrency. SQLite: WAL mode (readers never wait for the writer), one writer at a time; every
write transaction starts with BEGIN IMMEDIATE, so it takes the write lock before it reads and two
writers queue on the busy timeout instead of one failing with a stale snapshot. PostgreSQL: a
write locks its session's row first (SELECT ... FOR UPDATE), so two replicas appending to one
branch queue there and the second sees the first's frames.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from sqlalchemy import Engine, create_engine, delete, event, func, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from .session_file import (EXPORT_FORMAT, EXPORT_VERSION, ExportedBranch, ModelSpec, SessionExport,
                           check_export_fits_model, check_fits_model, read_session_file, write_session_file)
from .state import GenerationState, SamplerSettings, TokenFrame
from .store_rules import (BranchConflict, BranchNotFound, DatabaseDamaged, DatabaseLocked, DatabaseReadOnly,
                          DatabaseUnavailable, InvalidSessionData, LimitReached, OwnerError, SessionNotFound,
                          StoreError, StoreLimits, check_prompt_length, database_int, shown)
from .store_schema import (LEGACY_VERSION, SCHEMA_VERSION, Base, BranchRow, FrameRow, SchemaRow, SessionRow,
                           decode_frame, frame_row, migrate_legacy, row_bytes)

MIN_TOKEN_LENGTH = 16  # a browser token is random; shorter ones are guessable
MAX_TOKEN_LENGTH = 256
SESSION_ID_LENGTH = 32  # uuid4().hex


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
    model: str = ""  # the model that made it ("" for sessions saved before models had names)


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    branch_id: int
    branches: tuple[BranchInfo, ...]
    state: GenerationState


def owner_hash(token: object) -> str:
    """The stored form of a browser token. A token is a secret random string; it is never stored."""
    if not isinstance(token, str) or not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
        raise OwnerError("this browser has no valid session token yet (reload the page); API clients pass "
                         f"a random string of {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters as `owner`")
    return hashlib.sha256(b"progressive-studio\x00" + token.encode("utf-8")).hexdigest()


def database_url(target: str | Path | URL) -> URL:
    """A SQLAlchemy URL from what `--db` was given: a URL as it is, anything else a SQLite path."""
    if isinstance(target, URL):
        return target
    if isinstance(target, str) and "://" in target:
        try:
            return make_url(target)
        except ArgumentError as err:
            raise StoreError(f"--db {shown(target.split('@')[-1])} is not a database URL: {err}") from None
    return URL.create("sqlite", database=str(Path(target)))


# ---------------------------------------------------------------------------------------------
# The store


class SessionStore:
    """Sessions in one database. Thread-safe: one instance serves every request of an app, and
    several instances (processes, replicas) may share one database."""

    def __init__(self, target: str | Path | URL, busy_timeout_ms: int = 5000, limits: StoreLimits = StoreLimits()):
        self.url = database_url(target)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.path = Path(self.url.database) if self.is_sqlite else None
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.limits = limits
        try:
            self._engine = self._make_sqlite_engine() if self.is_sqlite else self._make_server_engine()
        except (ArgumentError, ImportError) as err:  # an unknown dialect, a driver not installed
            raise StoreError(f"{self.url.drivername}:// is not a database this app can open ({err}); use a "
                             f"SQLite path or postgresql+psycopg://user:password@host/db") from None
        # SQLite writes take the write lock up front (see the module docstring).
        self._writer = self._engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self._engine
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @property
    def name(self) -> str:
        """The database as messages name it: its file name, or its kind and name on a server (never
        a full path or a password)."""
        if self.is_sqlite:
            return f"the session database {self.path.name}"
        return f"the session database {self.url.database!r} ({self.url.get_backend_name()})"

    def _make_sqlite_engine(self) -> Engine:
        engine = create_engine(self.url, connect_args={"check_same_thread": False,
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
            if version in (LEGACY_VERSION, SCHEMA_VERSION) or (
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

    def _make_server_engine(self) -> Engine:
        # pre_ping: a replica whose pooled connection died (server restarted) reconnects instead of
        # failing the next request. The pool is small: requests are short and Gradio bounds them.
        return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                             connect_args={"connect_timeout": max(1, self.busy_timeout_ms // 1000)})

    def close(self) -> None:
        self._engine.dispose()

    def prepare(self) -> None:
        """Create (or move over) the schema now rather than at the first request: an app calls it
        at start, so the tables exist before replicas take traffic. Raises StoreError."""
        self._ensure_schema()

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
        where = self.name
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
        if "deadlock" in message or "could not serialize" in message:
            return DatabaseLocked(f"{where} was busy with another write, so {action} failed; nothing was lost. "
                                  f"Try again.")
        if not self.is_sqlite and ("connection" in message or "could not" in message or "timeout" in message
                                   or "terminating" in message or "server closed" in message):
            return DatabaseUnavailable(f"{where} cannot be reached, so {action} failed; nothing was lost. "
                                       f"Try again in a moment.")
        return StoreError(f"{where}: {action} failed ({type(getattr(err, 'orig', err)).__name__})")

    # -- schema ----------------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        """Create the tables on first use (not in __init__: an app must start, and say what is
        wrong, even when its database is damaged or its server down). Moves a schema-1 SQLite file
        over; refuses a database made by someone else."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            if self.is_sqlite:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as err:
                    raise StoreError(f"the folder of {self.name} cannot be made ({err.strerror})") from None
            with self._translated("opening it"), self._writer.begin() as conn:
                if self.is_sqlite:
                    self._sqlite_schema(conn)
                else:
                    self._server_schema(conn)
            self._schema_ready = True

    def _sqlite_schema(self, conn) -> None:
        version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
        tables = set(conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'").scalars())
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.name} was made by a newer version of Progressive Studio (schema {version}, "
                             f"this one reads {SCHEMA_VERSION})")
        if version == 0 and tables:
            raise StoreError(f"{self.name} is a SQLite database of another program (tables: "
                             f"{', '.join(sorted(tables))}); it was left untouched. Use another --db.")
        if version == LEGACY_VERSION:
            migrate_legacy(conn)
        elif version == 0:
            Base.metadata.create_all(conn)
        if version != SCHEMA_VERSION:
            conn.execute(SchemaRow.__table__.insert().values(id=1, version=SCHEMA_VERSION))
            conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _server_schema(self, conn) -> None:
        # Replicas starting together: one creates the tables, the others wait on this lock.
        conn.execute(text("SELECT pg_advisory_xact_lock(720213)"))
        Base.metadata.create_all(conn)
        version = conn.execute(select(SchemaRow.version).where(SchemaRow.id == 1)).scalar()
        if version is None:
            conn.execute(SchemaRow.__table__.insert().values(id=1, version=SCHEMA_VERSION))
        elif version > SCHEMA_VERSION:
            raise StoreError(f"{self.name} was made by a newer version of Progressive Studio (schema {version}, "
                             f"this one reads {SCHEMA_VERSION})")

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
    def _owned_session(db: Session, session_id: object, owner: str, for_update: bool = False) -> SessionRow:
        key = owner_hash(owner)
        row = None
        if isinstance(session_id, str) and len(session_id) <= SESSION_ID_LENGTH:
            row = db.get(SessionRow, session_id, with_for_update=for_update)
        if row is None or row.owner_hash != key:
            raise SessionNotFound(session_id)
        return row

    @staticmethod
    def _branch(db: Session, session: SessionRow, branch_id: object) -> BranchRow:
        number = database_int(branch_id)
        row = db.get(BranchRow, number) if number is not None else None
        if row is None or row.session_id != session.id:
            raise BranchNotFound(f"branch {shown(branch_id)} is not part of session {session.id!r}")
        return row

    def _lineage(self, db: Session, branch: BranchRow) -> list[BranchRow]:
        """The branch and its ancestors, the branch first: one query for the session's branches,
        then a loop that stops at the root (or at a cycle or a missing parent, which only a
        hand-edited database could hold)."""
        if branch.parent_id is None:
            return [branch]
        rows = {b.id: b for b in db.scalars(select(BranchRow).where(BranchRow.session_id == branch.session_id))}
        chain = [branch]
        while chain[-1].parent_id is not None:
            parent = rows.get(chain[-1].parent_id)
            if parent is None or len(chain) > len(rows):
                raise StoreError(f"branch {branch.id} has a broken chain of parents in {self.name}")
            chain.append(parent)
        return chain

    def _segments(self, db: Session, branch: BranchRow, upto: int | None = None) -> list[tuple[int, int, int | None]]:
        """Where a branch's history lies: (branch id, first index, last index or None) from the root,
        each ancestor up to the fork its child takes."""
        chain = self._lineage(db, branch)
        segments = []
        limit = upto
        for row in chain:
            first = 0 if row.parent_id is None else row.fork_index + 1
            if limit is None or limit >= first:
                segments.append((row.id, first, limit))
            if row.parent_id is not None:
                limit = row.fork_index if limit is None else min(row.fork_index, limit)
        return segments[::-1]

    def _frames(self, db: Session, session: SessionRow, branch: BranchRow, upto: int | None = None) -> list[TokenFrame]:
        """A branch's whole history: its ancestors' frames up to each fork, then its own. A frame
        without a prompt has the one before it."""
        frames: list[TokenFrame] = []
        prompt = session.prompt
        for branch_id, first, last in self._segments(db, branch, upto):
            query = select(FrameRow).where(FrameRow.branch_id == branch_id, FrameRow.idx >= first)
            if last is not None:
                query = query.where(FrameRow.idx <= last)
            for row in db.scalars(query.order_by(FrameRow.idx)):
                prompt = row.prompt if row.prompt is not None else prompt
                frames.append(decode_frame(row.data, row.stage, row.event, row.seed, prompt))
        return frames

    @staticmethod
    def _own_count(db: Session, branch_id: int) -> int:
        return db.scalar(select(func.count()).select_from(FrameRow).where(FrameRow.branch_id == branch_id))

    def _length(self, db: Session, branch: BranchRow) -> int:
        return self._own_count(db, branch.id) + (0 if branch.parent_id is None else branch.fork_index + 1)

    def _last_frame(self, db: Session, session: SessionRow, branch: BranchRow) -> TokenFrame:
        """The newest frame of a branch, read without its whole history: the newest row along its
        segments, with the newest prompt named at or before it."""
        segments = self._segments(db, branch)[::-1]  # the branch's own frames first

        def newest(columns, *conditions):
            for branch_id, first, last in segments:
                query = select(columns).where(FrameRow.branch_id == branch_id, FrameRow.idx >= first, *conditions)
                if last is not None:
                    query = query.where(FrameRow.idx <= last)
                found = db.scalars(query.order_by(FrameRow.idx.desc()).limit(1)).first()
                if found is not None:
                    return found
            return None

        row = newest(FrameRow)
        prompt = newest(FrameRow.prompt, FrameRow.prompt.is_not(None)) or session.prompt
        return decode_frame(row.data, row.stage, row.event, row.seed, prompt)

    def _state(self, db: Session, session: SessionRow, branch: BranchRow) -> GenerationState:
        return GenerationState(settings=SamplerSettings(**session.settings), plan=tuple(session.plan),
                               mask_id=session.mask_id, frames=tuple(self._frames(db, session, branch)),
                               model=session.model or "")

    def _branch_infos(self, db: Session, session_id: str) -> tuple[BranchInfo, ...]:
        rows = db.scalars(select(BranchRow).where(BranchRow.session_id == session_id).order_by(BranchRow.id)).all()
        counts = dict(db.execute(select(FrameRow.branch_id, func.count()).join(BranchRow)
                                 .where(BranchRow.session_id == session_id).group_by(FrameRow.branch_id)).all())
        return tuple(BranchInfo(id=b.id, number=n, parent_id=b.parent_id, fork_index=b.fork_index,
                                length=counts.get(b.id, 0) + (0 if b.parent_id is None else b.fork_index + 1),
                                created=b.created) for n, b in enumerate(rows, 1))

    # -- limits ----------------------------------------------------------------------------------
    def _session_frames(self, db: Session, session_id: str) -> int:
        return db.scalar(select(func.count()).select_from(FrameRow).join(BranchRow)
                         .where(BranchRow.session_id == session_id))

    def _owner_bytes(self, db: Session, key: str) -> int:
        return db.scalar(select(func.coalesce(func.sum(SessionRow.stored_bytes), 0))
                         .where(SessionRow.owner_hash == key))

    def _check_room(self, db: Session, key: str, session_id: str | None, frames: int, size: int) -> None:
        """Refuse, before writing, what would take the session or its owner past a limit."""
        limits = self.limits
        if session_id is not None:
            have = self._session_frames(db, session_id)
            if have + frames > limits.max_frames_per_session:
                raise LimitReached(f"this session has {have:,} frames and keeps at most "
                                   f"{limits.max_frames_per_session:,}: start a new session (or branch less)")
        used = self._owner_bytes(db, key)
        if used + size > limits.max_owner_bytes:
            raise LimitReached(f"this browser's sessions take {used / 2**20:.1f} MB of the "
                               f"{limits.max_owner_bytes / 2**20:.0f} MB it may keep: delete some sessions "
                               f"from the history to make room")

    def _add_frames(self, db: Session, session: SessionRow, branch_id: int, first_index: int,
                    frames: Sequence[TokenFrame], previous_prompt: str | None, now: float,
                    check_room: bool = True) -> None:
        rows = []
        for i, frame in enumerate(frames):
            check_prompt_length(frame.prompt, self.limits)
            rows.append(frame_row(branch_id, first_index + i, frame, previous_prompt, now))
            previous_prompt = frame.prompt
        size = sum(row_bytes(r) for r in rows)
        if check_room:
            self._check_room(db, session.owner_hash, session.id, len(rows), size)
        db.add_all(rows)
        session.stored_bytes = (session.stored_bytes or 0) + size

    def _add_branch(self, db: Session, session_id: str, now: float, parent: BranchRow | None = None,
                    fork_index: int | None = None, count: int | None = None) -> BranchRow:
        """A new branch row; `count` is how many the session has, when the caller knows it."""
        if count is None:
            count = db.scalar(select(func.count()).select_from(BranchRow).where(BranchRow.session_id == session_id))
        if count >= self.limits.max_branches_per_session:
            raise LimitReached(f"this session has {count} branches, the most a session keeps: start a new "
                               f"session from the history")
        depth = 0 if parent is None else parent.depth + 1
        if depth > self.limits.max_branch_depth:
            raise LimitReached(f"a branch {depth} deep is more than the {self.limits.max_branch_depth} a session "
                               f"allows: branch from an earlier branch, or start a new session")
        branch = BranchRow(session_id=session_id, parent_id=None if parent is None else parent.id,
                           fork_index=fork_index, depth=depth, created=now)
        db.add(branch)
        db.flush()  # assigns the id
        return branch

    def _new_session_row(self, db: Session, key: str, prompt: str, state: GenerationState, now: float) -> SessionRow:
        check_prompt_length(prompt, self.limits)
        session = SessionRow(id=uuid.uuid4().hex, owner_hash=key, prompt=prompt, created=now, updated=now,
                             settings=state.settings.to_dict(), plan=list(state.plan), mask_id=state.mask_id,
                             model=state.model or None, stored_bytes=len(prompt.encode("utf-8")))
        db.add(session)
        db.flush()  # the session row exists before the branch that references it
        return session

    def _last_prompt(self, db: Session, branch: BranchRow) -> str | None:
        """The prompt the branch's newest own frame carries (None: it has no frames of its own, and
        its next frame will carry its prompt itself)."""
        return db.scalar(select(FrameRow.prompt).where(FrameRow.branch_id == branch.id, FrameRow.prompt.is_not(None))
                         .order_by(FrameRow.idx.desc()).limit(1))

    # -- the API ---------------------------------------------------------------------------------
    def create_session(self, owner: str, state: GenerationState) -> BranchRef:
        """A new session whose first branch holds `state`'s frames (at least the blank start)."""
        key = owner_hash(owner)
        if not state.frames:
            raise ValueError("a session starts with at least one frame (the blank start)")
        now = time.time()
        with self._write("saving the new session") as db:
            session = self._new_session_row(db, key, state.frames[0].prompt, state, now)
            branch = self._add_branch(db, session.id, now)
            self._add_frames(db, session, branch.id, 0, state.frames, None, now)
            session.current_branch_id = branch.id
            return BranchRef(session.id, branch.id)

    def append_frames(self, session_id: str, branch_id: int, owner: str, frames: Sequence[TokenFrame],
                      at: int) -> int:
        """Append frames to a branch; `at` is the index the first of them takes, i.e. the length of
        the branch the caller has seen. Returns the branch's new length."""
        with self._write("saving the frame") as db:
            session = self._owned_session(db, session_id, owner, for_update=True)
            branch = self._branch(db, session, branch_id)
            length = self._length(db, branch)
            if at != length:
                raise BranchConflict(f"branch {branch.id} of session {session.id} has {length} frames, "
                                     f"not {shown(at)}: it was changed elsewhere (another tab?); open the session again")
            now = time.time()
            try:
                self._add_frames(db, session, branch.id, at, frames, self._last_prompt(db, branch), now)
                session.updated = now
                db.flush()
            except IntegrityError as err:  # a concurrent append won the race for these indices
                raise BranchConflict(f"branch {branch.id} was changed elsewhere; open the session again") from err
            return length + len(frames)

    def new_branch(self, session_id: str, owner: str, parent_branch_id: int, fork_index: int,
                   frames: Sequence[TokenFrame] = ()) -> int:
        """A branch that shares `parent`'s frames 0..fork_index, then has `frames` of its own. It
        becomes the session's current branch; the parent stays as it is."""
        with self._write("saving the new branch") as db:
            session = self._owned_session(db, session_id, owner, for_update=True)
            parent = self._branch(db, session, parent_branch_id)
            length = self._length(db, parent)
            if isinstance(fork_index, bool) or not isinstance(fork_index, int) or not 0 <= fork_index < length:
                raise ValueError(f"fork_index must be between 0 and {length - 1}, got {shown(fork_index)}")
            now = time.time()
            branch = self._add_branch(db, session.id, now, parent, fork_index)
            self._add_frames(db, session, branch.id, fork_index + 1, frames, None, now)
            session.current_branch_id = branch.id
            session.updated = now
            return branch.id

    def set_current_branch(self, session_id: str, branch_id: int, owner: str) -> None:
        with self._write("switching branches") as db:
            session = self._owned_session(db, session_id, owner, for_update=True)
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
            counts = dict(db.execute(select(BranchRow.session_id, func.count())
                                     .where(BranchRow.session_id.in_([r.id for r in rows]))
                                     .group_by(BranchRow.session_id)).all()) if rows else {}
            summaries = []
            for row in rows:
                branch = db.get(BranchRow, row.current_branch_id)
                summaries.append(SessionSummary(id=row.id, prompt=row.prompt, created=row.created,
                                                updated=row.updated, branches=counts.get(row.id, 0),
                                                last_frame=self._last_frame(db, row, branch),
                                                model=row.model or ""))
            return summaries

    def load(self, session_id: str, owner: str, branch_id: int | None = None) -> OpenedSession:
        """The session's branches and the full state of one (the current one by default)."""
        with self._read("opening the session") as db:
            return self._opened(db, self._owned_session(db, session_id, owner), branch_id)

    def _opened(self, db: Session, session: SessionRow, branch_id: int | None = None) -> OpenedSession:
        branch = self._branch(db, session, session.current_branch_id if branch_id is None else branch_id)
        return OpenedSession(session.id, branch.id, self._branch_infos(db, session.id),
                             self._state(db, session, branch))

    def delete(self, session_id: str, owner: str) -> None:
        """Delete a session with all its branches and frames, flat (no cascade through the tree)."""
        with self._write("deleting the session") as db:
            session = self._owned_session(db, session_id, owner, for_update=True)
            branch_ids = select(BranchRow.id).where(BranchRow.session_id == session.id).scalar_subquery()
            db.execute(delete(FrameRow).where(FrameRow.branch_id.in_(branch_ids)))
            db.execute(update(BranchRow).where(BranchRow.session_id == session.id).values(parent_id=None))
            db.execute(delete(BranchRow).where(BranchRow.session_id == session.id))
            db.execute(delete(SessionRow).where(SessionRow.id == session.id))

    def owner_usage(self, owner: str) -> int:
        """Bytes this browser's sessions take, as the quota counts them."""
        key = owner_hash(owner)
        with self._read("reading the sessions") as db:
            return self._owner_bytes(db, key)

    # -- files -----------------------------------------------------------------------------------
    def export_session(self, session_id: str, owner: str) -> SessionExport:
        with self._read("exporting the session") as db:
            session = self._owned_session(db, session_id, owner)
            rows = db.scalars(select(BranchRow).where(BranchRow.session_id == session.id).order_by(BranchRow.id)).all()
            position = {b.id: i for i, b in enumerate(rows)}
            branches = tuple(ExportedBranch(parent=position.get(b.parent_id), fork_index=b.fork_index,
                                            state=self._state(db, session, b)) for b in rows)
            return SessionExport(prompt=session.prompt, current=position[session.current_branch_id],
                                 branches=branches)

    def import_session(self, owner: str, export: SessionExport, model: ModelSpec | None = None,
                       accept: Callable[[OpenedSession], object] | None = None) -> BranchRef:
        """Store an exported session as a new session of this browser (a new id: importing twice
        gives two sessions, never a merge). All or nothing: the file is checked against `model`
        first, then written in one transaction that commits only once the session loads back and
        `accept` (the app renders it) returns; any failure leaves nothing stored."""
        key = owner_hash(owner)
        if model is not None:
            check_export_fits_model(export, model)
        now = time.time()
        with self._write("importing the session") as db:
            first = export.branches[0].state
            session = self._new_session_row(db, key, export.prompt, first, now)
            rows: list[BranchRow] = []
            for i, b in enumerate(export.branches):
                parent = None if b.parent is None else rows[b.parent]
                row = self._add_branch(db, session.id, now, parent, b.fork_index, count=i)
                first_index = 0 if b.fork_index is None else b.fork_index + 1
                self._add_frames(db, session, row.id, first_index, export.own_frames(i), None, now, check_room=False)
                rows.append(row)
            session.current_branch_id = rows[export.current].id
            db.flush()
            self._check_room(db, key, session.id, 0, 0)  # the whole file, once: within the limits as written
            opened = self._opened(db, session)
            if accept is not None:
                accept(opened)
            return BranchRef(session.id, opened.branch_id)


__all__ = [
    "SessionStore", "StoreError", "OwnerError", "SessionNotFound", "BranchNotFound", "BranchConflict",
    "DatabaseDamaged", "DatabaseReadOnly", "DatabaseLocked", "DatabaseUnavailable", "InvalidSessionData",
    "LimitReached", "StoreLimits", "BranchRef", "BranchInfo", "SessionSummary", "OpenedSession", "SessionExport",
    "ExportedBranch", "ModelSpec", "owner_hash", "database_url", "read_session_file", "write_session_file",
    "check_fits_model", "EXPORT_FORMAT", "EXPORT_VERSION",
]
