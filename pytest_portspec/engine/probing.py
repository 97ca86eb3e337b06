"""The probes of one device's run: the outbound probes' remote command, and the tester's addresses.

run_outbound(transport, tools, probes, timeout)   every outbound probe in one remote command
canonical(address)                                an IP written one way, or None for a name
resolved(address)                                 the IP a name has here (the name if none)
"""

from __future__ import annotations

import socket
from concurrent.futures import Future
from dataclasses import dataclass

from pytest_portspec.addresses import check_ip
from pytest_portspec.device.contract import Transport
from pytest_portspec.device.deadline import outbound_timeout
from pytest_portspec.probe import inbound, outbound

OUTBOUND_COMMAND = "the outbound probes' command"


class NoProbeTool(Exception):
    """The device has nothing to run outbound probes with."""


@dataclass(frozen=True)
class EarlyInbound:
    """Inbound probes started before the snapshot, and where they went."""

    address: str
    probes: list[inbound.InboundProbe]
    results: Future[list[outbound.ProbeResult]]


def run_outbound(
    transport: Transport, tools: str, probes: list[outbound.OutboundProbe], probe_timeout: float
) -> list[outbound.ProbeResult]:
    """Every outbound probe in one remote command, with the tool the device has (`tools`: the
    snapshot's probe-tools section); NoProbeTool when it has none."""
    runner = outbound.choose_runner(tools)
    if runner is None:
        raise NoProbeTool(
            "no python3 (>= 3.5), bash with /dev/tcp and timeout, or nc on the device: "
            "outbound reachability cannot be probed"
        )
    timeout = outbound_timeout(probe_timeout)
    if runner == "python":
        command, stdin = outbound.python_command(probes, probe_timeout)
        result = transport.run(command, stdin=stdin, timeout=timeout, name=OUTBOUND_COMMAND)
        return outbound.parse_results("python", result.stdout, probes, stderr=result.stderr)
    result = transport.run(
        outbound.shell_command(probes, probe_timeout, tool=runner), timeout=timeout, name=OUTBOUND_COMMAND
    )
    return outbound.parse_results("shell", result.stdout, probes, stderr=result.stderr)


def canonical(address: str) -> str | None:
    try:
        return check_ip(address)
    except ValueError:
        return None


def resolved(address: str) -> str:
    try:
        return socket.gethostbyname(address)
    except OSError:
        return address
