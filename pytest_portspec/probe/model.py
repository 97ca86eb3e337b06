"""What an outbound probe is and what a probe found, and the checks of both (shared with inbound)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pytest_portspec.addresses import is_hostname, is_ip, is_scoped_ip
from pytest_portspec.probe import payloads

Proto = Literal["tcp", "udp"]
Outcome = Literal["ok", "answered", "dns-failure", "refused", "timeout", "no-route", "unverifiable", "error"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
Runner = Literal["python", "bash", "nc"]

MAX_TIMEOUT = 600.0
SHELL_TAG = "portspec-probe"


@dataclass(frozen=True)
class OutboundProbe:
    """One check: can the device reach `host` (a name or an IP) on `port`/`proto`?

    `protocol` names the UDP protocol to speak (one of UDP_PROTOCOLS: dns, sntp, bacnet) on a
    port that is not its usual one; by default a UDP port speaks the protocol of UDP_PORTS
    (53 DNS, 123 SNTP, 47808-47823 BACnet) and any other is "unverifiable"."""

    id: str
    host: str
    proto: Proto
    port: int
    protocol: str | None = None

    def __post_init__(self) -> None:
        check_target(self.id, self.proto, self.port, self.protocol)
        if not (is_ip(self.host) or is_scoped_ip(self.host) or is_hostname(self.host)):
            raise ValueError(f"probe {self.id!r}: {self.host!r} is neither a host name nor an IP address")


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found. `address` is the address probed (None when none was), `addresses`
    what the resolver returned (the IP itself for an IP host); `detail` is one sentence."""

    id: str
    host: str
    proto: Proto
    port: int
    outcome: Outcome
    address: str | None
    addresses: tuple[str, ...]
    seconds: float
    detail: str


UDP_PROTOCOLS = tuple(payloads.UDP_PROTOCOLS)


def check_target(probe_id: str, proto: str, port: int, protocol: str | None = None) -> None:
    """ValueError unless the id, protocol, port and UDP protocol are usable (shared with inbound)."""
    if not isinstance(probe_id, str) or not probe_id:
        raise ValueError(f"a probe id must be a non-empty string, not {probe_id!r}")
    if proto not in get_args(Proto):
        raise ValueError(f"probe {probe_id!r}: protocol must be tcp or udp, not {proto!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"probe {probe_id!r}: port must be 1-65535, not {port!r}")
    if protocol is not None and (proto != "udp" or protocol not in UDP_PROTOCOLS):
        known = ", ".join(UDP_PROTOCOLS)
        raise ValueError(
            f"probe {probe_id!r}: protocol {protocol!r} is not a UDP protocol it speaks ({known})"
        )


def udp_verifiable(proto: str, port: int, protocol: str | None) -> bool:
    """Whether the python and inbound probes can verify this UDP probe (TCP: always False)."""
    return proto == "udp" and payloads.udp_protocol(port, protocol) is not None


def check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
        raise ValueError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} s, not {timeout!r}")
    return float(timeout)


def checked_probes(probes: Sequence[OutboundProbe]) -> list[OutboundProbe]:
    seen: set[str] = set()
    for probe in probes:
        if not isinstance(probe, OutboundProbe):
            raise TypeError(f"expected OutboundProbe, not {type(probe).__name__}")
        # validate again: a frozen dataclass's fields can still be set around __post_init__
        OutboundProbe(probe.id, probe.host, probe.proto, probe.port, probe.protocol)
        if probe.id in seen:
            raise ValueError(f"probe id {probe.id!r} is used twice")
        seen.add(probe.id)
    return list(probes)
