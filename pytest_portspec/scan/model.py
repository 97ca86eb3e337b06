"""What an outside-in scan is asked and what it found (pure; shared by the scanners and the checks).

A scan looks at one device from the tester, as an attacker on the tester's network would: every
TCP port of each address it is asked about, plus the UDP ports the document or the kernel model
names. Its findings are evidence of what answered; a port it did not see open is not proved
closed (the kernel model does that), so checks use a scan only to find what the device's own
report misses, never to pass something.

States, as nmap names them:
    open           TCP: a SYN-ACK (the handshake completed, for a connect scan). UDP: a reply.
    closed         TCP: a reset. UDP: ICMP port unreachable.
    filtered       no answer in time, or an ICMP error other than port unreachable.
    open|filtered  UDP: no answer (a UDP service may stay silent at a datagram it does not like).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pytest_portspec.errors import PortspecError
from pytest_portspec.firewall.intervals import Intervals

ScanState = Literal["open", "closed", "filtered", "open|filtered"]
ScanProto = Literal["tcp", "udp"]
ScannerName = Literal["auto", "nmap", "connect"]  # the --scanner choice; auto: nmap where installed
ALL_TCP = Intervals.of((1, 65535))
DEFAULT_RATE = 1000.0  # probes per second and address: conservative, documented in docs/scan.md
MAX_RATE = 100_000.0


class ScanError(PortspecError):
    """The scan of one address failed (nmap's own error, malformed output, a local socket error
    that would hide what the port says); one sentence naming the address. scan_addresses puts it
    in ScanFacts.errors."""


@dataclass(frozen=True)
class UdpTarget:
    """A UDP port to scan, with the protocol to speak there (payloads.UDP_PROTOCOLS, "mdns", ...)
    when the port is not its usual one; None: the port's usual protocol, or an empty datagram."""

    port: int
    protocol: str | None = None


@dataclass(frozen=True)
class ScanRequest:
    """Scan `address` (an IP the tester routes to): the TCP ports `tcp` and the UDP `udp` targets,
    at most `rate` probes per second, waiting `timeout` seconds for an answer to each."""

    address: str
    tcp: Intervals = ALL_TCP
    udp: tuple[UdpTarget, ...] = ()
    rate: float = DEFAULT_RATE
    timeout: float = 1.0


@dataclass(frozen=True)
class PortFinding:
    """One port the scan saw answer, or one UDP port's state. `reason` as nmap gives it
    (syn-ack, reset, conn-refused, udp-response, port-unreach, no-response); `detail` is what
    answered, clipped (a service banner, a protocol the reply was recognised as), or ""."""

    proto: ScanProto
    port: int
    state: ScanState
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class AddressScan:
    """What the scan of one address found. TCP: `tcp_open` and `tcp_closed` are what answered;
    every other port of `tcp_scanned` is filtered. UDP: one finding per target in `udp`."""

    address: str
    scanner: str  # "nmap -sS", "nmap -sT" or "connect" (the built-in asyncio scanner)
    rate: float
    seconds: float
    tcp_scanned: Intervals = ALL_TCP
    tcp_open: tuple[PortFinding, ...] = ()
    tcp_closed: Intervals = field(default_factory=Intervals)
    udp: tuple[PortFinding, ...] = ()
    command: str = ""  # the nmap command line run, or "" (the connect scanner is in-process)

    def state(self, proto: ScanProto, port: int) -> ScanState | None:
        """The port's state, or None when this scan did not look at it."""
        if proto == "udp":
            return next((f.state for f in self.udp if f.port == port), None)
        if port not in self.tcp_scanned:
            return None
        if any(f.port == port for f in self.tcp_open):
            return "open"
        return "closed" if port in self.tcp_closed else "filtered"

    def open_ports(self) -> tuple[PortFinding, ...]:
        """Every port seen open (TCP, then UDP with a reply), in port order."""
        return self.tcp_open + tuple(f for f in self.udp if f.state == "open")


@dataclass(frozen=True)
class ScanFacts:
    """A device's scan as the checks see it: one AddressScan per address scanned, the addresses
    not scanned and why (no route from the tester but its default one, link-local), and the
    error that stopped the scan of an address (one sentence naming the address)."""

    scans: tuple[AddressScan, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)  # address -> why it was not scanned
    errors: Mapping[str, str] = field(default_factory=dict)  # address -> why its scan failed
    not_run: str | None = None  # why no scan was made at all (a jump host, an offline capture)


@dataclass(frozen=True)
class ScanOptions:
    """How a run scans (--scan, --scan-rate, --scanner, --scan-timeout); None in Settings: no scan."""

    rate: float = DEFAULT_RATE
    scanner: ScannerName = "auto"
    timeout: float = 1.0  # seconds to wait for each port's answer


def describe_scan(facts: ScanFacts) -> str:
    """One sentence for the report's cover and the results file: what was scanned, how, what answered."""
    if facts.not_run is not None:
        return f"not scanned: {facts.not_run}"
    parts = []
    for s in facts.scans:
        udp = f", {len(s.udp)} UDP port(s)" if s.udp else ""
        tcp = f"TCP {s.tcp_scanned.size()} port(s)" if s.tcp_scanned else "no TCP"
        opened = ", ".join(f"{f.port}/{f.proto}" for f in s.open_ports()[:12]) or "none"
        parts.append(
            f"{s.address} ({tcp}{udp}) by {s.scanner} at {s.rate:g}/s in {s.seconds:.1f} s, open: {opened}"
        )
    parts += [f"{a} failed: {why}" for a, why in facts.errors.items()]
    parts += [f"{a} not scanned: {why}" for a, why in facts.skipped.items()]
    return "scanned from the tester: " + "; ".join(parts)
