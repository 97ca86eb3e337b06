"""Which ports of a row a device really uses — one answer shared by every check (pure)."""

from __future__ import annotations

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.spec.model import PortRange
from pytest_portspec.spec.policy import Expectation

WIDE_RANGE = 16  # a wider fixed range is probed on its first port only
MAX_RANGE_PROBES = 4  # inbound: the service's ports probed within one documented range


def configured_port(e: Expectation, facts: Facts | None, declared: Declarations) -> tuple[int | None, str]:
    """The port a configurable row's service really uses: declared, else its listener, else unknown
    (before the snapshot, `facts` None: declared, else unknown)."""
    if e.row.id in declared.ports:
        return declared.ports[e.row.id], f"--port {e.row.id}={declared.ports[e.row.id]}"
    if e.side.direction == "in" and facts is not None:
        names = set(e.row.process)
        for s in facts.sockets:
            in_range = any(r.lo <= s.port <= r.hi for r in e.row.ports)
            if s.proto == e.side.proto and in_range and names & set(s.names) and not s.loopback:
                return s.port, f"the port {', '.join(s.names)} listens on ({s.describe()})"
    return None, ""


def unknown_port_reason(e: Expectation) -> str:
    ranges = ",".join(str(r) for r in e.row.ports)
    return (
        f"the port of this configurable row is unknown: pass --port {e.row.id}=PORT "
        f"(the document gives {ranges})"
    )


def used_ports(
    e: Expectation, facts: Facts | None, declared: Declarations, ranges: tuple[PortRange, ...] | None = None
) -> list[int]:
    """The ports to probe: a configurable row's real port ([] if unknown), else the row's ports."""
    if e.row.configurable:
        port, _ = configured_port(e, facts, declared)
        return [] if port is None else [port]
    return fixed_ports(ranges or e.row.ports)


def fixed_ports(ranges: tuple[PortRange, ...]) -> list[int]:
    """Every port of small ranges, the first of a wide one."""
    ports: list[int] = []
    for r in ranges:
        ports += [r.lo] if r.hi - r.lo >= WIDE_RANGE else list(range(r.lo, r.hi + 1))
    return ports


def inbound_ports(e: Expectation, facts: Facts | None, declared: Declarations) -> list[int]:
    """The ports the tester probes for an inbound allow row: a configurable row's real port; each
    port the row lists; within a range (a pool: one service listens somewhere in it, as the
    listening check reads it), the ports the row's service listens on, else the range's first
    port, which then fails honestly. Before the snapshot (`facts` None) only the listed ports."""
    if e.row.configurable:
        return used_ports(e, facts, declared)
    ports: list[int] = []
    for r in e.row.ports:
        if r.lo == r.hi:
            ports.append(r.lo)
        elif facts is not None:
            ports += _held_in(e, facts, r)[:MAX_RANGE_PROBES] or [r.lo]
    return ports


def _held_in(e: Expectation, facts: Facts, r: PortRange) -> list[int]:
    names = set(e.row.process)
    return sorted(
        {
            s.port
            for s in facts.sockets
            if s.proto == e.side.proto
            and r.lo <= s.port <= r.hi
            and not s.loopback
            and (not names or names & set(s.names))
        }
    )
