"""The connect scanner's UDP exchange: the port's protocol request (or an empty datagram) on a
connected socket, which hears only the scanned address and port and gets ICMP port unreachable
as ECONNREFUSED.

    udp_findings(request, pacer) -> one PortFinding per target, in port order
    udp_finding(address, target, timeout, pacer) -> the target's PortFinding

    a reply         open            udp-response   "SNTP reply (stratum 2)", "answered, not SNTP (...)"
    ECONNREFUSED    closed          port-unreach
    another ICMP    filtered        host-unreach / net-unreach
    nothing         open|filtered   no-response    (a service may ignore a datagram it does not like)

A reply is "open" whatever it says: something answered. Whether it is the protocol only goes into
the detail, made printable and clipped, since the device wrote it.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from pytest_portspec.scan.model import PortFinding, ScanError, ScanRequest, ScanState, UdpTarget
from pytest_portspec.scan.pacing import Pacer
from pytest_portspec.scan.udp_payloads import scan_protocol
from pytest_portspec.text import clip, printable

SENDS = 3  # the request goes out up to this often, spread over the timeout (a lost datagram)
ICMP_ERRORS: dict[int, tuple[ScanState, str]] = {
    errno.ECONNREFUSED: ("closed", "port-unreach"),
    errno.EHOSTUNREACH: ("filtered", "host-unreach"),
    errno.ENETUNREACH: ("filtered", "net-unreach"),
    errno.EHOSTDOWN: ("filtered", "host-unreach"),
}
DETAIL_LIMIT = 120


async def udp_findings(request: ScanRequest, pacer: Pacer) -> tuple[PortFinding, ...]:
    """Every UDP target of the request, at once, each started when the pacer allows its sends."""
    targets = sorted(set(request.udp), key=lambda t: (t.port, t.protocol or ""))
    found = await asyncio.gather(*(udp_finding(request.address, t, request.timeout, pacer) for t in targets))
    return tuple(found)


async def _paced(pacer: Pacer, probes: int) -> None:
    """Wait until the pacer grants `probes` (all the sends a target may make, counted up front)."""
    while probes:
        probes -= pacer.take(probes)
        if probes:
            await asyncio.sleep(max(pacer.wait(), 0.001))


async def udp_finding(address: str, target: UdpTarget, timeout: float, pacer: Pacer) -> PortFinding:
    await _paced(pacer, SENDS)
    protocol = scan_protocol(target.port, target.protocol)
    request = protocol.request() if protocol else b""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((address, target.port))
            reply = await _exchange(sock, request, timeout)
    except OSError as exc:
        return _failed(address, target.port, exc)
    if reply is None:
        return PortFinding("udp", target.port, "open|filtered", "no-response")
    if protocol is None:
        detail = f"a reply ({len(reply)} bytes) to an empty datagram"
    else:
        valid, note = protocol.check(request, reply)
        detail = f"{protocol.name} reply ({note})" if valid else f"answered, not {protocol.name} ({note})"
    return PortFinding("udp", target.port, "open", "udp-response", clip(printable(detail), DETAIL_LIMIT))


async def _exchange(sock: socket.socket, request: bytes, timeout: float) -> bytes | None:
    """The first datagram back, or None; the request is sent again at each third of the timeout.

    One receive stays pending across the sends: a receive cancelled at each third could take a
    late reply off the socket and drop it with the cancellation, and a slow answer would read as
    silence ("open|filtered") although the port answered."""
    loop = asyncio.get_running_loop()
    reply = asyncio.ensure_future(loop.sock_recv(sock, 65535))
    try:
        for _ in range(SENDS):
            if not reply.done():
                await loop.sock_sendall(sock, request)
            done, _ = await asyncio.wait({reply}, timeout=timeout / SENDS)
            if done:
                return reply.result()  # raises the ICMP error a refused port gets
        return None
    finally:
        await _settle(reply)


async def _settle(reply: asyncio.Future[bytes]) -> None:
    """Cancel a receive still pending and wait until it has left the event loop: the socket closes
    next, and a reader still registered for its descriptor would meet the next socket given the
    same number. Read the error of one that failed unread (no warning)."""
    if not reply.done():
        reply.cancel()
        await asyncio.wait({reply})
    elif not reply.cancelled():
        reply.exception()


def _failed(address: str, port: int, exc: OSError) -> PortFinding:
    """An ICMP error is the far end's answer; any other error is the tester's own, which says
    nothing about the port and would hide an open one: the address's scan fails."""
    if exc.errno in ICMP_ERRORS:
        state, reason = ICMP_ERRORS[exc.errno]
        return PortFinding("udp", port, state, reason)
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    raise ScanError(
        f"the UDP scan of {address} port {port} failed with a local error, {name} "
        f"({printable(exc.strerror or str(exc))}): the tester's own firewall or limits, not the device"
    )
