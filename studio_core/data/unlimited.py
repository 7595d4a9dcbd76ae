"""What the procedural data sets share: example i is a pure function of (seed, split, i), so a set
is unlimited and any slice of it can be made again, on any machine, without storing it."""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class UnlimitedDataset(Generic[T]):
    """A subclass defines `__getitem__(i)`; this gives it slices and endless iteration."""

    def __getitem__(self, index: int) -> T:
        raise NotImplementedError

    def take(self, n: int, start: int = 0) -> list[T]:
        return [self[i] for i in range(start, start + n)]

    def __iter__(self) -> Iterator[T]:
        i = 0
        while True:
            yield self[i]
            i += 1
