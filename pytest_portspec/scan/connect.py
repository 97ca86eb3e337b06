"""The built-in connect scanner (asyncio, no privileges, no nmap): TCP by non-blocking connects,
UDP by the exchanges of udp.py.

    scan_connect(request) -> AddressScan            one address, in a loop of its own
    connect_scan(request, sockets) -> AddressScan   the coroutine run.py runs for several at once

TCP: a port is open when the handshake completes (the socket is closed at once, nothing is sent),
closed on ECONNREFUSED (a reset, or an ICMP port unreachable from a rejecting firewall), filtered
on no answer within the timeout or another ICMP error, twice: the ports that stay silent are swept
once more, as nmap retries once. A local error (the tester's own firewall,
EPERM) says nothing about the device, and treating it as "filtered" could hide an open port, so it
fails the address's scan instead.

No task per port: a full sweep is 65535 connects, and one event-loop callback per socket (a writer
callback when the connect completes, a deque of deadlines in start order for the timeouts) is
what lets one process reach 20000 probes a second.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.scan.model import AddressScan, PortFinding, ScanError, ScanRequest
from pytest_portspec.scan.pacing import Pacer, socket_budget
from pytest_portspec.scan.udp import udp_findings

SCANNER = "connect"
TICK = 0.002  # seconds between looks at the clock while every socket slot is taken
MAX_SLEEP = 0.25
# Errors of our own making that pass: the port is tried again a little later.
RETRY = {errno.EAGAIN, errno.EADDRNOTAVAIL, errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.EINTR}
FILTERED = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ETIMEDOUT, errno.ENONET}
MAX_RETRIES = 100_000  # resource errors tolerated in one sweep before it gives up


class Sockets:
    """The process's socket budget, shared by every sweep that runs at once, in one loop or in
    several threads (the engine scans devices from a thread pool): the descriptor limit is the
    process's, so is the count. A check-then-hold race between threads overshoots by at most one
    batch of a sweep, which FD_MARGIN covers."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def free(self) -> int:
        with self._lock:
            return max(self.limit - self.used, 0)

    def hold(self, count: int) -> None:
        with self._lock:
            self.used += count


_SHARED: list[Sockets] = []
_SHARED_LOCK = threading.Lock()


