"""What the session store accepts and how it says no: its limits and its errors.

Every bound on what one client can make the store keep is here, in one frozen record, so the
README, the app's settings and the tests read the same numbers. The defaults leave a person
working normally far from every limit (a 16-stage picture is 17 frames; a busy session with edits
and branches a few hundred) while one client cannot grow the database without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import StudioError

# Ids the databases can hold: SQLite's INTEGER and PostgreSQL's BIGINT are signed 64-bit; a bigger
# Python int would reach the driver and fail there with an OverflowError.
MAX_DATABASE_INT = 2**63 - 1


@dataclass(frozen=True)
class StoreLimits:
    # Characters of a prompt (the first one, a branch's or a region's). The text encoder reads at
    # most its max_tokens word pieces anyway (64 for the bundled model), so longer text only costs
    # storage and bandwidth.
    max_prompt_chars: int = 1000
    # Frames one session keeps, over all its branches (each branch counts only its own frames).
    max_frames_per_session: int = 1000
    max_branches_per_session: int = 100
    # Branches of branches: a branch of the first branch has depth 1.
    max_branch_depth: int = 32
    # Bytes one browser (owner) may keep in the database, over all its sessions. A frame of the
    # bundled 16x16 model takes about 1.3 kB, so 64 MB is some 50,000 frames.
    max_owner_bytes: int = 64 * 2**20

    def __post_init__(self):
        for name, value in self.__dict__.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StoreLimits.{name} must be a whole number >= 1, got {value!r}")


class StoreError(StudioError, RuntimeError):
    """Something about the session database a person has to know about."""


class OwnerError(StoreError):
    """The browser token is missing or malformed."""


def shown(value: object, limit: int = 40) -> str:
    """A client's value quoted in a message, cut short: a message never echoes megabytes back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SessionNotFound(StoreError):
    """No such session for this browser. One message for "does not exist" and "belongs to another
    browser": the store never tells a browser that someone else's session exists."""

    def __init__(self, session_id: object):
        super().__init__(f"session {shown(session_id)} not found (it does not exist, was deleted, "
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


class DatabaseUnavailable(StoreError):
    """A database server that cannot be reached."""


class LimitReached(StoreError):
    """A request that would take a session or an owner past one of the StoreLimits."""


class InvalidSessionData(StoreError):
    """An imported session file that is not a Progressive Studio session, or not one this model
    and these limits can take."""


def check_prompt_length(prompt: str, limits: StoreLimits, argument: str = "prompt") -> str:
    if len(prompt) > limits.max_prompt_chars:
        raise LimitReached(f"the {argument} is {len(prompt):,} characters long; the studio takes at most "
                           f"{limits.max_prompt_chars:,} (the model reads only its first few dozen words)")
    return prompt


def database_int(value: object) -> int | None:
    """`value` if it is a whole number a database id can be, else None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DATABASE_INT:
        return None
    return value
