"""Sets of integers as sorted, disjoint, non-adjacent closed intervals (pure).

Every dimension of the firewall model is one of these: addresses (IPv4 and IPv6 addresses as
integers), ports, and interfaces (their index in the device's list). A rule's `-s 10.0.0.0/8`
is `Intervals.of((167772160, 184549375))`; a port list is a few intervals. Operations are exact,
so rules add up and partial denies take effect without sampling.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

Span = tuple[int, int]


class Intervals:
    """An immutable set of integers, as closed intervals ((lo, hi), ...) sorted and merged."""

    __slots__ = ("_hashed", "_los", "spans")

    def __init__(self, spans: tuple[Span, ...] = ()) -> None:
        self.spans = spans  # callers outside this module build through of() / merged()
        self._los: list[int] | None = None
        self._hashed: int | None = None

    @classmethod
    def of(cls, *spans: Span) -> Intervals:
        return cls.merged(spans)

    @classmethod
    def merged(cls, spans: Iterable[Span]) -> Intervals:
        ordered = sorted((lo, hi) for lo, hi in spans if lo <= hi)
        out: list[Span] = []
        for lo, hi in ordered:
            if out and lo <= out[-1][1] + 1:
                if hi > out[-1][1]:
                    out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        return cls(tuple(out))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __iter__(self) -> Iterator[Span]:
        return iter(self.spans)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Intervals) and self.spans == other.spans

    def __hash__(self) -> int:
        if self._hashed is None:
            self._hashed = hash(self.spans)
        return self._hashed

    def __repr__(self) -> str:
        return f"Intervals{self.spans!r}"

    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.spans)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        index = bisect_right(self._starts(), value) - 1
        return index >= 0 and self.spans[index][1] >= value

    def _starts(self) -> list[int]:
        if self._los is None:
            self._los = [lo for lo, _ in self.spans]
        return self._los

    def _window(self, lo: int, hi: int) -> tuple[int, int]:
        """Indexes [first, last) of the spans that can touch [lo, hi]."""
        starts = self._starts()
        first = max(bisect_right(starts, lo) - 1, 0)
        last = bisect_left(starts, hi + 1)
        return first, last

    def __and__(self, other: Intervals) -> Intervals:
        mine, theirs = self.spans, other.spans
        if not mine or not theirs:
            return EMPTY
        if mine is theirs:
            return self
        if len(mine) == 1 and mine[0][0] <= theirs[0][0] and theirs[-1][1] <= mine[0][1]:
            return other  # other lies within self's one span: the common case of a universe
        if len(theirs) == 1 and theirs[0][0] <= mine[0][0] and mine[-1][1] <= theirs[0][1]:
            return self
        small, large = (self, other) if len(self.spans) <= len(other.spans) else (other, self)
        out: list[Span] = []
        for lo, hi in small.spans:
            first, last = large._window(lo, hi)
            for a, b in large.spans[first:last]:
                start, end = max(a, lo), min(b, hi)
                if start <= end:
                    out.append((start, end))
        return Intervals(tuple(out))

    def __or__(self, other: Intervals) -> Intervals:
        if not other.spans:
            return self
        if not self.spans:
            return other
        return Intervals.merged(self.spans + other.spans)

    def __sub__(self, other: Intervals) -> Intervals:
        mine, theirs = self.spans, other.spans
        if not mine or not theirs:
            return self
        if mine is theirs or (
            len(theirs) == 1 and theirs[0][0] <= mine[0][0] and mine[-1][1] <= theirs[0][1]
        ):
            return EMPTY
        if theirs[-1][1] < mine[0][0] or theirs[0][0] > mine[-1][1]:
            return self
        out: list[Span] = []
        for lo, hi in self.spans:
            first, last = other._window(lo, hi)
            start = lo
            for a, b in other.spans[first:last]:
                if b < start or a > hi:
                    continue
                if a > start:
                    out.append((start, a - 1))
                start = b + 1
                if start > hi:
                    break
            if start <= hi:
                out.append((start, hi))
        return Intervals(tuple(out))

    def issubset(self, other: Intervals) -> bool:
        return not (self - other)

    def first(self) -> int:
        return self.spans[0][0]


EMPTY = Intervals()
