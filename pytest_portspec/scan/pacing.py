"""How fast and how wide the connect scanner may go: a token bucket for the rate, and the
file-descriptor budget for the connections in flight.

    Pacer(rate, clock)   take(wanted) -> how many probes may start now;  wait() -> seconds until one may
    socket_budget()      -> how many sockets the scanner may hold open at once (process-wide)

The rate is a promise to the device's owner ("at most N probes a second"), so it holds in every
window of one second, not just on average: the bucket fills at rate * (1 - BURST) and holds at
most rate * BURST tokens, so a window of one second sees at most rate * (1 - BURST) + rate * BURST
= rate probes. The burst lets the scanner start probes in batches every few milliseconds (one
event-loop wake per probe could not reach 20000 a second) and costs BURST of the speed.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

BURST = 0.005  # seconds' worth of probes the bucket holds: a batch per ~5 ms wake
FD_MARGIN = 256  # descriptors left for everything else in the process (pytest, SSH, logs)
MIN_SOCKETS = 16  # below this a scan would take forever: the error says to raise the limit


class Pacer:
    """A token bucket; `clock` is injectable so a test can prove the pacing without sleeping."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"a scan rate must be positive, not {rate!r}")
        self.fill = rate * (1 - BURST)
        self.capacity = max(rate * BURST, 1.0)  # at least one probe, or a slow rate never starts
        self.clock = clock
        self.tokens = 1.0  # the first probe at once, the rest paced from there
        self.last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.fill)
        self.last = now

    def take(self, wanted: int) -> int:
        """How many of `wanted` probes may start now (each spends a whole token)."""
        self._refill()
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted

    def wait(self) -> float:
        """Seconds until the next whole token."""
        self._refill()
        return max(0.0, (1.0 - self.tokens) / self.fill)


def socket_budget() -> int:
    """Sockets the scanner may hold at once: the descriptor limit less a margin. The soft limit is
    raised to the hard one first (an unprivileged process may do that for itself): a full sweep at
    a high rate holds rate * timeout sockets, and the distribution's soft default (1024) would
    throttle it to ~1000 probes a second whatever --scan-rate says."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a container may refuse: use what there is
            pass
    return max(soft - FD_MARGIN, MIN_SOCKETS)
