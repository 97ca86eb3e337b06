"""Waiting for a descriptor to be readable without select(): select() refuses descriptor numbers
above 1023, and an outside-in scan in the same process (scan/connect.py) may hold thousands of
sockets, so the pipe of an SSH channel or a ProxyCommand opened meanwhile gets a high number."""

from __future__ import annotations

import selectors
from typing import Protocol


class HasFileno(Protocol):
    def fileno(self) -> int: ...


def readable(source: HasFileno, timeout: float | None) -> bool:
    """Whether `source` has something to read (or its end) within `timeout` seconds (None: wait)."""
    with selectors.DefaultSelector() as selector:
        selector.register(source, selectors.EVENT_READ)
        return bool(selector.select(timeout))
