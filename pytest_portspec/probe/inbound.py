"""Inbound probes: can the tester (the machine running pytest) reach the device's ports?

The same exchanges as outbound probes (payloads.py), run here in one thread per probe:
TCP connect; on UDP the request of the port's protocol (SNTP 123, DNS 53, BACnet
47808-47823, or the one a probe names) with its reply validated, any other UDP port
"unverifiable" with nothing sent. The device is addressed by IP only, so no name is
ever looked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_portspec.addresses import check_ip
from pytest_portspec.probe import payloads
from pytest_portspec.probe.outbound import (
    ProbeResult,
    Proto,
    check_target,
    check_timeout,
    result_from_record,
    udp_verifiable,
)


@dataclass(frozen=True)
class InboundProbe:
    """One check: does the device answer on `port`/`proto` from here? `protocol` as for
    OutboundProbe: the UDP protocol to speak on a port that is not its usual one."""

    id: str
    proto: Proto
    port: int
    protocol: str | None = None

    def __post_init__(self) -> None:
        check_target(self.id, self.proto, self.port, self.protocol)


def probe_inbound(address: str, probes: Sequence[InboundProbe], timeout: float) -> list[ProbeResult]:
    """Probe every check against `address` (an IP) concurrently; one result per probe, in order,
    after at most `timeout` + about half a second. ValueError for a bad address, timeout or probe."""
    if not isinstance(address, str):
        raise ValueError(f"the device address must be an IP address, not {address!r}")
    address = check_ip(address)
    seconds = check_timeout(timeout)
    seen: set[str] = set()
    for probe in probes:
        if not isinstance(probe, InboundProbe):
            raise TypeError(f"expected InboundProbe, not {type(probe).__name__}")
        check_target(probe.id, probe.proto, probe.port, probe.protocol)
        if probe.id in seen:
            raise ValueError(f"probe id {probe.id!r} is used twice")
        seen.add(probe.id)
    records = payloads.run_probes(
        [
            {"id": p.id, "host": address, "proto": p.proto, "port": p.port, "protocol": p.protocol}
            for p in probes
        ],
        seconds,
    )
    return [
        result_from_record(
            record, p.id, address, p.proto, p.port, udp_verifiable(p.proto, p.port, p.protocol)
        )
        for record, p in zip(records, probes, strict=True)
    ]