def shared_sockets() -> Sockets:
    """The one budget of this process (the soft limit raised once, the first time)."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(Sockets(socket_budget()))
        return _SHARED[0]


@dataclass
class _Sweep:
    """One address's TCP sweep: the sockets in flight and what has answered."""

    address: str
    family: int
    timeout: float
    sockets: Sockets
    loop: asyncio.AbstractEventLoop
    open: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    flight: dict[int, tuple[int, socket.socket]] = field(default_factory=dict)  # fd -> port, socket
    expiry: deque[tuple[float, int, socket.socket]] = field(default_factory=deque)
    again: list[int] = field(default_factory=list)  # ports to try again (a resource error)
    retries: int = 0
    failure: ScanError | None = None  # raised by the sweep's loop: a callback cannot raise to it

    def start(self, port: int) -> None:
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
        except OSError as exc:
            self._local_error(port, exc)
            return
        sock.setblocking(False)
        code = sock.connect_ex((self.address, port))
        if code not in (errno.EINPROGRESS, 0):
            sock.close()
            self._judge(port, code)
            return
        fd = sock.fileno()
        self.flight[fd] = (port, sock)
        self.sockets.hold(1)
        self.expiry.append((time.monotonic() + self.timeout, fd, sock))
        self.loop.add_writer(fd, self._completed, fd)

    def _completed(self, fd: int) -> None:
        """The connect finished, one way or the other: SO_ERROR says which."""
        port, sock = self._release(fd)
        self._judge(port, sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
        sock.close()

    def _release(self, fd: int) -> tuple[int, socket.socket]:
        self.loop.remove_writer(fd)
        self.sockets.hold(-1)
        return self.flight.pop(fd)

    def _judge(self, port: int, code: int) -> None:
        if code == 0:
            self.open.append(port)
        elif code == errno.ECONNREFUSED:
            self.closed.append(port)
        elif code not in FILTERED:
            self._local_error(port, OSError(code, "connect"))

    def _local_error(self, port: int, exc: OSError) -> None:
        if exc.errno in RETRY and self.retries < MAX_RETRIES:
            self.retries += 1
            self.again.append(port)
            return
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        self.failure = self.failure or ScanError(
            f"the connect scan of {self.address} failed at TCP port {port} with a local error, "
            f"{name} ({exc.strerror or exc}): the tester's own firewall or limits, not the device"
        )

    def expire(self) -> None:
        """Close the connects past their timeout (filtered); the deque is in start order."""
        now = time.monotonic()
        while self.expiry and self.expiry[0][0] <= now:
            _, fd, sock = self.expiry.popleft()
            if self.flight.get(fd, (0, None))[1] is sock:  # not completed (an fd is reused)
                self._release(fd)
                sock.close()

    def next_expiry(self) -> float:
        return self.expiry[0][0] - time.monotonic() if self.expiry else MAX_SLEEP

    def close(self) -> None:
        for fd in list(self.flight):
            self._release(fd)[1].close()


def _ports(tcp: Intervals) -> Iterator[int]:
    for lo, hi in tcp:
        yield from range(max(lo, 1), min(hi, 65535) + 1)


async def tcp_sweep(request: ScanRequest, sockets: Sockets, pacer: Pacer) -> tuple[list[int], list[int]]:
    """Every port of request.tcp, paced: (open ports, closed ports)."""
    family = socket.AF_INET6 if ":" in request.address else socket.AF_INET
    sweep = _Sweep(request.address, family, request.timeout, sockets, asyncio.get_running_loop())
    ports = _ports(request.tcp)
    remaining = request.tcp.size()
    try:
        while remaining or sweep.flight or sweep.again:
            if sweep.failure:
                raise sweep.failure
            sweep.expire()
            wanted = min(sockets.free(), remaining + len(sweep.again))
            for _ in range(pacer.take(wanted) if wanted else 0):
                if sweep.again:
                    sweep.start(sweep.again.pop())
                else:
                    remaining -= 1
                    sweep.start(next(ports))
            waiting = pacer.wait() if wanted else TICK
            await asyncio.sleep(max(min(waiting, sweep.next_expiry(), MAX_SLEEP), 0.001))
        if sweep.failure:  # in the last completions
            raise sweep.failure
    finally:
        sweep.close()  # cancelled (a deadline): no socket left behind
    return sweep.open, sweep.closed


async def swept_twice(request: ScanRequest, sockets: Sockets, pacer: Pacer) -> tuple[list[int], list[int]]:
    """The sweep, then once more over the ports that did not answer: a single lost SYN or SYN-ACK
    must not hide an open port (nmap's --max-retries 1). The budget (run.scan_seconds) allows for
    every probe twice."""
    opened, closed = await tcp_sweep(request, sockets, pacer)
    silent = request.tcp - Intervals.merged((p, p) for p in [*opened, *closed])
    if silent:
        again_open, again_closed = await tcp_sweep(replace(request, tcp=silent, udp=()), sockets, pacer)
        opened, closed = opened + again_open, closed + again_closed
    return opened, closed


async def connect_scan(request: ScanRequest, sockets: Sockets) -> AddressScan:
    """TCP sweeps and UDP exchanges of one address, at once, sharing its pacer (its rate)."""
    started = time.monotonic()
    pacer = Pacer(request.rate)
    tcp, udp = await asyncio.gather(swept_twice(request, sockets, pacer), udp_findings(request, pacer))
    opened, closed = tcp
    return AddressScan(
        address=request.address,
        scanner=SCANNER,
        rate=request.rate,
        seconds=time.monotonic() - started,
        tcp_scanned=request.tcp,
        tcp_open=tuple(PortFinding("tcp", p, "open", "syn-ack") for p in sorted(opened)),
        tcp_closed=Intervals.merged((p, p) for p in closed),
        udp=udp,
    )


def scan_connect(request: ScanRequest) -> AddressScan:
    """One address with the connect scanner, in an event loop of its own."""
    return asyncio.run(connect_scan(request, shared_sockets()))
